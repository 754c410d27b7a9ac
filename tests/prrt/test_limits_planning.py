"""PRRT organ limits, cumulative check and next-cycle activity.

Worked case (computed by hand; kidney α/β 2.6 Gy, T_rep 2.8 h):
kidneys 0.8 Gy/GBq, T_eff 50 h, two cycles of 7.4 GBq done.

- per cycle: d = 0.8 · 7.4 = 5.92 Gy; G = 2.8/52.8 = 0.0530303;
  BED = 5.92 · (1 + 5.92/2.6 · 0.0530303) = 5.92 · 1.1207459 = 6.634816 Gy.
- so far: D0 = 11.84 Gy, B0 = 13.269632 Gy; two cycles remain.
- dose budget: (23 − 11.84)/2 = 5.58 Gy per cycle → A_D = 5.58/0.8 = 6.975 GBq.
- BED, no risk factor (40 Gy): R = (40 − 13.269632)/2 = 13.365184 Gy;
  q = 0.8² · 0.0530303/2.6 = 0.01305361 Gy/GBq²;
  A_B = (−k + √(k² + 4qR))/(2q) = (−0.8 + √1.337856)/0.0261072 = 13.6612 GBq.
- BED, risk factors (28 Gy): R = 7.365184 → (−0.8 + √1.024569)/0.0261072 = 8.1284 GBq.
- Default limits: the dose limit binds → 6.975 GBq (< 7.4 standard).
  With the kidney dose limit raised to 100 Gy, risk factors and a 20 GBq cap: the 28 Gy BED
  limit binds → 8.1284 GBq.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.dosimetry.radiobiology import bed
from netdose.errors import InputError, LimitExceeded
from netdose.prrt.limits import (
    KIDNEY_BED_LIMIT_GY,
    KIDNEY_BED_LIMIT_RISK_FACTORS_GY,
    KIDNEY_DOSE_LIMIT_GY,
    LIMIT_RTOL,
    RED_MARROW_DOSE_LIMIT_GY,
    CycleOrganDose,
    Limits,
    RiskFactors,
    check_cumulative,
)
from netdose.prrt.planning import (
    NO_FURTHER_CYCLE,
    STANDARD_ACTIVITY_GBQ,
    WITHIN_LIMITS,
    OrganHistory,
    plan_next_cycle,
)

NONE = RiskFactors.none()
HTN = RiskFactors.from_names(["hypertension"])
G50 = 2.8 / 52.8


def kidney_bed(d: float, t_eff: float = 50.0) -> float:
    return bed(d, t_eff, "kidney").bed_gy


def records(doses: list[float], t_eff: float = 50.0, organ: str = "kidneys") -> list:
    return [CycleOrganDose(i + 1, organ, d, kidney_bed(d, t_eff)) for i, d in enumerate(doses)]


def quad_root(k: float, q: float, r: float) -> float:
    """Textbook root of q A² + k A − r = 0 (independent of the solver's stable form)."""
    return (-k + math.sqrt(k * k + 4.0 * q * r)) / (2.0 * q)


def kidney_history(k: float = 0.8, done: int = 2, activity: float = 7.4,
                   t_eff: float = 50.0, organ: str = "kidneys") -> OrganHistory:
    d = k * activity
    return OrganHistory(
        organ=organ,
        dose_per_activity_gy_per_gbq=(k,) * done,
        cumulative_dose_gy=done * d,
        cumulative_bed_gy=done * kidney_bed(d, t_eff),
        effective_half_life_h=(t_eff,) * done,
    )


# =========================================================================== limits
def test_default_limits_and_sources() -> None:
    lim = Limits.default()
    k = lim.for_organ("kidney_right")
    assert k is not None
    assert (k.dose_gy, k.bed_gy, k.bed_gy_with_risk_factors) == (23.0, 40.0, 28.0)
    assert lim.for_organ("bone_marrow").dose_gy == 2.0  # type: ignore[union-attr]
    assert lim.for_organ("tumour_1") is None
    assert "Bodei" in k.sources["bed_gy"] and "not verified" in k.sources["bed_gy"]
    assert "Emami" in k.sources["dose_gy"]
    assert (KIDNEY_DOSE_LIMIT_GY, KIDNEY_BED_LIMIT_GY, KIDNEY_BED_LIMIT_RISK_FACTORS_GY,
            RED_MARROW_DOSE_LIMIT_GY) == (23.0, 40.0, 28.0, 2.0)
    json.dumps(lim.as_dict())


def test_overrides_from_toml_like_mapping() -> None:
    lim = Limits.from_overrides(
        {"kidneys": {"bed_gy": 35.0}, "spleen": {"dose_gy": 30.0}, "red_marrow": {}})
    k = lim.organs["kidney"]
    assert (k.dose_gy, k.bed_gy, k.bed_gy_with_risk_factors) == (23.0, 35.0, 28.0)
    assert "set by the caller (35 Gy)" in k.sources["bed_gy"]
    assert "netdose default: 40 Gy" in k.sources["bed_gy"]
    assert lim.for_organ("spleen").dose_gy == 30.0  # type: ignore[union-attr]
    assert Limits.from_overrides(None) == Limits.default()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"kidney": {"bed": 40}}, "limits.kidney.bed is not a known limit"),
        ({"kidney": {"dose_gy": -1.0}}, "limits.kidney.dose_gy = -1.0 Gy"),
        ({"kidney": {"dose_gy": float("nan")}}, "is not finite"),
        ({"kidney": {"dose_gy": "23"}}, "is not a number"),
        ({"kidney": {"bed_gy_with_risk_factors": 45.0}}, "must be the stricter one"),
        ({"kidney": 23.0}, "must be a table of limits"),
        ([("kidney", 23.0)], "must be a mapping"),
        ({"": {"dose_gy": 1.0}}, "is not an organ name"),
    ],
)
def test_overrides_bad(overrides: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        Limits.from_overrides(overrides)  # type: ignore[arg-type]


def test_risk_factors() -> None:
    assert not NONE.any and NONE.names() == ()
    rf = RiskFactors.from_names(["Diabetes", "reduced_gfr"])
    assert rf.any and rf.names() == ("diabetes", "reduced_gfr")
    assert RiskFactors.from_names([]) == NONE
    with pytest.raises(InputError, match="unknown renal risk factor 'smoking'"):
        RiskFactors.from_names(["smoking"])
    with pytest.raises(InputError, match="must be a list of names"):
        RiskFactors.from_names("hypertension")
    with pytest.raises(InputError, match="hypertension = 1 is not True/False"):
        RiskFactors(1, False, False, False)  # type: ignore[arg-type]


# =========================================================================== cumulative
def test_four_standard_cycles_within_limits() -> None:
    check = check_cumulative(records([5.0] * 4), Limits.default(), risk_factors=NONE)
    assert check.ok
    (organ,) = check.organs
    assert organ.cycles == (1, 2, 3, 4)
    assert organ.cumulative_dose_gy == pytest.approx(20.0)
    assert organ.cumulative_bed_gy == pytest.approx(4 * 5.0 * (1 + 5.0 / 2.6 * G50), rel=1e-14)
    dose, bed_status = organ.statuses
    assert (dose.quantity, dose.limit_gy) == ("dose_gy", 23.0)
    assert dose.fraction_used == pytest.approx(20.0 / 23.0)
    assert (bed_status.quantity, bed_status.limit_gy) == ("bed_gy", 40.0)
    assert "within the 40 Gy kidney BED limit" in bed_status.message
    assert check.warnings == (
        "no dose recorded for any red_marrow organ: its limits (dose_gy 2 Gy) were not checked",)
    json.dumps(check.as_dict())
    assert check.raise_if_exceeded() is check


def test_risk_factors_switch_kidney_bed_limit() -> None:
    # 4 × 5.7 Gy at T_eff 20 h: dose 22.8 Gy (< 23); BED per cycle
    # 5.7 (1 + 5.7/2.6 · 2.8/22.8) = 7.2347 Gy, total 28.94 Gy: above 28, below 40.
    recs = records([5.7] * 4, t_eff=20.0)
    total = 4 * 5.7 * (1 + 5.7 / 2.6 * 2.8 / 22.8)
    assert check_cumulative(recs, Limits.default(), risk_factors=NONE).ok
    check = check_cumulative(recs, Limits.default(), risk_factors=HTN)
    assert not check.ok
    (status,) = check.exceeded
    assert status.quantity == "bed_gy" and status.limit_gy == 28.0
    assert status.cumulative_gy == pytest.approx(total, rel=1e-14)
    assert "EXCEEDS the 28 Gy kidney BED limit" in status.message
    assert "hypertension" in status.condition
    with pytest.raises(LimitExceeded, match="kidneys: cumulative BED 28.94 Gy EXCEEDS"):
        check.raise_if_exceeded()


def test_dose_limit_exceeded_and_each_kidney_checked() -> None:
    recs = records([6.0] * 4, organ="kidney_left") + records([5.0] * 4, organ="kidney_right")
    check = check_cumulative(recs, Limits.default(), risk_factors=NONE)
    left, right = check.organs
    assert left.organ == "kidney_left" and left.exceeded and not right.exceeded
    assert [s.quantity for s in check.exceeded] == ["dose_gy"]


def test_marrow_and_tumour_and_mappings() -> None:
    recs = [
        {"cycle": 1, "organ": "red_marrow", "dose_gy": 1.2},
        {"cycle": 2, "organ": "red_marrow", "dose_gy": 0.9},
        {"cycle": 1, "organ": "tumour_1", "dose_gy": 30.0},
        *records([5.0]),
    ]
    check = check_cumulative(recs, Limits.default(), risk_factors=NONE)
    by = {o.organ: o for o in check.organs}
    assert by["red_marrow"].exceeded and by["red_marrow"].cumulative_bed_gy is None
    assert by["red_marrow"].statuses[0].fraction_used == pytest.approx(2.1 / 2.0)
    assert by["tumour_1"].limit_class is None and by["tumour_1"].statuses == ()
    assert check.warnings == ()


def test_exactly_at_limit_is_not_exceeded() -> None:
    check = check_cumulative([CycleOrganDose(1, "kidneys", 23.0, 40.0)], Limits.default(),
                             risk_factors=NONE)
    assert check.ok and check.organs[0].statuses[0].fraction_used == 1.0
    over = 23.0 * (1 + 10 * LIMIT_RTOL)
    assert not check_cumulative([CycleOrganDose(1, "kidneys", over, 40.0)], Limits.default(),
                                risk_factors=NONE).ok


BAD_CHECK = [
    ([CycleOrganDose(1, "kidneys", 5.0)], "no BED for cycle\\(s\\) \\[1\\]"),
    (records([5.0]) + records([5.0]), "appears more than once in cycle\\(s\\) \\[1\\]"),
    ([{"cycle": 1, "dose_gy": 5.0}], "lacks organ"),
    ([5.0], "neither a CycleOrganDose nor a mapping"),
    ([{"cycle": 0, "organ": "kidneys", "dose_gy": 5.0}], "cycle = 0 must be a whole number"),
    ([{"cycle": 1.5, "organ": "kidneys", "dose_gy": 5.0}], "cycle = 1.5"),
    ([{"cycle": 1, "organ": "kidneys", "dose_gy": -5.0}], "dose_gy \\(cycle 1, kidneys\\)"),
    ([{"cycle": 1, "organ": "kidneys", "dose_gy": float("nan")}], "is not finite"),
    ([{"cycle": 1, "organ": "kidneys", "dose_gy": 5.0, "bed_gy": 4.0}], "below dose_gy"),
]


@pytest.mark.parametrize(("recs", "match"), BAD_CHECK)
def test_check_bad_records(recs: list, match: str) -> None:
    with pytest.raises(InputError, match=match):
        check_cumulative(recs, Limits.default(), risk_factors=NONE)


def test_check_needs_explicit_risk_factors_and_limits() -> None:
    with pytest.raises(InputError, match="state them explicitly"):
        check_cumulative(records([5.0]), Limits.default(), risk_factors=None)  # type: ignore
    with pytest.raises(InputError, match="is not a Limits"):
        check_cumulative(records([5.0]), {"kidney": 23}, risk_factors=NONE)  # type: ignore
    with pytest.raises(InputError, match="must be a list"):
        check_cumulative({"cycle": 1}, Limits.default(), risk_factors=NONE)  # type: ignore


# =========================================================================== planning
def test_worked_case_dose_limit_binds() -> None:
    plan = plan_next_cycle([kidney_history()], cycles_done=2, limits=Limits.default(),
                           risk_factors=NONE)
    assert plan.verdict == WITHIN_LIMITS and plan.feasible
    assert plan.remaining_cycles == 2
    assert plan.activity_gbq == pytest.approx(6.975, rel=1e-12)
    assert plan.activity_mbq == pytest.approx(6975.0, rel=1e-12)
    assert (plan.limited_by, plan.limiting_organ, plan.limiting_quantity,
            plan.limiting_limit_gy) == ("limit", "kidneys", "dose_gy", 23.0)
    dose_c, bed_c = plan.constraints
    b0 = 2 * 5.92 * (1 + 5.92 / 2.6 * G50)
    assert b0 == pytest.approx(13.269632, rel=1e-7)
    q = 0.64 * G50 / 2.6
    assert bed_c.max_activity_gbq == pytest.approx(quad_root(0.8, q, (40 - b0) / 2), rel=1e-12)
    assert bed_c.max_activity_gbq == pytest.approx(13.6612, abs=1e-4)
    assert dose_c.predicted_cumulative_gy == pytest.approx(23.0, rel=1e-12)
    (pred,) = plan.predictions
    assert pred.dose_per_cycle_gy == pytest.approx(5.58, rel=1e-12)
    assert pred.bed_per_cycle_gy == pytest.approx(5.58 * (1 + 5.58 / 2.6 * G50), rel=1e-12)
    assert "no dosimetry for any red_marrow organ" in plan.warnings[0]
    json.dumps(plan.as_dict())


def test_bed_limit_binds_exactly_and_plus_one_percent_violates() -> None:
    lim = Limits.from_overrides({"kidney": {"dose_gy": 100.0}})
    plan = plan_next_cycle([kidney_history()], cycles_done=2, limits=lim, risk_factors=HTN,
                           max_activity_gbq=20.0)
    b0 = 2 * 5.92 * (1 + 5.92 / 2.6 * G50)
    expected = quad_root(0.8, 0.64 * G50 / 2.6, (28.0 - b0) / 2)
    assert expected == pytest.approx(8.1284, abs=1e-4)
    assert plan.activity_gbq == pytest.approx(expected, rel=1e-12)
    assert (plan.limiting_quantity, plan.limiting_limit_gy, plan.cap_gbq) == ("bed_gy", 28.0,
                                                                              20.0)

    def cumulative_bed_at(a: float) -> float:
        return b0 + 2 * kidney_bed(0.8 * a)

    assert cumulative_bed_at(plan.activity_gbq) == pytest.approx(28.0, rel=1e-9)
    assert cumulative_bed_at(1.01 * plan.activity_gbq) > 28.0 * (1 + LIMIT_RTOL)
    recs = records([5.92, 5.92]) + [
        CycleOrganDose(c, "kidneys", 0.8 * plan.activity_gbq, kidney_bed(0.8 * plan.activity_gbq))
        for c in (3, 4)]
    assert check_cumulative(recs, lim, risk_factors=HTN).ok


def test_cap_binds() -> None:
    plan = plan_next_cycle([kidney_history(k=0.4, done=1)], cycles_done=1,
                           limits=Limits.default(), risk_factors=NONE)
    assert plan.activity_gbq == STANDARD_ACTIVITY_GBQ and plan.limited_by == "cap"
    assert plan.uncapped_activity_gbq == pytest.approx((23 - 2.96) / 3 / 0.4, rel=1e-12)
    assert "capped at 7.4 GBq" in plan.reason
    more = plan_next_cycle([kidney_history(k=0.4, done=1)], cycles_done=1,
                           limits=Limits.default(), risk_factors=NONE, max_activity_gbq=30.0)
    assert more.activity_gbq == pytest.approx(plan.uncapped_activity_gbq, rel=1e-15)


def test_marrow_limits_too() -> None:
    marrow = OrganHistory("red_marrow", (0.1, 0.1), cumulative_dose_gy=1.5)
    plan = plan_next_cycle([kidney_history(), marrow], cycles_done=2, limits=Limits.default(),
                           risk_factors=NONE)
    assert plan.limiting_organ == "red_marrow"
    assert plan.activity_gbq == pytest.approx((2.0 - 1.5) / 2 / 0.1, rel=1e-12)
    assert plan.warnings == ()


def test_latest_versus_mean_estimate() -> None:
    h = OrganHistory("kidneys", (0.6, 1.0), cumulative_dose_gy=11.84,
                     cumulative_bed_gy=13.5, effective_half_life_h=(40.0, 60.0))
    latest = plan_next_cycle([h], cycles_done=2, limits=Limits.default(), risk_factors=NONE)
    mean = plan_next_cycle([h], cycles_done=2, limits=Limits.default(), risk_factors=NONE,
                           estimate="mean")
    assert latest.predictions[0].dose_per_activity_gy_per_gbq == 1.0
    assert latest.predictions[0].effective_half_life_h == 60.0
    assert mean.predictions[0].dose_per_activity_gy_per_gbq == pytest.approx(0.8)
    assert mean.predictions[0].effective_half_life_h == pytest.approx(50.0)
    assert latest.activity_gbq == pytest.approx(5.58, rel=1e-12)
    assert mean.activity_gbq == pytest.approx(6.975, rel=1e-12)


def test_already_over_limit_gives_no_further_cycle() -> None:
    h = OrganHistory("kidneys", (0.8,) * 3, cumulative_dose_gy=24.0, cumulative_bed_gy=27.0,
                     effective_half_life_h=(50.0,) * 3)
    plan = plan_next_cycle([h], cycles_done=3, limits=Limits.default(), risk_factors=NONE)
    assert plan.verdict == NO_FURTHER_CYCLE and not plan.feasible
    assert plan.activity_gbq == 0.0
    assert "kidneys: cumulative absorbed dose 24.00 Gy already exceeds the 23 Gy" in plan.reason
    exact = OrganHistory("kidneys", (0.8,), cumulative_dose_gy=23.0, cumulative_bed_gy=27.0,
                         effective_half_life_h=(50.0,))
    plan = plan_next_cycle([exact], cycles_done=1, limits=Limits.default(), risk_factors=NONE)
    assert plan.verdict == NO_FURTHER_CYCLE and "has reached the 23 Gy" in plan.reason


def test_course_complete() -> None:
    plan = plan_next_cycle([kidney_history(done=4)], cycles_done=4, limits=Limits.default(),
                           risk_factors=NONE)
    assert plan.verdict == NO_FURTHER_CYCLE and plan.remaining_cycles == 0
    assert "4 cycle(s) done of 4 planned" in plan.reason
    extra = plan_next_cycle([kidney_history(k=0.3, done=4)], cycles_done=4,
                            limits=Limits.default(), risk_factors=NONE, remaining_cycles=1)
    assert extra.verdict == WITHIN_LIMITS and extra.remaining_cycles == 1


@settings(max_examples=200, deadline=None)
@given(
    k=st.floats(0.1, 2.5),
    t_eff=st.floats(5.0, 150.0),
    done=st.integers(1, 3),
    past_activity=st.floats(1.0, 8.0),
    marrow_k=st.floats(0.005, 0.3),
    risk=st.booleans(),
    cap=st.floats(1.0, 40.0),
    estimate=st.sampled_from(["latest", "mean"]),
)
def test_plan_never_exceeds_a_limit(
    k: float, t_eff: float, done: int, past_activity: float, marrow_k: float, risk: bool,
    cap: float, estimate: str,
) -> None:
    rf = HTN if risk else NONE
    hist = kidney_history(k=k, done=done, activity=past_activity, t_eff=t_eff)
    marrow = OrganHistory("red_marrow", (marrow_k,) * done,
                          cumulative_dose_gy=done * marrow_k * past_activity)
    plan = plan_next_cycle([hist, marrow], cycles_done=done, limits=Limits.default(),
                           risk_factors=rf, max_activity_gbq=cap, estimate=estimate)
    n = plan.remaining_cycles
    assert n == 4 - done
    a = plan.activity_gbq
    assert 0.0 <= a <= cap
    kid_d = hist.cumulative_dose_gy + n * k * a
    kid_b = float(hist.cumulative_bed_gy) + n * kidney_bed(k * a, t_eff)
    mar_d = marrow.cumulative_dose_gy + n * marrow_k * a
    tol = 1.0 + LIMIT_RTOL
    if plan.feasible:
        assert a > 0.0
        assert kid_d <= 23.0 * tol
        assert kid_b <= (28.0 if risk else 40.0) * tol
        assert mar_d <= 2.0 * tol
        if plan.limited_by == "limit":  # the limiting constraint is met with equality
            c = min(plan.constraints, key=lambda c: c.max_activity_gbq)
            assert c.predicted_cumulative_gy == pytest.approx(c.limit_gy, rel=1e-9)
    else:
        assert a == 0.0
        assert any(c.budget_per_cycle_gy <= 0.0 for c in plan.constraints)


BAD_PLAN = [
    ({"estimate": "median"}, "use 'latest' or 'mean'"),
    ({"cycles_done": 0}, "cycles_done = 0 must be a whole number >= 1"),
    ({"cycles_done": 1}, "2 dose-per-activity values for 1 cycles done"),
    ({"remaining_cycles": -1}, "remaining_cycles = -1"),
    ({"max_activity_gbq": -7.4}, "max_activity_gbq = -7.4 GBq"),
    ({"standard_activity_gbq": float("nan")}, "standard_activity_gbq = nan"),
    ({"organs": []}, "non-empty list of OrganHistory"),
    ({"organs": ["kidneys"]}, "is not an OrganHistory"),
    ({"organs": [kidney_history(), kidney_history()]}, "given more than once"),
    ({"organs": [OrganHistory("tumour_1", (5.0, 5.0), 60.0)]}, "none of the organs"),
    ({"organs": [OrganHistory("kidneys", (0.8, 0.8), 11.84)]}, "BED limit applies but"),
    ({"organs": [OrganHistory("kidneys", (0.8, 0.8), 11.84, 13.0)]},
     "effective_half_life_h is missing"),
    ({"risk_factors": None}, "state them explicitly"),
    ({"limits": None}, "is not a Limits"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD_PLAN)
def test_plan_bad_inputs(kwargs: dict, match: str) -> None:
    args = {"organs": [kidney_history()], "cycles_done": 2, "limits": Limits.default(),
                "risk_factors": NONE} | kwargs
    organs = args.pop("organs")
    with pytest.raises(InputError, match=match):
        plan_next_cycle(organs, **args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dose_per_activity_gy_per_gbq": ()}, "is empty"),
        ({"dose_per_activity_gy_per_gbq": (0.0,)}, r"dose_per_activity_gy_per_gbq\[0\] = 0.0"),
        ({"dose_per_activity_gy_per_gbq": 0.8}, "must be a list of numbers"),
        ({"cumulative_dose_gy": -1.0}, "cumulative_dose_gy = -1.0 Gy"),
        ({"cumulative_bed_gy": float("nan")}, "cumulative_bed_gy = nan"),
        ({"effective_half_life_h": (-50.0,)}, r"effective_half_life_h\[0\] = -50.0 h"),
        ({"organ": ""}, "is not an organ name"),
        ({"tissue": "kidney"}, "is not TissueParameters"),
    ],
)
def test_organ_history_bad(kwargs: dict, match: str) -> None:
    args = {"organ": "kidneys", "dose_per_activity_gy_per_gbq": (0.8,), "cumulative_dose_gy": 5.9,
                "cumulative_bed_gy": 6.6, "effective_half_life_h": (50.0,)} | kwargs
    with pytest.raises(InputError, match=match):
        OrganHistory(**args)
