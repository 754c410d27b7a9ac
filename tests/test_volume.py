"""Volume files: round trips with geometry, atomic writes, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from netdose.errors import InputError
from netdose.image import Image
from netdose.io import read_image
from netdose.io.atomic import atomic_path
from netdose.io.volume import read_volume, write_volume


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_round_trip_keeps_geometry_and_values(tmp_path, suffix):
    rng = np.random.default_rng(0)
    img = Image(
        rng.random((5, 6, 7)).astype(np.float32),
        (4.418156, 4.418156, 2.5),
        (-280.552912, -280.552912, 1332.800049),
        (1, 0, 0, 0, 1, 0, 0, 0, -1),
    )
    path = write_volume(img, tmp_path / f"x{suffix}")
    back = read_volume(path)
    # NIfTI stores the geometry in float32 (1e-4 mm at 1300 mm from the origin).
    assert back.same_grid(img, tolerance=1e-4 if ".nii" in suffix else 1e-9)
    np.testing.assert_array_equal(back.array, img.array)
    assert back.meta["source_path"] == str(path)


def test_writing_twice_gives_the_same_bytes(tmp_path):
    img = Image(np.arange(60, dtype=np.float32).reshape(3, 4, 5), (1, 2, 3))
    a = write_volume(img, tmp_path / "a.nii.gz").read_bytes()
    b = write_volume(img, tmp_path / "b.nii.gz").read_bytes()
    assert a == b


def test_real_maa_spect_reads_with_its_flipped_z(maa_dir):
    img = read_image(maa_dir / "patient_2_SPECT.nrrd")
    assert img.shape == (160, 128, 128)
    assert img.direction == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    assert img.spacing_mm == pytest.approx((4.418156, 4.418156, 2.5))
    assert int(img.array.sum()) == 21559535


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_nan_image_is_not_written(tmp_path):
    arr = np.zeros((2, 2, 2), dtype=np.float32)
    arr[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        write_volume(Image(arr, (1, 1, 1)), tmp_path / "x.nii.gz")
    assert list(tmp_path.iterdir()) == []


def _write_2d(path):
    sitk.WriteImage(sitk.Image([4, 4], sitk.sitkFloat32), str(path))
    return path


def _write_vector(path):
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkVectorUInt8, 3), str(path))
    return path


def _write_text(path):
    path.write_text("not an image")
    return path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing.nii.gz", "no such file"),
        (lambda p: p, "is a folder"),
        (lambda p: _write_2d(p / "slice.nii.gz"), "2-D"),
        (lambda p: _write_vector(p / "rgb.nrrd"), "values per voxel"),
        (lambda p: _write_text(p / "notes.nii.gz"), "cannot read"),
    ],
)
def test_bad_volume_files(tmp_path, make, match):
    with pytest.raises(InputError, match=match):
        read_volume(make(tmp_path))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd"])
def test_nan_voxels_are_refused_on_reading(tmp_path, suffix):
    # ITK reads NaN in NIfTI as 0; netdose checks the stored values itself.
    arr = np.ones((3, 4, 5), dtype=np.float32)
    arr[2, 1, 0] = np.nan
    path = tmp_path / f"x{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(path))
    with pytest.raises(InputError, match=r"x\.n.*NaN"):
        read_volume(path)


def test_unknown_output_format(tmp_path):
    with pytest.raises(InputError, match="unknown output format"):
        write_volume(Image(np.zeros((2, 2, 2)), (1, 1, 1)), tmp_path / "x.png")
