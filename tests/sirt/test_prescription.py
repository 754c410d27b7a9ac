"""SIRT prescription: worked cases (hand-computed references), invariants (hypothesis),
limit breaches and bad inputs.

Worked-case references (C = 49.67 Gy·kg/GBq, 1.03 g/mL, 1 kg lung), computed by hand:

- MIRD 100 Gy to 1000 mL: A = 100 · 1.03 / 49.67 = 2.07369 GBq; LSF 10 %: / 0.9 = 2.30410
  GBq, lung 2.30410 · 0.1 · 49.67 = 11.444 Gy.
- Partition 200 mL tumour (0.206 kg) + 800 mL normal (0.824 kg), 300 Gy tumour, TNR 3, LSF
  10 %: normal 100 Gy, A_liver = (300 · 0.206 + 100 · 0.824) / 49.67 = 2.90316, A = 3.22574
  GBq, lung 16.022 Gy.
- BSA 175 cm / 75 kg: 0.007184 · 75^0.425 · 175^0.725 = 1.90314 m², A = 1.90314 − 0.2 + 0.2
  = 1.903 GBq; LSF 12 % → × 0.8 = 1.52251 GBq. The brief's "1.522" is 0.8 × the rounded
  1.903 (= 1.5224); the unrounded value is 1.52251 (rounds to 1.523), so the test holds the
  unrounded product exactly and the printed 1.522 to within one unit of its last digit.
- Glass 120 Gy, 1.2 kg, LSF 5 %, C = 50: 144 / 47.5 = 3.03158 GBq.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.errors import InputError, LimitExceeded, NetdoseError, PhysicsRangeError
from netdose.sirt import (
    DEFAULT_CONSTANTS,
    DO_NOT_TREAT,
    TREAT,
    Constraint,
    SirtConstants,
    activity_for_constraints,
    bsa_dubois_m2,
    check_lung_limits,
    cumulative_lung_dose_gy,
    lung_dose_gy,
    mird_single_compartment,
    partition,
    resin_bsa,
    tissue_mass_kg,
)

NONE: list[float] = []  # no earlier treatment
GLASS_50 = SirtConstants(energy_constant_gy_kg_per_gbq=50.0)


def printed(value: float, reference: float, decimals: int) -> bool:
    """``value`` equals ``reference`` to the printed number of decimals."""
    return abs(value - reference) <= 0.5 * 10.0**-decimals


# --------------------------------------------------------------------------- worked cases
def test_mird_uniform_100_gy_1000_ml() -> None:
    p = mird_single_compartment(100.0, tissue_mass_kg(1000.0), 0.0, device="resin",
                                previous_lung_doses_gy=NONE)
    assert printed(p.activity_gbq, 2.0737, 4)
    assert p.activity_gbq == pytest.approx(100.0 * 1.03 / 49.67, rel=1e-12)
    assert p.lung_dose_gy == 0.0
    assert p.perfused_dose_gy == pytest.approx(100.0, rel=1e-12)
    assert p.status == TREAT


def test_mird_uniform_lsf_10_percent() -> None:
    p = mird_single_compartment(100.0, tissue_mass_kg(1000.0), 0.10, device="resin",
                                previous_lung_doses_gy=NONE)
    assert printed(p.activity_gbq, 2.3041, 4)
    assert printed(p.lung_dose_gy, 11.44, 2)
    assert p.perfused_dose_gy == pytest.approx(100.0, rel=1e-12)


def test_partition_worked_case() -> None:
    p = partition(tumour_dose_gy=300.0, tumour_mass_kg=tissue_mass_kg(200.0),
                  normal_mass_kg=tissue_mass_kg(800.0), tnr=3.0, lsf=0.10, device="resin",
                  previous_lung_doses_gy=NONE)
    assert printed(p.activity_gbq, 3.2257, 4)
    assert printed(p.perfused_normal_dose_gy, 100.0, 1)
    assert printed(p.lung_dose_gy, 16.0, 1)
    assert p.tumour_dose_gy == pytest.approx(300.0, rel=1e-12)
    # whole perfused volume: (300·0.206 + 100·0.824) / 1.03 = 140 Gy
    assert p.perfused_dose_gy == pytest.approx(140.0, rel=1e-12)
    assert p.masses_kg["tumour"] == pytest.approx(0.206)
    assert p.masses_kg["perfused_normal"] == pytest.approx(0.824)


def test_bsa_worked_case() -> None:
    assert bsa_dubois_m2(175.0, 75.0) == pytest.approx(71.84e-4 * 75**0.425 * 175**0.725)
    p = resin_bsa(175.0, 75.0, 0.2, 0.0, previous_lung_doses_gy=NONE)
    assert printed(p.activity_gbq, 1.903, 3)
    assert p.reduction_factor == 1.0 and p.reductions == ()
    q = resin_bsa(175.0, 75.0, 0.2, 0.12, previous_lung_doses_gy=NONE)
    assert q.activity_gbq == pytest.approx(0.8 * p.activity_gbq, rel=1e-15)
    assert abs(q.activity_gbq - 1.522) < 1e-3  # see module docstring: 1.52251
    assert q.details["activity_before_reductions_gbq"] == pytest.approx(p.activity_gbq)
    assert "20.0 %" in q.reductions[0] and "SIR-Spheres" in q.reductions[0]
    assert q.lung_dose_gy == pytest.approx(q.activity_gbq * 0.12 * 49.67)


def test_glass_worked_case() -> None:
    p = mird_single_compartment(120.0, 1.2, 0.05, device="glass",
                                previous_lung_doses_gy=NONE, constants=GLASS_50)
    assert printed(p.activity_gbq, 3.032, 3)
    assert p.activity_gbq == pytest.approx(144.0 / 47.5, rel=1e-12)
    assert p.lung_dose_gy == pytest.approx(144.0 / 47.5 * 0.05 * 50.0)
    assert p.constants["energy_constant_gy_kg_per_gbq"]["value"] == 50.0
    assert p.constants["energy_constant_gy_kg_per_gbq"]["source"].startswith("set by the caller")


def test_glass_residual_in_the_denominator() -> None:
    """Package-insert form: vial activity = D·m / (C (1 − LSF)(1 − R))."""
    p = mird_single_compartment(120.0, 1.2, 0.05, device="glass", residual_fraction=0.02,
                                previous_lung_doses_gy=NONE, constants=GLASS_50)
    assert p.vial_activity_gbq == pytest.approx(120.0 * 1.2 / (50.0 * 0.95 * 0.98))
    assert p.activity_gbq == pytest.approx(144.0 / 47.5)
    assert not any("residual" in w for w in p.warnings)


# --------------------------------------------------------------------------- invariants
lsfs = st.floats(0.0, 0.95)
doses = st.floats(1.0, 1000.0)
masses = st.floats(0.01, 5.0)
tnrs = st.floats(0.1, 20.0)


@settings(max_examples=60, deadline=None)
@given(d=doses, m=masses, a=lsfs, b=lsfs, device=st.sampled_from(["resin", "glass"]))
def test_mird_activity_rises_with_lsf(d: float, m: float, a: float, b: float,
                                      device: str) -> None:
    lo, hi = sorted((a, b))
    p_lo = mird_single_compartment(d, m, lo, device=device, previous_lung_doses_gy=NONE)
    p_hi = mird_single_compartment(d, m, hi, device=device, previous_lung_doses_gy=NONE)
    assert p_hi.activity_gbq >= p_lo.activity_gbq
    assert p_hi.lung_dose_gy >= p_lo.lung_dose_gy
    if hi - lo > 1e-9:  # strictly, beyond rounding
        assert p_hi.activity_gbq > p_lo.activity_gbq


@settings(max_examples=60, deadline=None)
@given(d=doses, mt=masses, mn=masses, t=tnrs, a=lsfs, b=lsfs,
       goal=st.sampled_from(["tumour_dose_gy", "normal_dose_gy"]))
def test_partition_activity_rises_with_lsf(d: float, mt: float, mn: float, t: float, a: float,
                                           b: float, goal: str) -> None:
    lo, hi = sorted((a, b))
    common: dict[str, Any] = {"tumour_mass_kg": mt, "normal_mass_kg": mn, "tnr": t,
                              "device": "glass", "previous_lung_doses_gy": NONE}
    p_lo = partition(**{goal: d}, lsf=lo, **common)
    p_hi = partition(**{goal: d}, lsf=hi, **common)
    assert p_hi.activity_gbq >= p_lo.activity_gbq
    # the liver doses stay what was asked, whatever the LSF
    got = p_hi.tumour_dose_gy if goal == "tumour_dose_gy" else p_hi.perfused_normal_dose_gy
    assert got == pytest.approx(d, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(h=st.floats(100.0, 250.0), w=st.floats(20.0, 300.0), f=st.floats(0.0, 1.0),
       a=st.floats(0.0, 0.2), b=st.floats(0.0, 0.2))
def test_bsa_activity_never_rises_with_lsf(h: float, w: float, f: float, a: float,
                                           b: float) -> None:
    """By design the BSA activity steps *down* as LSF rises (IFU reduction table)."""
    lo, hi = sorted((a, b))
    p_lo = resin_bsa(h, w, f, lo, previous_lung_doses_gy=NONE)
    p_hi = resin_bsa(h, w, f, hi, previous_lung_doses_gy=NONE)
    assert p_hi.activity_gbq <= p_lo.activity_gbq
    assert p_hi.details["activity_before_reductions_gbq"] == p_lo.details[
        "activity_before_reductions_gbq"]


@pytest.mark.parametrize(
    ("lsf", "factor"),
    [(0.0, 1.0), (0.10, 1.0), (0.1000001, 0.8), (0.15, 0.8), (0.1500001, 0.6), (0.20, 0.6)],
)
def test_bsa_lsf_table_edges(lsf: float, factor: float) -> None:
    p = resin_bsa(170.0, 70.0, 0.1, lsf, previous_lung_doses_gy=NONE)
    assert p.reduction_factor == factor
    assert p.activity_gbq == pytest.approx(factor * p.details["activity_before_reductions_gbq"])
    assert p.status == TREAT


@settings(max_examples=60, deadline=None)
@given(d=doses, mt=masses, mn=masses, a=st.floats(0.0, 0.5),
       device=st.sampled_from(["resin", "glass"]))
def test_partition_with_tnr_1_is_the_uniform_plan(d: float, mt: float, mn: float, a: float,
                                                  device: str) -> None:
    p = partition(tumour_dose_gy=d, tumour_mass_kg=mt, normal_mass_kg=mn, tnr=1.0, lsf=a,
                  device=device, previous_lung_doses_gy=NONE, residual_fraction=0.0)
    u = mird_single_compartment(d, mt + mn, a, device=device, previous_lung_doses_gy=NONE,
                                residual_fraction=0.0)
    assert p.activity_gbq == pytest.approx(u.activity_gbq, rel=1e-12)
    assert p.lung_dose_gy == pytest.approx(u.lung_dose_gy, rel=1e-12)
    assert p.perfused_dose_gy == pytest.approx(u.perfused_dose_gy, rel=1e-12)
    assert p.perfused_normal_dose_gy == pytest.approx(d, rel=1e-12)
    assert p.status == u.status


@settings(max_examples=60, deadline=None)
@given(d=doses, m=masses, a=lsfs, r=st.floats(0.0, 0.5))
def test_residual_changes_vial_not_delivery_or_lung(d: float, m: float, a: float,
                                                    r: float) -> None:
    p0 = mird_single_compartment(d, m, a, device="glass", residual_fraction=0.0,
                                 previous_lung_doses_gy=NONE)
    pr = mird_single_compartment(d, m, a, device="glass", residual_fraction=r,
                                 previous_lung_doses_gy=NONE)
    assert pr.activity_gbq == p0.activity_gbq
    assert pr.lung_dose_gy == p0.lung_dose_gy
    assert pr.vial_activity_gbq == pytest.approx(p0.vial_activity_gbq / (1.0 - r), rel=1e-12)
    assert pr.vial_activity_gbq >= pr.activity_gbq


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0.0, 20.0), k=st.floats(0.0, 10.0), f=lsfs, m=st.floats(0.3, 3.0))
def test_lung_dose_linear_in_activity(a: float, k: float, f: float, m: float) -> None:
    assert lung_dose_gy(k * a, f, m) == pytest.approx(k * lung_dose_gy(a, f, m),
                                                      rel=1e-12, abs=1e-300)
    assert lung_dose_gy(a, f, m) == pytest.approx(a * f * 49.67 / m, rel=1e-12, abs=1e-300)


def test_bsa_implied_doses_match_the_partition_model() -> None:
    p = resin_bsa(175.0, 75.0, 0.2, 0.05, previous_lung_doses_gy=NONE, perfused_mass_kg=1.5,
                  tumour_mass_kg=0.3, tnr=4.0)
    q = partition(tumour_dose_gy=p.tumour_dose_gy, tumour_mass_kg=0.3, normal_mass_kg=1.2,
                  tnr=4.0, lsf=0.05, device="resin", previous_lung_doses_gy=NONE)
    assert q.activity_gbq == pytest.approx(p.activity_gbq, rel=1e-12)
    assert p.perfused_normal_dose_gy == pytest.approx(q.perfused_normal_dose_gy, rel=1e-12)
    assert p.perfused_dose_gy == pytest.approx(49.67 * p.activity_gbq * 0.95 / 1.5)
    bare = resin_bsa(175.0, 75.0, 0.2, 0.05, previous_lung_doses_gy=NONE)
    assert bare.perfused_dose_gy is None and bare.tumour_dose_gy is None
    assert any("perfused_mass_kg" in w for w in bare.warnings)


def test_partition_with_both_goals_takes_the_smaller_activity() -> None:
    common: dict[str, Any] = {"tumour_mass_kg": 0.2, "normal_mass_kg": 1.0, "tnr": 2.0,
                              "lsf": 0.05, "device": "resin", "previous_lung_doses_gy": NONE}
    p = partition(tumour_dose_gy=200.0, normal_dose_gy=70.0, **common)
    assert p.binding_constraint == "normal_dose_gy"
    assert p.perfused_normal_dose_gy == pytest.approx(70.0)
    assert p.tumour_dose_gy == pytest.approx(140.0)
    assert any("instead of the requested 200" in w for w in p.warnings)
    q = partition(tumour_dose_gy=120.0, normal_dose_gy=70.0, **common)
    assert q.binding_constraint == "tumour_dose_gy"
    assert q.tumour_dose_gy == pytest.approx(120.0)
    assert q.perfused_normal_dose_gy == pytest.approx(60.0)
    assert q.details["activity_for_normal_dose_gbq"] > q.activity_gbq


# --------------------------------------------------------------------------- limits
@pytest.mark.parametrize(
    "make",
    [
        lambda lsf: resin_bsa(175.0, 75.0, 0.2, lsf, previous_lung_doses_gy=NONE),
        lambda lsf: mird_single_compartment(50.0, 1.0, lsf, device="resin",
                                            previous_lung_doses_gy=NONE),
        lambda lsf: partition(tumour_dose_gy=100.0, tumour_mass_kg=0.1, normal_mass_kg=1.0,
                              tnr=3.0, lsf=lsf, device="resin", previous_lung_doses_gy=NONE),
    ],
    ids=["bsa", "mird", "partition"],
)
def test_resin_lsf_above_20_percent_blocks(make: Callable[[float], Any]) -> None:
    assert make(0.20).status == TREAT
    p = make(0.21)
    assert p.status == DO_NOT_TREAT
    assert any("LSF 21.0 % exceeds 20.0 %" in r for r in p.reasons)
    with pytest.raises(LimitExceeded, match="resin microspheres must not be given"):
        p.raise_if_blocked()


def test_glass_has_no_lsf_cut_off_only_the_lung_dose() -> None:
    p = mird_single_compartment(100.0, 0.2, 0.25, device="glass", previous_lung_doses_gy=NONE)
    assert p.status == TREAT and p.lung_dose_gy < 30.0
    assert p.raise_if_blocked() is p


def test_lung_dose_above_30_gy_blocks() -> None:
    p = mird_single_compartment(120.0, 2.0, 0.15, device="glass", previous_lung_doses_gy=NONE)
    assert p.lung_dose_gy == pytest.approx(120.0 * 2.0 / 0.85 * 0.15)  # 42.35 Gy
    assert p.status == DO_NOT_TREAT
    assert "exceeds the 30 Gy per-treatment limit" in p.reasons[0]
    # the hint: the largest activity that keeps 30 Gy at this LSF and lung mass
    assert "4.027 GBq" in p.reasons[-1]
    with pytest.raises(LimitExceeded, match="30 Gy"):
        p.raise_if_blocked()


def test_lung_dose_exactly_at_the_limit_is_allowed() -> None:
    activity = 30.0 / (0.1 * 49.67)
    check = check_lung_limits(lung_dose_gy(activity, 0.1, 1.0), [], device="resin")
    assert check.ok
    assert not check_lung_limits(30.001, [], device="resin").ok


def test_cumulative_lung_dose_above_50_gy_blocks() -> None:
    kw: dict[str, Any] = {"device": "glass", "constants": GLASS_50}
    ok = mird_single_compartment(100.0, 1.0, 0.1, previous_lung_doses_gy=[20.0], **kw)
    assert ok.lung_dose_gy == pytest.approx(100.0 / 0.9 * 0.1)  # 11.1 Gy
    assert ok.status == TREAT
    assert ok.cumulative_lung_dose_gy == pytest.approx(20.0 + ok.lung_dose_gy)
    p = mird_single_compartment(100.0, 1.0, 0.1, previous_lung_doses_gy=[25.0, 15.0], **kw)
    assert p.lung_dose_gy < 30.0
    assert p.status == DO_NOT_TREAT
    assert any("exceeds the 50 Gy cumulative limit" in r for r in p.reasons)
    assert "earlier 25 + 15 Gy" in p.reasons[0]
    q = mird_single_compartment(100.0, 1.0, 0.1, previous_lung_doses_gy=[50.0], **kw)
    assert "earlier treatments alone use up" in q.reasons[-1]


def test_cumulative_lung_dose_sums() -> None:
    assert cumulative_lung_dose_gy([10.0, 12.5], 3.0) == 25.5
    assert cumulative_lung_dose_gy([], 3.0) == 3.0


def test_glass_limits_are_configurable_separately() -> None:
    c = SirtConstants(glass_lung_dose_limit_gy=20.0)
    assert c.lung_limits_gy("glass") == (20.0, 50.0)
    assert c.lung_limits_gy("resin") == (30.0, 50.0)
    assert not check_lung_limits(25.0, [], device="glass", constants=c).ok
    assert check_lung_limits(25.0, [], device="resin", constants=c).ok


# --------------------------------------------------------------------------- records
def test_every_result_records_constants_and_is_json_ready() -> None:
    p = resin_bsa(175.0, 75.0, 0.2, 0.12, previous_lung_doses_gy=NONE)
    d = json.loads(json.dumps(p.as_dict()))
    assert d["constants"] == json.loads(json.dumps(DEFAULT_CONSTANTS.as_dict()))
    for name, entry in d["constants"].items():
        assert set(entry) == {"value", "unit", "source"}, name
        assert len(entry["source"]) > 20, name
    assert d["constants"]["tissue_density_g_ml"]["value"] == 1.03
    assert d["constants"]["resin_lsf_reduction_table"]["value"] == [[0.1, 1.0], [0.15, 0.8],
                                                                     [0.2, 0.6]]
    assert d["inputs"]["height_cm"] == 175.0
    assert any("lung mass 1 kg" in w for w in d["warnings"])
    assert any("no residual_fraction" in w for w in d["warnings"])


def test_patient_lung_mass_is_used_and_recorded() -> None:
    p = mird_single_compartment(100.0, 1.0, 0.1, device="glass", lung_mass_kg=0.8,
                                previous_lung_doses_gy=NONE)
    assert p.masses_kg["lung"] == 0.8
    assert p.lung_dose_gy == pytest.approx(p.activity_gbq * 0.1 * 49.67 / 0.8)
    assert not any("lung mass" in w for w in p.warnings)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"energy_constant_gy_kg_per_gbq": 49670.0}, PhysicsRangeError, "Gy·kg/GBq"),
        ({"tissue_density_g_ml": 1030.0}, PhysicsRangeError, "g/mL"),
        ({"lung_mass_kg": 1000.0}, PhysicsRangeError, "kg"),
        ({"energy_constant_gy_kg_per_gbq": float("nan")}, InputError, "finite"),
        ({"residual_fraction_default": 1.0}, InputError, r"\[0, 1\)"),
        ({"lung_dose_limit_gy": 0.0}, InputError, "greater than 0"),
        ({"resin_lsf_reduction_table": ((0.2, 0.6), (0.1, 1.0))}, InputError, "LSF rising"),
        ({"resin_lsf_reduction_table": ((0.1, 1.2),)}, InputError, "factors"),
        ({"resin_lsf_reduction_table": "none"}, InputError, "not a table"),
    ],
)
def test_bad_constants(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SirtConstants(**kwargs)


# --------------------------------------------------------------------------- linear solver
def test_constraints_choose_the_largest_safe_activity() -> None:
    k = {"perfused_normal": 20.0, "tumour": 80.0, "tumour:D70": 55.0, "lung": 4.0}
    plan = activity_for_constraints(k, [
        Constraint("perfused_normal", "mean", "<=", 40.0),
        Constraint("tumour", "mean", ">=", 120.0),
        Constraint("lung", "mean", "<=", 30.0),
        Constraint("tumour", "D70", ">=", 100.0),
    ])
    assert plan.feasible and plan.status == TREAT
    assert plan.activity_max_gbq == pytest.approx(2.0)
    assert plan.activity_min_gbq == pytest.approx(100.0 / 55.0)
    assert plan.activity_gbq == pytest.approx(2.0)
    assert plan.binding == ("perfused_normal mean <= 40 Gy",)
    assert [b.predicted_gy for b in plan.bounds] == pytest.approx([40.0, 160.0, 8.0, 110.0])
    assert all(b.met for b in plan.bounds)
    assert plan.raise_if_blocked() is plan
    json.dumps(plan.as_dict())


def test_constraints_infeasible_name_the_conflict() -> None:
    k = {"perfused_normal": 20.0, "tumour": 50.0, "lung": 4.0}
    plan = activity_for_constraints(k, [
        Constraint("perfused_normal", "mean", "<=", 40.0),
        Constraint("tumour", "mean", ">=", 120.0),
        Constraint("lung", "mean", "<=", 30.0),
    ])
    assert not plan.feasible and plan.status == DO_NOT_TREAT and plan.activity_gbq is None
    assert plan.reasons == ((
        "infeasible: 'tumour mean >= 120 Gy' needs at least 2.4 GBq, but "
        "'perfused_normal mean <= 40 Gy' allows at most 2 GBq"
    ),)
    assert plan.evaluated_at_gbq == pytest.approx(2.0)
    assert plan.bounds[1].predicted_gy == pytest.approx(100.0) and not plan.bounds[1].met
    with pytest.raises(LimitExceeded, match="tumour mean >= 120 Gy"):
        plan.raise_if_blocked()


def test_constraint_goal_with_zero_dose_per_gbq_cannot_be_met() -> None:
    plan = activity_for_constraints({"tumour": 0.0, "lung": 3.0}, [
        Constraint("tumour", "mean", ">=", 100.0), Constraint("lung", "mean", "<=", 30.0)])
    assert not plan.feasible
    assert "cannot be met at any activity" in plan.reasons[0]


def test_constraints_reproduce_the_partition_model() -> None:
    """k per GBq from the partition model: the solver gives the partition activity."""
    p = partition(tumour_dose_gy=300.0, tumour_mass_kg=0.206, normal_mass_kg=0.824, tnr=3.0,
                  lsf=0.1, device="resin", previous_lung_doses_gy=NONE)
    k = {"tumour": p.tumour_dose_gy / p.activity_gbq,
         "perfused_normal": p.perfused_normal_dose_gy / p.activity_gbq,
         "lung": p.lung_dose_gy / p.activity_gbq}
    plan = activity_for_constraints(k, [Constraint("tumour", "mean", "<=", 300.0),
                                        Constraint("lung", "mean", "<=", 30.0)])
    assert plan.activity_gbq == pytest.approx(p.activity_gbq, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    ks=st.lists(st.floats(0.1, 200.0), min_size=2, max_size=5),
    limits=st.lists(st.floats(1.0, 500.0), min_size=2, max_size=5),
    goal=st.floats(1.0, 500.0),
    scale=st.floats(0.1, 10.0),
)
def test_constraint_solver_invariants(ks: list[float], limits: list[float], goal: float,
                                      scale: float) -> None:
    n = min(len(ks), len(limits))
    names = [f"s{i}" for i in range(n)]
    cons = [Constraint(s, "mean", "<=", limits[i]) for i, s in enumerate(names)]
    cons.append(Constraint("s0", "D50", ">=", goal))
    k = {s: ks[i] for i, s in enumerate(names)} | {"s0:D50": ks[0]}
    plan = activity_for_constraints(k, cons)
    a_max = min(limits[i] / ks[i] for i in range(n))
    assert plan.activity_max_gbq == pytest.approx(a_max, rel=1e-12)
    assert plan.feasible == (goal / ks[0] <= a_max * (1 + 1e-9))
    if plan.feasible:
        for i in range(n):  # every limit holds, at least one with equality
            assert ks[i] * plan.activity_gbq <= limits[i] * (1 + 1e-9)
        assert any(math.isclose(ks[i] * plan.activity_gbq, limits[i], rel_tol=1e-9)
                   for i in range(n))
    scaled = activity_for_constraints({key: v * scale for key, v in k.items()}, cons)
    assert scaled.activity_max_gbq == pytest.approx(plan.activity_max_gbq / scale, rel=1e-9)


# --------------------------------------------------------------------------- bad inputs
def _mird(**kw: Any) -> Callable[[], Any]:
    args: dict[str, Any] = {"target_dose_gy": 100.0, "target_mass_kg": 1.0, "lsf": 0.1,
                            "device": "glass", "previous_lung_doses_gy": NONE}
    args.update(kw)
    return lambda: mird_single_compartment(**args)


def _part(**kw: Any) -> Callable[[], Any]:
    args: dict[str, Any] = {"tumour_dose_gy": 200.0, "tumour_mass_kg": 0.2,
                            "normal_mass_kg": 1.0, "tnr": 3.0, "lsf": 0.1, "device": "resin",
                            "previous_lung_doses_gy": NONE}
    args.update(kw)
    return lambda: partition(**args)


def _bsa(*args: Any, **kw: Any) -> Callable[[], Any]:
    pos = (175.0, 75.0, 0.2, 0.05)
    full = args + pos[len(args):]
    kwargs: dict[str, Any] = {"previous_lung_doses_gy": NONE}
    kwargs.update(kw)
    return lambda: resin_bsa(*full, **kwargs)


NAN = float("nan")
BAD_INPUTS: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("negative dose", _mird(target_dose_gy=-5.0), InputError, "target_dose_gy.*greater than 0"),
    ("NaN dose", _mird(target_dose_gy=NAN), InputError, "target_dose_gy.*not finite"),
    ("dose as text", _mird(target_dose_gy="100"), InputError, "target_dose_gy.*not a number"),
    ("zero mass", _mird(target_mass_kg=0.0), InputError, "target_mass_kg.*greater than 0"),
    ("negative mass", _part(normal_mass_kg=-1.0), InputError, "normal_mass_kg"),
    ("mass in grams", _mird(target_mass_kg=1200.0), PhysicsRangeError, "not g"),
    ("LSF = 1", _mird(lsf=1.0), InputError, r"lsf.*\[0, 1\)"),
    ("LSF in percent", _mird(lsf=12.0), InputError, "12 % is 0.12"),
    ("negative LSF", _mird(lsf=-0.01), InputError, "lsf"),
    ("NaN LSF", _mird(lsf=NAN), InputError, "lsf.*not finite"),
    ("TNR 0", _part(tnr=0.0), InputError, "tnr.*greater than 0"),
    ("negative TNR", _part(tnr=-2.0), InputError, "tnr"),
    ("no partition goal", _part(tumour_dose_gy=None), InputError, "tumour_dose_gy, normal"),
    ("NaN normal dose", _part(normal_dose_gy=NAN), InputError, "normal_dose_gy"),
    ("tumour fraction > 1", _bsa(175.0, 75.0, 1.5), InputError, r"tumour_fraction.*\[0, 1\]"),
    ("tumour fraction %", _bsa(175.0, 75.0, 20.0), InputError, "20 % is 0.2"),
    ("negative tumour fraction", _bsa(175.0, 75.0, -0.1), InputError, "tumour_fraction"),
    ("height in metres", _bsa(1.75), PhysicsRangeError, "metres"),
    ("weight in pounds", _bsa(175.0, 400.0), PhysicsRangeError, "weight_kg = 400"),
    ("NaN height", _bsa(NAN), InputError, "height_cm"),
    ("unknown device", _mird(device="ceramic"), InputError, "'resin'.*'glass'"),
    ("device None", _mird(device=None), InputError, "device"),
    ("residual 1", _mird(residual_fraction=1.0), InputError, "residual_fraction"),
    ("negative earlier lung dose", _mird(previous_lung_doses_gy=[-3.0]), InputError,
     r"previous_lung_doses_gy\[0\]"),
    ("earlier lung dose not a list", _mird(previous_lung_doses_gy=12.0), InputError,
     "or \\[\\] when there was none"),
    ("tumour mass without perfused", _bsa(tumour_mass_kg=0.2), InputError, "perfused_mass_kg"),
    ("tumour larger than perfused", _bsa(perfused_mass_kg=1.0, tumour_mass_kg=1.2), InputError,
     "includes the tumour"),
    ("tnr without tumour mass", _bsa(perfused_mass_kg=1.0, tnr=3.0), InputError, "tnr"),
    ("lung dose negative activity", lambda: lung_dose_gy(-1.0, 0.1, 1.0), InputError,
     "activity_gbq"),
    ("zero volume", lambda: tissue_mass_kg(0.0), InputError, "volume_ml"),
    ("V metric", lambda: Constraint("tumour", "V100", ">=", 70.0), InputError, "D70 >= 100"),
    ("unknown metric", lambda: Constraint("tumour", "peak", ">=", 70.0), InputError, "D<p>"),
    ("bad op", lambda: Constraint("lung", "mean", "<", 30.0), InputError, "'<='"),
    ("negative constraint", lambda: Constraint("lung", "mean", "<=", -1.0), InputError,
     "value_gy"),
    ("D above 100 %", lambda: Constraint("tumour", "D150", ">=", 1.0), InputError,
     r"\(0, 100\]"),
    ("missing dose per GBq", lambda: activity_for_constraints(
        {"lung": 3.0}, [Constraint("tumour", "mean", ">=", 100.0),
                        Constraint("lung", "mean", "<=", 30.0)]), InputError, "tumour:mean"),
    ("no limit", lambda: activity_for_constraints(
        {"tumour": 3.0}, [Constraint("tumour", "mean", ">=", 100.0)]), InputError,
     "nothing limits the activity"),
    ("negative k", lambda: activity_for_constraints(
        {"lung": -3.0}, [Constraint("lung", "mean", "<=", 30.0)]), InputError, "negative"),
    ("no constraints", lambda: activity_for_constraints({"lung": 3.0}, []), InputError,
     "non-empty"),
]


@pytest.mark.parametrize(("call", "error", "match"), [row[1:] for row in BAD_INPUTS],
                         ids=[row[0] for row in BAD_INPUTS])
def test_bad_inputs(call: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, NetdoseError)
