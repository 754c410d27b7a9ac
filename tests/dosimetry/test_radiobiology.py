"""Radiobiology: LQ BED/EQD2 with repair for decaying dose rates.

Worked case (brief's acceptance case), computed by hand: kidney α/β = 2.6 Gy, T_rep = 2.8 h,
D = 5 Gy, T_eff = 50 h: G = 2.8 / (2.8 + 50) = 0.0530303, BED = 5 · (1 + 5/2.6 · 0.0530303)
= 5 · 1.1019814 = 5.50991 Gy (prints 5.510); four such cycles: 22.0396 Gy (prints 22.04).
EQD2 = 5.50991 / (1 + 2/2.6) = 3.11430 Gy.

The uptake-phase G is checked against an independent numerical integration of the
Lea-Catcheside double integral (an ODE solved with scipy at rtol 1e-10), to 1e-6 relative.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from netdose.dosimetry.radiobiology import (
    KIDNEY,
    RED_MARROW,
    TISSUES,
    TUMOUR,
    BEDResult,
    TissueParameters,
    bed,
    bed_gy,
    cumulative_bed,
    eqd2_gy,
    g_factor,
    g_factor_multiexponential,
    tissue_class,
    tissue_parameters,
)
from netdose.errors import InputError, PhysicsRangeError

LN2 = math.log(2.0)


def printed(value: float, reference: float, decimals: int) -> bool:
    """``value`` equals ``reference`` to the printed number of decimals."""
    return abs(value - reference) <= 0.5 * 10.0**-decimals


# --------------------------------------------------------------------------- worked case
def test_kidney_worked_case_one_and_four_cycles() -> None:
    r = bed(5.0, 50.0, "kidney")
    hand = 5.0 * (1.0 + 5.0 / 2.6 * 2.8 / 52.8)
    assert r.bed_gy == pytest.approx(hand, rel=1e-14)
    assert printed(r.bed_gy, 5.510, 3)
    total = cumulative_bed([r] * 4)
    assert printed(total.bed_gy, 22.04, 2)
    assert total.bed_gy == pytest.approx(4 * hand, rel=1e-14)
    assert total.dose_gy == 20.0
    assert r.eqd2_gy == pytest.approx(hand / (1.0 + 2.0 / 2.6), rel=1e-14)
    assert total.eqd2_gy == pytest.approx(4 * r.eqd2_gy, rel=1e-14)


def test_result_records_parameters() -> None:
    r = bed(5.0, 50.0, "kidney_left")
    assert (r.alpha_beta_gy, r.repair_half_time_h, r.tissue) == (2.6, 2.8, "kidney")
    assert r.parameters_source == KIDNEY.source
    assert r.g_factor == pytest.approx(2.8 / 52.8, rel=1e-15)
    assert "instantaneous uptake" in r.model
    assert r.as_dict()["alpha_beta_gy"] == 2.6
    custom = KIDNEY.with_values(alpha_beta_gy=3.0)
    r2 = bed(5.0, 50.0, custom)
    assert r2.alpha_beta_gy == 3.0 and r2.repair_half_time_h == 2.8
    assert "set by the caller" in r2.parameters_source and "2.6" in r2.parameters_source
    assert r2.bed_gy < r.bed_gy  # larger α/β, smaller quadratic term


def test_default_table_documents_sources() -> None:
    assert (KIDNEY.alpha_beta_gy, KIDNEY.repair_half_time_h) == (2.6, 2.8)
    assert (RED_MARROW.alpha_beta_gy, RED_MARROW.repair_half_time_h) == (15.0, 2.0)
    assert (TUMOUR.alpha_beta_gy, TUMOUR.repair_half_time_h) == (10.0, 1.5)
    for params in TISSUES.values():
        assert "not verified" in params.source and not params.verified


def test_eqd2_plain_function() -> None:
    assert eqd2_gy(10.0, 2.0) == pytest.approx(5.0)
    assert eqd2_gy(bed_gy(2.0, 1e-12, 3.0, 1.0), 3.0) == pytest.approx(2.0, rel=1e-9)


# --------------------------------------------------------------------------- analytic limits
def test_fast_repair_limit_gives_physical_dose() -> None:
    # T_rep -> 0: G = T_rep/(T_rep + T_eff) -> 0, BED -> D (to 1e-9 relative here).
    d = 6.0
    assert bed_gy(d, 50.0, 2.6, 1e-9) == pytest.approx(d, rel=1e-9)


def test_acute_limit() -> None:
    # T_eff -> 0 (acute delivery): G -> 1, BED -> D (1 + D/(α/β)).
    d = 6.0
    assert bed_gy(d, 1e-9, 2.6, 2.8) == pytest.approx(d * (1.0 + d / 2.6), rel=1e-9)


def test_low_dose_limit() -> None:
    d = 1e-9
    assert bed_gy(d, 50.0, 2.6, 2.8) / d == pytest.approx(1.0, abs=1e-9)
    assert bed_gy(0.0, 50.0, 2.6, 2.8) == 0.0


def test_extreme_rates_do_not_overflow() -> None:
    g = g_factor(1e-200, 1e200, uptake_half_time_h=1e-250)
    assert 0.0 < g <= 1.0 and math.isfinite(g)


# --------------------------------------------------------------------------- uptake phase
def _g_numeric(amps: list[float], rates: list[float], t_rep: float) -> float:
    """G = 2/D² ∫ R(t) ∫_0^t R(w) exp(-μ(t-w)) dw dt by an ODE: q' = R - μ q, s' = R q."""
    mu = LN2 / t_rep
    c, k = np.asarray(amps), np.asarray(rates)

    def rhs(t: float, y: np.ndarray) -> list[float]:
        r = float(np.sum(c * np.exp(-k * t)))
        return [r - mu * y[0], r * y[0], r]

    t_end = 80.0 / k.min()
    sol = solve_ivp(rhs, (0.0, t_end), [0.0, 0.0, 0.0], method="DOP853", rtol=1e-11,
                    atol=1e-16)
    _q, s, d = sol.y[:, -1]
    return 2.0 * s / d**2


@pytest.mark.parametrize(
    ("t_eff", "t_up", "t_rep"),
    [(50.0, 3.0, 2.8), (60.0, 10.0, 1.5), (20.0, 0.5, 2.0), (100.0, 40.0, 2.8)],
)
def test_uptake_closed_form_against_numerical_integration(
    t_eff: float, t_up: float, t_rep: float
) -> None:
    rates = [LN2 / t_eff, LN2 / t_up]
    closed = g_factor(t_eff, t_rep, uptake_half_time_h=t_up)
    assert closed == pytest.approx(g_factor_multiexponential([1.0, -1.0], rates, t_rep),
                                   rel=1e-10)
    assert closed == pytest.approx(_g_numeric([1.0, -1.0], rates, t_rep), rel=1e-6)


def test_multiexponential_matches_numerical_and_mono() -> None:
    rates = [LN2 / 2.0, LN2 / 30.0, LN2 / 120.0]
    amps = [0.5, 1.0, 0.3]
    assert g_factor_multiexponential(amps, rates, 2.8) == pytest.approx(
        _g_numeric(amps, rates, 2.8), rel=1e-6)
    assert g_factor_multiexponential([3.0], [LN2 / 50.0], 2.8) == pytest.approx(
        g_factor(50.0, 2.8), rel=1e-13)


def test_uptake_result_model_and_value() -> None:
    r = bed(5.0, 50.0, "kidney", uptake_half_time_h=3.0)
    assert r.uptake_half_time_h == 3.0 and "uptake (T_u)" in r.model
    assert r.bed_gy < bed(5.0, 50.0, "kidney").bed_gy


@settings(max_examples=200, deadline=None)
@given(
    t_eff=st.floats(0.5, 500.0),
    frac=st.floats(1e-4, 0.999),
    t_rep=st.floats(0.05, 20.0),
)
def test_uptake_lowers_g(t_eff: float, frac: float, t_rep: float) -> None:
    # Uptake spreads the dose over a longer time: more repair, smaller G, smaller BED.
    g_up = g_factor(t_eff, t_rep, uptake_half_time_h=frac * t_eff)
    g0 = g_factor(t_eff, t_rep)
    assert 0.0 < g_up <= g0 * (1.0 + 1e-12) <= 1.0


def test_uptake_tends_to_instantaneous() -> None:
    assert g_factor(50.0, 2.8, uptake_half_time_h=1e-9) == pytest.approx(
        g_factor(50.0, 2.8), rel=1e-9)


# --------------------------------------------------------------------------- properties
@settings(max_examples=200, deadline=None)
@given(
    d1=st.floats(0.0, 200.0),
    extra=st.floats(1e-6, 200.0),
    t_eff=st.floats(1e-3, 1e4),
    ab=st.floats(0.5, 30.0),
    t_rep=st.floats(1e-2, 50.0),
)
def test_bed_monotonic_and_bounded(
    d1: float, extra: float, t_eff: float, ab: float, t_rep: float
) -> None:
    d2 = d1 + extra
    b1 = bed_gy(d1, t_eff, ab, t_rep)
    b2 = bed_gy(d2, t_eff, ab, t_rep)
    assert b2 > b1
    assert d2 <= b2 <= d2 * (1.0 + d2 / ab) * (1.0 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(d=st.floats(0.1, 50.0), t1=st.floats(1.0, 200.0), t2=st.floats(1.0, 200.0))
def test_longer_half_life_lowers_bed(d: float, t1: float, t2: float) -> None:
    lo, hi = sorted((t1, t2))
    assert bed_gy(d, hi, 2.6, 2.8) <= bed_gy(d, lo, 2.6, 2.8)


@settings(max_examples=100, deadline=None)
@given(doses=st.lists(st.floats(0.0, 20.0), min_size=1, max_size=6))
def test_cumulative_is_sum(doses: list[float]) -> None:
    results = [bed(d, 50.0, KIDNEY) for d in doses]
    total = cumulative_bed(results)
    assert total.bed_gy == pytest.approx(math.fsum(r.bed_gy for r in results), rel=1e-15)
    assert total.dose_gy == pytest.approx(math.fsum(doses), rel=1e-15, abs=0.0)


# --------------------------------------------------------------------------- tissue table
@pytest.mark.parametrize(
    ("organ", "cls"),
    [("kidney_left", "kidney"), ("Kidneys", "kidney"), ("bone_marrow", "red_marrow"),
     ("tumour_2", "tumour"), ("lesion_7", "tumour"), ("liver", None)],
)
def test_tissue_class(organ: str, cls: str | None) -> None:
    assert tissue_class(organ) == cls


def test_unknown_organ_needs_explicit_parameters() -> None:
    with pytest.raises(InputError, match="no default radiobiology parameters for organ 'liver'"):
        tissue_parameters("liver")
    with pytest.raises(InputError, match="no default radiobiology"):
        bed(5.0, 50.0, "spleen")
    r = bed(5.0, 50.0, TissueParameters(3.0, 1.0, "institutional value", name="spleen"))
    assert r.tissue == "spleen"


# --------------------------------------------------------------------------- bad inputs
NAN = float("nan")

BAD_BED = [
    ({"dose_gy": -1.0}, InputError, "dose_gy = -1.0 Gy: it cannot be negative"),
    ({"dose_gy": NAN}, InputError, "dose_gy = nan is not finite"),
    ({"dose_gy": math.inf}, InputError, "dose_gy = inf is not finite"),
    ({"dose_gy": "5"}, InputError, "dose_gy = '5' is not a number"),
    ({"dose_gy": True}, InputError, "dose_gy = True is not a number"),
    ({"effective_half_life_h": 0.0}, InputError, "effective_half_life_h = 0.0 h: it must be"),
    ({"effective_half_life_h": -50.0}, InputError, "effective_half_life_h = -50.0 h"),
    ({"effective_half_life_h": NAN}, InputError, "effective_half_life_h = nan is not finite"),
    ({"tissue": 42}, InputError, "neither an organ name nor TissueParameters"),
    ({"uptake_half_time_h": 60.0}, InputError, "is not shorter than effective_half_life_h"),
    ({"uptake_half_time_h": 0.0}, InputError, "uptake_half_time_h = 0.0 h"),
    ({"physical_half_life_h": 40.0}, PhysicsRangeError, "longer than the physical half-life"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_BED)
def test_bed_bad_inputs(kwargs: dict, error: type[Exception], match: str) -> None:
    args = {"dose_gy": 5.0, "effective_half_life_h": 50.0, "tissue": "kidney"} | kwargs
    with pytest.raises(error, match=match):
        bed(**args)


BAD_PARAMS = [
    ({"alpha_beta_gy": 0.0}, "alpha_beta_gy = 0.0 Gy: it must be greater than 0"),
    ({"alpha_beta_gy": -2.6}, "alpha_beta_gy = -2.6 Gy"),
    ({"alpha_beta_gy": NAN}, "alpha_beta_gy = nan is not finite"),
    ({"repair_half_time_h": 0.0}, "repair_half_time_h = 0.0 h"),
    ({"source": "  "}, "source is empty"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD_PARAMS)
def test_tissue_parameters_bad(kwargs: dict, match: str) -> None:
    args = {"alpha_beta_gy": 2.6, "repair_half_time_h": 2.8, "source": "x"} | kwargs
    with pytest.raises(InputError, match=match):
        TissueParameters(**args)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bed_gy(5.0, 50.0, 0.0, 2.8), "alpha_beta_gy = 0.0"),
        (lambda: bed_gy(5.0, 50.0, NAN, 2.8), "alpha_beta_gy = nan"),
        (lambda: eqd2_gy(-1.0, 2.6), "bed_gy = -1.0 Gy"),
        (lambda: eqd2_gy(5.0, 0.0), "alpha_beta_gy = 0.0"),
        (lambda: cumulative_bed([]), "at least one"),
        (lambda: cumulative_bed([5.0]), "is not a BEDResult"),
        (lambda: cumulative_bed([bed(5.0, 50.0, KIDNEY), bed(5.0, 50.0, TUMOUR)]),
         "different tissue parameters"),
        (lambda: g_factor_multiexponential([1.0], [0.1, 0.2], 2.8), "same length"),
        (lambda: g_factor_multiexponential([1.0], [0.0], 2.8), r"decay_constants_per_h\[0\]"),
        (lambda: g_factor_multiexponential([-1.0, 1.0], [0.01, 0.1], 2.8), "negative"),
        (lambda: tissue_class(""), "not an organ name"),
    ],
)
def test_other_bad_inputs(call: Callable[[], object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()


def test_bedresult_is_frozen() -> None:
    r = bed(5.0, 50.0, "kidney")
    assert isinstance(r, BEDResult)
    with pytest.raises(AttributeError):
        r.bed_gy = 1.0  # type: ignore[misc]
