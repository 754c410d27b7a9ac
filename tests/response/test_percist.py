"""PERCIST 1.0 (Wahl et al. 2009; O et al. 2016): the acceptance case (liver 2.0 ± 0.2,
SULpeak 10.0 → 6.5 is PMR, −35 %, −3.5 SUL), measurability, the 0.8 SUL rule, hottest vs
hottest lesion, the liver-stability rule, blood-pool fallback, CMR, new lesions, nadir, and
invariance to colder lesions (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.errors import InputError
from netdose.response.case import parse_case
from netdose.response.percist import (
    PercistConfig,
    assess_percist,
    measurability_threshold,
)

DATES = [(dt.date(2025, 1, 1) + dt.timedelta(days=70 * i)).isoformat() for i in range(8)]


def make_case(peaks: dict[str, list[float]], liver: list[float | None] | None = None,
              liver_sd: float | None = 0.2, extra: dict[int, dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """PET-only case: lesion SULpeaks per time point; liver SULmean per time point."""
    n = len(next(iter(peaks.values())))
    liver = liver or [2.0] * n
    tps = []
    for i in range(n):
        pet: dict[str, Any] = {"lesions": [{"id": k, "sul_peak": v[i]} for k, v in peaks.items()]}
        if liver[i] is not None:
            pet["liver_sul_mean"] = liver[i]
            if liver_sd is not None:
                pet["liver_sul_sd"] = liver_sd
        pet.update((extra or {}).get(i, {}))
        tps.append({"label": "baseline" if i == 0 else f"fu{i}", "date": DATES[i],
                    "modality": "PET/CT", "pet": pet})
    return {"patient": {"id": "T"}, "timepoints": tps}


def percist(data: dict[str, Any], config: PercistConfig | None = None) -> list[dict[str, Any]]:
    return [p.to_dict() for p in assess_percist(parse_case(data), config)]


def test_acceptance_liver_2_sd_0_2_sulpeak_10_to_6_5_is_pmr() -> None:
    res = percist(make_case({"L1": [10.0, 6.5]}))
    # Threshold 1.5 × 2.0 + 2 × 0.2 = 3.4 SUL; 10.0 is measurable.
    assert res[0]["measurability_threshold_sul"] == pytest.approx(3.4)
    fu = res[1]
    assert fu["category"] == "PMR"
    assert fu["change_vs_baseline_pct"] == pytest.approx(-35.0)
    assert fu["change_vs_baseline_sul"] == pytest.approx(-3.5)
    assert fu["vs_baseline"] == "PMR" and fu["vs_nadir"] == "PMR"
    assert "-35.0 %, -3.50 SUL" in fu["reason"]


@pytest.mark.parametrize(("before", "after", "expected"), [
    (10.0, 7.0, "PMR"),    # -30 % exactly, -3.0 SUL
    (10.0, 7.1, "SMD"),    # -29 %
    (10.0, 13.0, "PMD"),   # +30 %, +3.0
    (4.0, 5.3, "PMD"),     # +32.5 %, +1.3
    (4.0, 4.8, "SMD"),     # +20 %
])
def test_thresholds(before: float, after: float, expected: str) -> None:
    assert percist(make_case({"L1": [before, after]}))[1]["category"] == expected


def test_percent_and_absolute_both_needed() -> None:
    # Liver 1.0 ± 0.1: threshold 1.7. 2.0 -> 2.7 is +35 % but only +0.7 SUL: SMD.
    res = percist(make_case({"L1": [2.0, 2.7]}, liver=[1.0, 1.0], liver_sd=0.1))[1]
    assert res["category"] == "SMD"
    res = percist(make_case({"L1": [2.0, 1.3]}, liver=[1.0, 1.0], liver_sd=0.1))[1]
    assert res["category"] == "SMD"  # -35 % but -0.7 SUL


def test_hottest_lesion_against_hottest_lesion() -> None:
    # Baseline hottest A 10; follow-up A 4, B 8: B (8) vs A (10) is -20 %: SMD (not PMR).
    res = percist(make_case({"A": [10.0, 4.0], "B": [5.0, 8.0]}))[1]
    assert res["hottest_lesion"] == "B" and res["baseline_hottest_lesion"] == "A"
    assert res["category"] == "SMD"


def test_baseline_not_measurable_is_ne() -> None:
    res = percist(make_case({"L1": [3.3, 2.0]}))
    assert "no measurable lesion" in res[0]["reason"]
    assert res[1]["category"] == "NE"


@pytest.mark.parametrize(("liver_fu", "expected"), [
    (2.5, "NE"),    # +25 % and +0.5 SUL: not comparable
    (2.35, "PMR"),  # +17.5 %: comparable
])
def test_liver_reference_stability(liver_fu: float, expected: str) -> None:
    assert percist(make_case({"L1": [10.0, 6.5]}, liver=[2.0, liver_fu]))[1]["category"] \
        == expected


def test_small_liver_change_in_sul_is_comparable() -> None:
    # +25 % but only +0.25 SUL: both limits must be exceeded to call NE.
    res = percist(make_case({"L1": [10.0, 6.5]}, liver=[1.0, 1.25]))[1]
    assert res["category"] == "PMR" and res["reference_change_pct"] == pytest.approx(25.0)
    cfg = PercistConfig(reference_change_max_sul=0.2)
    assert percist(make_case({"L1": [10.0, 6.5]}, liver=[1.0, 1.25]), cfg)[1]["category"] == "NE"


def test_blood_pool_fallback_and_missing_reference() -> None:
    data = make_case({"L1": [10.0, 6.5]}, liver=[None, None], extra={
        0: {"blood_pool_sul_mean": 1.5, "blood_pool_sul_sd": 0.2},
        1: {"blood_pool_sul_mean": 1.5}})
    res = percist(data)
    assert res[0]["reference"] == "blood_pool"
    assert res[0]["measurability_threshold_sul"] == pytest.approx(3.4)  # 2 × 1.5 + 2 × 0.2
    assert res[1]["category"] == "PMR"
    res = percist(make_case({"L1": [10.0, 6.5]}, liver=[None, None]))
    assert res[1]["category"] == "NE" and "no liver or blood-pool reference" in res[0]["reason"]
    res = percist(make_case({"L1": [10.0, 6.5]}, liver_sd=None))
    assert res[1]["category"] == "NE" and "without its SD" in res[0]["reason"]


def test_measurability_threshold_function() -> None:
    case = parse_case(make_case({"L1": [10.0, 6.5]}))
    thr, text = measurability_threshold(case.baseline.pet)  # type: ignore[arg-type]
    assert thr == pytest.approx(3.4) and "1.5 × liver" in text


def test_cmr_when_every_lesion_below_liver() -> None:
    res = percist(make_case({"A": [10.0, 1.5], "B": [5.0, 1.9]}))[1]
    assert res["category"] == "CMR"
    res = percist(make_case({"A": [10.0, 1.5], "B": [5.0, 2.1]}))[1]
    assert res["category"] == "PMR"  # B above the liver: not complete


def test_new_lesions() -> None:
    typical = {1: {"new_lesions": [{"id": "N", "sul_peak": 5.0, "typical_of_tumour": True}]}}
    other = {1: {"new_lesions": [{"id": "N", "sul_peak": 5.0, "typical_of_tumour": False}]}}
    res = percist(make_case({"L1": [10.0, 6.5]}, extra=typical))[1]
    assert res["category"] == "PMD" and res["new_lesion_ids"] == ["N"]
    res = percist(make_case({"L1": [10.0, 6.5]}, extra=other))[1]
    assert res["category"] == "PMR" and "not typical of tumour" in res["reason"]


def test_no_pet_at_follow_up_is_ne() -> None:
    data = make_case({"L1": [10.0, 6.5, 6.0]})
    del data["timepoints"][1]["pet"]
    res = percist(data)
    assert res[1]["category"] == "NE" and res[2]["category"] == "PMR"


def test_nadir_reference() -> None:
    # 10 -> 5 (PMR) -> 7: -30 % and -3 SUL from baseline (PMR); +40 %, +2 over nadir (PMD).
    data = make_case({"L1": [10.0, 5.0, 7.0]})
    res = percist(data)[2]
    assert res["category"] == "PMR" and res["vs_baseline"] == "PMR"
    assert res["vs_nadir"] == "PMD" and res["nadir_sul_peak"] == 5.0
    assert res["nadir_timepoint"] == "fu1"
    assert percist(data, PercistConfig(pmd_reference="nadir"))[2]["category"] == "PMD"


def test_config_validation() -> None:
    with pytest.raises(InputError, match="pmd_reference"):
        PercistConfig(pmd_reference="last")
    with pytest.raises(InputError, match="response_pct"):
        PercistConfig(response_pct=-1)


@settings(max_examples=150, deadline=None)
@given(hot=st.lists(st.floats(min_value=3.5, max_value=30.0), min_size=2, max_size=4),
       frac=st.floats(min_value=0.0, max_value=0.99))
def test_colder_lesion_changes_nothing(hot: list[float], frac: float) -> None:
    """Hottest against hottest: adding a lesion colder than the hottest at every time point
    changes no call."""
    cold = [h * frac for h in hot]
    a = percist(make_case({"H": hot}))
    b = percist(make_case({"H": hot, "C": cold}))
    for x, y in zip(a, b, strict=True):
        assert (x["category"], x["vs_baseline"], x["vs_nadir"]) == \
            (y["category"], y["vs_baseline"], y["vs_nadir"])
