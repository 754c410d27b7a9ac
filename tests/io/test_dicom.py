"""Tests of netdose.io.dicom: the OncoRay PET DROs, pydicom's test files and synthetic series."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.data
import pydicom.filebase
import pydicom.filewriter
import pydicom.uid
import pytest
import SimpleITK as sitk
from dicom_factory import enhanced_dataset, nm_dataset, save, write_series

from netdose.errors import InputError
from netdose.io.dicom import SeriesInfo, list_series, read_dicom_image

DRO_IDS = [
    "DRO_0_0", "DRO_1_0", "DRO_2_0", "DRO_2_1", "DRO_2_2", "DRO_2_3", "DRO_2_4", "DRO_2_5",
    "DRO_3_0", "DRO_3_1", "DRO_3_2", "DRO_3_3", "DRO_3_4", "DRO_4_0", "DRO_4_1", "DRO_4_2",
    "DRO_5_0",
]

# Header facts per DRO (from the files' headers; see DRO_list.csv for what each tests).
DRO_FACTS: dict[str, dict[str, Any]] = {
    "DRO_0_0": {"units": "BQML", "decay_correction": "START"},
    "DRO_1_0": {"units": "BQML", "decay_correction": "START"},
    "DRO_2_0": {"units": "GML", "suv_type": "BW"},
    "DRO_2_1": {"units": "GML", "suv_type": "LBMJAMES128", "patient_sex": "M"},
    "DRO_2_2": {"units": "GML", "suv_type": "IBW", "patient_sex": "O"},
    "DRO_2_3": {"units": "CM2ML", "suv_type": "BSA"},
    "DRO_2_4": {"units": "CNTS", "philips_suv_factor": 0.0005,
                "manufacturer": "Philips Medical Systems"},
    "DRO_2_5": {"units": "CNTS", "philips_activity_concentration_factor": 0.5},
    "DRO_3_0": {"units": "BQML"},
    "DRO_3_1": {"decay_correction": "ADMIN"},
    "DRO_3_2": {"series_time": "11:30:00", "acquisition_time": "11:02:30",
                "acquisition_times_differ": True},
    "DRO_3_3": {"manufacturer": "GE MEDICAL SYSTEMS",
                "ge_private_scan_datetime": "2025-01-01T11:00:00",
                "ge_private_scan_datetime_raw": "20250101110000.000000",
                "acquisition_time": "11:30:00"},
    "DRO_3_4": {"decay_correction": "NONE", "acquisition_time": "11:00:00",
                "acquisition_times_differ": True},
    "DRO_4_0": {},
    "DRO_4_1": {},
    "DRO_4_2": {"acquisition_date": "2025-01-02", "acquisition_time": "00:30:00",
                "study_date": "2025-01-02"},
    "DRO_5_0": {},
}

DRO_RADIOPHARMACEUTICAL: dict[str, dict[str, Any]] = {
    "DRO_0_0": {"radiopharmaceutical": "FDG", "total_dose": 368080000.0, "half_life_s": 6586.2,
                "start_time": "10:00:00", "start_datetime": "2025-01-01T10:00:00",
                "positron_fraction": 1.0},
    "DRO_3_0": {"total_dose": 368.08},
    "DRO_4_0": {"start_time": None, "start_datetime": "2025-01-01T10:00:00"},
    "DRO_4_1": {"start_time": "10:00:00", "start_datetime": None},
    "DRO_4_2": {"start_time": "23:30:00", "start_datetime": None},
    "DRO_5_0": {"radiopharmaceutical": "Ga68-PSMA", "half_life_s": 4057.7},
}

TEST_FILES = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent  # type: ignore[arg-type]


def _z_positions(n: int, dz: float = 4.0, z0: float = -20.0) -> list[tuple[float, float, float]]:
    return [(-5.0, -7.5, z0 + k * dz) for k in range(n)]


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _assert_geometry(img: Any, ref: sitk.Image, atol: float = 1e-4) -> None:
    assert img.size_xyz == ref.GetSize()
    np.testing.assert_allclose(img.spacing_mm, ref.GetSpacing(), atol=atol)
    np.testing.assert_allclose(img.origin_mm, ref.GetOrigin(), atol=atol)
    np.testing.assert_allclose(img.direction, ref.GetDirection(), atol=atol)


# ---------------------------------------------------------------------- OncoRay DROs
@pytest.mark.parametrize("dro", DRO_IDS)
def test_dro_loads_with_header_facts(dro_root: Path, dro: str) -> None:
    img = read_dicom_image(dro_root / dro)  # the folder also holds RS/ (RTSTRUCT) and mask/
    assert img.shape == (20, 256, 256)
    assert img.array.dtype == np.float32
    assert img.spacing_mm == (4.0, 4.0, 4.0)
    meta = img.meta
    json.dumps(dict(meta))  # JSON-serialisable
    assert meta["modality"] == "PT"
    assert meta["series_description"] == f"PET SUV verification {dro}"
    assert meta["patient_weight_kg"] == 70.0
    assert meta["patient_height_m"] == 1.75
    assert meta["corrected_image"][:3] == ["NORM", "DTIM", "ATTN"]
    assert meta["frame_reference_time_ms"] is not None
    assert meta["actual_frame_duration_ms"] is not None
    assert meta["decay_factor"] == 1.0
    assert len(meta["rescale_slopes"]) == 20
    assert len(meta["acquisition_datetimes"]) == 20
    assert len(meta["source_files"]) == 20
    assert meta["series_uid"] and meta["study_uid"] and meta["frame_of_reference_uid"]
    expected = {"units": "BQML", "decay_correction": "START", "patient_sex": "O",
                "manufacturer": "Synthetic", "suv_type": None, "philips_suv_factor": None,
                "philips_activity_concentration_factor": None,
                "ge_private_scan_datetime": None, "acquisition_date": "2025-01-01",
                "acquisition_time": "11:00:00", "acquisition_times_differ": False,
                "study_date": "2025-01-01"}
    if dro in ("DRO_2_4", "DRO_2_5"):
        expected["manufacturer"] = "Philips Medical Systems"
    if dro in ("DRO_3_3", "DRO_3_4"):
        expected["manufacturer"] = "GE MEDICAL SYSTEMS"
    if dro == "DRO_3_4":
        expected["decay_correction"] = "NONE"
    expected.update(DRO_FACTS[dro])
    for key, value in expected.items():
        assert meta[key] == value, key
    rp = meta["radiopharmaceutical"]
    rp_expected = dict(DRO_RADIOPHARMACEUTICAL["DRO_0_0"])
    rp_expected.update(DRO_RADIOPHARMACEUTICAL.get(dro, {}))
    for key, value in rp_expected.items():
        assert rp[key] == value, key
    assert rp["radionuclide_code"]["meaning"] in ("^18^Fluorine", "^68^Gallium")


@pytest.mark.parametrize("dro", DRO_IDS)
def test_dro_geometry_matches_simpleitk(dro_root: Path, dro: str) -> None:
    img = read_dicom_image(dro_root / dro / "PT")
    _assert_geometry(img, _sitk_series(dro_root / dro / "PT"))


@pytest.mark.parametrize("dro", ["DRO_0_0", "DRO_1_0", "DRO_2_1"])
def test_dro_values_are_raw_times_slope_per_slice(dro_root: Path, dro: str) -> None:
    img = read_dicom_image(dro_root / dro)
    files = [Path(f) for f in img.meta["source_files"]]
    positions = img.meta["slice_positions_mm"]
    assert positions == sorted(positions)
    for k in (0, 7, 19):
        ds = pydicom.dcmread(files[k])
        expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(img.array[k], expected, rtol=1e-6)
        assert img.meta["rescale_slopes"][k] == float(ds.RescaleSlope)
        assert float(ds.ImagePositionPatient[2]) == pytest.approx(img.origin_mm[2] + 4.0 * k)


def test_dro_1_0_has_several_slopes(dro_root: Path) -> None:
    img = read_dicom_image(dro_root / "DRO_1_0" / "PT")
    assert set(img.meta["rescale_slopes"]) == {3.0, 4.0}
    # DRO_1_0 is DRO_0_0 stored with other slopes: the rescaled values must agree.
    ref = read_dicom_image(dro_root / "DRO_0_0" / "PT")
    np.testing.assert_allclose(img.array, ref.array, rtol=1e-6, atol=1e-3)


def test_dro_private_factor_lists(dro_root: Path) -> None:
    meta = read_dicom_image(dro_root / "DRO_2_4").meta
    assert meta["philips_suv_factors"] == [0.0005] * 20
    assert meta["philips_activity_concentration_factors"] is None
    meta = read_dicom_image(dro_root / "DRO_2_5").meta
    assert meta["philips_activity_concentration_factors"] == [0.5] * 20
    assert meta["philips_suv_factors"] is None


def test_dro_time_lists(dro_root: Path) -> None:
    meta = read_dicom_image(dro_root / "DRO_3_4").meta
    times = set(meta["acquisition_datetimes"])
    assert times == {"2025-01-01T11:00:00", "2025-01-01T11:05:00"}
    assert set(meta["frame_reference_times_ms"]) == {300000.0, 600000.0}


def test_list_series_dro(dro_root: Path) -> None:
    series = list_series(dro_root / "DRO_0_0")
    assert len(series) == 1
    info = series[0]
    assert isinstance(info, SeriesInfo)
    assert (info.modality, info.n_files, len(info.files)) == ("PT", 20, 20)
    assert info.sop_class_uid == pydicom.uid.PositronEmissionTomographyImageStorage
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.n_files = 3  # type: ignore[misc]
    assert list_series(dro_root / "DRO_0_0" / "RS") == []


def test_rtstruct_only_folder_is_refused(dro_root: Path) -> None:
    with pytest.raises(InputError, match="holds only RTSTRUCT objects.*give the image series"):
        read_dicom_image(dro_root / "DRO_0_0" / "RS")


# ---------------------------------------------------------------------- pydicom test data
def test_pydicom_ct_series_matches_simpleitk() -> None:
    folder = TEST_FILES / "dicomdirtests" / "98892001" / "CT5N"
    img = read_dicom_image(folder)
    ref = _sitk_series(folder)
    _assert_geometry(img, ref)
    np.testing.assert_allclose(img.array, sitk.GetArrayFromImage(ref), atol=1e-3)
    assert img.meta["modality"] == "CT"


@pytest.mark.parametrize(
    ("relpath", "match"),
    [
        ("CT_small.dcm", "a 3-D volume is needed; the series has a single slice"),
        ("MR_truncated.dcm", r"MR_truncated\.dcm.*truncated"),
        ("rtdose.dcm", "holds only RTDOSE objects"),
        ("rtstruct.dcm", "holds only RTSTRUCT objects"),
        ("rtplan.dcm", "holds only RTPLAN objects"),
        ("README.txt", "is not a DICOM file"),
        ("dicomdirtests/77654033/CT2", r"non-uniform slice spacing.*202\.500 mm"),
        ("dicomdirtests/98892003/MR700", "mixes slice orientations"),
        ("dicomdirtests/98892003/MR1", "holds 3 image series"),
    ],
)
def test_pydicom_files_refused(relpath: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_dicom_image(TEST_FILES / relpath)


def test_pydicom_series_selection_by_uid() -> None:
    folder = TEST_FILES / "dicomdirtests" / "98892001"
    uids = {s.description: s.series_uid for s in list_series(folder)}
    img = read_dicom_image(folder, series_uid=uids["SmartScore - Gated 0.5 sec"])
    assert img.shape == (5, 16, 16)


# ---------------------------------------------------------------------- synthetic series
def test_synthetic_series_sorted_and_rescaled(tmp_path: Path) -> None:
    positions = _z_positions(5)
    slopes = [1.0, 2.0, 0.5, 4.0, 3.0]
    # File names in reverse order of position: sorting must use the positions.
    write_series(tmp_path, positions, slopes=slopes, names=[f"f{4 - k}.dcm" for k in range(5)])
    img = read_dicom_image(tmp_path)
    assert img.shape == (5, 6, 5)
    assert img.spacing_mm == pytest.approx((3.0, 2.0, 4.0))  # PixelSpacing is (row, column)
    assert img.origin_mm == pytest.approx(positions[0])
    assert img.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    for k in range(5):
        raw = 100 * k + 10 * np.arange(6)[:, None] + np.arange(5)[None, :]
        np.testing.assert_allclose(img.array[k], raw * slopes[k])
    assert img.meta["rescale_slopes"] == slopes
    _assert_geometry(img, _sitk_series(tmp_path))


def test_slices_stacked_against_the_normal(tmp_path: Path) -> None:
    # Column direction -y: the normal is -z. Slices at z = -20..-4 ascend along +z, i.e.
    # descend along the normal; the array is ordered along the normal.
    positions = _z_positions(5)
    write_series(tmp_path, positions, orientation=(1, 0, 0, 0, -1, 0))
    img = read_dicom_image(tmp_path)
    assert img.direction == pytest.approx((1, 0, 0, 0, -1, 0, 0, 0, -1))
    assert img.origin_mm == pytest.approx(positions[-1])
    assert float(np.linalg.det(img.direction_matrix)) == pytest.approx(1.0)
    assert img.array[0, 0, 0] == 400.0  # the slice with the largest z comes first
    _assert_geometry(img, _sitk_series(tmp_path))


def test_two_series_need_a_uid(tmp_path: Path) -> None:
    uid_a = "1.2.826.0.1.3680043.8.498.501"
    uid_b = "1.2.826.0.1.3680043.8.498.502"
    write_series(tmp_path / "a", _z_positions(3), series_uid=uid_a, description="PET AC")
    write_series(tmp_path / "b", _z_positions(4), series_uid=uid_b, description="PET NAC")
    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.raises(InputError, match="holds 2 image series") as err:
        read_dicom_image(tmp_path)
    for text in (uid_a, uid_b, "PET AC", "PET NAC", "3 files", "4 files", "--series"):
        assert text in str(err.value)
    assert read_dicom_image(tmp_path, series_uid=uid_a).shape[0] == 3
    assert read_dicom_image(tmp_path, series_uid=uid_b).shape[0] == 4
    with pytest.raises(InputError, match=f"series 1.2.3 is not in .*{uid_a}"):
        read_dicom_image(tmp_path, series_uid="1.2.3")
    assert [s.n_files for s in list_series(tmp_path)] == [3, 4]


def test_enhanced_multiframe(tmp_path: Path) -> None:
    positions = [(0.0, 0.0, 8.0), (0.0, 0.0, 0.0), (0.0, 0.0, 4.0)]
    save(enhanced_dataset(positions, [1.0, 2.0, 3.0]), tmp_path / "enh.dcm")
    img = read_dicom_image(tmp_path / "enh.dcm")
    assert img.shape == (3, 3, 4)
    assert img.spacing_mm == pytest.approx((2.5, 2.0, 4.0))
    assert img.origin_mm == pytest.approx((0.0, 0.0, 0.0))
    base = np.arange(12).reshape(3, 4)
    np.testing.assert_allclose(img.array[0], (100 + base) * 2.0)  # frame 2 is lowest
    np.testing.assert_allclose(img.array[2], (0 + base) * 1.0)
    assert img.meta["rescale_slopes"] == [2.0, 3.0, 1.0]


# ---------------------------------------------------------------------- NM
def test_nm_recon_tomo_multiframe(tmp_path: Path) -> None:
    path = save(nm_dataset(), tmp_path / "spect.dcm")
    img = read_dicom_image(path)
    assert img.shape == (5, 4, 6)
    assert img.spacing_mm == pytest.approx((2.0, 3.0, 4.5))
    assert img.origin_mm == pytest.approx((-10.0, -20.0, -30.0))
    assert img.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    expected = 0.5 * (1000 * 3 + 10 * np.arange(4)[:, None] + np.arange(6)[None, :])
    np.testing.assert_allclose(img.array[3], expected)
    meta = img.meta
    assert meta["modality"] == "NM"
    assert meta["number_of_frames"] == 5
    assert meta["energy_windows"] == [
        {"name": "Tc99m", "ranges_kev": [[126.45, 154.55]], "lower_kev": 126.45,
         "upper_kev": 154.55}
    ]
    assert meta["collimators"][0]["name"] == "LEHR"
    json.dumps(dict(meta))
    ref = sitk.ReadImage(str(path))
    _assert_geometry(img, ref)
    # The folder reads the same.
    assert read_dicom_image(tmp_path).same_grid(img)


def test_nm_negative_spacing_is_sorted_along_the_normal(tmp_path: Path) -> None:
    path = save(nm_dataset(spacing_between_slices=-4.5), tmp_path / "spect.dcm")
    img = read_dicom_image(path)
    assert img.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert img.origin_mm == pytest.approx((-10.0, -20.0, -30.0 - 4 * 4.5))
    assert img.array[0, 0, 0] == pytest.approx(0.5 * 4000)  # the last frame is lowest


def test_nm_slice_thickness_used_without_spacing(tmp_path: Path) -> None:
    path = save(nm_dataset(spacing_between_slices=None, slice_thickness=3.3), tmp_path / "s.dcm")
    assert read_dicom_image(path).spacing_mm[2] == pytest.approx(3.3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_type": ("ORIGINAL", "PRIMARY", "TOMO", "EMISSION")}, "projection \\(raw acquisition\\) data"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION")}, "projection"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "STATIC", "EMISSION")}, "projection"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "DYNAMIC", "EMISSION")}, "projection"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "GATED TOMO", "EMISSION")}, "reconstructed SPECT"),
        ({"image_type": None, "detectors": 2, "rotation": True}, "projection"),
        ({"image_type": ("ORIGINAL", "PRIMARY", "FUNNY")}, "not a reconstructed tomographic"),
        ({"energy_window_vector": [1, 2, 1, 2, 1]}, "several NM volumes"),
        ({"spacing_between_slices": None, "slice_thickness": None}, "SpacingBetweenSlices"),
        ({"n_slices": 1}, "single slice"),
    ],
)
def test_nm_refused(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    path = save(nm_dataset(**kwargs), tmp_path / "nm.dcm")
    with pytest.raises(InputError, match=match):
        read_dicom_image(path)


def test_nm_without_image_type_but_recon_geometry_reads(tmp_path: Path) -> None:
    path = save(nm_dataset(image_type=None), tmp_path / "nm.dcm")
    assert read_dicom_image(path).shape == (5, 4, 6)


def test_nm_missing_detector_geometry(tmp_path: Path) -> None:
    ds = nm_dataset()
    del ds.DetectorInformationSequence[0].ImagePositionPatient
    path = save(ds, tmp_path / "nm.dcm")
    with pytest.raises(
        InputError, match=r"DetectorInformationSequence\[0\] ImagePositionPatient \(0020,0032\)"
    ):
        read_dicom_image(path)


# ---------------------------------------------------------------------- bad inputs
def _drop(keyword: str):
    def edit(files: list[Path]) -> None:
        ds = pydicom.dcmread(files[1])
        delattr(ds, keyword)
        ds.save_as(files[1])
    return edit


def _truncate(files: list[Path]) -> None:
    data = files[2].read_bytes()
    files[2].write_bytes(data[: len(data) // 2])


def _move_slice(z: float):
    def edit(files: list[Path]) -> None:
        ds = pydicom.dcmread(files[2])
        ds.ImagePositionPatient = [-5.0, -7.5, z]
        ds.save_as(files[2])
    return edit


def _tilt(files: list[Path]) -> None:
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [-5.0, -7.5 + 0.5 * k, -20.0 + 4.0 * k]
        ds.save_as(f)


def _mixed_spacing(files: list[Path]) -> None:
    ds = pydicom.dcmread(files[3])
    ds.PixelSpacing = [2.5, 3.0]
    ds.save_as(files[3])


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_drop("PixelSpacing"), r"slice_001\.dcm has no PixelSpacing \(0028,0030\)"),
        (_drop("ImagePositionPatient"), r"slice_001\.dcm has no ImagePositionPatient \(0020,0032\)"),
        (_drop("ImageOrientationPatient"), r"slice_001\.dcm has no ImageOrientationPatient"),
        (_drop("Rows"), r"slice_001\.dcm has no Rows \(0028,0010\)"),
        (_drop("PixelData"), r"slice_001\.dcm has no PixelData \(7FE0,0010\)"),
        (_truncate, r"slice_002\.dcm.*truncated"),
        (_move_slice(-16.0), "duplicate positions"),
        (_move_slice(-11.0), r"non-uniform slice spacing.*is 5\.000 mm.*mean gap is 4\.000 mm"),
        (_tilt, "gantry-tilted"),
        (_mixed_spacing, "PixelSpacing"),
    ],
)
def test_bad_series_refused(tmp_path: Path, edit: Any, match: str) -> None:
    files = write_series(tmp_path, _z_positions(5))
    edit(files)
    with pytest.raises(InputError, match=match):
        read_dicom_image(tmp_path)


def test_non_dicom_file_given_directly(tmp_path: Path) -> None:
    path = tmp_path / "image.nii"
    path.write_bytes(b"\x5c\x01\x00\x00" + b"\x00" * 400)
    with pytest.raises(InputError, match=r"image\.nii is not a DICOM file"):
        read_dicom_image(path)
    with pytest.raises(InputError, match="is not a DICOM file"):
        list_series(path)


def test_empty_and_non_dicom_folders(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=f"no DICOM image files found in {empty}"):
        read_dicom_image(empty)
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("hello")
    (other / "b.csv").write_text("1,2")
    with pytest.raises(InputError, match=r"no DICOM image files found .*\(2 file\(s\) that are not DICOM\)"):
        read_dicom_image(other)
    with pytest.raises(InputError, match="does not exist"):
        read_dicom_image(tmp_path / "missing")


def test_non_dicom_files_beside_a_series_are_skipped(tmp_path: Path) -> None:
    write_series(tmp_path / "pet", _z_positions(3))
    (tmp_path / "pet" / "DRO_mask.nii.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 50)
    (tmp_path / "pet" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert read_dicom_image(tmp_path).shape == (3, 6, 5)


def test_dicom_without_preamble_is_read(tmp_path: Path) -> None:
    files = write_series(tmp_path, _z_positions(3))
    data = files[0].read_bytes()
    ds = pydicom.dcmread(files[0])
    # Strip the 128-byte preamble, "DICM" and the file meta group: a bare implicit-VR data set
    # as old ACR-NEMA style exports write it.
    buf = pydicom.filebase.DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = True
    pydicom.filewriter.write_dataset(buf, ds)
    files[0].write_bytes(buf.getvalue())
    assert files[0].read_bytes()[:2] == b"\x08\x00" and data[128:132] == b"DICM"
    assert read_dicom_image(tmp_path).shape == (3, 6, 5)


def test_copy_of_pydicom_ct_with_modified_positions(tmp_path: Path) -> None:
    src = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    for k in range(3):
        ds = copy.deepcopy(src)
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["ct", str(k)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        x, y, z = (float(v) for v in src.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 2.5 * k]
        ds.save_as(tmp_path / f"ct{k}.dcm")
    img = read_dicom_image(tmp_path)
    assert img.shape == (3, 128, 128)
    assert img.spacing_mm[2] == pytest.approx(2.5)
    _assert_geometry(img, _sitk_series(tmp_path))
    np.testing.assert_allclose(img.array[1], sitk.GetArrayFromImage(_sitk_series(tmp_path))[1])


def test_copied_dro_folder_structure(dro_root: Path, tmp_path: Path) -> None:
    # A patient folder with PET, its RTSTRUCT and a NIfTI mask: the PET is chosen.
    shutil.copytree(dro_root / "DRO_2_4", tmp_path / "patient")
    img = read_dicom_image(tmp_path / "patient")
    assert img.meta["philips_suv_factor"] == 0.0005


# ---------------------------------------------------------------------- vendor private tags
def _add_private(files: list[Path], creator: str | None, block: int, element: int, vr: str, value: Any) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        if creator is not None:
            ds.add_new((0x7053, block), "LO", creator)
        ds.add_new((0x7053, (block << 8) | element), vr, value)
        ds.save_as(f)


@pytest.mark.parametrize(
    ("creator", "block", "expected_suv", "expected_activity"),
    [
        ("Philips PET Private Group", 0x10, 0.0005, 0.5),
        ("Philips PET Private Group", 0x11, 0.0005, 0.5),  # creator in another block
        (None, 0x10, 0.0005, 0.5),  # no creator element, as in the DROs
        ("SOME OTHER VENDOR", 0x10, None, None),  # block 0x10 belongs to someone else
    ],
)
def test_philips_private_factors(
    tmp_path: Path, creator: str | None, block: int, expected_suv: Any, expected_activity: Any
) -> None:
    files = write_series(tmp_path, _z_positions(3))
    _add_private(files, creator, block, 0x00, "DS", "0.0005")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.add_new((0x7053, (block << 8) | 0x09), "DS", "0.5")
        ds.save_as(f)
    meta = read_dicom_image(tmp_path).meta
    assert meta["philips_suv_factor"] == expected_suv
    assert meta["philips_activity_concentration_factor"] == expected_activity


def test_private_tags_in_implicit_vr_files(tmp_path: Path) -> None:
    # Implicit VR without a private creator: pydicom sees VR UN (bytes).
    files = write_series(tmp_path, _z_positions(3))
    for f in files:
        ds = pydicom.dcmread(f)
        ds.add_new((0x7053, 0x1000), "UN", b"0.0005")
        ds.add_new((0x0009, 0x100D), "UN", b"20250101110000.00")
        ds.save_as(f)
    meta = read_dicom_image(tmp_path).meta
    assert meta["philips_suv_factor"] == 0.0005
    assert meta["ge_private_scan_datetime"] == "2025-01-01T11:00:00"
