"""Bad inputs through the command line, one row each: every one must give its own clear
NetdoseError message (naming the file/tag/mask and the fix), exit code 2, no traceback, and
no output file left behind."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_factory import drop_tags, nm_dataset, save, write_series
from netdose_cli.main import main

DATA = Path(__file__).parent / "data"
SPECT = DATA / "sirt-maa-sample" / "patient_2_SPECT.nrrd"
SEG = DATA / "sirt-maa-sample" / "patient_2_Segmentation.seg.nrrd"


def _write(img: sitk.Image, path: Path) -> Path:
    sitk.WriteImage(img, str(path))
    return path


def _nifti(arr: np.ndarray, path: Path, spacing=(2.0, 2.0, 2.0), origin=(0.0, 0.0, 0.0)) -> Path:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return _write(img, path)


def empty_folder(t: Path) -> list[str]:
    (t / "empty").mkdir()
    return ["convert", str(t / "empty")]


def not_dicom(t: Path) -> list[str]:
    p = t / "scan.dcm"
    p.write_text("this is a text file, not DICOM")
    return ["convert", str(p)]


def _positions(*zs: float) -> list[tuple[float, float, float]]:
    return [(-10.0, -20.0, z) for z in zs]


def truncated_dicom(t: Path) -> list[str]:
    paths = write_series(t / "ct", _positions(0.0, 4.0, 8.0), shape=(32, 32))
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 2])
    return ["convert", str(t / "ct")]


def two_series(t: Path) -> list[str]:
    write_series(t / "mixed", _positions(0.0, 4.0, 8.0), modality="CT",
                 series_uid="1.2.826.0.1.3680043.8.498.11")
    write_series(t / "mixed" / "second", _positions(0.0, 4.0, 8.0), modality="PT",
                 series_uid="1.2.826.0.1.3680043.8.498.12")
    return ["convert", str(t / "mixed")]


def nm_projections(t: Path) -> list[str]:
    save(nm_dataset(image_type=("ORIGINAL", "PRIMARY", "TOMO", "EMISSION")), t / "nm" / "proj.dcm")
    return ["convert", str(t / "nm")]


def missing_pixel_spacing(t: Path) -> list[str]:
    drop_tags(write_series(t / "ct", _positions(0.0, 4.0, 8.0)), "PixelSpacing")
    return ["convert", str(t / "ct")]


def single_slice(t: Path) -> list[str]:
    write_series(t / "ct", _positions(0.0))
    return ["convert", str(t / "ct")]


def two_d_volume_file(t: Path) -> list[str]:
    return ["convert", str(_write(sitk.Image([8, 8], sitk.sitkFloat32), t / "slice.nii.gz"))]


def duplicate_slices(t: Path) -> list[str]:
    write_series(t / "ct", _positions(0.0, 2.5, 2.5))
    return ["convert", str(t / "ct")]


def uneven_slices(t: Path) -> list[str]:
    write_series(t / "ct", _positions(0.0, 2.5, 5.0, 10.0))
    return ["convert", str(t / "ct")]


def negative_pixel_spacing(t: Path) -> list[str]:
    write_series(t / "ct", _positions(0.0, 4.0, 8.0), pixel_spacing=(-2.0, 1.5))
    return ["convert", str(t / "ct")]


def nan_voxels(t: Path) -> list[str]:
    arr = np.ones((4, 4, 4), dtype=np.float32)
    arr[1, 2, 3] = np.nan
    return ["convert", str(_nifti(arr, t / "nan.nii.gz"))]


def nan_voxels_nrrd(t: Path) -> list[str]:
    arr = np.ones((4, 4, 4), dtype=np.float32)
    arr[0, 0, 0] = np.inf
    return ["convert", str(_nifti(arr, t / "inf.nrrd"))]


def missing_file(t: Path) -> list[str]:
    return ["convert", str(t / "does-not-exist.nii.gz")]


def segmentation_as_image(t: Path) -> list[str]:
    return ["convert", str(SEG)]


def unknown_nuclide(t: Path) -> list[str]:
    return ["nuclide", "Lu-178x"]


def unknown_segment(t: Path) -> list[str]:
    return ["masks", str(SPECT), str(SEG), "--select", "livr"]


def mask_outside_image(t: Path) -> list[str]:
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[1:3, 1:3, 1:3] = 1
    far = _nifti(arr, t / "far.nii.gz", origin=(5000.0, 5000.0, 5000.0))
    return ["masks", str(SPECT), str(far), "--names", "1=liver"]


def bad_name_table(t: Path) -> list[str]:
    return ["masks", str(SPECT), str(SEG), "--names", "liver"]


def bad_output_format(t: Path) -> list[str]:
    return ["convert", str(SPECT), "-o", str(t / "out" / "spect.png")]


def label_absent_from_map(t: Path) -> list[str]:
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[1:3, 1:3, 1:3] = 1
    lab = _nifti(arr, t / "lab.nii.gz", origin=(-10.0, -10.0, 1000.0))
    return ["masks", str(SPECT), str(lab), "--names", "1=liver,2=spleen", "--select", "spleen"]


# (id, builds the bad input and returns the CLI arguments, regex the message must match)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("empty folder", empty_folder, r"empty.*no DICOM|no DICOM"),
    ("non-DICOM file", not_dicom, r"scan\.dcm.*not a DICOM"),
    ("truncated DICOM", truncated_dicom, r"slice_001\.dcm.*(truncated|corrupt|cannot)"),
    ("two series in a folder", two_series, r"(?s)2 image series.*CT.*PT.*--series"),
    ("NM projections", nm_projections, r"(?i)projection.*reconstructed"),
    ("missing PixelSpacing", missing_pixel_spacing, r"PixelSpacing.*slice_000\.dcm|slice_000\.dcm.*PixelSpacing"),
    ("single DICOM slice", single_slice, r"(?i)single slice|3-D volume"),
    ("2-D volume file", two_d_volume_file, r"slice\.nii\.gz.*2-D"),
    ("duplicate slice positions", duplicate_slices, r"(?i)duplicate|same position"),
    ("uneven slice gaps", uneven_slices, r"(?i)gap|uneven|not uniform|non-uniform"),
    ("negative PixelSpacing", negative_pixel_spacing, r"(?i)PixelSpacing.*(negative|positive)"),
    ("NaN voxels in NIfTI", nan_voxels, r"nan\.nii\.gz.*NaN"),
    ("infinite voxels in NRRD", nan_voxels_nrrd, r"inf\.nrrd.*NaN or infinite"),
    ("missing file", missing_file, r"does-not-exist\.nii\.gz: no such file"),
    ("multi-layer segmentation given as image", segmentation_as_image, r"values per voxel.*load_masks|masks"),
    ("unknown nuclide", unknown_nuclide, r"Lu-178x.*not a radionuclide"),
    ("unknown segment name", unknown_segment, r"livr.*(liver)"),
    ("mask outside the image", mask_outside_image, r"liver.*outside.*field of view"),
    ("malformed --names", bad_name_table, r"--names.*LABEL=NAME"),
    ("unknown output format", bad_output_format, r"spect\.png.*unknown output format"),
    ("selected label absent", label_absent_from_map, r"lab\.nii\.gz.*spleen"),
]


@pytest.mark.parametrize(("build", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_a_clear_message(tmp_path, capsys, build, match):
    work = tmp_path / "in"
    work.mkdir()
    args = build(work)
    out_dir = tmp_path / "out"
    if args[0] == "convert" and "-o" not in args:
        args += ["-o", str(out_dir / "image.nii.gz")]
    if args[0] == "masks":
        args += ["-o", str(out_dir)]
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err
    assert err.startswith("netdose: error: ")
    assert len(err.strip().splitlines()) == 1, "the message must be one paragraph"
    assert re.search(match, err), err
    leftovers = [p for p in out_dir.rglob("*")] if out_dir.exists() else []
    assert leftovers == [], f"output left behind: {leftovers}"


def test_the_table_has_at_least_15_distinct_cases():
    assert len(CASES) >= 15
    assert len({c[0] for c in CASES}) == len(CASES)
