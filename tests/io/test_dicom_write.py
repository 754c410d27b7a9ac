"""Tests of netdose.io.dicom_write: CT, PET and NM series, SEG and RTSTRUCT round trips through
netdose's readers, SimpleITK and pydicom; header facts; determinism; atomicity; bad inputs."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.uid
import pytest
import SimpleITK as sitk

import netdose.io.dicom_write as dw
from netdose.errors import GeometryError, InputError, UnitsError
from netdose.image import Image
from netdose.io import read_image
from netdose.io.dicom import to_activity_bq_ml
from netdose.io.masks import load_masks, masks_from_dicom_seg, masks_from_rtstruct
from netdose.nuclides import get_nuclide

Z_FLIPPED = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _oblique_flipped() -> tuple[float, ...]:
    """A rotation about z by 30 degrees and x by 10 degrees, then z flipped (left-handed)."""
    a, b = math.radians(30), math.radians(10)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return tuple((rz @ rx @ np.diag([1.0, 1.0, -1.0])).ravel())


DIRECTIONS = {"z-flipped": Z_FLIPPED, "oblique-flipped": _oblique_flipped()}
SHAPE = (6, 8, 10)  # (z, y, x); 8 x 10 = 80 pixels per frame, a whole number of bytes
SPACING = (0.9, 1.3, 2.5)
ORIGIN = (-40.2, 17.5, 88.0)
INJECTION = datetime.datetime(2025, 1, 10, 9, 0, 0)
ACQUISITION = datetime.datetime(2025, 1, 10, 10, 2, 30)


def make_image(values: np.ndarray, direction: tuple[float, ...] = Z_FLIPPED) -> Image:
    return Image(values.astype(np.float32), SPACING, ORIGIN, direction)


def ct_values(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1000.0, 2500.0, SHAPE)


def activity_values(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arr = rng.uniform(0.0, 5.0e4, SHAPE)
    arr[2] *= 1e-3  # slices with very different maxima: per-slice slopes matter
    arr[4] = 0.0  # an empty slice
    return arr


def canonical(img: Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected read-back: (array, origin, direction) arranged ascending along row x col."""
    d = img.direction_matrix
    normal = np.cross(d[:, 0], d[:, 1])
    origin = np.asarray(img.origin_mm, dtype=np.float64)
    arr = np.asarray(img.array, dtype=np.float64)
    if d[:, 2] @ normal < 0:
        origin = origin + (img.shape[0] - 1) * img.spacing_mm[2] * d[:, 2]
        arr = arr[::-1]
    return arr, origin, np.column_stack([d[:, 0], d[:, 1], normal])


def assert_geometry(back: Any, img: Image) -> None:
    """``back`` (netdose Image or SimpleITK image) has the canonical geometry of ``img``."""
    _, origin, direction = canonical(img)
    if isinstance(back, sitk.Image):
        spacing, org, dirs = back.GetSpacing(), back.GetOrigin(), back.GetDirection()
    else:
        spacing, org, dirs = back.spacing_mm, back.origin_mm, back.direction
    np.testing.assert_allclose(spacing, img.spacing_mm, rtol=0, atol=1e-4)
    np.testing.assert_allclose(org, origin, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(dirs).reshape(3, 3), direction, rtol=0, atol=1e-6)


def sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def check_files(paths: list[Path], required: tuple[str, ...]) -> list[pydicom.Dataset]:
    out = []
    for p in paths:
        ds = pydicom.dcmread(p)
        missing = [kw for kw in required if kw not in ds]
        assert not missing, f"{p.name} lacks {missing}"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.pixel_array.size > 0
        out.append(ds)
    return out


COMMON_TAGS = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "FrameOfReferenceUID", "PatientName", "PatientID", "StudyDate", "StudyTime", "Modality",
    "SeriesNumber", "InstanceNumber", "Rows", "Columns", "PixelSpacing", "BitsAllocated",
)


def pt_kwargs(**over: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "radiopharmaceutical": "Fludeoxyglucose",
        "nuclide": "F-18",
        "injected_bq": 3.7e8,
        "injection_datetime": INJECTION,
        "acquisition_datetime": ACQUISITION,
        "patient_weight_kg": 72.5,
        "patient_height_m": 1.78,
    }
    kwargs.update(over)
    return kwargs


def nm_kwargs(**over: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "nuclide": "Lu-177",
        "acquisition_datetime": INJECTION + datetime.timedelta(hours=24),
        "injection_datetime": INJECTION,
        "injected_bq": 7.4e9,
        "radiopharmaceutical": "Lu-177 DOTATATE",
    }
    kwargs.update(over)
    return kwargs


# ---------------------------------------------------------------------- CT
@pytest.mark.parametrize("direction", list(DIRECTIONS.values()), ids=list(DIRECTIONS))
def test_ct_round_trip(tmp_path: Path, direction: tuple[float, ...]) -> None:
    img = make_image(ct_values(), direction)
    files = dw.write_ct_series(img, tmp_path / "CT")
    assert [p.name for p in files] == [f"CT_{k:04d}.dcm" for k in range(1, 7)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CT"]  # no temporary left

    back = read_image(tmp_path / "CT")
    assert_geometry(back, img)
    expected, _, _ = canonical(img)
    assert np.max(np.abs(back.array - expected)) <= 0.5 + 1e-3
    assert back.meta["modality"] == "CT"

    assert_geometry(sitk_series(tmp_path / "CT"), img)
    np.testing.assert_allclose(sitk.GetArrayFromImage(sitk_series(tmp_path / "CT")), back.array)

    datasets = check_files(files, (*COMMON_TAGS, "ImagePositionPatient", "ImageOrientationPatient",
                                   "RescaleSlope", "RescaleIntercept", "KVP", "ImageType"))
    ds = datasets[0]
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    assert ds.PixelRepresentation == 1 and ds.pixel_array.dtype == np.int16
    assert len({d.SeriesInstanceUID for d in datasets}) == 1
    assert len({d.SOPInstanceUID for d in datasets}) == 6


def test_ct_intercept_chosen_to_fit(tmp_path: Path) -> None:
    values = np.linspace(-40000.0, -1000.0, np.prod(SHAPE)).reshape(SHAPE)
    img = make_image(values)
    files = dw.write_ct_series(img, tmp_path / "CT")
    assert float(pydicom.dcmread(files[0]).RescaleIntercept) != -1024.0
    back = read_image(tmp_path / "CT")
    assert np.max(np.abs(back.array - canonical(img)[0])) <= 0.5 + 1e-2


# ---------------------------------------------------------------------- PET
@pytest.mark.parametrize("direction", list(DIRECTIONS.values()), ids=list(DIRECTIONS))
def test_pt_round_trip_and_headers(tmp_path: Path, direction: tuple[float, ...]) -> None:
    img = make_image(activity_values(), direction)
    files = dw.write_pt_series(img, tmp_path / "PT", **pt_kwargs())
    back = read_image(tmp_path / "PT")
    assert_geometry(back, img)
    assert_geometry(sitk_series(tmp_path / "PT"), img)
    expected, _, _ = canonical(img)
    slice_max = expected.max(axis=(1, 2))
    err = np.abs(back.array - expected).max(axis=(1, 2))
    nonzero = slice_max > 0
    assert np.all(err[nonzero] / slice_max[nonzero] < 1e-4)
    assert np.all(err[nonzero] / slice_max[nonzero] <= 0.5 / 65535 + 1e-6)  # half a slope
    assert np.all(err[~nonzero] == 0)

    datasets = check_files(files, (*COMMON_TAGS, "Units", "DecayCorrection", "CorrectedImage",
                                   "RadiopharmaceuticalInformationSequence", "PatientWeight",
                                   "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime",
                                   "FrameReferenceTime", "ActualFrameDuration", "DecayFactor",
                                   "ImageIndex", "NumberOfSlices", "RescaleSlope"))
    ds = datasets[0]
    assert ds.SOPClassUID == pydicom.uid.PositronEmissionTomographyImageStorage
    assert ds.Units == "BQML" and ds.DecayCorrection == "START"
    assert {"ATTN", "DECY"} <= set(ds.CorrectedImage)
    assert float(ds.RescaleIntercept) == 0.0
    assert len({d.RescaleSlope for d in datasets}) > 1  # per-slice slopes
    assert (ds.SeriesDate, ds.SeriesTime) == ("20250110", "100230")
    assert (ds.AcquisitionDate, ds.AcquisitionTime) == ("20250110", "100230")
    assert (float(ds.PatientWeight), float(ds.PatientSize)) == (72.5, 1.78)
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    assert rp.Radiopharmaceutical == "Fludeoxyglucose"
    assert rp.RadiopharmaceuticalStartDateTime == "20250110090000"
    assert rp.RadiopharmaceuticalStartTime == "090000"
    assert float(rp.RadionuclideTotalDose) == 3.7e8  # Bq for PET
    assert float(rp.RadionuclideHalfLife) == pytest.approx(get_nuclide("F-18").half_life_s)
    assert float(rp.RadionuclidePositronFraction) == pytest.approx(0.9673)
    code = rp.RadionuclideCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "77004003", "SCT", "^18^Fluorine")
    # Frame timing: DecayFactor = 2^(FrameReferenceTime / T1/2), FRT inside the frame.
    half_life_ms = get_nuclide("F-18").half_life_s * 1000
    frt = float(ds.FrameReferenceTime)
    assert int(ds.ActualFrameDuration) == 300000
    assert 0.49 * 300000 < frt < 0.5 * 300000
    assert float(ds.DecayFactor) == pytest.approx(2 ** (frt / half_life_ms), rel=1e-9)
    lam_t = math.log(2) * 300 / get_nuclide("F-18").half_life_s
    assert float(ds.DecayFactor) == pytest.approx(lam_t / (1 - math.exp(-lam_t)), rel=1e-9)
    # The netdose reader sees the same facts.
    meta = back.meta
    assert meta["units"] == "BQML" and meta["patient_weight_kg"] == 72.5
    assert meta["radiopharmaceutical"]["total_dose_bq"] == 3.7e8
    assert meta["radiopharmaceutical"]["start_datetime"] == "2025-01-10T09:00:00"
    assert meta["series_time"] == "10:02:30"


@pytest.mark.parametrize("correction", ["ADMIN", "NONE"])
def test_pt_decay_correction_variants(tmp_path: Path, correction: str) -> None:
    img = make_image(activity_values())
    files = dw.write_pt_series(img, tmp_path / "PT", **pt_kwargs(decay_correction=correction,
                                                                frame_duration_s=120.0))
    ds = pydicom.dcmread(files[0])
    assert ds.DecayCorrection == correction
    frt_s = float(ds.FrameReferenceTime) / 1000
    if correction == "ADMIN":
        delay = (ACQUISITION - INJECTION).total_seconds()
        assert delay < frt_s < delay + 60
        half_life_s = get_nuclide("F-18").half_life_s
        assert float(ds.DecayFactor) == pytest.approx(2 ** (frt_s / half_life_s), rel=1e-9)
        assert "DECY" in ds.CorrectedImage
    else:
        assert "DecayFactor" not in ds and "DECY" not in ds.CorrectedImage


def test_pt_y90_and_ga68_codes(tmp_path: Path) -> None:
    img = make_image(activity_values())
    files = dw.write_pt_series(img, tmp_path / "Y", **pt_kwargs(nuclide="Y90",
                               radiopharmaceutical="Y-90 microspheres", injected_bq=2e9))
    rp = pydicom.dcmread(files[0]).RadiopharmaceuticalInformationSequence[0]
    assert float(rp.RadionuclidePositronFraction) == pytest.approx(31.86e-6)
    assert rp.RadionuclideCodeSequence[0].CodeValue == "14691008"
    files = dw.write_pt_series(img, tmp_path / "G", **pt_kwargs(nuclide="68Ga"))
    rp = pydicom.dcmread(files[0]).RadiopharmaceuticalInformationSequence[0]
    assert rp.RadionuclideCodeSequence[0].CodeValue == "35337001"
    assert float(rp.RadionuclideHalfLife) == pytest.approx(get_nuclide("Ga-68").half_life_s)


def test_pt_time_zone(tmp_path: Path) -> None:
    cet = datetime.timezone(datetime.timedelta(hours=1))
    inj = datetime.datetime(2025, 1, 10, 8, 0, tzinfo=datetime.timezone.utc)  # 09:00 CET
    acq = datetime.datetime(2025, 1, 10, 10, 0, tzinfo=cet)
    files = dw.write_pt_series(make_image(activity_values()), tmp_path / "PT",
                               **pt_kwargs(injection_datetime=inj, acquisition_datetime=acq))
    ds = pydicom.dcmread(files[0])
    assert ds.TimezoneOffsetFromUTC == "+0100"
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    assert (rp.RadiopharmaceuticalStartTime, ds.SeriesTime) == ("090000", "100000")
    assert rp.RadiopharmaceuticalStartDateTime == "20250110090000+0100"


# ---------------------------------------------------------------------- NM
@pytest.mark.parametrize("direction", list(DIRECTIONS.values()), ids=list(DIRECTIONS))
def test_nm_quantitative_round_trip(tmp_path: Path, direction: tuple[float, ...]) -> None:
    img = make_image(activity_values(), direction)
    files = dw.write_nm_series(img, tmp_path / "NM", patient_weight_kg=70.0, **nm_kwargs())
    assert [p.name for p in files] == ["NM_0001.dcm"]
    back = read_image(tmp_path / "NM")
    assert_geometry(back, img)
    assert_geometry(sitk.ReadImage(str(files[0])), img)
    meta = back.meta
    assert meta["modality"] == "NM" and meta["number_of_frames"] == SHAPE[0]
    assert meta["real_world_value_units"] == "Bq/ml"
    assert meta["real_world_value_intercept"] == 0.0
    slope = meta["real_world_value_slope"]
    expected, _, _ = canonical(img)
    assert slope == pytest.approx(expected.max() / 65535)
    assert back.array.max() == 65535 and np.all(back.array == np.rint(back.array))  # counts
    act = to_activity_bq_ml(back)
    assert act.meta["units"] == "BQML" and act.same_grid(back)
    assert np.max(np.abs(act.array - expected)) <= slope / 2 + expected.max() * 1e-6
    # header facts
    ds = check_files(files, (*COMMON_TAGS, "NumberOfFrames", "DetectorInformationSequence",
                             "EnergyWindowInformationSequence", "RotationInformationSequence",
                             "RadiopharmaceuticalInformationSequence", "SliceVector",
                             "NumberOfSlices", "SpacingBetweenSlices", "AcquisitionDate",
                             "AcquisitionTime", "RealWorldValueMappingSequence"))[0]
    assert ds.SOPClassUID == pydicom.uid.NuclearMedicineImageStorage
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    assert ds.FrameIncrementPointer == pydicom.tag.Tag("SliceVector")
    assert list(ds.SliceVector) == list(range(1, SHAPE[0] + 1))
    assert float(ds.SpacingBetweenSlices) == pytest.approx(SPACING[2])
    assert "RescaleSlope" not in ds and ds.pixel_array.dtype == np.uint16
    rwvm = ds.RealWorldValueMappingSequence[0]
    assert rwvm.LUTLabel == "BQML" and rwvm.MeasurementUnitsCodeSequence[0].CodeValue == "Bq/ml"
    assert rwvm.MeasurementUnitsCodeSequence[0].CodingSchemeDesignator == "UCUM"
    win = ds.EnergyWindowInformationSequence[0].EnergyWindowRangeSequence[0]
    assert (float(win.EnergyWindowLowerLimit), float(win.EnergyWindowUpperLimit)) == (187.2, 228.8)
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    assert float(rp.RadionuclideTotalDose) == 7400.0  # MBq for NM
    assert rp.RadionuclideCodeSequence[0].CodeValue == "447553000"
    assert (ds.AcquisitionDate, ds.AcquisitionTime) == ("20250111", "090000")
    rot = ds.RotationInformationSequence[0]
    assert (int(rot.NumberOfFramesInRotation), int(rot.ActualFrameDuration)) == (60, 20000)
    assert meta["acquisition_duration_s"] == 1200.0
    assert meta["radiopharmaceutical"]["total_dose_bq"] == 7.4e9
    assert meta["energy_windows"][0]["lower_kev"] == 187.2
    assert meta["acquisition_date"] == "2025-01-11" and meta["acquisition_time"] == "09:00:00"


def test_nm_tc99m_window(tmp_path: Path) -> None:
    files = dw.write_nm_series(make_image(activity_values()), tmp_path / "NM",
                               **nm_kwargs(nuclide="Tc-99m", radiopharmaceutical="Tc-99m MAA"))
    meta = read_image(files[0]).meta
    assert (meta["energy_windows"][0]["lower_kev"], meta["energy_windows"][0]["upper_kev"]) == (
        126.45, 154.55)
    assert meta["collimators"][0]["name"] == "LEHR"


def test_nm_counts_with_calibration(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 4000, SHAPE).astype(np.float64)
    img = make_image(counts)
    files = dw.write_nm_series(img, tmp_path / "NM", **nm_kwargs(
        quantity="counts", calibration_cps_per_mbq=10.0, view_duration_s=30.0, n_views=96,
        n_heads=2))
    back = read_image(files[0])
    np.testing.assert_array_equal(back.array, canonical(img)[0])  # integer counts: exact
    labels = [m["label"] for m in back.meta["real_world_value_mappings"]]
    assert labels == ["BQML", "COUNTS"]
    act = to_activity_bq_ml(back)
    voxel_ml = np.prod(SPACING) / 1000.0
    t_acq = 30.0 * 96 / 2
    np.testing.assert_allclose(act.array, canonical(img)[0] * 1e6 / (10.0 * t_acq * voxel_ml),
                               rtol=1e-6)
    assert int(pydicom.dcmread(files[0]).CountsAccumulated) == int(counts.sum())


def test_to_activity_needs_a_calibration(tmp_path: Path) -> None:
    img = make_image(np.rint(activity_values() / 100))
    files = dw.write_nm_series(img, tmp_path / "NM", **nm_kwargs(quantity="counts"))
    with pytest.raises(UnitsError, match="no activity calibration"):
        to_activity_bq_ml(read_image(files[0]))
    dw.write_ct_series(make_image(ct_values()), tmp_path / "CT")
    with pytest.raises(UnitsError, match="Bq/mL"):
        to_activity_bq_ml(read_image(tmp_path / "CT"))
    dw.write_pt_series(make_image(activity_values()), tmp_path / "PT", **pt_kwargs())
    pet = read_image(tmp_path / "PT")
    assert to_activity_bq_ml(pet) is pet


# ---------------------------------------------------------------------- SEG / RTSTRUCT
def label_masks(ct: Image) -> dict[str, Image]:
    z, y, x = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    ball = (x - 4.5) ** 2 + (y - 3.5) ** 2 + (z - 2.5) ** 2 < 9
    ring = ((x - 6) ** 2 + (y - 4) ** 2 < 10) & ((x - 6) ** 2 + (y - 4) ** 2 >= 2) & (z >= 3)
    checker = np.zeros(SHAPE, dtype=bool)
    checker[1, 1:3, 1:3] = True
    checker[1, 3, 3] = True  # touches the block only at a corner
    checker[5, :, :] = True  # the last slice, full
    return {
        "liver": ct.with_array(ball),
        "tumour ring": ct.with_array(ring),
        "odd": ct.with_array(checker),
    }


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.mark.parametrize("direction", list(DIRECTIONS.values()), ids=list(DIRECTIONS))
def test_seg_round_trip(tmp_path: Path, direction: tuple[float, ...]) -> None:
    ct = make_image(ct_values(), direction)
    ct_files = dw.write_ct_series(ct, tmp_path / "CT")
    masks = label_masks(ct)
    seg_path = dw.write_seg(masks, tmp_path / "SEG", reference_series=ct_files)
    assert seg_path == tmp_path / "SEG" / "SEG.dcm"
    ct_back = read_image(tmp_path / "CT")
    loaded = masks_from_dicom_seg(seg_path, ct_back)
    assert list(loaded) == list(masks)
    for name, mask in masks.items():
        expected = canonical(mask)[0].astype(bool)
        assert dice(loaded[name].mask.array, expected) == 1.0
    via_load = load_masks(tmp_path / "SEG", ct_back)
    assert set(via_load) == set(masks)
    native = masks_from_dicom_seg(seg_path)  # its own grid
    assert native["liver"].volume_native_ml == pytest.approx(
        np.count_nonzero(masks["liver"].array) * ct.voxel_volume_ml)

    seg_tags = tuple(t for t in COMMON_TAGS if t != "PixelSpacing")  # in the functional groups
    ds = check_files([seg_path], (*seg_tags, "SegmentSequence", "SharedFunctionalGroupsSequence",
                                  "PerFrameFunctionalGroupsSequence", "DimensionIndexSequence",
                                  "ReferencedSeriesSequence", "NumberOfFrames"))[0]
    ct0 = pydicom.dcmread(ct_files[0])
    assert ds.SOPClassUID == pydicom.uid.SegmentationStorage and ds.SegmentationType == "BINARY"
    assert ds.FrameOfReferenceUID == ct0.FrameOfReferenceUID
    assert ds.StudyInstanceUID == ct0.StudyInstanceUID
    assert [s.SegmentLabel for s in ds.SegmentSequence] == list(masks)
    cat = ds.SegmentSequence[0].SegmentedPropertyCategoryCodeSequence[0]
    assert (cat.CodeValue, cat.CodingSchemeDesignator) == ("85756007", "SCT")
    measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SpacingBetweenSlices) == float(measures.SliceThickness) == SPACING[2]
    n_frames = sum(int(np.count_nonzero(m.array.any(axis=(1, 2)))) for m in masks.values())
    assert int(ds.NumberOfFrames) == n_frames == len(ds.PerFrameFunctionalGroupsSequence)
    ct_uids = {pydicom.dcmread(p).SOPInstanceUID for p in ct_files}
    for fg in ds.PerFrameFunctionalGroupsSequence:
        src = fg.DerivationImageSequence[0].SourceImageSequence[0]
        assert src.ReferencedSOPInstanceUID in ct_uids
        ct_ds = pydicom.dcmread(next(p for p in ct_files
                                     if pydicom.dcmread(p).SOPInstanceUID == src.ReferencedSOPInstanceUID))
        np.testing.assert_allclose([float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient],
                                   [float(v) for v in ct_ds.ImagePositionPatient], atol=1e-6)
    refs = ds.ReferencedSeriesSequence[0]
    assert refs.SeriesInstanceUID == ct0.SeriesInstanceUID
    assert len(refs.ReferencedInstanceSequence) == SHAPE[0]
    assert ds.pixel_array.shape == (n_frames, SHAPE[1], SHAPE[2])


def test_seg_on_multiframe_nm_reference(tmp_path: Path) -> None:
    img = make_image(activity_values())
    nm_files = dw.write_nm_series(img, tmp_path / "NM", **nm_kwargs())
    masks = {"hot": img.with_array(img.array > 3e4)}
    seg_path = dw.write_seg(masks, tmp_path / "seg.dcm", reference_series=nm_files)
    back = read_image(nm_files[0])
    loaded = masks_from_dicom_seg(seg_path, back)
    assert dice(loaded["hot"].mask.array, canonical(masks["hot"])[0].astype(bool)) == 1.0
    ds = pydicom.dcmread(seg_path)
    frames = {int(fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
              for fg in ds.PerFrameFunctionalGroupsSequence}
    assert frames <= set(range(1, SHAPE[0] + 1))
    # ReferencedFrameNumber k+1 is the slice of the frame: same position as the NM frame.
    nm = pydicom.dcmread(nm_files[0])
    ipp0 = np.array([float(v) for v in nm.DetectorInformationSequence[0].ImagePositionPatient])
    normal = np.cross(*np.array([float(v) for v in
                                 nm.DetectorInformationSequence[0].ImageOrientationPatient]).reshape(2, 3))
    for fg in ds.PerFrameFunctionalGroupsSequence:
        frame = int(fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
        pos = np.array([float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient])
        assert (pos - ipp0) @ normal == pytest.approx((frame - 1) * SPACING[2])


def test_seg_without_reference(tmp_path: Path) -> None:
    study = dw.StudyInfo(patient_id="P7")
    ct = make_image(ct_values())
    seg_path = dw.write_seg(label_masks(ct), tmp_path / "a.dcm", study=study)
    ds = pydicom.dcmread(seg_path)
    assert ds.FrameOfReferenceUID == study.frame_of_reference_uid and ds.PatientID == "P7"
    assert "ReferencedSeriesSequence" not in ds
    loaded = masks_from_dicom_seg(seg_path)
    assert loaded["odd"].mask.array.sum() == label_masks(ct)["odd"].array.sum()


@pytest.mark.parametrize("direction", list(DIRECTIONS.values()), ids=list(DIRECTIONS))
def test_rtstruct_round_trip(tmp_path: Path, direction: tuple[float, ...]) -> None:
    ct = make_image(ct_values(), direction)
    ct_files = dw.write_ct_series(ct, tmp_path / "CT")
    masks = label_masks(ct)
    path = dw.write_rtstruct(masks, tmp_path / "RS", reference_series=ct_files)
    ct_back = read_image(tmp_path / "CT")
    loaded = masks_from_rtstruct(path, ct_back)
    for name, mask in masks.items():
        expected = canonical(mask)[0].astype(bool)
        np.testing.assert_array_equal(loaded[name].mask.array, expected)
        assert loaded[name].volume_native_ml == pytest.approx(
            np.count_nonzero(expected) * ct.voxel_volume_ml)
    ds = pydicom.dcmread(path)
    assert ds.Modality == "RTSTRUCT" and [r.ROIName for r in ds.StructureSetROISequence] == list(masks)
    ct_uids = {pydicom.dcmread(p).SOPInstanceUID for p in ct_files}
    for rc in ds.ROIContourSequence:
        for c in rc.ContourSequence:
            assert c.ContourImageSequence[0].ReferencedSOPInstanceUID in ct_uids


def test_contour_tracing_random_masks() -> None:
    """Even-odd filling of the traced loops gives back random masks exactly."""
    from matplotlib.path import Path as MplPath

    rng = np.random.default_rng(11)
    for _ in range(20):
        mask = rng.random((9, 12)) < 0.45
        loops = dw._trace_slice(mask)
        yy, xx = np.mgrid[0:9, 0:12]
        pts = np.column_stack([xx.ravel() + 0.13, yy.ravel() + 0.07])
        inside = np.zeros(pts.shape[0], dtype=int)
        for loop in loops:
            inside += MplPath(np.vstack([loop, loop[:1]]), closed=True).contains_points(pts)
        np.testing.assert_array_equal((inside % 2 == 1).reshape(mask.shape), mask)
        for loop in loops:  # no repeated vertex inside a loop: simple polygons
            assert len({tuple(p) for p in loop}) == len(loop)


# ---------------------------------------------------------------------- determinism, atomicity
def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    ct = make_image(ct_values())
    pet = make_image(activity_values())
    outputs = []
    for run in ("a", "b"):
        root = tmp_path / run
        files = dw.write_ct_series(ct, root / "CT")
        files += dw.write_pt_series(pet, root / "PT", **pt_kwargs())
        files += dw.write_nm_series(pet, root / "NM", **nm_kwargs())
        files.append(dw.write_seg(label_masks(ct), root / "SEG", reference_series=files[:SHAPE[0]]))
        files.append(dw.write_rtstruct(label_masks(ct), root / "RS", reference_series=files[:SHAPE[0]]))
        outputs.append([(p.relative_to(root), p.read_bytes()) for p in files])
    assert outputs[0] == outputs[1]
    other = dw.write_ct_series(ct, tmp_path / "c", uid_seed="another seed")
    assert pydicom.dcmread(other[0]).SeriesInstanceUID != pydicom.dcmread(
        tmp_path / "a" / "CT" / "CT_0001.dcm").SeriesInstanceUID


def test_failed_series_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = dw._save

    def failing(ds: pydicom.Dataset, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk went away")
        original(ds, path)

    monkeypatch.setattr(dw, "_save", failing)
    with pytest.raises(RuntimeError, match="disk went away"):
        dw.write_ct_series(make_image(ct_values()), tmp_path / "CT")
    assert list(tmp_path.iterdir()) == []
    calls["n"] = 2
    with pytest.raises(RuntimeError):
        dw.write_seg(label_masks(make_image(ct_values())), tmp_path / "SEG")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_existing_folder(tmp_path: Path) -> None:
    ct = make_image(ct_values())
    dw.write_ct_series(ct, tmp_path / "CT")
    with pytest.raises(InputError, match="not empty"):
        dw.write_ct_series(ct, tmp_path / "CT")
    (tmp_path / "CT" / "stale.txt").write_text("old")
    files = dw.write_ct_series(ct, tmp_path / "CT", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "CT").iterdir()) == [p.name for p in files]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CT"]


# ---------------------------------------------------------------------- study, codes
def test_study_info_is_deterministic_and_checked() -> None:
    a, b = dw.StudyInfo(), dw.StudyInfo()
    assert a.study_uid == b.study_uid and a.frame_of_reference_uid == b.frame_of_reference_uid
    assert dw.StudyInfo(patient_id="other").study_uid != a.study_uid
    assert a.study_datetime == dw.DEFAULT_STUDY_DATETIME
    with pytest.raises(InputError, match="patient_sex"):
        dw.StudyInfo(patient_sex="male")
    with pytest.raises(InputError, match="study_uid"):
        dw.StudyInfo(study_uid="not-a-uid")
    with pytest.raises(InputError, match="accession_number"):
        dw.StudyInfo(accession_number="x" * 17)


def test_code_tables_match_dicom_part16() -> None:
    """The coded radionuclides are those of PS3.16 (as shipped in pydicom.sr.codedict)."""
    from pydicom.sr import _snomed_dict
    from pydicom.sr.codedict import codes

    def check(table: Any, cid: Any) -> None:
        for nuclide, concept in table.items():
            symbol, mass = nuclide.split("-")
            element = {"F": "Fluorine", "Ga": "Gallium", "C": "Carbon", "N": "Nitrogen",
                       "O": "Oxygen", "Cu": "Copper", "Zr": "Zirconium", "Rb": "Rubidium",
                       "I": "Iodine", "Y": "Yttrium", "Sc": "Scandium", "Tc": "Technetium",
                       "Lu": "Lutetium", "In": "Indium", "Ho": "Holmium"}[symbol]
            ref = getattr(cid, f"_{mass}{element}")
            assert (concept.value, concept.scheme, concept.meaning) == (
                ref.value, ref.scheme_designator, ref.meaning), nuclide
            if concept.legacy_srt is not None:
                assert _snomed_dict.mapping["SCT"][concept.value] == concept.legacy_srt
            get_nuclide(nuclide)

    check(dw.PET_RADIONUCLIDES, codes.CID4020)
    check(dw.SPECT_RADIONUCLIDES, codes.CID18)
    assert dw.PET_RADIONUCLIDES["F-18"].legacy_srt == "C-111A1"
    assert dw.PET_RADIONUCLIDES["Ga-68"].legacy_srt == "C-131A3"


# ---------------------------------------------------------------------- bad inputs
def _nan_image() -> Image:
    arr = activity_values()
    arr[1, 2, 3] = np.nan
    return make_image(arr)


def _negative_image() -> Image:
    arr = activity_values()
    arr[3, 1, 1] = -5.0
    return make_image(arr)


BAD_CALLS = {
    "CT NaN": (lambda p: dw.write_ct_series(_nan_image(), p), InputError, "NaN"),
    "PT NaN": (lambda p: dw.write_pt_series(_nan_image(), p, **pt_kwargs()), InputError, "NaN"),
    "NM NaN": (lambda p: dw.write_nm_series(_nan_image(), p, **nm_kwargs()), InputError, "NaN"),
    "PT negative": (lambda p: dw.write_pt_series(_negative_image(), p, **pt_kwargs()),
                    InputError, "negative"),
    "NM negative": (lambda p: dw.write_nm_series(_negative_image(), p, **nm_kwargs()),
                    InputError, "negative"),
    "PT injection after acquisition": (
        lambda p: dw.write_pt_series(make_image(activity_values()), p, **pt_kwargs(
            injection_datetime=ACQUISITION + datetime.timedelta(minutes=1))),
        InputError, "after the acquisition"),
    "NM injection after acquisition": (
        lambda p: dw.write_nm_series(make_image(activity_values()), p, **nm_kwargs(
            injection_datetime=INJECTION + datetime.timedelta(days=2))),
        InputError, "after the acquisition"),
    "PT zero weight": (lambda p: dw.write_pt_series(make_image(activity_values()), p,
                                                    **pt_kwargs(patient_weight_kg=0.0)),
                       InputError, "patient_weight_kg"),
    "PT negative weight": (lambda p: dw.write_pt_series(make_image(activity_values()), p,
                                                        **pt_kwargs(patient_weight_kg=-70)),
                           InputError, "patient_weight_kg"),
    "PT height in cm": (lambda p: dw.write_pt_series(make_image(activity_values()), p,
                                                     **pt_kwargs(patient_height_m=178)),
                        InputError, "metres"),
    "PT zero activity": (lambda p: dw.write_pt_series(make_image(activity_values()), p,
                                                      **pt_kwargs(injected_bq=0)),
                         InputError, "injected_bq"),
    "PT unknown nuclide": (lambda p: dw.write_pt_series(make_image(activity_values()), p,
                                                        **pt_kwargs(nuclide="Xx-999")),
                           InputError, "element"),
    "NM unknown nuclide": (lambda p: dw.write_nm_series(make_image(activity_values()), p,
                                                        **nm_kwargs(nuclide="banana")),
                           InputError, "not a radionuclide"),
    "PT with a SPECT nuclide": (lambda p: dw.write_pt_series(make_image(activity_values()), p,
                                                             **pt_kwargs(nuclide="Lu-177")),
                                InputError, "not a PET radionuclide"),
    "NM with a PET nuclide": (lambda p: dw.write_nm_series(make_image(activity_values()), p,
                                                           **nm_kwargs(nuclide="F-18")),
                              InputError, "PET nuclide"),
    "NM Y-90 bremsstrahlung": (lambda p: dw.write_nm_series(make_image(activity_values()), p,
                                                            **nm_kwargs(nuclide="Y-90")),
                               InputError, "no SPECT energy windows"),
    "PT bad decay correction": (lambda p: dw.write_pt_series(make_image(activity_values()), p,
                                                             **pt_kwargs(decay_correction="LAST")),
                                InputError, "decay_correction"),
    "NM bad quantity": (lambda p: dw.write_nm_series(make_image(activity_values()), p,
                                                     **nm_kwargs(quantity="suv")),
                        InputError, "quantity"),
    "CT boolean image": (lambda p: dw.write_ct_series(make_image(ct_values()).with_array(
        np.zeros(SHAPE, dtype=bool)), p), InputError, "real numeric"),
    "CT not an Image": (lambda p: dw.write_ct_series(np.zeros(SHAPE), p), InputError, "Image"),
}


@pytest.mark.parametrize("call, error, match", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_bad_inputs(tmp_path: Path, call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_masks_not_on_the_reference_grid(tmp_path: Path) -> None:
    ct = make_image(ct_values())
    ct_files = dw.write_ct_series(ct, tmp_path / "CT")
    shifted = Image(np.ones(SHAPE, dtype=bool), SPACING, (ORIGIN[0] + 1.0, ORIGIN[1], ORIGIN[2]),
                    Z_FLIPPED)
    with pytest.raises(GeometryError, match="not on the grid"):
        dw.write_seg({"liver": shifted}, tmp_path / "seg.dcm", reference_series=ct_files)
    with pytest.raises(GeometryError, match="not on the grid"):
        dw.write_rtstruct({"liver": shifted}, tmp_path / "rs.dcm", reference_series=ct_files)
    with pytest.raises(GeometryError, match="not on the grid"):
        dw.write_seg({"a": ct.with_array(ct.array > 0), "b": shifted}, tmp_path / "seg.dcm")
    with pytest.raises(InputError, match="empty"):
        dw.write_seg({"a": ct.with_array(np.zeros(SHAPE, dtype=bool))}, tmp_path / "seg.dcm")
    with pytest.raises(InputError, match="boolean"):
        dw.write_seg({"a": ct}, tmp_path / "seg.dcm")
    with pytest.raises(InputError, match="study"):
        dw.write_seg({"a": ct.with_array(ct.array > 0)}, tmp_path / "seg.dcm",
                     reference_series=ct_files, study=dw.StudyInfo(patient_id="someone else"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CT"]


def test_seg_with_frames_not_a_whole_number_of_bytes_reads_back(tmp_path):
    # 9 x 11 = 99 bits per frame: BINARY frames are packed back to back, so most frames start
    # mid-byte. Decoding them one at a time (pydicom.pixels.iter_pixels in pydicom 3.0) fails
    # on such frames; netdose's SEG reader decodes all frames at once.
    from netdose.image import Image
    from netdose.io.dicom_write import write_seg
    from netdose.io.masks import masks_from_dicom_seg

    a = np.zeros((5, 9, 11), dtype=bool)
    a[1:4, 2:7, 3:9] = True
    b = np.zeros((5, 9, 11), dtype=bool)
    b[:, 1:3, 1:4] = True
    grid = Image(a, (1.5, 2.0, 2.5), (10.0, -5.0, 3.0))
    path = write_seg({"a": grid, "b": grid.with_array(b)}, tmp_path / "seg.dcm")
    back = masks_from_dicom_seg(path, target=grid)
    np.testing.assert_array_equal(back["a"].mask.array, a)
    np.testing.assert_array_equal(back["b"].mask.array, b)
    only_b = masks_from_dicom_seg(path, target=grid, select=["b"])
    np.testing.assert_array_equal(only_b["b"].mask.array, b)
