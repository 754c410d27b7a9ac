"""``netdose suv``: real runs on the OncoRay SUV DROs, and bad inputs (exit 2, one paragraph,
no output file left behind)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk


def _mask(dro_root: Path, dro: str) -> np.ndarray:
    path = dro_root / dro / "mask" / "DRO_mask.nii.gz"
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))) > 0


def _two_slices(dro_root: Path, dro: str, dst: Path, **changes: object) -> Path:
    dst.mkdir(parents=True)
    for f in sorted((dro_root / dro / "PT").glob("*.dcm"))[:2]:
        ds = pydicom.dcmread(f)
        for key, value in changes.items():
            if value is None:
                delattr(ds, key)
            else:
                setattr(ds, key, value)
        ds.save_as(dst / f.name, enforce_file_format=True)
    return dst


def test_suv_json_on_the_post_processed_dro(tmp_path, dro_root, run_cli) -> None:
    out = tmp_path / "suv.nii.gz"
    code, stdout, stderr = run_cli(["suv", str(dro_root / "DRO_3_2" / "PT"), "-o", str(out),
                                    "--json"])
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["factor"] == pytest.approx(70_000 / (368.08e6 * 0.5 ** (3600 / 6586.2)), rel=1e-5)
    assert data["reference_time_source"].startswith("back-computed")
    assert data["decay_factor"] == pytest.approx(0.5 ** (3600 / 6586.2), rel=1e-5)
    assert data["normalisation"] == "bw" and data["suv_unit"] == "g/ml{SUVbw}"
    assert any("post-processed" in w for w in data["warnings"])
    assert data["provenance"]["warnings"] == data["warnings"]
    assert data["provenance"]["inputs"][0]["sha256"]
    assert "max_uptake_half_lives" in data["provenance"]["constants"]
    assert data["assumptions"]
    assert "post-processed" in stderr  # warnings are printed too
    img = sitk.ReadImage(str(out))
    suv = sitk.GetArrayFromImage(img)
    assert suv.dtype == np.float32
    m = _mask(dro_root, "DRO_3_2")
    assert float(np.median(suv[m])) == pytest.approx(1.0, abs=0.005)
    assert float(suv[m].max()) == pytest.approx(4.0, abs=0.005)
    assert img.GetSpacing() == (4.0, 4.0, 4.0)


def test_suv_sul_text_output(tmp_path, dro_root, run_cli) -> None:
    out = tmp_path / "sul.nii.gz"
    code, stdout, _ = run_cli(["suv", str(dro_root / "DRO_0_0" / "PT"), "-o", str(out),
                               "--normalisation", "lbm-james", "--sex", "F", "--height-cm", "170"])
    assert code == 0
    assert "SUV factor 0.000277778 per BQML" in stdout
    assert "reference time 2025-01-01T11:00:00" in stdout
    assert "decay factor 0.684" in stdout and "1.000 h uptake" in stdout
    assert "LBM James-128(F, 70 kg, 170 cm) = 49.807 kg" in stdout
    assert "assumption: patient sex 'F' given by the user" in stdout
    assert f"Wrote {out}" in stdout
    sul = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    # 70 kg, 170 cm woman, SUVbw 1.00: SUL(James-128) = 49.8066 / 70 = 0.7115
    assert float(np.median(sul[_mask(dro_root, "DRO_0_0")])) == pytest.approx(0.7115, abs=1e-3)


def test_weight_override_is_recorded(tmp_path, dro_root, run_cli) -> None:
    folder = _two_slices(dro_root, "DRO_0_0", tmp_path / "PT", PatientWeight=None)
    out = tmp_path / "suv.nrrd"
    code, stdout, _ = run_cli(["suv", str(folder), "-o", str(out), "--weight-kg", "84",
                               "--json"])
    assert code == 0
    data = json.loads(stdout)
    assert data["weight_kg"] == 84.0 and data["weight_source"] == "weight_kg_override"
    assert any("84 kg given by the user" in a for a in data["assumptions"])
    assert data["provenance"]["options"]["weight_kg"] == 84.0
    assert out.exists()


def test_injection_override_on_the_command_line(tmp_path, dro_root, run_cli) -> None:
    folder = _two_slices(dro_root, "DRO_0_0", tmp_path / "PT")
    code, stdout, _ = run_cli(
        ["suv", str(folder), "-o", str(tmp_path / "s.nii.gz"), "--injected-mbq", "184.04",
         "--injection-datetime", "2025-01-01T10:00:00+00:00", "--json"])
    assert code == 0
    data = json.loads(stdout)
    # half the header's dose: twice the SUV factor
    assert data["factor"] == pytest.approx(2 * 70_000 / (368.08e6 * 0.5 ** (3600 / 6586.2)),
                                           rel=1e-9)
    assert data["injection_time_source"] == "injection_datetime_override"


BAD_RUNS = [
    ("missing weight", {"PatientWeight": None}, [], r"PatientWeight \(0010,1030\) is missing"),
    ("no attenuation correction", {"CorrectedImage": ["NORM", "DECY"]}, [], "no ATTN"),
    ("CNTS without Philips factors", {"Units": "CNTS"}, [], r"\(7053,xx00\)"),
    ("unknown normalisation", {}, ["--normalisation", "sul"], "--normalisation 'sul'"),
    ("sex other than F/M", {}, ["--sex", "O"], "--sex 'O': give F or M"),
    ("SUL for sex O in the header", {}, ["--normalisation", "lbm-janma"],
     r"PatientSex \(0010,0040\).*'O'"),
    ("naive injection time", {}, ["--injection-datetime", "2025-01-01T10:00:00"],
     "with its UTC offset"),
    ("bad output format", {}, ["-o", "{out}/suv.txt"], "unknown output format '.txt'"),
]


@pytest.mark.parametrize(("case", "changes", "extra", "match"), BAD_RUNS,
                         ids=[b[0] for b in BAD_RUNS])
def test_bad_runs_exit_2_and_leave_no_output(tmp_path, dro_root, case, changes, extra, match, run_cli) -> None:
    folder = _two_slices(dro_root, "DRO_0_0", tmp_path / "PT", **changes)
    outdir = tmp_path / "out"
    outdir.mkdir()
    extra = [e.replace("{out}", str(outdir)) for e in extra]
    args = ["suv", str(folder), *extra]
    if "-o" not in extra:
        args += ["-o", str(outdir / "suv.nii.gz")]
    code, stdout, stderr = run_cli(args)
    assert code == 2
    assert stdout == ""
    assert stderr.startswith("netdose: error: ") and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1  # one paragraph
    assert re.search(match, stderr), stderr
    assert list(outdir.iterdir()) == []  # no output, no temporary file
