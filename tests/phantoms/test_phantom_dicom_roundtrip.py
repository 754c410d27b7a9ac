"""The public phantoms written as DICOM, read back through netdose's own readers (and pydicom
and SimpleITK), against their truth: the real reading path end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from netdose_cli.main import main
from netdose_phantoms.export import export_dicom
from netdose_phantoms.nema import nema_iec
from netdose_phantoms.prrt_patient import prrt_patient
from netdose_phantoms.sirt_liver import sirt_liver

from netdose.io import read_image
from netdose.io.dicom import to_activity_bq_ml
from netdose.io.masks import load_masks


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.fixture(scope="module")
def prrt(tmp_path_factory):
    ph = prrt_patient()
    folder = tmp_path_factory.mktemp("prrt") / "dicom"
    return ph, export_dicom(ph, folder), folder


def test_prrt_time_points_read_back_give_the_true_organ_activities(prrt):
    ph, _, folder = prrt
    organs = ph.truth["organs"]
    for k, tp in enumerate(ph.time_points):
        img = to_activity_bq_ml(read_image(folder / f"NM_{tp.label}"))
        assert img.same_grid(ph.labels, tolerance=1e-4)
        assert img.meta["modality"] == "NM"
        for name in ("liver", "spleen", "kidney_left", "kidney_right", "tumour_1", "tumour_2", "tumour_3"):
            mask = ph.mask(name).array
            measured_mbq = float(img.array[mask].sum(dtype=np.float64)) * img.voxel_volume_ml / 1e6
            assert measured_mbq == pytest.approx(organs[name]["activity_mbq"][k], rel=1e-3), (name, tp.label)


def test_prrt_ct_and_seg_round_trip(prrt):
    ph, written, folder = prrt
    ct = read_image(folder / "CT")
    assert ct.same_grid(ph.labels, tolerance=1e-4)
    assert np.max(np.abs(ct.array - ph.ct_hu.array)) <= 0.5 + 1e-3
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder / "CT")))
    s = reader.Execute()
    np.testing.assert_allclose(s.GetOrigin(), ct.origin_mm, atol=1e-4)
    np.testing.assert_allclose(s.GetDirection(), ct.direction, atol=1e-6)
    masks = load_masks(folder / "SEG" / "SEG.dcm", target=ct)
    for name in ("liver", "spleen", "kidney_left", "tumour_2"):
        assert _dice(masks[name].mask.array, ph.mask(name).array) >= 0.95
    for paths in written.values():
        for p in paths:
            if p.suffix == ".dcm":
                pydicom.dcmread(p)


@pytest.mark.parametrize(
    ("build", "activity_series"),
    [(lambda: nema_iec((4.0, 4.0, 4.0)), "PT"), (lambda: sirt_liver(), "NM")],
    ids=["nema-iec", "sirt-liver"],
)
def test_single_time_point_phantoms_round_trip(tmp_path, build, activity_series):
    ph = build()
    export_dicom(ph, tmp_path / "dicom")
    act = to_activity_bq_ml(read_image(tmp_path / "dicom" / activity_series))
    assert act.same_grid(ph.labels, tolerance=1e-4)
    # Quantisation: at most half a storage step per voxel (PT per slice, NM per volume).
    step = float(np.max(ph.activity.array)) / 32767.0
    assert np.max(np.abs(act.array - ph.activity.array)) <= step
    masks = load_masks(tmp_path / "dicom" / "SEG" / "SEG.dcm", target=act)
    for value, name in ph.label_names.items():
        if np.count_nonzero(ph.labels.array == value) >= 8:
            assert _dice(masks[name].mask.array, ph.labels.array == value) >= 0.95, name


def _run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


def test_cli_lists_phantoms_with_options(capsys):
    code, out, _ = _run(["phantom", "--list", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"nema-iec", "sirt-liver", "prrt-patient"}
    assert "spacing_mm" in data["nema-iec"]["options"]


def test_cli_writes_a_phantom(tmp_path, capsys):
    out = tmp_path / "nema"
    code, stdout, err = _run(
        ["phantom", "nema-iec", "-o", str(out), "--set", "spacing_mm=4", "--set", "supersample=3", "--json"],
        capsys,
    )
    assert code == 0, err
    assert json.loads(stdout)["phantom"] == "nema-iec"
    assert (out / "nifti" / "truth.json").exists() and (out / "dicom" / "PT").is_dir()
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["phantom", "nema-iec2"], "unknown phantom"),
        (["phantom", "nema-iec", "--set", "spacing=2"], "no option 'spacing'"),
        (["phantom", "nema-iec", "--set", "supersample=x"], "supersample='x'"),
        (["phantom", "nema-iec", "--set", "sphere_to_background=-1"], "sphere_to_background"),
        (["phantom", "nema-iec", "--set", "spacing_mm"], "KEY=VALUE"),
        (["phantom", "nema-iec"], "-o/--out"),
    ],
)
def test_cli_phantom_bad_options(tmp_path, capsys, args, match):
    out = tmp_path / "out"
    if args != ["phantom", "nema-iec"]:
        args = args + ["-o", str(out)]
    code, _, err = _run(args, capsys)
    assert code == 2, err
    assert re.search(match, err), err
    assert "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_non_empty_output_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    code, _, err = _run(["phantom", "sirt-liver", "-o", str(tmp_path)], capsys)
    assert code == 2
    assert "not an empty folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_phantom_generation_is_deterministic():
    a, b = sirt_liver(), sirt_liver()
    np.testing.assert_array_equal(a.activity.array, b.activity.array)
