"""iRECIST (Seymour et al., Lancet Oncol 2017): iUPD → iCPD, iUPD that remains, cumulative
growth, iUPD → iSD (bar reset) → iUPD, confirmation by new lesions and non-target disease,
iCPD is final, and the i-prefixed RECIST call when nothing progresses (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.response.assess import assess_case
from netdose.response.case import parse_case
from netdose.response.irecist import assess_irecist, i_category

DATES = [(dt.date(2025, 1, 1) + dt.timedelta(days=49 * i)).isoformat() for i in range(10)]


def make_case(sums: list[float], extra: dict[int, dict[str, Any]] | None = None,
              non_target: bool = False) -> dict[str, Any]:
    """One liver target whose diameter is the sum (mm) at each time point."""
    tps = []
    for i, s in enumerate(sums):
        le: dict[str, Any] = {"id": "L1", "longest_diameter_mm": s}
        lesions = [le]
        if i == 0:
            le["organ"] = "liver"
            if non_target:
                lesions.append({"id": "B1", "organ": "bone", "measurable": False})
        tp: dict[str, Any] = {"label": "baseline" if i == 0 else f"fu{i}", "date": DATES[i],
                              "modality": "CT", "lesions": lesions}
        if non_target and i > 0:
            tp["non_target_status"] = "non-CR/non-PD"
        tp.update((extra or {}).get(i, {}))
        tps.append(tp)
    return {"patient": {"id": "T"}, "timepoints": tps}


def cats(data: dict[str, Any]) -> list[str | None]:
    return [r.category for r in assess_irecist(parse_case(data))]


def new(lid: str, size: float, organ: str = "lung") -> dict[str, Any]:
    return {"id": lid, "organ": organ, "longest_diameter_mm": size, "unequivocal": True}


def test_iupd_then_icpd_on_further_target_growth() -> None:
    # 100 -> 125 (+25 %: iUPD) -> 130 (+5 mm since iUPD: iCPD).
    res = assess_irecist(parse_case(make_case([100, 125, 130])))
    assert [r.category for r in res] == [None, "iUPD", "iCPD"]
    d = res[2].to_dict()
    assert d["iupd_timepoint"] == "fu1" and d["sum_at_iupd_mm"] == 125.0
    assert "grew +5.0 mm since iUPD at fu1" in d["reason"]
    assert d["vs_nadir"] == "iUPD"


def test_iupd_remains_then_cumulative_growth_confirms() -> None:
    # +3 mm (remains iUPD), then +3 mm more: 6 mm since iUPD confirms (increases add up).
    assert cats(make_case([100, 125, 128, 131])) == [None, "iUPD", "iUPD", "iCPD"]


def test_iupd_then_isd_resets_the_bar_then_iupd_again() -> None:
    # 100 -> 125 iUPD -> 110 (+10 % over nadir 100: iSD, bar reset) -> 122 (+22 %: iUPD,
    # not iCPD although the sum grew 12 mm since the last time point).
    res = assess_irecist(parse_case(make_case([100, 125, 110, 122])))
    assert [r.category for r in res] == [None, "iUPD", "iSD", "iUPD"]
    assert res[2].reset and "bar resets" in res[2].reason
    assert res[3].iupd_label == "fu3"


def test_iupd_to_ipr_reset() -> None:
    assert cats(make_case([100, 125, 60, 62])) == [None, "iUPD", "iPR", "iPR"]


def test_new_lesion_iupd_confirmed_by_more_new_lesions() -> None:
    data = make_case([100, 90, 90], extra={1: {"new_lesions": [new("X1", 12)]},
                                           2: {"new_lesions": [new("X1", 12), new("X2", 6)]}})
    res = assess_irecist(parse_case(data))
    assert [r.category for r in res] == [None, "iUPD", "iCPD"]
    assert res[2].confirmation == ("more new lesions: X2",)


def test_new_lesion_target_growth_confirms_and_no_change_remains() -> None:
    base = {1: {"new_lesions": [new("X1", 12), new("X2", 15, "liver")]}}
    grow = {**base, 2: {"new_lesions": [new("X1", 15), new("X2", 17, "liver")]}}
    same = {**base, 2: {"new_lesions": [new("X1", 12), new("X2", 15, "liver")]}}
    res = assess_irecist(parse_case(make_case([100, 90, 90], extra=grow)))
    assert res[1].new_lesion_target_ids == ("X2", "X1")
    assert res[2].category == "iCPD" and "new-lesion target sum 32.0 mm grew +5.0 mm" in \
        res[2].reason
    assert cats(make_case([100, 90, 90], extra=same)) == [None, "iUPD", "iUPD"]


def test_new_non_target_lesion_any_growth_confirms() -> None:
    # A 6 mm new lesion is not measurable (new-lesion non-target): any growth confirms.
    data = make_case([100, 90, 90], extra={1: {"new_lesions": [new("X1", 6)]},
                                           2: {"new_lesions": [new("X1", 7)]}})
    assert cats(data) == [None, "iUPD", "iCPD"]


def test_new_lesion_resolves_and_bar_resets() -> None:
    data = make_case([100, 90, 90, 90], extra={1: {"new_lesions": [new("X1", 12)]},
                                               3: {"new_lesions": [new("X1", 12)]}})
    # X1 gone at fu2 (not listed): iSD; back at fu3: a new iUPD.
    assert cats(data) == [None, "iUPD", "iSD", "iUPD"]


def test_non_target_progression_confirmed_by_further_increase() -> None:
    pd = {"non_target_status": "PD"}
    data = make_case([100, 95, 95], non_target=True, extra={1: pd, 2: dict(pd)})
    assert cats(data) == [None, "iUPD", "iUPD"]
    data["timepoints"][2]["non_target_further_increase"] = True
    assert cats(data) == [None, "iUPD", "iCPD"]


def test_target_progression_confirms_non_target_iupd() -> None:
    # iUPD from non-target disease; targets then meet RECIST PD: new progression confirms.
    data = make_case([100, 95, 120], non_target=True, extra={1: {"non_target_status": "PD"}})
    res = assess_irecist(parse_case(data))
    assert [r.category for r in res] == [None, "iUPD", "iCPD"]
    assert "target lesions now meet RECIST 1.1 PD" in res[2].reason


def test_icpd_is_final() -> None:
    assert cats(make_case([100, 125, 131, 60])) == [None, "iUPD", "iCPD", "iCPD"]


def test_not_evaluable_neither_confirms_nor_resets() -> None:
    data = make_case([100, 125, 100, 131])
    data["timepoints"][2]["lesions"][0] = {"id": "L1", "evaluated": False}
    assert cats(data) == [None, "iUPD", "NE", "iCPD"]


def test_i_category_spellings() -> None:
    assert [i_category(c) for c in ("CR", "PR", "SD", "PD", "NE", "non-CR/non-PD", None)] == \
        ["iCR", "iPR", "iSD", "iUPD", "NE", "non-iCR/non-iUPD", None]


@settings(max_examples=150, deadline=None)
@given(sums=st.lists(st.floats(min_value=10.0, max_value=100.0), min_size=2, max_size=6))
def test_without_progression_irecist_is_recist_with_an_i(sums: list[float]) -> None:
    out = assess_case(make_case(sums), criteria=["RECIST1.1", "iRECIST"])["timepoints"]
    if any(tp["RECIST1.1"]["category"] == "PD" for tp in out):
        # The first progression is iUPD, never iCPD.
        first = next(tp for tp in out if tp["RECIST1.1"]["category"] == "PD")
        assert first["iRECIST"]["category"] == "iUPD"
        return
    for tp in out:
        assert tp["iRECIST"]["category"] == i_category(tp["RECIST1.1"]["category"])
