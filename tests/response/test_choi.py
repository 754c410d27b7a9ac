"""Choi criteria (Choi et al., J Clin Oncol 2007): size −8 % with density −18 % is PR while
RECIST 1.1 says SD; density rescues size progression; PD reference; missing density;
intratumoural nodules; node size basis; RECIST PR/CR implies Choi PR/CR at the first
follow-up (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.errors import InputError
from netdose.response.assess import assess_case
from netdose.response.case import parse_case
from netdose.response.choi import ChoiConfig, assess_choi

DATES = [(dt.date(2025, 1, 1) + dt.timedelta(days=70 * i)).isoformat() for i in range(8)]


def make_case(series: dict[str, tuple[str, list[float], list[float | None]]],
              extra: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Lesions ``{id: (organ, [LD per time point], [HU per time point])}``."""
    n = len(next(iter(series.values()))[1])
    tps = []
    for i in range(n):
        lesions = []
        for lid, (organ, sizes, hus) in series.items():
            le: dict[str, Any] = {"id": lid, "longest_diameter_mm": sizes[i]}
            if i == 0:
                le["organ"] = organ
            if hus[i] is not None:
                le["mean_hu"] = hus[i]
            lesions.append(le)
        tp: dict[str, Any] = {"label": "baseline" if i == 0 else f"fu{i}", "date": DATES[i],
                              "modality": "CT", "lesions": lesions}
        tp.update((extra or {}).get(i, {}))
        tps.append(tp)
    return {"patient": {"id": "T"}, "timepoints": tps}


def choi(data: dict[str, Any], config: ChoiConfig | None = None) -> list[dict[str, Any]]:
    return [c.to_dict() for c in assess_choi(parse_case(data), config=config)]


def test_acceptance_size_minus_8_density_minus_18_is_pr_recist_sd() -> None:
    # Two targets: 60 + 40 = 100 mm -> 55 + 37 = 92 mm (-8 %); HU 100, 100 -> 82, 82 (-18 %).
    data = make_case({"L1": ("liver", [60, 55], [100, 82]),
                      "L2": ("liver", [40, 37], [100, 82])})
    out = assess_case(data, criteria=["RECIST1.1", "Choi"])["timepoints"][1]
    c, r = out["Choi"], out["RECIST1.1"]
    assert c["change_vs_baseline_pct"] == pytest.approx(-8.0)
    assert c["density_change_vs_baseline_pct"] == pytest.approx(-18.0)
    assert c["category"] == "PR" and r["category"] == "SD"
    assert c["density_hu"] == 82.0 and c["baseline_density_hu"] == 100.0
    assert "density -18.0 %" in c["reason"]


@pytest.mark.parametrize(("size", "hu", "expected"), [
    (90, 95, "PR"),    # size -10 % exactly (inclusive)
    (91, 85, "PR"),    # density -15 % exactly
    (91, 86, "SD"),    # -9 %, -14 %
    (110, 95, "PD"),   # +10 % without PR by density
    (112, 80, "PR"),   # +12 % but density -20 %: PR by density rescues
    (0, None, "CR"),
])
def test_single_lesion_calls(size: float, hu: float | None, expected: str) -> None:
    data = make_case({"L1": ("liver", [100, size], [100, hu])})
    assert choi(data)[1]["category"] == expected


def test_pd_against_nadir_or_baseline() -> None:
    # 100 -> 80 (PR) -> 90 (+12.5 % over the nadir 80, -10 % from baseline); density flat.
    data = make_case({"L1": ("liver", [100, 80, 90], [100, 95, 95])})
    res = choi(data)
    assert res[2]["category"] == "PD" and res[2]["nadir_sum_mm"] == 80.0
    assert res[2]["vs_baseline"] == "PR" and res[2]["vs_nadir"] == "PD"
    base_ref = choi(data, ChoiConfig(pd_reference="baseline"))
    assert base_ref[2]["category"] == "PR"


def test_missing_density() -> None:
    # PR by size can be called without density; SD or PD cannot (PR by density not excluded).
    assert choi(make_case({"L1": ("liver", [100, 85], [None, None])}))[1]["category"] == "PR"
    res = choi(make_case({"L1": ("liver", [100, 95], [None, None])}))[1]
    assert res["category"] == "NE" and "density not available" in res["reason"]
    res = choi(make_case({"L1": ("liver", [100, 120], [100, None])}))[1]
    assert res["category"] == "NE" and "cannot be excluded" in res["reason"]


def test_density_uses_lesions_measured_at_both_times() -> None:
    # L2 has no HU at follow-up: density compares L1 alone (100 -> 80, -20 %).
    data = make_case({"L1": ("liver", [50, 50], [100, 80]),
                      "L2": ("lung", [50, 50], [20, None])})
    res = choi(data)[1]
    assert res["density_lesions"] == ["L1"]
    assert res["density_change_vs_baseline_pct"] == pytest.approx(-20.0)
    assert res["category"] == "PR"


def test_intratumoural_nodules_are_pd() -> None:
    data = make_case({"L1": ("liver", [100, 85], [100, 70])})
    assert choi(data)[1]["intratumoural_nodules"] is None
    data["timepoints"][1]["lesions"][0]["new_intratumoural_nodules"] = True
    res = choi(data)[1]
    assert res["category"] == "PD" and res["intratumoural_nodules"] is True
    assert "intratumoural nodules in L1" in res["reason"]


def test_new_lesion_is_pd() -> None:
    data = make_case({"L1": ("liver", [100, 85], [100, 70])}, extra={
        1: {"new_lesions": [{"id": "X", "organ": "liver", "unequivocal": True}]}})
    assert choi(data)[1]["category"] == "PD"


def test_node_size_basis() -> None:
    def case(fu_ld: float | None) -> dict[str, Any]:
        fu: dict[str, Any] = {"id": "N1", "short_axis_mm": 14, "mean_hu": 50}
        if fu_ld is not None:
            fu["longest_diameter_mm"] = fu_ld
        return {"patient": {"id": "T"}, "timepoints": [
            {"label": "b", "date": DATES[0], "modality": "CT", "lesions": [
                {"id": "N1", "organ": "lymph_node", "short_axis_mm": 20,
                 "longest_diameter_mm": 30, "mean_hu": 50}]},
            {"label": "f", "date": DATES[1], "modality": "CT", "lesions": [fu]}]}
    res = choi(case(25))
    assert res[0]["size_basis"] == {"N1": "longest_diameter_mm"} and res[1]["sum_mm"] == 25
    res = choi(case(None))
    assert res[0]["size_basis"] == {"N1": "short_axis_mm"} and res[1]["sum_mm"] == 14


def test_no_targets_is_ne() -> None:
    data = {"patient": {"id": "T"}, "timepoints": [
        {"label": "b", "date": DATES[0], "modality": "CT",
         "lesions": [{"id": "B1", "organ": "bone", "measurable": False}]},
        {"label": "f", "date": DATES[1], "modality": "CT", "lesions": []}]}
    res = choi(data)
    assert res[0]["category"] is None and res[1]["category"] == "NE"


def test_config_validation() -> None:
    with pytest.raises(InputError, match="pd_reference"):
        ChoiConfig(pd_reference="last")
    with pytest.raises(InputError, match="density_pr_decrease_pct"):
        ChoiConfig(density_pr_decrease_pct=0)


@settings(max_examples=150, deadline=None)
@given(base=st.lists(st.floats(min_value=10.0, max_value=100.0), min_size=1, max_size=4),
       fu=st.lists(st.floats(min_value=0.0, max_value=150.0), min_size=4, max_size=4),
       hu=st.lists(st.one_of(st.none(), st.floats(min_value=-50.0, max_value=200.0)),
                   min_size=8, max_size=8))
def test_recist_response_implies_choi_response_at_first_follow_up(
        base: list[float], fu: list[float], hu: list[float | None]) -> None:
    """At the first follow-up (nadir = baseline) a RECIST 1.1 decrease of >= 30 % is also
    a >= 10 % size decrease, so RECIST CR/PR implies Choi CR/PR. (Not later: RECIST PR
    against baseline can coexist with Choi PD against the nadir.)"""
    series = {f"L{i}": ("liver" if i < 2 else "lung", [base[i], fu[i]], [hu[2 * i],
                                                                         hu[2 * i + 1]])
              for i in range(len(base))}
    out = assess_case(make_case(series), criteria=["RECIST1.1", "Choi"])["timepoints"][1]
    if out["RECIST1.1"]["category"] in ("CR", "PR"):
        assert out["Choi"]["category"] in ("CR", "PR")
