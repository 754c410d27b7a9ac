"""``netdose sirt plan / check / post`` end to end: the example plan files on the real MAA
sample and on the SIRT phantom, the do-not-treat exit with the report written, and the table
of bad plan files (exit 2, the key named, nothing written)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from netdose_phantoms.sirt_liver import sirt_liver

from netdose.image import resample
from netdose.io.rtdose import read_rtdose
from netdose.io.volume import read_volume, write_volume
from netdose.nuclides import get_nuclide
from netdose.sirt.plan import load_plan, run_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"




@pytest.fixture(scope="module")
def phantom_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example phantom plan next to two phantoms: clean and with a duodenal hot spot."""
    root = tmp_path_factory.mktemp("sirt-plan")
    sirt_liver().write_nifti(root / "sirt-phantom" / "nifti")
    sirt_liver(gi_hot_spot="duodenum").write_nifti(root / "hot-spot" / "nifti")
    text = (EXAMPLES / "sirt_plan_phantom.toml").read_text(encoding="utf-8")
    (root / "plan.toml").write_text(text, encoding="utf-8")
    (root / "plan_hot.toml").write_text(text.replace("sirt-phantom/", "hot-spot/"),
                                        encoding="utf-8")
    return root


# --------------------------------------------------------------------------- real MAA sample
def test_maa_sample_example_plan_completes_and_states_what_it_could_not_check(tmp_path, run_cli):
    out = tmp_path / "out"
    code, stdout, err = run_cli(["sirt", "plan", str(EXAMPLES / "sirt_plan_maa_sample.toml"),
                                 "-o", str(out), "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    assert report["status"] == "review"
    text = " ".join(report["not_checked"])
    assert "no lung mask" in text and "no CT" in text
    assert report["lung"]["mean"] is None  # not checked, not 0 Gy
    metrics = report["predicted_dose"]["metrics"]
    for comp in ("liver", "perfused", "tumour", "normal", "tumour part Tumor 1",
                 "tumour part Tumor 2"):
        assert metrics[comp]["mean"] > 0
    # Partition with both goals: the tumour goal binds (TNR > 120/40), so the *model* normal
    # dose is 120/TNR; every method returns its activity.
    part = report["methods"]["partition"]
    assert part["tumour_dose_gy"] == pytest.approx(120.0, rel=1e-6)
    assert part["perfused_normal_dose_gy"] == pytest.approx(
        120.0 / report["tumour_to_normal_ratio"], rel=1e-6)
    assert {"partition", "voxel", "bsa"} <= set(report["methods"])
    assert report["activity_gbq"] == pytest.approx(part["activity_gbq"])
    assert any("negative voxel" in n for n in report["notes"])
    # Outputs: the JSON with provenance, NIfTI and RT Dose of the same dose, the DVH CSV.
    saved = json.loads((out / "plan.json").read_text())
    assert saved["provenance"]["inputs"] and saved["status"] == "review"
    nii = read_volume(out / "predicted_dose.nii.gz")
    # RT Dose frames run ascending along the slice normal (this SPECT's z axis points
    # inferior), so compare in physical space.
    rtd = resample(read_rtdose(out / "predicted_dose_rtdose.dcm"), nii, "nearest")
    assert np.allclose(rtd.array, nii.array, atol=float(nii.array.max()) * 1e-4)
    rows = (out / "dvh.csv").read_text().splitlines()
    assert rows[0] == "compartment,dose_gy,volume_pct,volume_ml" and len(rows) > 100
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["plan.json", "predicted_dose.nii.gz", "predicted_dose_rtdose.dcm", "dvh.csv",
         "report.html"])
    assert saved["outputs"]["dose_rtdose"] == "predicted_dose_rtdose.dcm"  # beside plan.json


# --------------------------------------------------------------------------- phantom
def test_phantom_plan_recovers_truth_and_treats(phantom_dirs, tmp_path, run_cli):
    code, stdout, err = run_cli(["sirt", "plan", str(phantom_dirs / "plan.toml"), "-o",
                                 str(tmp_path / "o"), "--json"])
    assert code == 0, err
    r = json.loads(stdout)
    truth = json.loads((phantom_dirs / "sirt-phantom/nifti/truth.json").read_text())
    assert r["status"] == "treat"
    assert r["lsf"]["used"] == pytest.approx(truth["lung_shunt_fraction"], rel=0.02)
    assert r["tumour_to_normal_ratio"] == pytest.approx(truth["tumour_to_normal"], rel=0.02)
    gi = [f for f in r["extrahepatic"]["findings"] if f["location"] in ("stomach", "duodenum")]
    assert gi == []
    # Voxel plan: the binding limit is met on the predicted map it produced.
    vox = r["methods"]["voxel"]
    assert vox["status"] == "treat"
    assert r["predicted_dose"]["metrics"]["normal"]["mean"] <= 40.0 * (1 + 1e-6)
    assert r["predicted_dose"]["metrics"]["tumour"]["D70"] >= 100.0 * (1 - 1e-6)
    # Lung mass from the CT: lung masks x Schneider density of -750 HU lung.
    lung_mass = sum(truth["compartments"][k]["mass_g"] for k in ("lung_right", "lung_left"))
    assert r["lung"]["mass_kg"] == pytest.approx(lung_mass / 1000, rel=0.05)
    assert r["lung"]["mean"] == pytest.approx(
        49.67 * r["activity_gbq"] * r["lsf"]["used"] / r["lung"]["mass_kg"], rel=1e-9)
    assert r["vial_order"]["prescribed_gbq"] == pytest.approx(r["activity_gbq"])


def test_phantom_duodenal_hot_spot_blocks_with_report_written(phantom_dirs, tmp_path, run_cli):
    out = tmp_path / "o"
    code, _, err = run_cli(["sirt", "plan", str(phantom_dirs / "plan_hot.toml"), "-o",
                            str(out)])
    assert code == 3
    assert err.startswith("netdose: do not treat:") and "duodenum" in err
    assert "Traceback" not in err
    r = json.loads((out / "plan.json").read_text())
    assert r["status"] == "do not treat"
    assert r["reasons"][0].startswith("extrahepatic: duodenum")
    assert r["extrahepatic"]["blocks"]
    # The check alone says the same, without computing a plan.
    code, stdout, _ = run_cli(["sirt", "check", str(phantom_dirs / "plan_hot.toml"),
                               "--activity-gbq", "1.5", "--json"])
    assert code == 3
    assert json.loads(stdout)["status"] == "do not treat"


def test_check_clean_phantom_gives_lung_dose(phantom_dirs, run_cli):
    code, stdout, _ = run_cli(["sirt", "check", str(phantom_dirs / "plan.toml"),
                               "--activity-gbq", "2.0", "--json"])
    assert code == 0
    r = json.loads(stdout)
    assert r["status"] == "treat"
    assert r["lung"]["mean"] == pytest.approx(49.67 * 2.0 * r["lsf"]["used"]
                                              / r["lung"]["mass_kg"], rel=1e-9)


def test_post_treatment_from_y90_pet_matches_the_plan(phantom_dirs, tmp_path, run_cli):
    """A Y-90 'PET' that is exactly the planned distribution gives the planned doses back."""
    plan_out = tmp_path / "plan"
    code, stdout, _ = run_cli(["sirt", "plan", str(phantom_dirs / "plan.toml"), "-o",
                               str(plan_out), "--json"])
    assert code == 0
    plan = json.loads(stdout)
    maa = read_volume(phantom_dirs / "sirt-phantom/nifti/activity.nii.gz")
    labels = read_volume(phantom_dirs / "sirt-phantom/nifti/labels.nii.gz").array
    perfused = np.isin(labels, [2, 4, 5, 6])
    a_gbq = plan["activity_gbq"] * (1 - plan["lsf"]["used"])
    bq_ml = maa.array * perfused * (a_gbq * 1e9 / (maa.array[perfused].sum()
                                                   * maa.voxel_volume_ml))
    hours = 20.0
    bq_ml = bq_ml * get_nuclide("Y-90").decay_factor(hours * 3600.0)
    write_volume(maa.with_array(bq_ml.astype(np.float32)), tmp_path / "y90_pet.nii.gz")
    implant = dt.datetime(2026, 3, 3, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    shutil.copy(EXAMPLES / "sirt_post_phantom.toml", tmp_path / "post.toml")
    text = (tmp_path / "post.toml").read_text()
    text = text.replace("sirt-phantom/", f"{phantom_dirs / 'sirt-phantom'}/")
    text = text.replace("plan-out/plan.json", str(plan_out / "plan.json"))
    (tmp_path / "post.toml").write_text(text)
    assert f"implant_datetime = {implant.isoformat()}" in text
    code, stdout, err = run_cli(["sirt", "post", str(tmp_path / "post.toml"), "-o",
                                 str(tmp_path / "post"), "--json"])
    assert code == 0, err
    r = json.loads(stdout)
    assert r["activity_at_implant_gbq"] == pytest.approx(a_gbq, rel=1e-5)
    for comp in ("tumour", "normal"):
        cmp_ = r["comparison_with_plan"][comp]["mean"]
        # 0.2 %: the synthetic PET holds only the perfused-volume activity; the plan's map also
        # has the shunted lung activity, whose crossfire adds ~0.03 % at the liver dome.
        assert cmp_["delivered"] == pytest.approx(cmp_["planned"], rel=2e-3)
    assert (tmp_path / "post" / "delivered_dose_rtdose.dcm").is_file()


def test_run_plan_is_deterministic(phantom_dirs):
    spec = load_plan(phantom_dirs / "plan.toml")
    a, b = run_plan(spec), run_plan(spec)
    assert a.summary == b.summary


# --------------------------------------------------------------------------- bad plan files
BASE = """format = "netdose-sirt-plan"
version = 1
[patient]
id = "p"
height_cm = 175.0
weight_kg = 75.0
[maa]
image = "sirt-phantom/nifti/activity.nii.gz"
[[masks]]
file = "sirt-phantom/nifti/labels.nii.gz"
labels = "sirt-phantom/nifti/labels.json"
[compartments]
liver = ["perfused_normal", "nonperfused_normal", "tumour_1", "tumour_2", "tumour_3"]
perfused = ["perfused_normal", "tumour_1", "tumour_2", "tumour_3"]
tumours = ["tumour_1", "tumour_2", "tumour_3"]
lungs = ["lung_right", "lung_left"]
[treatment]
device = "resin"
method = "partition"
lsf = "spect"
previous_lung_doses_gy = []
[treatment.partition]
tumour_dose_gy = 120.0
"""

BAD_PLANS = [
    # (id, edit (old, new) on BASE, message fragment)
    ("wrong format", ('format = "netdose-sirt-plan"', 'format = "netdose-prrt-cycle"'),
     r"format: is 'netdose-prrt-cycle'"),
    ("misspelt key", ("tumour_dose_gy = 120.0", "tumor_dose_gy = 120.0"),
     r"treatment\.partition.*tumor_dose_gy: unknown key\. Did you mean 'tumour_dose_gy'"),
    ("no lsf", ('lsf = "spect"\n', ""), r"treatment\.lsf: is required"),
    ("lsf in percent", ('lsf = "spect"', "lsf = 8.0"), r"treatment\.lsf.*fraction"),
    ("no previous doses", ("previous_lung_doses_gy = []\n", ""),
     r"previous_lung_doses_gy: is required"),
    ("negative previous dose", ("previous_lung_doses_gy = []", "previous_lung_doses_gy = [-3]"),
     r"previous_lung_doses_gy\[0\]"),
    ("unknown mask", ('"tumour_3"]\nlungs', '"tumour_4"]\nlungs'), r"tumour_4"),
    ("missing image", ("activity.nii.gz", "nothing.nii.gz"), r"maa\.image.*does not exist"),
    ("bsa for glass", ('device = "resin"\nmethod = "partition"', 'device = "glass"\nmethod = "bsa"'),
     r"BSA method is for resin"),
    ("bad method", ('method = "partition"', 'method = "magic"'), r"'magic' is not one of"),
    ("weight in grams", ("weight_kg = 75.0", "weight_kg = 75000.0"), r"patient\.weight_kg"),
    ("spect lsf without lungs", ('lungs = ["lung_right", "lung_left"]\n', ""),
     r"'spect' needs lung masks"),
    ("voxel without constraints", ('method = "partition"', 'method = "voxel"'),
     r"needs at least one \[\[treatment\.constraints\]\]"),
    ("naive vial time", ("[treatment.partition]", ("[vial]\ncalibration_datetime = "
                         "2026-03-02T18:00:00\ninjection_datetime = 2026-03-03T11:30:00+01:00\n"
                         "[treatment.partition]")), r"vial\.calibration_datetime.*no time zone"),
    ("energy constant in wrong unit", ("[treatment.partition]", ("[constants]\n"
                                       "energy_constant_gy_kg_per_gbq = 49670.0\n"
                                       "[treatment.partition]")), r"energy_constant"),
    ("not toml", ("[patient]", "[patient"), r"not a valid TOML"),
]


@pytest.mark.parametrize(("edit", "match"), [(e, m) for _, e, m in BAD_PLANS],
                         ids=[i for i, _, _ in BAD_PLANS])
def test_bad_plan_file_exit_2_names_the_key_and_writes_nothing(phantom_dirs, tmp_path, run_cli,
                                                               edit, match):
    old, new = edit
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if "[vial]" in new or "[constants]" in new:
        # Tables must come after the keys of [treatment]: move the insert to the end.
        text = BASE + new.replace("[treatment.partition]", "")
    plan = phantom_dirs / f"bad_{abs(hash(old + new))}.toml"
    plan.write_text(text)
    out = tmp_path / "o"
    code, _stdout, err = run_cli(["sirt", "plan", str(plan), "-o", str(out)])
    assert code == 2, err
    assert err.startswith("netdose: error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(match, err), err
    assert not out.exists() or not any(out.iterdir())


def test_negative_voxels_refused_unless_clipped(phantom_dirs, tmp_path, run_cli):
    maa = read_volume(phantom_dirs / "sirt-phantom/nifti/activity.nii.gz")
    arr = maa.array.copy()
    arr[0, 0, 0] = -5.0
    neg = tmp_path / "neg.nii.gz"
    write_volume(maa.with_array(arr), neg)
    text = BASE.replace("sirt-phantom/", f"{phantom_dirs / 'sirt-phantom'}/").replace(
        f"{phantom_dirs / 'sirt-phantom'}/nifti/activity.nii.gz", str(neg))
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    code, _, err = run_cli(["sirt", "plan", str(plan), "-o", str(tmp_path / "o")])
    assert code == 2 and "negative voxel" in err and 'negative_voxels = "clip"' in err
    plan.write_text(text.replace("[[masks]]", 'negative_voxels = "clip"\n[[masks]]'))
    code, _, err = run_cli(["sirt", "plan", str(plan), "-o", str(tmp_path / "o")])
    assert code == 0, err
