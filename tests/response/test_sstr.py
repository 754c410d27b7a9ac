"""SSTR-PET changes after PRRT: ratios, Krenning-type scores and changes from baseline."""

from __future__ import annotations

import pytest

from netdose.response.case import parse_case
from netdose.response.sstr import sstr_changes


def _case(spleen: float | None) -> dict:
    def pet(liver: float, sul: float) -> dict:
        block = {"liver_sul_mean": liver, "liver_sul_sd": 0.2,
                 "lesions": [{"id": "L1", "sul_peak": sul, "suv_max": sul * 1.4}],
                 "new_lesions": []}
        if spleen is not None:
            block["spleen_sul_mean"] = spleen
        return block

    return {
        "patient": {"id": "P", "sex": "F", "weight_kg": 70, "height_cm": 165},
        "criteria": ["PERCIST"],
        "timepoints": [
            {"label": "baseline", "date": "2025-01-10", "modality": "PET/CT",
             "lesions": [{"id": "L1", "organ": "liver", "longest_diameter_mm": 40}],
             "targets": None, "non_target_status": None, "new_lesions": [],
             "pet": pet(2.0, 12.0)},
            {"label": "fu1", "date": "2025-04-10", "modality": "PET/CT",
             "lesions": [{"id": "L1", "organ": "liver", "longest_diameter_mm": 30}],
             "non_target_status": None, "new_lesions": [], "pet": pet(2.0, 6.0)},
        ],
    }


def test_ratios_scores_and_changes():
    r = sstr_changes(parse_case(_case(spleen=8.0)))
    base, fu = r["lesions"]["L1"]
    assert base["tumour_to_liver"] == pytest.approx(6.0)
    assert base["tumour_to_spleen"] == pytest.approx(1.5)
    assert base["krenning_score"] == 4          # above the spleen
    assert fu["krenning_score"] == 3            # above the liver, below the spleen
    assert fu["score_change"] == -1
    assert fu["sul_peak_change_pct"] == pytest.approx(-50.0)
    assert r["patient"][1]["sum_sul_peak_change_pct"] == pytest.approx(-50.0)
    assert "not categorised" in r["note"]


def test_without_spleen_the_score_is_a_range():
    r = sstr_changes(parse_case(_case(spleen=None)))
    base = r["lesions"]["L1"][0]
    assert base["krenning_score"] is None and base["krenning_score_range"] == [3, 4]
    assert base["tumour_to_spleen"] is None
