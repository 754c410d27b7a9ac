"""Time-activity curve fitting (netdose.dosimetry.tac): worked cases with exact answers, the
physical-decay bound, model choice, uncertainties (Monte Carlo), trapezoid convergence,
properties and bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.dosimetry.tac import (
    MIN_POINTS_FOR_SELECTION,
    TacFit,
    fit_model,
    fit_tac,
    trapezoid_tia,
)
from netdose.errors import InputError
from netdose.nuclides import get_nuclide

LN2 = math.log(2.0)
T_PHYS_H = get_nuclide("Lu-177").half_life_h  # ICRP-107: 6.647 d
LAM_P = LN2 / T_PHYS_H
TIMES = np.array([4.0, 24.0, 96.0, 168.0])


def mono(a0: float, teff_h: float, t: np.ndarray) -> np.ndarray:
    return a0 * np.exp(-LN2 / teff_h * np.asarray(t, dtype=float))


def uptake_washout(a0: float, tw_h: float, tu_h: float, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    return a0 * (np.exp(-LN2 / tw_h * t) - np.exp(-LN2 / tu_h * t))


# --------------------------------------------------------------------------- worked cases
def test_acceptance_mono_worked_case():
    """A0 = 100 MBq, T_eff = 60 h, samples at 4/24/96/168 h: TIA = 100·60/ln 2 = 8656.2 MBq·h,
    recovered within 0.1 % (the issue's acceptance tolerance)."""
    exact = 100.0 * 60.0 / LN2
    assert exact == pytest.approx(8656.2, abs=0.05)
    fit = fit_model(TIMES, mono(100.0, 60.0, TIMES), "mono", physical_half_life_h=T_PHYS_H)
    assert fit.tia_mbq_h == pytest.approx(exact, rel=1e-3)
    # measured: exact to rounding (noise-free data, the model is the truth)
    assert fit.tia_mbq_h == pytest.approx(exact, rel=1e-9)
    assert fit.params["a0_mbq"] == pytest.approx(100.0, rel=1e-9)
    assert fit.effective_half_life_h == pytest.approx(60.0, rel=1e-9)
    assert not fit.bound_active and fit.active_bounds == ()
    sel = fit_tac(TIMES, mono(100.0, 60.0, TIMES), physical_half_life_h=T_PHYS_H)
    assert sel.model == "mono" and sel.tia_mbq_h == pytest.approx(exact, rel=1e-3)


def test_physical_decay_only_gives_the_physical_constant():
    a = mono(250.0, T_PHYS_H, TIMES)
    fit = fit_model(TIMES, a, "mono", physical_half_life_h=T_PHYS_H)
    # the optimum sits exactly on the bound; the optimiser stops within ~1e-6 of it
    assert fit.params["lambda_per_h"] == pytest.approx(LAM_P, rel=1e-5)
    assert fit.params["lambda_per_h"] >= LAM_P
    assert fit.tia_mbq_h == pytest.approx(250.0 * T_PHYS_H / LN2, rel=1e-5)


@pytest.mark.parametrize("model", ["mono", "uptake_washout", "biexp"])
def test_bound_holds_for_slower_than_physical_data(model):
    """Data decaying with T = 300 h (slower than Lu-177's 159.5 h): the fit is pinned at
    λ = λ_phys by the bound (not clipped afterwards) and says so."""
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    a = mono(100.0, 300.0, t)
    fit = fit_model(t, a, model, physical_half_life_h=T_PHYS_H)
    lambdas = [v for k, v in fit.params.items() if k.startswith("lambda")]
    assert min(lambdas) >= LAM_P  # never below the bound
    assert fit.effective_half_life_h == pytest.approx(T_PHYS_H, rel=1e-9)
    assert fit.bound_active
    assert any("lambda_physical" in b for b in fit.active_bounds)
    assert any("physical decay" in w for w in fit.warnings)
    if model == "mono":
        assert fit.param_sd["lambda_per_h"] == 0.0
        assert "held fixed" in fit.uncertainty_basis
        # the slower data lie above the physical-decay curve through them: TIA between the
        # physical-decay fit and the (impossible) true 300 h curve
        assert fit.tia_mbq_h < 100.0 * 300.0 / LN2


def test_uptake_washout_recovers_known_parameters():
    a0, tw, tu = 50.0, 70.0, 3.0
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    sel = fit_tac(t, uptake_washout(a0, tw, tu, t), physical_half_life_h=T_PHYS_H)
    assert sel.model == "uptake_washout" and sel.rule == "aicc"
    p = sel.chosen.params
    assert p["a0_mbq"] == pytest.approx(a0, rel=1e-6)
    assert p["lambda_washout_per_h"] == pytest.approx(LN2 / tw, rel=1e-6)
    assert p["lambda_uptake_per_h"] == pytest.approx(LN2 / tu, rel=1e-6)
    assert sel.tia_mbq_h == pytest.approx(a0 * (tw - tu) / LN2, rel=1e-8)
    assert sel.chosen.effective_half_life_h == pytest.approx(tw, rel=1e-6)
    np.testing.assert_allclose(sel.chosen.predict(t), uptake_washout(a0, tw, tu, t), rtol=1e-8)


def test_biexp_recovers_known_parameters():
    t = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 24.0, 48.0, 96.0, 168.0])
    a = mono(60.0, 2.0, t) + mono(40.0, 80.0, t)
    sel = fit_tac(t, a, physical_half_life_h=T_PHYS_H)
    assert sel.model == "biexp"
    p = sel.chosen.params
    assert p["a_fast_mbq"] == pytest.approx(60.0, rel=1e-6)
    assert p["lambda_fast_per_h"] == pytest.approx(LN2 / 2.0, rel=1e-6)
    assert p["a_slow_mbq"] == pytest.approx(40.0, rel=1e-6)
    assert p["lambda_slow_per_h"] == pytest.approx(LN2 / 80.0, rel=1e-6)
    assert sel.tia_mbq_h == pytest.approx((60 * 2.0 + 40 * 80.0) / LN2, rel=1e-8)
    assert sel.chosen.effective_half_life_h == pytest.approx(80.0, rel=1e-6)


def test_fractions_outside_the_samples_are_the_analytic_integrals():
    fit = fit_model(TIMES, mono(100.0, 60.0, TIMES), "mono", physical_half_life_h=T_PHYS_H)
    lam = LN2 / 60.0
    assert fit.tia_after_last_sample_fraction == pytest.approx(math.exp(-lam * 168.0), rel=1e-8)
    assert fit.tia_before_first_sample_fraction == pytest.approx(1 - math.exp(-lam * 4.0),
                                                                 rel=1e-8)


# --------------------------------------------------------------------------- trapezoid
def test_trapezoid_converges_to_the_analytic_tia():
    """Mono-exponential, T_eff = 60 h, samples every dt from dt to 10 T_eff, fitted tail.
    start="extrapolate": the head is exact for this curve, the trapezoid error is O(dt²)
    (halving dt divides it by ~4); start="zero" adds a head error ~A0·dt/2 (O(dt))."""
    exact = 100.0 * 60.0 / LN2
    errors: dict[str, list[float]] = {"extrapolate": [], "zero": []}
    steps = [8.0, 4.0, 2.0, 1.0, 0.5]
    for dt in steps:
        t = np.arange(dt, 600.0 + dt / 2, dt)
        for start, errs in errors.items():
            fit = trapezoid_tia(t, mono(100.0, 60.0, t), physical_half_life_h=T_PHYS_H,
                                start=start)
            errs.append(fit.tia_mbq_h / exact - 1.0)
    ext, zero = np.abs(errors["extrapolate"]), np.abs(errors["zero"])
    assert np.all(np.diff(ext) < 0) and np.all(np.diff(zero) < 0)
    # second order: the ratio tends to 4 (3.82 at dt 8 -> 4 h, higher-order terms)
    np.testing.assert_allclose(ext[:-1] / ext[1:], 4.0, rtol=0.05)
    assert ext[-1] < 1e-5  # dt = 0.5 h: trapezoid rule error (dt²/12)·λ² ≈ 2.8e-6
    assert zero[-1] < 3e-3  # dt = 0.5 h: head error ≈ dt/(2·τ) = 2.9e-3 of the TIA


def test_trapezoid_converges_for_uptake_washout_from_zero():
    a0, tw, tu = 50.0, 70.0, 3.0
    exact = a0 * (tw - tu) / LN2
    errs = []
    for dt in (2.0, 1.0, 0.5, 0.25):
        t = np.arange(dt, 1000.0, dt)
        fit = trapezoid_tia(t, uptake_washout(a0, tw, tu, t), physical_half_life_h=T_PHYS_H)
        errs.append(abs(fit.tia_mbq_h / exact - 1.0))
    assert np.all(np.diff(errs) < 0) and errs[-1] < 1e-4


def test_trapezoid_pieces_and_tails():
    t = np.array([4.0, 24.0, 96.0, 168.0])
    a = np.array([20.0, 30.0, 15.0, 9.0])
    middle = 0.5 * (20 + 30) * 20 + 0.5 * (30 + 15) * 72 + 0.5 * (15 + 9) * 72
    head = 0.5 * 20 * 4
    lam_tail = math.log(15.0 / 9.0) / 72.0
    fit = trapezoid_tia(t, a, physical_half_life_h=T_PHYS_H)
    assert fit.tia_mbq_h == pytest.approx(head + middle + 9.0 / lam_tail, rel=1e-9)
    assert fit.params["lambda_tail_per_h"] == pytest.approx(lam_tail, rel=1e-9)
    phys = trapezoid_tia(t, a, physical_half_life_h=T_PHYS_H, tail="physical")
    assert phys.tia_mbq_h == pytest.approx(head + middle + 9.0 * T_PHYS_H / LN2, rel=1e-12)
    # rising last samples: the fitted tail is held at physical decay and flagged
    rising = trapezoid_tia(t, [20.0, 30.0, 15.0, 16.0], physical_half_life_h=T_PHYS_H)
    assert rising.params["lambda_tail_per_h"] == pytest.approx(LAM_P, rel=1e-9)
    assert rising.bound_active and rising.warnings
    # three-point tail: the bounded mono fit of the last three samples
    three = trapezoid_tia(t, a, physical_half_life_h=T_PHYS_H, tail_points=3)
    lam3 = fit_model(t[1:], a[1:], "mono", physical_half_life_h=T_PHYS_H).params["lambda_per_h"]
    assert three.params["lambda_tail_per_h"] == pytest.approx(lam3, rel=1e-9)
    # last sample 0: no tail
    assert trapezoid_tia(t, [20.0, 30.0, 15.0, 0.0], physical_half_life_h=T_PHYS_H
                         ).tia_mbq_h == pytest.approx(head + middle - 0.5 * 9 * 72, rel=1e-12)
    # a sample at t = 0: no head
    t0 = np.array([0.0, 24.0, 96.0])
    fit0 = trapezoid_tia(t0, [10.0, 8.0, 4.0], physical_half_life_h=T_PHYS_H, tail="physical")
    assert fit0.tia_mbq_h == pytest.approx(9 * 24 + 6 * 72 + 4 * T_PHYS_H / LN2, rel=1e-12)
    np.testing.assert_allclose(fit.predict(t), a, rtol=1e-12)
    assert fit.predict(2.0)[0] == pytest.approx(10.0)  # linear from (0, 0)


def test_trapezoid_uncertainty_is_the_linear_propagation():
    """With a physical tail the trapezoid TIA is linear in the samples: SD = sqrt(Σ(c_i σ_i)²)."""
    t = np.array([4.0, 24.0, 96.0, 168.0])
    a = np.array([20.0, 30.0, 15.0, 9.0])
    u = np.array([0.05, 0.04, 0.06, 0.10])
    dt = np.diff(np.concatenate([[0.0], t]))
    c = np.zeros(4)
    c += 0.5 * dt  # left-end weights of each interval...
    c[:-1] += 0.5 * dt[1:]  # ... and right-end weights
    c[-1] += T_PHYS_H / LN2
    expected = math.sqrt(np.sum((c * u * a) ** 2))
    fit = trapezoid_tia(t, a, physical_half_life_h=T_PHYS_H, tail="physical",
                        relative_uncertainty=u)
    assert fit.tia_mbq_h == pytest.approx(float(c @ a), rel=1e-12)
    assert fit.tia_sd_mbq_h == pytest.approx(expected, rel=1e-6)
    assert math.isnan(trapezoid_tia(t, a, physical_half_life_h=T_PHYS_H).tia_sd_mbq_h)


# --------------------------------------------------------------------------- model choice
@pytest.mark.parametrize("seed", range(8))
def test_aicc_chooses_mono_for_noisy_mono_data(seed):
    rng = np.random.default_rng(1000 + seed)
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    a = mono(100.0, 60.0, t) * (1.0 + 0.05 * rng.standard_normal(t.size))
    sel = fit_tac(t, a, physical_half_life_h=T_PHYS_H)
    assert sel.rule == "aicc" and sel.model == "mono", sel.reason
    assert set(sel.fits) == {"mono", "uptake_washout", "biexp"}
    assert sel.excluded == {} or set(sel.excluded) <= {"uptake_washout", "biexp"}


def test_rule_for_three_points_only_mono():
    t = TIMES[1:]
    sel = fit_tac(t, mono(100.0, 60.0, t), physical_half_life_h=T_PHYS_H)
    assert sel.model == "mono" and sel.rule == "only_eligible"
    assert set(sel.excluded) == {"uptake_washout", "biexp"}
    assert "needs at least 4" in sel.excluded["uptake_washout"]
    assert sel.chosen.aicc is None  # n = k + 1: AICc undefined
    assert sel.chosen.dof == 1 and math.isfinite(sel.chosen.tia_sd_mbq_h)
    rising = fit_tac(t, [10.0, 30.0, 20.0], physical_half_life_h=T_PHYS_H)
    assert rising.model == "mono" and any("rise" in w for w in rising.warnings)


def test_rule_for_four_points_uptake_shape():
    rising = uptake_washout(50.0, 70.0, 12.0, TIMES)  # peak after 4 h: uptake sampled
    assert np.argmax(rising) > 0
    sel = fit_tac(TIMES, rising, physical_half_life_h=T_PHYS_H)
    assert sel.rule == "uptake_shape" and sel.model == "uptake_washout"
    assert sel.excluded == {"biexp": sel.excluded["biexp"]}
    assert sel.fits["mono"].aicc is not None and sel.fits["uptake_washout"].aicc is None
    falling = fit_tac(TIMES, mono(100.0, 60.0, TIMES) * [1.0, 1.02, 0.97, 1.01],
                      physical_half_life_h=T_PHYS_H)
    assert falling.rule == "uptake_shape" and falling.model == "mono"


def test_rule_for_five_points_excludes_biexp():
    t = np.array([4.0, 24.0, 48.0, 96.0, 168.0])
    sel = fit_tac(t, mono(100.0, 60.0, t), physical_half_life_h=T_PHYS_H)
    assert MIN_POINTS_FOR_SELECTION["biexp"] == 6
    assert "biexp" in sel.excluded and sel.rule == "aicc" and sel.model == "mono"


def test_two_points_exact_mono_without_uncertainty():
    sel = fit_tac([24.0, 96.0], [80.0, 40.0], physical_half_life_h=T_PHYS_H)
    assert sel.rule == "two_points" and sel.model == "mono"
    lam = LN2 / 72.0
    assert sel.tia_mbq_h == pytest.approx(80.0 * math.exp(lam * 24.0) / lam, rel=1e-9)
    assert math.isnan(sel.tia_sd_mbq_h)
    assert sel.chosen.uncertainty_basis.startswith("not estimable")
    # with stated uncertainties the propagation works even without residual dof
    fit = fit_model([24.0, 96.0], [80.0, 40.0], "mono", physical_half_life_h=T_PHYS_H,
                    relative_uncertainty=0.05)
    assert math.isfinite(fit.tia_sd_mbq_h) and fit.tia_sd_mbq_h > 0


def test_ties_go_to_the_simpler_model():
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    a = uptake_washout(50.0, 70.0, 3.0, t)
    assert fit_tac(t, a, physical_half_life_h=T_PHYS_H).model == "uptake_washout"
    sel = fit_tac(t, a, physical_half_life_h=T_PHYS_H, aicc_tie_tolerance=1e6)
    assert sel.model == "mono" and "tie" in sel.reason


def test_stated_uncertainties_weight_the_samples():
    """An outlier with a 100x larger relative uncertainty hardly moves the fit."""
    t = np.array([4.0, 24.0, 48.0, 96.0, 168.0])
    a = mono(100.0, 60.0, t)
    a[2] *= 1.5
    u = np.array([0.05, 0.05, 5.0, 0.05, 0.05])
    fit = fit_model(t, a, "mono", physical_half_life_h=T_PHYS_H, relative_uncertainty=u)
    assert fit.tia_mbq_h == pytest.approx(100.0 * 60.0 / LN2, rel=1e-3)
    plain = fit_model(t, a, "mono", physical_half_life_h=T_PHYS_H)
    assert abs(plain.tia_mbq_h / (100.0 * 60.0 / LN2) - 1) > 0.04  # measured +4.6 %


def test_warnings_for_extrapolation_and_poor_fits():
    late = fit_tac([24.0, 48.0, 96.0], mono(100.0, 15.0, [24.0, 48.0, 96.0]),
                   physical_half_life_h=T_PHYS_H)
    # 1 - 2^(-24/15) = 67 % of the TIA before the first sample: warned, still used
    assert late.chosen.tia_before_first_sample_fraction == pytest.approx(1 - 2 ** (-1.6),
                                                                          rel=1e-6)
    assert any("before the first sample" in w for w in late.warnings)
    bad = fit_model(TIMES, [10.0, 2.0, 9.0, 1.0], "mono", physical_half_life_h=T_PHYS_H)
    assert any("poor fit" in w for w in bad.warnings)
    clean = fit_model(TIMES, mono(100.0, 60.0, TIMES), "mono", physical_half_life_h=T_PHYS_H)
    assert clean.warnings == ()


def test_a_zero_at_injection_is_accepted_by_the_trapezoid_method():
    t = np.array([0.0, 4.0, 24.0, 96.0])
    a = np.array([0.0, 10.0, 5.0, 2.0])
    with_zero = trapezoid_tia(t, a, physical_half_life_h=T_PHYS_H)
    without = trapezoid_tia(t[1:], a[1:], physical_half_life_h=T_PHYS_H, start="zero")
    assert with_zero.tia_mbq_h == pytest.approx(without.tia_mbq_h, rel=1e-12)


# --------------------------------------------------------------------------- uncertainty
@pytest.mark.parametrize("stated", [None, 0.05])
def test_reported_tia_sd_matches_monte_carlo_spread(stated):
    """200 noisy copies (5 % Gaussian relative noise, seeded) of a mono-exponential curve at
    6 time points: the reported TIA SD (RMS over the copies) matches the SD of the fitted TIAs
    within 20 % (the 200-sample SD itself has ~5 % sampling uncertainty; first-order
    propagation and weights from the noisy samples add a few %)."""
    rng = np.random.default_rng(20240501)
    t = np.array([4.0, 24.0, 48.0, 96.0, 168.0, 240.0])
    truth = mono(100.0, 60.0, t)
    tias, sds = [], []
    for _ in range(200):
        a = truth * (1.0 + 0.05 * rng.standard_normal(t.size))
        fit = fit_model(t, a, "mono", physical_half_life_h=T_PHYS_H, relative_uncertainty=stated)
        tias.append(fit.tia_mbq_h)
        sds.append(fit.tia_sd_mbq_h)
    spread = float(np.std(tias, ddof=1))
    reported = float(np.sqrt(np.mean(np.square(sds))))
    assert reported == pytest.approx(spread, rel=0.20)
    assert np.mean(tias) == pytest.approx(100.0 * 60.0 / LN2, rel=0.02)


def test_uncertainty_not_estimable_without_residual_dof():
    t = np.array([1.0, 24.0, 96.0])
    fit = fit_model(t, uptake_washout(50.0, 70.0, 3.0, t), "uptake_washout",
                    physical_half_life_h=T_PHYS_H)
    assert fit.dof == 0 and fit.aicc is None
    assert math.isnan(fit.tia_sd_mbq_h) and all(math.isnan(v) for v in fit.param_sd.values())
    assert "not estimable" in fit.uncertainty_basis


# --------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(
    k=st.floats(1e-3, 1e3),
    teff=st.floats(5.0, 150.0),
    seed=st.integers(0, 2**16),
)
def test_scaling_activities_scales_the_tia(k, teff, seed):
    rng = np.random.default_rng(seed)
    t = np.array([4.0, 24.0, 48.0, 96.0, 168.0])
    a = mono(100.0, teff, t) * (1.0 + 0.05 * rng.standard_normal(t.size))
    a = np.abs(a)
    base = fit_tac(t, a, physical_half_life_h=T_PHYS_H)
    scaled = fit_tac(t, k * a, physical_half_life_h=T_PHYS_H)
    assert scaled.model == base.model
    assert scaled.tia_mbq_h == pytest.approx(k * base.tia_mbq_h, rel=1e-6)
    trap = trapezoid_tia(t, a, physical_half_life_h=T_PHYS_H)
    trap_k = trapezoid_tia(t, k * a, physical_half_life_h=T_PHYS_H)
    assert trap_k.tia_mbq_h == pytest.approx(k * trap.tia_mbq_h, rel=1e-9)


def test_result_is_json_ready_and_predict_matches_params():
    sel = fit_tac(TIMES[1:], [30.0, 20.0, 12.0], physical_half_life_h=T_PHYS_H)
    text = json.dumps(sel.to_dict(), allow_nan=False)
    assert '"model": "mono"' in text
    fit = sel.chosen
    assert isinstance(fit, TacFit)
    p = fit.params
    np.testing.assert_allclose(fit.predict([0.0, 50.0]),
                               p["a0_mbq"] * np.exp(-p["lambda_per_h"] * np.array([0.0, 50.0])))
    np.testing.assert_allclose(np.asarray(fit.residuals_mbq),
                               np.array([30.0, 20.0, 12.0]) - fit.predict(TIMES[1:]), atol=1e-12)
    with pytest.raises(InputError, match="t_h"):
        fit.predict([-1.0])


# --------------------------------------------------------------------------- bad inputs
_A = [10.0, 8.0, 5.0, 2.0]
BAD_FIT_TAC = [
    ({"times_h": [4.0, 96.0, 24.0, 168.0]}, "times_h is not in increasing order"),
    ({"times_h": [4.0, 24.0, 24.0, 168.0]}, "times_h has the duplicate time 24"),
    ({"times_h": [-1.0, 24.0, 96.0, 168.0]}, r"times_h\[0\] = -1 h is negative"),
    ({"times_h": [4.0, float("nan"), 96.0, 168.0]}, r"times_h\[1\] = nan is not finite"),
    ({"activity_mbq": [10.0, -8.0, 5.0, 2.0]}, r"activity_mbq\[1\] = -8 MBq is negative"),
    ({"activity_mbq": [10.0, float("nan"), 5.0, 2.0]}, r"activity_mbq\[1\] = nan is not finite"),
    ({"activity_mbq": [0.0, 0.0, 0.0, 0.0]}, "activity_mbq is zero at every time point"),
    ({"times_h": [0.0, 24.0, 96.0, 168.0], "activity_mbq": [0.0, 8.0, 5.0, 2.0]},
     r"times_h\[0\] = 0 h with activity_mbq\[0\] = 0: 'nothing at injection' is an assumption"),
    ({"activity_mbq": [5.0, 0.0, 0.0, 0.0]}, "no requested model describes these samples"),
    ({"times_h": [4.0, 24.0], "activity_mbq": [5.0, 0.0]},
     "the mono-exponential through the 2 samples is not usable"),
    ({"times_h": [4.0], "activity_mbq": [10.0]}, "times_h has 1 sample"),
    ({"activity_mbq": [10.0, 8.0, 5.0]}, "times_h has 4 values but activity_mbq has 3"),
    ({"activity_mbq": "ten"}, "activity_mbq must be a sequence of numbers"),
    ({"models": ("mono", "gamma")}, "models: unknown model 'gamma'"),
    ({"models": ()}, "models is empty"),
    ({"models": ("biexp",)}, "too few for the requested models"),
    ({"physical_half_life_h": 0.0}, "physical_half_life_h = 0.0 h: it must be greater than 0"),
    ({"physical_half_life_h": float("nan")}, "physical_half_life_h = nan is not finite"),
    ({"relative_uncertainty": -0.1}, r"relative_uncertainty\[0\] = -0.1 must be greater"),
    ({"relative_uncertainty": [0.1, 0.1]}, "relative_uncertainty has 2 values for 4 samples"),
    ({"aicc_tie_tolerance": -1.0}, "aicc_tie_tolerance = -1 must be >= 0"),
]


@pytest.mark.parametrize(("change", "match"), BAD_FIT_TAC)
def test_fit_tac_bad_inputs(change, match):
    kwargs = {
        "times_h": list(TIMES),
        "activity_mbq": _A,
        "physical_half_life_h": T_PHYS_H,
        **change,
    }
    with pytest.raises(InputError, match=match):
        fit_tac(kwargs.pop("times_h"), kwargs.pop("activity_mbq"), **kwargs)


BAD_OTHERS = [
    (lambda: fit_model(TIMES[:3], _A[:3], "biexp", physical_half_life_h=T_PHYS_H),
     "the biexp model has 4 parameters"),
    (lambda: fit_model(TIMES, _A, "spline", physical_half_life_h=T_PHYS_H),
     "models: unknown model 'spline'"),
    (lambda: trapezoid_tia(TIMES, _A, physical_half_life_h=T_PHYS_H, tail="linear"),
     "tail = 'linear'"),
    (lambda: trapezoid_tia(TIMES, _A, physical_half_life_h=T_PHYS_H, start="one"),
     "start = 'one'"),
    (lambda: trapezoid_tia(TIMES, _A, physical_half_life_h=T_PHYS_H, tail_points=4),
     "tail_points = 4"),
    (lambda: trapezoid_tia(TIMES[:2], _A[:2], physical_half_life_h=T_PHYS_H, tail_points=3),
     "tail_points=3 needs at least 3"),
    (lambda: trapezoid_tia([24.0, 4.0], [1.0, 2.0], physical_half_life_h=T_PHYS_H),
     "times_h is not in increasing order"),
]


@pytest.mark.parametrize(("call", "match"), BAD_OTHERS)
def test_other_bad_inputs(call, match):
    with pytest.raises(InputError, match=match):
        call()
