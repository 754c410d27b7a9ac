"""``netdose response measure`` and ``netdose prrt eligibility`` on phantom PET images:
lesion metrics into a case file that ``response assess`` then reads, and an eligibility
verdict from an SSTR-PET-like image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from netdose_phantoms.prrt_patient import prrt_patient

from netdose.io.volume import write_volume

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"




@pytest.fixture(scope="module")
def sstr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SSTR-PET-like SUL image: the PRRT phantom's 24 h uptake, scaled so that liver
    uptake is SUL ~ 2 (the organs' relative uptake is what matters)."""
    root = tmp_path_factory.mktemp("sstr")
    ph = prrt_patient(times_h=(24.0,))
    ph.write_nifti(root / "nifti")
    act = ph.time_points[0].image
    liver = ph.mask("liver").array
    scale = 2.0 / float(act.array[liver].mean())
    write_volume(act.with_array((act.array * scale).astype(np.float32)), root / "sul.nii.gz")
    return root


def test_measure_fills_the_case_and_assess_reads_it(sstr, tmp_path, run_cli):
    case = json.loads((EXAMPLES / "response_case.json").read_text())
    label = case["timepoints"][0]["label"]
    ids = [les["id"] for les in case["timepoints"][0]["pet"]["lesions"]]
    # Name the phantom's tumours as the case's PET lesions.
    labels = json.loads((sstr / "nifti/labels.json").read_text())
    sources = ["tumour_1", "tumour_2", "tumour_3", "kidney_left", "kidney_right", "spleen"]
    assert len(ids) <= len(sources)
    mapping = dict(zip(sources, ids))
    renamed = {k: mapping.get(v, v) for k, v in labels.items()}
    (tmp_path / "labels.json").write_text(json.dumps(renamed))
    (tmp_path / "case.json").write_text(json.dumps(case))
    args = ["response", "measure", str(sstr / "sul.nii.gz"), "--masks",
            str(sstr / "nifti/labels.nii.gz"), "--labels", str(tmp_path / "labels.json"),
            "--unit", "SUL", "--liver", "liver",
            "--case", str(tmp_path / "case.json"), "--timepoint", label,
            "-o", str(tmp_path / "measured.json")]
    for lid in mapping.values():
        args += ["--lesion", lid]
    code, _, err = run_cli(args)
    assert code == 0, err
    measured = json.loads((tmp_path / "measured.json").read_text())
    pet = next(t for t in measured["timepoints"] if t["label"] == label)["pet"]
    assert pet["liver_sul_mean"] == pytest.approx(2.0, rel=0.02)  # uniform organ in the phantom
    assert {les["id"] for les in pet["lesions"]} == set(mapping.values())
    for les in pet["lesions"]:
        assert les["suv_max"] > 0 and les["sul_peak"] > 0
        if les["id"] in ids[:3]:  # uniform tumour spheres: the peak cannot exceed the max
            assert les["suv_max"] >= les["sul_peak"]
    code, _out, err = run_cli(["response", "assess", str(tmp_path / "measured.json"), "--json"])
    assert code == 0, err


def test_eligibility_on_sstr_like_image(sstr, run_cli):
    code, out, err = run_cli(
        ["prrt", "eligibility", str(sstr / "sul.nii.gz"), "--masks",
         str(sstr / "nifti/labels.nii.gz"), "--labels", str(sstr / "nifti/labels.json"),
         "--unit", "SUL", "--liver", "liver", "--spleen", "spleen",
         "--lesion", "tumour_1", "--lesion", "tumour_2", "--lesion", "tumour_3", "--json"])
    assert code == 0, err
    r = json.loads(out)
    scores = {les["id"]: les["krenning_score"] for les in r["sstr"]["lesions"]}
    # Lesions hotter than the spleen score 4; the verdict follows the "> 2" rule.
    assert all(s is not None and 0 <= s <= 4 for s in scores.values())
    assert r["verdict"]["verdict"] in ("eligible", "review", "not eligible")
    if min(scores.values()) > 2:
        assert r["verdict"]["verdict"] == "eligible"


def test_volume_pet_without_unit_is_refused(sstr, tmp_path, run_cli):
    code, _, err = run_cli(["response", "measure", str(sstr / "sul.nii.gz"), "--masks",
                            str(sstr / "nifti/labels.nii.gz"), "-o", str(tmp_path / "m.json")])
    assert code == 2 and "--unit" in err and not (tmp_path / "m.json").exists()
