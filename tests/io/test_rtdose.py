"""Tests of netdose.io.rtdose: RT Dose writing (round trips through pydicom, SimpleITK and
read_rtdose, determinism, atomicity) and reading pydicom's RT Dose test files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.data
import pydicom.uid
import pytest
import SimpleITK as sitk

import netdose.io.rtdose as rtdose_module
from netdose.errors import InputError, NetdoseWarning, UnitsError
from netdose.image import Image, resample
from netdose.io.rtdose import MAX_STORED_VALUE, read_rtdose, write_rtdose

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
Z_FLIPPED = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # like the SIRT MAA SPECT (NRRD)
PERMUTED = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # sagittal-like, right-handed


def gaussian_dose(direction: tuple[float, ...] = IDENTITY, max_gy: float = 50.0) -> Image:
    """A smooth dose (Gy) on a non-cubic grid, shape (z, y, x) = (12, 20, 16)."""
    z, y, x = np.meshgrid(np.arange(12), np.arange(20), np.arange(16), indexing="ij")
    arr = max_gy * np.exp(-((x - 7.3) ** 2 / 20 + (y - 9.1) ** 2 / 30 + (z - 5.2) ** 2 / 10))
    return Image(arr.astype(np.float32), (2.5, 3.0, 4.2), (-100.25, 50.5, -30.125), direction)


def _value_tolerance(ds: pydicom.Dataset, max_gy: float) -> float:
    return float(ds.DoseGridScaling) / 2 + max_gy * float(np.finfo(np.float32).eps)


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("direction", [IDENTITY, Z_FLIPPED, PERMUTED], ids=["identity", "z-flipped", "permuted"])
def test_round_trip(tmp_path: Path, direction: tuple[float, ...]) -> None:
    dose = gaussian_dose(direction)
    path = write_rtdose(dose, tmp_path / "dose.dcm")
    assert path == tmp_path / "dose.dcm"
    assert [p.name for p in tmp_path.iterdir()] == ["dose.dcm"]  # no temporary left

    # pydicom: the tags
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == pydicom.uid.RTDoseStorage
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.Modality == "RTDOSE"
    assert (ds.DoseUnits, ds.DoseType, ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (32, 32, 31, 0)
    assert (int(ds.NumberOfFrames), ds.Rows, ds.Columns) == (12, 20, 16)
    assert ds.FrameIncrementPointer == pydicom.tag.Tag("GridFrameOffsetVector")
    assert [float(v) for v in ds.PixelSpacing] == [3.0, 2.5]
    assert float(ds.SliceThickness) == pytest.approx(4.2)
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    assert offsets[0] == 0.0
    np.testing.assert_allclose(np.diff(offsets), 4.2, atol=1e-9)
    max_gy = float(dose.array.max())
    scaling = float(ds.DoseGridScaling)
    assert max_gy / MAX_STORED_VALUE <= scaling <= max_gy / MAX_STORED_VALUE * (1 + 1e-8)
    assert int(ds.pixel_array.max()) <= MAX_STORED_VALUE
    assert int(ds.pixel_array.max()) >= MAX_STORED_VALUE - 2
    assert str(ds.PatientName) == "netdose^anonymous"
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert pydicom.uid.UID(str(getattr(ds, kw))).is_valid
    assert ds.StudyDate == "" and ds.ContentTime == ""
    row, col = np.asarray(ds.ImageOrientationPatient[:3], float), np.asarray(ds.ImageOrientationPatient[3:], float)
    normal = np.cross(row, col)
    # frames are written ascending along the normal from ImagePositionPatient
    first = np.asarray(ds.ImagePositionPatient, float)
    last = first + offsets[-1] * normal
    corners = np.array([dose.physical_points(np.array([[0, 0, k]]))[0] for k in (0, 11)])
    assert {tuple(np.round(first, 6)), tuple(np.round(last, 6))} == {
        tuple(np.round(c, 6)) for c in corners
    }

    tol = _value_tolerance(ds, max_gy)

    # read_rtdose: same grid (up to the frame flip), same values in physical space
    back = read_rtdose(path)
    assert back.meta["dose_units"] == "GY" and back.meta["units"] == "Gy"
    assert np.linalg.det(back.direction_matrix) == pytest.approx(1.0)
    moved = resample(dose, back, mode="nearest")
    np.testing.assert_allclose(back.array, moved.array, rtol=0, atol=tol)
    if np.linalg.det(dose.direction_matrix) > 0:
        assert back.same_grid(dose)
        np.testing.assert_allclose(back.array, dose.array, rtol=0, atol=tol)
    else:
        np.testing.assert_allclose(back.array, dose.array[::-1], rtol=0, atol=tol)

    # SimpleITK (GDCM): identical geometry; it does not apply DoseGridScaling itself.
    ref = sitk.ReadImage(str(path))
    np.testing.assert_allclose(ref.GetSpacing(), back.spacing_mm, atol=1e-4)
    np.testing.assert_allclose(ref.GetOrigin(), back.origin_mm, atol=1e-4)
    np.testing.assert_allclose(ref.GetDirection(), back.direction, atol=1e-4)
    sitk_gy = sitk.GetArrayFromImage(ref).astype(np.float64) * scaling
    np.testing.assert_allclose(sitk_gy, back.array, rtol=0, atol=tol)
    np.testing.assert_allclose(sitk_gy, moved.array, rtol=0, atol=tol)


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    dose = gaussian_dose(Z_FLIPPED)
    a = write_rtdose(dose, tmp_path / "a.dcm").read_bytes()
    b = write_rtdose(dose, tmp_path / "b.dcm").read_bytes()
    assert a == b
    other = write_rtdose(dose, tmp_path / "c.dcm", description="other").read_bytes()
    assert other != a
    uid_a = pydicom.dcmread(tmp_path / "a.dcm").SOPInstanceUID
    uid_c = pydicom.dcmread(tmp_path / "c.dcm").SOPInstanceUID
    assert uid_a != uid_c
    prefixed = pydicom.dcmread(write_rtdose(dose, tmp_path / "d.dcm", uid_prefix="1.2.3.4."))
    assert prefixed.SOPInstanceUID.startswith("1.2.3.4.")


def test_source_patient_and_study_copied(dro_root: Path, tmp_path: Path) -> None:
    slice0 = sorted((dro_root / "DRO_0_0" / "PT").glob("*.dcm"))[0]
    src = pydicom.dcmread(slice0, stop_before_pixels=True)
    dose = gaussian_dose()
    for source in (slice0, str(slice0), src, dro_root / "DRO_0_0" / "PT"):
        ds = pydicom.dcmread(write_rtdose(dose, tmp_path / "dose.dcm", source=source))
        assert ds.PatientName == src.PatientName
        assert ds.PatientID == src.PatientID
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        assert ds.FrameOfReferenceUID == src.FrameOfReferenceUID
        assert ds.StudyDate == src.StudyDate
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID


def test_zero_dose(tmp_path: Path) -> None:
    dose = gaussian_dose().with_array(np.zeros((12, 20, 16), np.float32))
    back = read_rtdose(write_rtdose(dose, tmp_path / "zero.dcm"))
    assert float(back.array.max()) == 0.0


# ---------------------------------------------------------------------- failures
def _with_voxel(value: float) -> Image:
    arr = np.array(gaussian_dose().array)
    arr[3, 4, 5] = value
    return gaussian_dose().with_array(arr)


@pytest.mark.parametrize(
    ("dose", "kwargs", "match"),
    [
        (_with_voxel(np.nan), {}, r"1 NaN or infinite voxel\(s\) \(first at index \(x,y,z\) \(5, 4, 3\)\)"),
        (_with_voxel(np.inf), {}, "NaN or infinite"),
        (_with_voxel(-0.5), {}, r"1 negative voxel\(s\) \(minimum -0.5 Gy"),
        (gaussian_dose(), {"dose_summation_type": "TOTAL"}, "not a DICOM Dose Summation Type"),
        (gaussian_dose(), {"description": "x" * 65}, "at most 64"),
        (gaussian_dose(), {"uid_prefix": "1.2.abc"}, "not a valid UID root"),
        (gaussian_dose(), {"source": "/nonexistent/ct.dcm"}, "does not exist"),
    ],
)
def test_bad_dose_leaves_no_file(tmp_path: Path, dose: Image, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        write_rtdose(dose, tmp_path / "dose.dcm", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_non_dicom_source(tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    with pytest.raises(InputError, match="is not a DICOM file"):
        write_rtdose(gaussian_dose(), tmp_path / "dose.dcm", source=src)
    assert not (tmp_path / "dose.dcm").exists()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write to read-only folders"
)
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write the RT Dose file"):
            write_rtdose(gaussian_dose(), folder / "dose.dcm")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_failure_while_writing_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_write(filename: Any, dataset: Any, **kwargs: Any) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rtdose_module.pydicom, "dcmwrite", broken_write)
    with pytest.raises(InputError, match="No space left on device"):
        write_rtdose(gaussian_dose(), tmp_path / "dose.dcm")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        write_rtdose(gaussian_dose(), tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(InputError, match="cannot create the output folder"):
        write_rtdose(gaussian_dose(), blocker / "sub" / "dose.dcm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ---------------------------------------------------------------------- reading
@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"])
def test_read_pydicom_rtdose(name: str) -> None:
    path = pydicom.data.get_testdata_file(name)
    with pytest.warns(NetdoseWarning, match="RELATIVE"):
        img = read_rtdose(path)
    ds = pydicom.dcmread(path)
    assert img.shape == (15, 10, 10)
    assert img.spacing_mm == pytest.approx((10.0, 10.0, 5.0))
    assert img.origin_mm == pytest.approx((189.43125, 199.43125, -761.87))
    assert img.direction == pytest.approx(IDENTITY)
    np.testing.assert_allclose(img.array, ds.pixel_array * 1e-6, rtol=1e-6)
    assert img.meta["dose_units"] == "RELATIVE"
    assert img.meta["dose_summation_type"] == "BEAM"
    assert img.meta["dose_grid_scaling"] == pytest.approx(1e-6)
    ref = sitk.ReadImage(str(path))
    np.testing.assert_allclose(ref.GetOrigin(), img.origin_mm, atol=1e-4)
    np.testing.assert_allclose(ref.GetSpacing(), img.spacing_mm, atol=1e-4)


def _edit(path: Path, **changes: Any) -> Path:
    ds = pydicom.dcmread(path)
    for kw, value in changes.items():
        if value is None:
            delattr(ds, kw)
        else:
            setattr(ds, kw, value)
    ds.save_as(path)
    return path


def test_read_descending_offsets(tmp_path: Path) -> None:
    dose = gaussian_dose()
    path = write_rtdose(dose, tmp_path / "dose.dcm")
    ds = pydicom.dcmread(path)
    # The same grid described from the last frame with negative, descending offsets.
    frames = ds.pixel_array[::-1]
    ds.PixelData = np.ascontiguousarray(frames).astype("<u4").tobytes()
    ds.ImagePositionPatient = [-100.25, 50.5, -30.125 + 11 * 4.2]
    ds.GridFrameOffsetVector = [-4.2 * k for k in range(12)]
    ds.save_as(path)
    back = read_rtdose(path)
    assert back.same_grid(dose)
    np.testing.assert_allclose(back.array, dose.array, atol=_value_tolerance(ds, 50.0))


def test_read_absolute_offsets(tmp_path: Path) -> None:
    dose = gaussian_dose()
    path = write_rtdose(dose, tmp_path / "dose.dcm")
    _edit(path, GridFrameOffsetVector=[-30.125 + 4.2 * k for k in range(12)])
    assert read_rtdose(path).same_grid(dose)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"DoseUnits": "CGY"}, UnitsError, "Dose Units \\(3004,0002\\) 'CGY'"),
        ({"DoseGridScaling": None}, InputError, "no DoseGridScaling"),
        ({"ImagePositionPatient": None}, InputError, "no ImagePositionPatient"),
        ({"PixelSpacing": None}, InputError, "no PixelSpacing"),
        ({"GridFrameOffsetVector": [0.0] + [4.2 * k + 0.5 for k in range(1, 12)]}, InputError, "not evenly spaced"),
        ({"GridFrameOffsetVector": [0.0, 0.0] + [4.2 * k for k in range(2, 12)]}, InputError, "duplicate"),
        ({"Modality": "CT", "SOPClassUID": pydicom.uid.CTImageStorage}, InputError, "is not an RT Dose"),
    ],
)
def test_read_bad_rtdose(tmp_path: Path, changes: dict[str, Any], error: type, match: str) -> None:
    path = _edit(write_rtdose(gaussian_dose(), tmp_path / "dose.dcm"), **changes)
    with pytest.raises(error, match=match):
        read_rtdose(path)


def test_read_non_dicom_and_single_frame(tmp_path: Path) -> None:
    text = tmp_path / "dose.txt"
    text.write_text("no")
    with pytest.raises(InputError, match="is not a DICOM file"):
        read_rtdose(text)
    with pytest.raises(InputError, match="does not exist"):
        read_rtdose(tmp_path / "missing.dcm")
    # pydicom's rtdose_1frame.dcm has one frame and no SliceThickness: no z spacing.
    with pytest.warns(NetdoseWarning, match="RELATIVE"), pytest.raises(
        InputError, match="single frame and no positive SliceThickness"
    ):
        read_rtdose(pydicom.data.get_testdata_file("rtdose_1frame.dcm"))


def test_read_truncated_rtdose(tmp_path: Path) -> None:
    path = write_rtdose(gaussian_dose(), tmp_path / "dose.dcm")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"dose\.dcm: the dose grid cannot be read.*truncated"):
        read_rtdose(path)
