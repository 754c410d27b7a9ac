"""The command line: info/version, real runs, and the table of bad inputs (exit 2, one
paragraph, no traceback, no output left behind)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import SimpleITK as sitk


def test_version(run_cli):
    code, out, _ = run_cli(["--version"])
    assert code == 0
    assert out.startswith("netdose ")


def test_info_json(run_cli):
    code, out, _ = run_cli(["info", "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["nuclides"]["Lu-177"]["photon_energy_mev"] == pytest.approx(0.0351, rel=1e-3)
    assert data["threads"] >= 1
    assert "cache_dir" in data


def test_help_lists_commands(run_cli):
    code, out, _ = run_cli(["--help"])
    assert code == 0
    for cmd in ("info", "nuclide", "convert", "masks"):
        assert cmd in out


def test_console_script_runs_in_a_subprocess():
    # The real entry point, as a user runs it (catches import-time errors the in-process
    # runner could hide).
    res = subprocess.run(
        [sys.executable, "-m", "netdose_cli", "nuclide", "Y-90", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["electron_energy_mev"] == pytest.approx(0.93311, rel=1e-4)


def test_convert_real_spect(tmp_path, maa_dir, run_cli):
    out = tmp_path / "spect.nii.gz"
    code, stdout, _ = run_cli(
        ["convert", str(maa_dir / "patient_2_SPECT.nrrd"), "-o", str(out), "--json"]
    )
    assert code == 0
    data = json.loads(stdout)
    assert data["size_xyz"] == [128, 128, 160]
    assert data["provenance"]["inputs"][0]["sha256"]
    back = sitk.ReadImage(str(out))
    assert back.GetDirection()[8] == pytest.approx(-1.0)


def test_masks_on_real_maa(tmp_path, maa_dir, run_cli):
    out = tmp_path / "masks"
    code, stdout, _ = run_cli(
        [
            "masks", str(maa_dir / "patient_2_SPECT.nrrd"),
            str(maa_dir / "patient_2_Segmentation.seg.nrrd"),
            "--select", "liver", "--select", "perfused volume", "-o", str(out), "--json",
        ],
    )
    assert code == 0, stdout
    rows = {r["name"]: r for r in json.loads(stdout)["masks"]}
    assert set(rows) == {"liver", "perfused volume"}
    assert abs(rows["liver"]["difference_pct"]) < 3.0
    assert (out / "liver.nii.gz").exists() and (out / "volumes.csv").exists()


def test_masks_totalsegmentator(tmp_path, totalseg_dir, run_cli):
    out = tmp_path / "ts"
    code, stdout, _ = run_cli(
        [
            "masks", str(totalseg_dir / "example_ct_sm.nii.gz"),
            str(totalseg_dir / "example_seg.nii.gz"), "--names", "totalsegmentator",
            "--select", "liver", "--select", "spleen", "-o", str(out), "--json",
        ],
    )
    assert code == 0
    names = [r["name"] for r in json.loads(stdout)["masks"]]
    assert names == ["liver", "spleen"] or sorted(names) == ["liver", "spleen"]
