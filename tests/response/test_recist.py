"""RECIST 1.1: the acceptance case (sums 80, 56, 50, 61 mm), nodal CR, new lesions,
non-target progression, the overall-response table, target selection, NE, the new-baseline
rule after a modality change, and invariants (hypothesis).

References are worked by hand from Eisenhauer et al. 2009 (RECIST 1.1): PR is a decrease of
>= 30 % from baseline; PD an increase of >= 20 % over the nadir and >= 5 mm.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.errors import InputError
from netdose.response.assess import assess_case
from netdose.response.case import is_nodal_organ, parse_case
from netdose.response.recist import (
    RecistConfig,
    assess_recist,
    overall_response,
    pick_largest,
    select_targets,
)

DATES = [(dt.date(2025, 1, 1) + dt.timedelta(days=70 * i)).isoformat() for i in range(12)]


def lesion(lid: str, organ: str, size: float | None, *, follow_up: bool = False,
           **kw: Any) -> dict[str, Any]:
    key = "short_axis_mm" if is_nodal_organ(organ) else "longest_diameter_mm"
    out: dict[str, Any] = {"id": lid, **kw}
    if not follow_up:
        out["organ"] = organ
    if size is not None:
        out[key] = size
    return out


def make_case(series: dict[str, tuple[str, list[float]]], targets: list[str] | None = None,
              extra: dict[int, dict[str, Any]] | None = None,
              non_targets: dict[str, str] | None = None) -> dict[str, Any]:
    """Case with lesions ``{id: (organ, [size per time point])}``; ``extra[i]`` is merged
    into time point i; ``non_targets`` adds baseline lesions marked not measurable."""
    n = len(next(iter(series.values()))[1])
    tps = []
    for i in range(n):
        lesions = []
        for lid, (organ, sizes) in series.items():
            lesions.append(lesion(lid, organ, sizes[i], follow_up=i > 0))
        if i == 0:
            for lid, organ in (non_targets or {}).items():
                lesions.append({"id": lid, "organ": organ, "measurable": False})
        tp: dict[str, Any] = {"label": "baseline" if i == 0 else f"fu{i}", "date": DATES[i],
                              "modality": "CT", "lesions": lesions}
        tp.update((extra or {}).get(i, {}))
        tps.append(tp)
    tps[0]["targets"] = targets
    return {"patient": {"id": "T"}, "timepoints": tps}


def recist(data: dict[str, Any], config: RecistConfig | None = None) -> list[dict[str, Any]]:
    case = parse_case(data)
    return [r.to_dict() for r in assess_recist(case, config=config)]


# --------------------------------------------------------------------------- acceptance
def test_acceptance_sums_80_56_50_61() -> None:
    # Two liver targets summing to 80, 56, 50, 61 mm.
    data = make_case({"L1": ("liver", [50, 35, 30, 38]), "L2": ("lung", [30, 21, 20, 23])})
    res = recist(data)
    assert [r["sum_mm"] for r in res] == [80.0, 56.0, 50.0, 61.0]
    assert [r["category"] for r in res] == [None, "PR", "PR", "PD"]
    fu1, fu2, fu3 = res[1:]
    # 56 mm: exactly -30 % from baseline: PR (RECIST says "at least a 30 % decrease").
    assert fu1["change_vs_baseline_pct"] == pytest.approx(-30.0, abs=1e-12)
    assert fu2["change_vs_baseline_pct"] == pytest.approx(-37.5)
    # 61 mm: +22 % and +11 mm over the nadir 50 mm (fu2), still -23.75 % below baseline.
    assert fu3["nadir_sum_mm"] == 50.0 and fu3["nadir_timepoint"] == "fu2"
    assert fu3["change_vs_nadir_pct"] == pytest.approx(22.0)
    assert fu3["change_vs_nadir_mm"] == pytest.approx(11.0)
    assert fu3["change_vs_baseline_pct"] == pytest.approx(-23.75)
    assert fu3["vs_baseline"] == "SD" and fu3["vs_nadir"] == "PD"
    assert "+22.0 %" in fu3["reason"] and "+11.0 mm" in fu3["reason"]
    assert fu3["non_target"] == "none" and fu3["new_lesions"] is False


def test_baseline_entry_has_null_categories() -> None:
    res = recist(make_case({"L1": ("liver", [50, 35])}))
    assert res[0]["category"] is None and res[0]["vs_baseline"] is None
    assert res[0]["vs_nadir"] is None and res[0]["sum_mm"] == 50.0
    assert res[0]["change_vs_baseline_pct"] is None


def test_exact_threshold_strict_configuration() -> None:
    data = make_case({"L1": ("liver", [50, 35]), "L2": ("lung", [30, 21])})
    assert recist(data)[1]["category"] == "PR"
    assert recist(data, RecistConfig(pr_inclusive=False))[1]["category"] == "SD"


@pytest.mark.parametrize(("sizes", "expected"), [
    ([50, 40, 60], "PD"),   # +20 % exactly and +10 mm over nadir 50: PD (inclusive)
    ([20, 20, 24], "SD"),   # +20 % but only +4 mm: the 5 mm rule prevents PD
    ([25, 25, 30], "PD"),   # +20 % and exactly +5 mm
    ([50, 50, 59], "SD"),   # +18 %
])
def test_pd_needs_percent_and_absolute(sizes: list[float], expected: str) -> None:
    assert recist(make_case({"L1": ("liver", sizes)}))[2]["category"] == expected


def test_nadir_includes_baseline() -> None:
    # Growth from baseline at the first follow-up: the nadir is the baseline itself.
    res = recist(make_case({"L1": ("liver", [40, 50])}))
    assert res[1]["nadir_timepoint"] == "baseline" and res[1]["category"] == "PD"


def test_evaluation_continues_after_pd_and_nadir_is_not_reset() -> None:
    # 100 -> 60 (PR) -> 80 (PD, +33 %) -> 71 (-29 % from baseline, +18.3 % over the nadir
    # 60: SD) -> 84 (+40 % over the nadir 60, not over the last sum: PD).
    res = recist(make_case({"L1": ("liver", [100, 60, 80, 71, 84])}))
    assert [r["category"] for r in res[1:]] == ["PR", "PD", "SD", "PD"]
    assert [r["nadir_sum_mm"] for r in res[1:]] == [100, 60, 60, 60]


def test_incomplete_time_point_does_not_set_the_nadir() -> None:
    data = make_case({"L1": ("liver", [50, 30, 32]), "L2": ("liver", [30, None, 20])})
    data["timepoints"][1]["lesions"][1] = {"id": "L2", "evaluated": False}
    res = recist(data)
    assert res[1]["category"] == "NE" and res[1]["targets_not_evaluated"] == ["L2"]
    assert res[2]["nadir_sum_mm"] == 80.0  # the partial sum 30 mm is not a nadir


def test_not_evaluated_target_but_progression_of_the_rest_is_pd() -> None:
    # Baseline sum 50 (3 lesions); at follow-up two lesions alone sum 80: PD regardless.
    data = make_case({"L1": ("liver", [20, 45]), "L2": ("lung", [15, 35]),
                      "L3": ("bone", [15, None])})
    data["timepoints"][1]["lesions"][2] = {"id": "L3", "evaluated": False}
    res = recist(data)[1]
    assert res["category"] == "PD" and "evaluated targets alone" in res["reason"]


# --------------------------------------------------------------------------- CR, nodes
def test_node_cr_with_residual_nodes_below_10_mm() -> None:
    data = make_case({"L1": ("liver", [30, 0]), "N1": ("lymph_node", [18, 9]),
                      "N2": ("lymph_node", [16, 7])})
    res = recist(data)[1]
    assert res["target"] == "CR" and res["category"] == "CR"
    assert res["sum_mm"] == 16.0  # the sum of a nodal CR is not zero


def test_node_at_10_mm_is_not_cr() -> None:
    res = recist(make_case({"L1": ("liver", [30, 0]), "N1": ("lymph_node", [18, 10])}))[1]
    assert res["target"] == "PR" and res["category"] == "PR"


def test_target_cr_with_persisting_non_target_is_pr() -> None:
    data = make_case({"L1": ("liver", [30, 0])}, non_targets={"B1": "bone"},
                     extra={1: {"non_target_status": "non-CR/non-PD"}})
    res = recist(data)[1]
    assert res["target"] == "CR" and res["category"] == "PR"
    data["timepoints"][1]["non_target_status"] = "CR"
    assert recist(data)[1]["category"] == "CR"
    data["timepoints"][1]["non_target_status"] = None
    res = recist(data)[1]
    assert res["non_target"] == "NE" and res["category"] == "PR"


# --------------------------------------------------------------------------- new lesions, NT
def test_new_lesion_is_pd_even_while_shrinking() -> None:
    data = make_case({"L1": ("liver", [50, 20])},
                     extra={1: {"new_lesions": [{"id": "X1", "organ": "lung",
                                                 "longest_diameter_mm": 8,
                                                 "unequivocal": True}]}})
    res = recist(data)[1]
    assert res["category"] == "PD" and res["target"] == "PR"
    assert res["new_lesions"] is True and res["new_lesion_ids"] == ["X1"]
    assert res["vs_baseline"] == "PD" and res["vs_nadir"] == "PD"
    assert res["reason"].startswith("PD (unequivocal new lesion(s)): new lesion(s) X1")


def test_equivocal_new_lesion_is_not_pd() -> None:
    data = make_case({"L1": ("liver", [50, 20])},
                     extra={1: {"new_lesions": [{"id": "X1", "organ": "lung",
                                                 "unequivocal": False}]}})
    res = recist(data)[1]
    assert res["category"] == "PR" and res["equivocal_new_lesion_ids"] == ["X1"]
    assert "equivocal" in res["reason"]


def test_unequivocal_non_target_progression_is_pd() -> None:
    data = make_case({"L1": ("liver", [50, 45])}, non_targets={"B1": "bone"},
                     extra={1: {"non_target_status": "PD"}})
    res = recist(data)[1]
    assert res["category"] == "PD" and res["target"] == "SD"
    assert res["reason"].startswith("PD (unequivocal progression of non-target disease)")


def test_non_target_status_without_non_target_disease_is_refused() -> None:
    data = make_case({"L1": ("liver", [50, 45])}, extra={1: {"non_target_status": "CR"}})
    with pytest.raises(InputError, match=r"timepoints\[1\]\.non_target_status = 'CR', but there "
                                         r"is no non-target disease"):
        recist(data)


def test_modality_change_new_baseline_lesions_not_counted_as_pd() -> None:
    new = {"id": "H1", "organ": "liver", "longest_diameter_mm": 7, "unequivocal": True}
    data = make_case({"L1": ("liver", [50, 40, 41])}, extra={
        1: {"modality": "MR", "modality_change": True, "new_lesions": [new],
            "new_baseline_lesions": ["H1"], "non_target_status": "non-CR/non-PD"},
        2: {"modality": "MR", "new_lesions": [new], "non_target_status": "non-CR/non-PD"},
    })
    res = recist(data)
    assert res[1]["category"] == "SD" and res[1]["new_lesions"] is False
    assert res[1]["new_baseline_lesions"] == ["H1"]
    assert "new baseline lesions after a modality change" in res[1]["reason"]
    assert res[2]["category"] == "SD" and res[2]["new_lesions"] is False
    # The same lesion without the rule is progression.
    del data["timepoints"][1]["new_baseline_lesions"]
    data["timepoints"][1]["modality_change"] = False
    data["timepoints"][1]["non_target_status"] = None
    data["timepoints"][2]["non_target_status"] = None
    assert recist(data)[1]["category"] == "PD"


# --------------------------------------------------------------------------- tables
@pytest.mark.parametrize(("target", "non_target", "new", "expected"), [
    ("CR", "CR", False, "CR"),
    ("CR", "none", False, "CR"),
    ("CR", "non-CR/non-PD", False, "PR"),
    ("CR", "NE", False, "PR"),
    ("PR", "non-CR/non-PD", False, "PR"),
    ("PR", "NE", False, "PR"),
    ("SD", "non-CR/non-PD", False, "SD"),
    ("SD", "NE", False, "SD"),
    ("NE", "non-CR/non-PD", False, "NE"),
    ("PD", "CR", False, "PD"),
    ("SD", "PD", False, "PD"),
    ("CR", "CR", True, "PD"),
    ("NE", "NE", True, "PD"),
    # Table 2: no target disease
    (None, "CR", False, "CR"),
    (None, "non-CR/non-PD", False, "non-CR/non-PD"),
    (None, "NE", False, "NE"),
    (None, "PD", False, "PD"),
    (None, "non-CR/non-PD", True, "PD"),
])
def test_overall_response_table(target: str | None, non_target: str, new: bool,
                                expected: str) -> None:
    assert overall_response(target, non_target, new)[0] == expected


def test_non_target_disease_only() -> None:
    data = {"patient": {"id": "T"}, "timepoints": [
        {"label": "b", "date": DATES[0], "modality": "CT", "lesions": [
            {"id": "B1", "organ": "bone", "measurable": False},
            {"id": "N1", "organ": "lymph_node", "short_axis_mm": 12}]},
        {"label": "f", "date": DATES[1], "modality": "CT", "lesions": [],
         "non_target_status": "non-CR/non-PD"}]}
    res = recist(data)
    assert res[0]["sum_mm"] is None
    assert res[1]["category"] == "non-CR/non-PD" and res[1]["target"] is None
    assert "Table 2" in res[0]["reason"]


# --------------------------------------------------------------------------- selection
def test_automatic_selection_rules() -> None:
    data = {"patient": {"id": "T"}, "timepoints": [{
        "label": "b", "date": DATES[0], "modality": "CT", "targets": None, "lesions": [
            lesion("L1", "liver", 40), lesion("L2", "liver", 35), lesion("L3", "liver", 50),
            lesion("N1", "lymph_node", 20), lesion("N2", "lymph node", 25),
            lesion("N3", "Lymph_Node", 30), lesion("N4", "lymph_node", 12),
            lesion("P1", "lung", 9), lesion("P2", "lung", 11), lesion("K1", "kidney", 10),
            lesion("B1", "bone", 60, measurable=False)]}]}
    sel = select_targets(parse_case(data))
    # Largest first, <= 2 per organ (nodes one organ), <= 5 in all.
    assert sel.targets == ("L3", "L1", "N3", "N2", "P2")
    assert set(sel.non_targets) == {"L2", "N1", "N4", "P1", "K1", "B1"}
    assert sel.method == "automatic"
    assert "< 15 mm" in sel.notes["N4"] and "< 10 mm" in sel.notes["P1"]
    assert "not among the largest" in sel.notes["L2"]
    assert "marked not measurable" in sel.notes["B1"]
    # Thresholds are configurable: a lower cap of 1 per organ changes the choice.
    sel1 = select_targets(parse_case(data), RecistConfig(max_targets_per_organ=1))
    assert sel1.targets == ("L3", "N3", "P2", "K1")


def test_pick_largest_keeps_input_order_on_ties() -> None:
    assert pick_largest([("a", "liver", 20), ("b", "liver", 20), ("c", "liver", 20)], 5, 2) \
        == ["a", "b"]


@pytest.mark.parametrize(("targets", "lesions", "message"), [
    (["P1"], [lesion("P1", "lung", 8)],
     r"targets\[0\]: lesion 'P1' cannot be a RECIST 1\.1 target: longest diameter 8 mm < 10 mm"),
    (["N1"], [lesion("N1", "lymph_node", 12)],
     r"targets\[0\]: lesion 'N1' cannot be .*node short axis 12 mm < 15 mm"),
    (["L1", "L2", "L3"], [lesion(f"L{i}", "liver", 20 + i) for i in (1, 2, 3)],
     r"targets\[2\]: 'L3' is target number 3 in organ 'liver'"),
    ([f"L{i}" for i in range(6)], [lesion(f"L{i}", f"organ{i}", 20) for i in range(6)],
     r"targets: 6 targets given; RECIST 1\.1 allows at most 5"),
    (None, [lesion("P1", "lung", 8, measurable=True)],
     (r"lesions\[0\]\.measurable: lesion 'P1' is marked measurable but its longest diameter 8 mm "
     r"< 10 mm")),
])
def test_bad_target_choices(targets: list[str] | None, lesions: list[dict[str, Any]],
                            message: str) -> None:
    data = {"patient": {"id": "T"}, "timepoints": [
        {"label": "b", "date": DATES[0], "modality": "CT", "lesions": lesions,
         "targets": targets}]}
    with pytest.raises(InputError, match=message):
        select_targets(parse_case(data))


def test_config_validation() -> None:
    with pytest.raises(InputError, match="pr_decrease_pct"):
        RecistConfig(pr_decrease_pct=130)
    with pytest.raises(InputError, match="max_targets"):
        RecistConfig(max_targets=0)
    assert "Eisenhauer" in RecistConfig().as_dict()["source"]


def test_assess_case_output_shape() -> None:
    data = make_case({"L1": ("liver", [50, 35, 30, 38]), "L2": ("lung", [30, 21, 20, 23])})
    out = assess_case(data, criteria=["RECIST1.1"])
    assert out["targets"] == ["L1", "L2"] and out["non_targets"] == []
    assert out["criteria"] == ["RECIST1.1"]
    tp = out["timepoints"][3]
    assert tp["label"] == "fu3" and tp["date"] == DATES[3]
    block = tp["RECIST1.1"]
    for key in ("category", "target", "non_target", "new_lesions", "sum_mm",
                "baseline_sum_mm", "nadir_sum_mm", "change_vs_baseline_pct",
                "change_vs_nadir_pct", "change_vs_nadir_mm", "vs_baseline", "vs_nadir",
                "reason"):
        assert key in block
    assert "Choi" not in tp


# --------------------------------------------------------------------------- invariants
sizes_st = st.floats(min_value=0.0, max_value=150.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(base=st.lists(st.floats(min_value=10.0, max_value=100.0), min_size=1, max_size=4),
       follow=st.lists(st.lists(sizes_st, min_size=4, max_size=4), min_size=1, max_size=4),
       factor=st.floats(min_value=1.0, max_value=6.0))
def test_category_invariant_under_scaling(base: list[float], follow: list[list[float]],
                                          factor: float) -> None:
    """Relative rules only (5 mm rule off, non-nodal targets fixed in the file): scaling every
    diameter by the same factor changes no call. With the 5 mm rule on, or with nodes (the
    absolute 10 mm CR threshold) or automatic selection (absolute size thresholds), it may."""
    n = len(base)
    cfg = RecistConfig(pd_increase_mm=0.0)

    def build(k: float) -> dict[str, Any]:
        series = {f"L{i}": ("liver" if i < 2 else "lung" if i < 4 else "bone",
                            [base[i] * k] + [f[i] * k for f in follow]) for i in range(n)}
        return make_case(series, targets=list(series))

    a, b = recist(build(1.0), cfg), recist(build(factor), cfg)
    for x, y in zip(a, b, strict=True):
        assert (x["category"], x["vs_baseline"], x["vs_nadir"]) == \
            (y["category"], y["vs_baseline"], y["vs_nadir"])


@settings(max_examples=100, deadline=None)
@given(base=st.lists(st.floats(min_value=10.0, max_value=100.0), min_size=1, max_size=4),
       fu=st.lists(sizes_st, min_size=4, max_size=4))
def test_first_follow_up_calls_agree(base: list[float], fu: list[float]) -> None:
    """At the first follow-up the nadir is the baseline: all three calls are the same."""
    series = {f"L{i}": ("liver" if i < 2 else "lung", [base[i], fu[i]])
              for i in range(len(base))}
    res = recist(make_case(series, targets=list(series)))[1]
    assert res["category"] == res["vs_baseline"] == res["vs_nadir"]
