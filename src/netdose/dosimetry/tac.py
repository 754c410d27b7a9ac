"""Organ and lesion time-activity curves (TACs): fitting, model choice and integration.

A TAC is a few activities A_i (MBq) in an organ or lesion measured at times t_i (hours after
injection, e.g. quantitative SPECT/CT at 4, 24, 96 and 168 h). The dose needs its integral
from injection to infinity, the time-integrated activity (TIA, MBq·h). Models
(docs/physics.md, section "Time-activity curves"):

=====================  ==============================================  ===  ================
model                  A(t)                                            k    TIA (0 → ∞)
=====================  ==============================================  ===  ================
``"mono"``             A0·exp(−λt)                                     2    A0/λ
``"biexp"``            A_f·exp(−λ_f t) + A_s·exp(−λ_s t), A ≥ 0       4    A_f/λ_f + A_s/λ_s
``"uptake_washout"``   A0·(exp(−λ_w t) − exp(−λ_u t)), λ_u > λ_w      3    A0·(1/λ_w − 1/λ_u)
``"trapezoid"``        trapezoids through the samples + a tail         —    sum of the pieces
=====================  ==============================================  ===  ================

Conventions:

- **Physical-decay bound.** Every decay constant is an *effective* one (biological clearance
  plus physical decay), so it can never be smaller than the physical decay constant
  λ_phys = ln 2 / T½,phys. The bound is imposed inside the fit (``least_squares`` bounds), never
  by clipping a result; a fit that ends on it reports ``bound_active = True``.
- **Weights.** Residuals are relative: σ_i = u_i · max(A_i, 0.01 · max A), u_i the given
  relative uncertainty of sample i (``relative_uncertainty``) or 1 when none is given (all
  samples equally uncertain in relative terms, absolute scale unknown). The 1 % floor keeps
  a sample at or near zero from getting an infinite weight.
- **Uncertainty.** Parameter covariance from the Jacobian at the solution, C = (JᵀJ)⁻¹.
  Without given uncertainties it is scaled by the residual variance WRSS/(n − k); with
  n − k = 0 nothing is left to estimate it from and the standard deviations are NaN, said so
  in ``uncertainty_basis``. With given uncertainties C is used unscaled (they are the
  uncertainties). A parameter that ends on a bound is held fixed there (SD 0, conditional on
  the bound, noted). TIA uncertainty by first-order propagation, var = gᵀ C g.
- **Integration from injection.** Fitted models are integrated analytically from t = 0 (the
  model extrapolated back to injection) to infinity. The trapezoid method starts from
  (0, 0) by default (``start="zero"``), or from the first samples' exponential extrapolated
  back (``start="extrapolate"``).
- **Model choice** (:func:`fit_tac`): by AICc where it is defined, with a documented rule for
  3-5 samples (see :func:`fit_tac`).

All times are hours after injection, activities MBq; parameters carry their units in their
names (``a0_mbq``, ``lambda_per_h``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import scipy.optimize

from netdose.errors import InputError
from netdose.units import LN2

__all__ = [
    "MAX_BEFORE_FIRST_FRACTION",
    "MIN_POINTS_FOR_SELECTION",
    "MODELS",
    "N_PARAMETERS",
    "SIGMA_FLOOR_FRACTION",
    "TacFit",
    "TacSelection",
    "fit_model",
    "fit_tac",
    "trapezoid_tia",
]

ModelName = Literal["mono", "biexp", "uptake_washout"]

#: Fitted models, simplest first (the order used to break AICc ties).
MODELS: tuple[str, ...] = ("mono", "uptake_washout", "biexp")
#: Number of fitted parameters k of each model (the noise variance is not counted).
N_PARAMETERS: dict[str, int] = {"mono": 2, "uptake_washout": 3, "biexp": 4}
#: Fewest samples for a model to take part in the model choice of :func:`fit_tac`:
#: n >= k + 1 (at least one residual degree of freedom); the bi-exponential needs
#: n >= k + 2 = 6 (its AICc defined: with 5 samples it is nearly unconstrained).
MIN_POINTS_FOR_SELECTION: dict[str, int] = {"mono": 3, "uptake_washout": 4, "biexp": 6}
#: Floor of the weighting activity, as a fraction of the largest sample: σ_i = u_i·max(A_i,
#: floor·max A). A sample at 0 gets the weight of a sample at 1 % of the maximum.
SIGMA_FLOOR_FRACTION: float = 0.01
#: Relative residual treated as numerical zero in the AICc (an exact fit would give
#: ln 0 = −inf and let rounding noise decide between models).
AICC_RESIDUAL_FLOOR: float = 1.0e-8
#: A fit with more than this fraction of its TIA before the first sample (extrapolated back
#: to injection) is warned about.
WARN_BEFORE_FIRST_FRACTION: float = 0.5
#: A fit with more than this fraction of its TIA before the first sample is not a description
#: of the samples (e.g. one positive sample followed by zeros): excluded from the choice.
MAX_BEFORE_FIRST_FRACTION: float = 0.9
#: A fit whose largest relative residual |A_i - f(t_i)| / max(A_i, 0.01 max A) exceeds this is
#: warned about.
WARN_RELATIVE_RESIDUAL: float = 0.5
#: A parameter within this relative distance of its lower bound is reported as on it.
_BOUND_RTOL: float = 1.0e-7
#: Singular values below this fraction of the largest (after column scaling) make the
#: covariance "not estimable".
_RCOND: float = 1.0e-10
_LSQ_OPTIONS: dict[str, Any] = {
    "method": "trf",
    "x_scale": "jac",
    "ftol": 1e-13,
    "xtol": 1e-13,
    "gtol": 1e-13,
    "max_nfev": 400,
}

_KINDS: dict[str, tuple[str, ...]] = {
    "mono": ("amp", "lam"),
    "uptake_washout": ("amp", "lam", "dlam"),
    "biexp": ("amp", "lam", "amp", "lam"),
}
_PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "mono": ("a0_mbq", "lambda_per_h"),
    "uptake_washout": ("a0_mbq", "lambda_washout_per_h", "lambda_uptake_per_h"),
    "biexp": ("a_fast_mbq", "lambda_fast_per_h", "a_slow_mbq", "lambda_slow_per_h"),
}


# =========================================================================== validation
def _float(name: str, value: object, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} = {value!r} is not a number; give it in {unit}.")
    out = float(value)
    if not math.isfinite(out):
        raise InputError(f"{name} = {out!r} is not finite; give a measured value in {unit}.")
    return out


def _positive(name: str, value: object, unit: str) -> float:
    out = _float(name, value, unit)
    if out <= 0.0:
        raise InputError(f"{name} = {out!r} {unit}: it must be greater than 0.")
    return out


def _vector(name: str, values: object, unit: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a sequence of numbers ({unit}); got {values!r}.") from exc
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional (one value per sample); got shape "
                         f"{arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{name}[{i}] = {float(arr[i])!r} is not finite; every sample needs a measured "
            f"value in {unit} (NaN usually means a missing measurement: leave that sample out)."
        )
    return arr


def _check_samples(
    times_h: object,
    activity_mbq: object,
    relative_uncertainty: object,
    physical_half_life_h: object,
    min_points: int = 2,
    fitting: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
    """Validated (t, A, u, λ_phys, uncertainty_given)."""
    t = _vector("times_h", times_h, "h after injection")
    a = _vector("activity_mbq", activity_mbq, "MBq")
    if t.size != a.size:
        raise InputError(
            f"times_h has {t.size} values but activity_mbq has {a.size}; give one activity per "
            "time point."
        )
    if t.size < min_points:
        raise InputError(
            f"times_h has {t.size} sample(s); a fit needs at least {min_points} time points "
            "(with a single scan use netdose.dosimetry.stp)."
        )
    if (t < 0).any():
        i = int(np.argmax(t < 0))
        raise InputError(
            f"times_h[{i}] = {t[i]:g} h is negative; times are hours after injection (>= 0). "
            "Check the injection time and the scan times (and their time zones)."
        )
    d = np.diff(t)
    if (d == 0).any():
        i = int(np.argmax(d == 0))
        raise InputError(
            f"times_h has the duplicate time {t[i]:g} h (indices {i} and {i + 1}); give each "
            "scan once (average repeated measurements first)."
        )
    if (d < 0).any():
        i = int(np.argmax(d < 0))
        raise InputError(
            f"times_h is not in increasing order: times_h[{i}] = {t[i]:g} h is followed by "
            f"times_h[{i + 1}] = {t[i + 1]:g} h; sort the samples by time (keeping each activity "
            "with its time)."
        )
    if (a < 0).any():
        i = int(np.argmax(a < 0))
        raise InputError(
            f"activity_mbq[{i}] = {a[i]:g} MBq is negative; an organ activity cannot be "
            "negative. Check the VOI and the calibration (or set a value below the detection "
            "limit to 0 explicitly)."
        )
    if not (a > 0).any():
        raise InputError(
            "activity_mbq is zero at every time point; there is nothing to integrate. Check "
            "the VOI (mask) and the calibration factor."
        )
    if fitting and t[0] == 0.0 and a[0] == 0.0:
        raise InputError(
            "times_h[0] = 0 h with activity_mbq[0] = 0: 'nothing at injection' is an assumption, "
            "not a measurement, and would dominate a relative-weighted fit. Leave it out: the "
            "uptake_washout model is 0 at t = 0 by construction, and trapezoid_tia "
            "(start='zero') assumes it."
        )
    given = relative_uncertainty is not None
    if given:
        u = np.atleast_1d(_vector_or_scalar("relative_uncertainty", relative_uncertainty))
        if u.size == 1:
            u = np.full(t.size, float(u[0]))
        if u.size != t.size:
            raise InputError(
                f"relative_uncertainty has {u.size} values for {t.size} samples; give one value "
                "or one per sample."
            )
        if (u <= 0).any():
            i = int(np.argmax(u <= 0))
            raise InputError(
                f"relative_uncertainty[{i}] = {u[i]:g} must be greater than 0 (a fraction: "
                "0.05 for 5 %)."
            )
    else:
        u = np.ones(t.size)
    lam_p = LN2 / _positive("physical_half_life_h", physical_half_life_h, "h")
    return t, a, u, lam_p, given


def _vector_or_scalar(name: str, value: object) -> np.ndarray:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.array([_float(name, value, "(fraction)")])
    return _vector(name, value, "(fraction)")


def _sigma(a: np.ndarray, u: np.ndarray) -> np.ndarray:
    return u * np.maximum(a, SIGMA_FLOOR_FRACTION * float(a.max()))


# =========================================================================== models
# Internal parameter vectors x (what least_squares sees):
#   mono:           (A0, λ)
#   uptake_washout: (A0, λw, Δ) with λu = λw + Δ, Δ >= 0
#   biexp:          (A1, λ1, A2, λ2)  (sorted after the fit: fast component first)
def _values(model: str, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    if model == "mono":
        return x[0] * np.exp(-x[1] * t)
    if model == "uptake_washout":
        return x[0] * (np.exp(-x[1] * t) - np.exp(-(x[1] + x[2]) * t))
    return x[0] * np.exp(-x[1] * t) + x[2] * np.exp(-x[3] * t)


def _jacobian(model: str, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d model / d x, shape (n, k)."""
    if model == "mono":
        e = np.exp(-x[1] * t)
        return np.column_stack([e, -t * x[0] * e])
    if model == "uptake_washout":
        ew, eu = np.exp(-x[1] * t), np.exp(-(x[1] + x[2]) * t)
        return np.column_stack([ew - eu, x[0] * t * (eu - ew), x[0] * t * eu])
    e1, e2 = np.exp(-x[1] * t), np.exp(-x[3] * t)
    return np.column_stack([e1, -t * x[0] * e1, e2, -t * x[2] * e2])


def _tia_and_gradient(model: str, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Analytic TIA (0 → ∞) and its gradient with respect to the internal parameters."""
    if model == "mono":
        a0, lam = x
        return a0 / lam, np.array([1.0 / lam, -a0 / lam**2])
    if model == "uptake_washout":
        a0, lw, dl = x
        lu = lw + dl
        return a0 * (1.0 / lw - 1.0 / lu), np.array(
            [1.0 / lw - 1.0 / lu, a0 * (1.0 / lu**2 - 1.0 / lw**2), a0 / lu**2]
        )
    a1, l1, a2, l2 = x
    return a1 / l1 + a2 / l2, np.array([1.0 / l1, -a1 / l1**2, 1.0 / l2, -a2 / l2**2])


def _tail_integral(model: str, x: np.ndarray, t0: float) -> float:
    """∫ from t0 to ∞ of the model."""
    if model == "mono":
        return float(x[0] * math.exp(-x[1] * t0) / x[1])
    if model == "uptake_washout":
        lu = x[1] + x[2]
        return float(x[0] * (math.exp(-x[1] * t0) / x[1] - math.exp(-lu * t0) / lu))
    return float(x[0] * math.exp(-x[1] * t0) / x[1] + x[2] * math.exp(-x[3] * t0) / x[3])


def _public(model: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Public parameter vector and the matrix T with d public / d internal."""
    k = x.size
    if model == "uptake_washout":
        tmat = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
        return tmat @ x, tmat
    return x.copy(), np.eye(k)


def _bounds(model: str, lam_p: float) -> tuple[np.ndarray, np.ndarray]:
    if model == "mono":
        lo = [0.0, lam_p]
    elif model == "uptake_washout":
        lo = [0.0, lam_p, 0.0]
    else:
        lo = [0.0, lam_p, 0.0, lam_p]
    return np.array(lo), np.full(len(lo), np.inf)


def _lambda_grid(t: np.ndarray, lam_p: float, n: int = 30) -> np.ndarray:
    """Decay constants for starting values: half-lives from 1/20 of the first positive sample
    time (at least 0.01 h) up to the physical half-life, log-spaced."""
    tpos = t[t > 0]
    t_short = max(0.05 * float(tpos[0]) if tpos.size else 0.05, 0.01)
    t_phys = LN2 / lam_p
    if t_short >= t_phys:
        return np.array([lam_p])
    return LN2 / np.geomspace(t_short, t_phys, n)


def _loglinear_start(t: np.ndarray, a: np.ndarray, lam_p: float) -> np.ndarray:
    pos = a > 0
    if pos.sum() >= 2:
        slope, _ = np.polyfit(t[pos], np.log(a[pos]), 1)
        lam = max(-float(slope), lam_p * 1.01)
    else:
        lam = lam_p * 1.01
    w = 1.0 / _sigma(a, np.ones_like(a)) ** 2
    e = np.exp(-lam * t)
    a0 = max(float(np.sum(w * a * e) / np.sum(w * e * e)), 1e-12 * float(a.max()))
    return np.array([a0, lam])


def _starts(model: str, t: np.ndarray, a: np.ndarray, sig: np.ndarray, lam_p: float,
            n_best: int = 3) -> list[np.ndarray]:
    """Starting points: the best few of a grid over the decay constants, amplitudes solved
    by (non-negative) weighted linear least squares for each grid point."""
    if model == "mono":
        return [_loglinear_start(t, a, lam_p)]
    w = 1.0 / sig**2
    grid = _lambda_grid(t, lam_p)
    i, j = np.triu_indices(grid.size, k=1)  # grid: λ decreasing, so grid[i] > grid[j]
    lam_fast, lam_slow = grid[i], grid[j]
    e_s = np.exp(-np.outer(lam_slow, t))
    e_f = np.exp(-np.outer(lam_fast, t))
    syy = float(np.sum(w * a * a))
    if model == "uptake_washout":
        f = e_s - e_f
        sff = np.sum(w * f * f, axis=1)
        sfy = np.sum(w * f * a, axis=1)
        amp = np.where(sff > 0, np.maximum(sfy, 0.0) / np.where(sff > 0, sff, 1.0), 0.0)
        cost = syy - 2 * amp * sfy + amp**2 * sff
        order = np.argsort(cost)[:n_best]
        return [
            np.array([max(amp[m], 1e-12), lam_slow[m], lam_fast[m] - lam_slow[m]])
            for m in order
        ]
    # biexp: 2-column non-negative least squares in closed form
    s11 = np.sum(w * e_f * e_f, axis=1)
    s22 = np.sum(w * e_s * e_s, axis=1)
    s12 = np.sum(w * e_f * e_s, axis=1)
    b1 = np.sum(w * e_f * a, axis=1)
    b2 = np.sum(w * e_s * a, axis=1)
    det = s11 * s22 - s12**2
    ok = det > 1e-300
    safe = np.where(ok, det, 1.0)
    a1 = np.where(ok, (b1 * s22 - b2 * s12) / safe, -1.0)
    a2 = np.where(ok, (b2 * s11 - b1 * s12) / safe, -1.0)
    both = (a1 >= 0) & (a2 >= 0)
    c_both = np.where(both, syy - 2 * (a1 * b1 + a2 * b2) + a1 * a1 * s11 + 2 * a1 * a2 * s12
                      + a2 * a2 * s22, np.inf)
    o1 = np.maximum(b1, 0) / s11
    o2 = np.maximum(b2, 0) / s22
    c1 = syy - 2 * o1 * b1 + o1**2 * s11
    c2 = syy - 2 * o2 * b2 + o2**2 * s22
    pick = np.argmin(np.vstack([c_both, c1, c2]), axis=0)
    amp1 = np.choose(pick, [np.where(both, a1, 0.0), o1, np.zeros_like(o1)])
    amp2 = np.choose(pick, [np.where(both, a2, 0.0), np.zeros_like(o2), o2])
    cost = np.choose(pick, [c_both, c1, c2])
    order = np.argsort(cost)[:n_best]
    floor = 1e-6 * float(a.max())
    return [
        np.array([max(amp1[m], floor), lam_fast[m], max(amp2[m], floor), lam_slow[m]])
        for m in order
    ]


# =========================================================================== results
def _clean(value: Any) -> Any:
    """JSON-ready: NaN/inf → None, numpy → Python, tuples → lists."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass(frozen=True)
class TacFit:
    """One time-activity curve model fitted to (or interpolated through) the samples.

    Attributes
    ----------
    model : str
        ``"mono"``, ``"biexp"``, ``"uptake_washout"`` or ``"trapezoid"``.
    params : dict of str to float
        Parameters with units in the names: ``a0_mbq``, ``lambda_per_h`` (mono);
        ``a_fast_mbq``, ``lambda_fast_per_h``, ``a_slow_mbq``, ``lambda_slow_per_h``
        (biexp, fast component first); ``a0_mbq``, ``lambda_washout_per_h``,
        ``lambda_uptake_per_h`` (uptake_washout); ``lambda_tail_per_h``,
        ``lambda_head_per_h``, ``activity_at_0_mbq`` (trapezoid).
    param_sd : dict of str to float
        Standard uncertainties of ``params`` (NaN: not estimable; 0: held on a bound).
    tia_mbq_h : float
        Time-integrated activity from injection to infinity, MBq·h.
    tia_sd_mbq_h : float
        Its standard uncertainty, MBq·h (NaN when not estimable, see ``uncertainty_basis``).
    aicc : float or None
        Corrected Akaike information criterion, None where undefined (n <= k + 1) and for
        the trapezoid method.
    effective_half_life_h : float
        ln 2 / λ of the terminal (slowest) component, h (trapezoid: of the tail).
    bound_active : bool
        A decay constant ended on the physical-decay bound λ = λ_phys.
    active_bounds : tuple of str
        Every parameter that ended on a bound, e.g. ``"lambda_per_h = lambda_physical"``.
    n_points : int
        Number of samples.
    dof : int
        n − k (residual degrees of freedom; 0 for the trapezoid method).
    wrss : float
        Weighted residual sum of squares Σ((f(t_i) − A_i)/σ_i)².
    residuals_mbq : tuple of float
        A_i − f(t_i), MBq.
    times_h, activity_mbq, relative_uncertainty : tuple of float
        The samples and the relative uncertainties used for the weights (1.0 each when none
        was given).
    physical_half_life_h : float
        T½ of the nuclide used for the bound, h.
    uncertainty_basis : str
        How the uncertainties were obtained (or why they are not available).
    tia_before_first_sample_fraction, tia_after_last_sample_fraction : float
        Fractions of the TIA outside the sampled interval (extrapolated), 0-1.
    covariance : tuple of tuple of float
        Covariance of the public parameters in ``params`` order (NaN where not estimable).
    converged : bool
        The optimiser reported success.
    options : dict
        Method options (trapezoid: ``start``, ``tail``, ``tail_points``).
    warnings : tuple of str
        Things the user should know (bound active, parameter not identifiable, ...).
    """

    model: str
    params: dict[str, float]
    param_sd: dict[str, float]
    tia_mbq_h: float
    tia_sd_mbq_h: float
    aicc: float | None
    effective_half_life_h: float
    bound_active: bool
    active_bounds: tuple[str, ...]
    n_points: int
    dof: int
    wrss: float
    residuals_mbq: tuple[float, ...]
    times_h: tuple[float, ...]
    activity_mbq: tuple[float, ...]
    relative_uncertainty: tuple[float, ...]
    physical_half_life_h: float
    uncertainty_basis: str
    tia_before_first_sample_fraction: float
    tia_after_last_sample_fraction: float
    covariance: tuple[tuple[float, ...], ...]
    converged: bool = True
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def n_parameters(self) -> int:
        """k, the number of fitted parameters (0 for the trapezoid method)."""
        return N_PARAMETERS.get(self.model, 0)

    def predict(self, t_h: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """Activity (MBq) of the curve at times ``t_h`` (hours after injection, >= 0)."""
        t = np.atleast_1d(np.asarray(t_h, dtype=np.float64))
        if not np.isfinite(t).all() or (t < 0).any():
            raise InputError("t_h must be finite hours after injection (>= 0).")
        p = self.params
        if self.model == "mono":
            return p["a0_mbq"] * np.exp(-p["lambda_per_h"] * t)
        if self.model == "uptake_washout":
            return p["a0_mbq"] * (
                np.exp(-p["lambda_washout_per_h"] * t) - np.exp(-p["lambda_uptake_per_h"] * t)
            )
        if self.model == "biexp":
            return p["a_fast_mbq"] * np.exp(-p["lambda_fast_per_h"] * t) + p[
                "a_slow_mbq"
            ] * np.exp(-p["lambda_slow_per_h"] * t)
        return _trapezoid_curve(self, t)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field (NaN and inf become None)."""
        out = dataclasses.asdict(self)
        out["n_parameters"] = self.n_parameters
        return _clean(out)


@dataclasses.dataclass(frozen=True)
class TacSelection:
    """Every candidate fit of :func:`fit_tac` and the one chosen, with the reason.

    Attributes
    ----------
    chosen : TacFit
        The selected fit.
    fits : dict of str to TacFit
        Every candidate fitted: the requested models with enough samples to take part in
        the choice (and the mono-exponential with 2 samples), including fits then excluded
        (not converged, degenerate, extrapolated).
    excluded : dict of str to str
        Models requested but not eligible for the choice, and why.
    rule : str
        ``"aicc"`` (lowest AICc), ``"only_eligible"``, ``"uptake_shape"`` (4 samples:
        the uptake rule, see :func:`fit_tac`) or ``"two_points"``.
    reason : str
        The choice in words, with the AICc values.
    warnings : tuple of str
    """

    chosen: TacFit
    fits: dict[str, TacFit]
    excluded: dict[str, str]
    rule: str
    reason: str
    warnings: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        """Name of the chosen model."""
        return self.chosen.model

    @property
    def tia_mbq_h(self) -> float:
        """TIA of the chosen model, MBq·h."""
        return self.chosen.tia_mbq_h

    @property
    def tia_sd_mbq_h(self) -> float:
        """Standard uncertainty of the chosen TIA, MBq·h."""
        return self.chosen.tia_sd_mbq_h

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "model": self.model,
            "tia_mbq_h": _clean(self.tia_mbq_h),
            "tia_sd_mbq_h": _clean(self.tia_sd_mbq_h),
            "rule": self.rule,
            "reason": self.reason,
            "chosen": self.chosen.to_dict(),
            "fits": {k: v.to_dict() for k, v in self.fits.items()},
            "excluded": dict(self.excluded),
            "warnings": list(self.warnings),
        }


# =========================================================================== fitting
def _aicc(wrss: float, n: int, k: int, u: np.ndarray) -> float | None:
    if n - k - 1 <= 0:
        return None
    floor = n * AICC_RESIDUAL_FLOOR**2 * float(np.mean(1.0 / u**2))
    rss = max(wrss, floor)
    return n * math.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def _covariance(
    jw: np.ndarray, free: np.ndarray, scale: float
) -> tuple[np.ndarray | None, str]:
    """(JᵀJ)⁻¹·scale over the free columns (zeros for fixed ones); None if singular."""
    k = jw.shape[1]
    cov = np.zeros((k, k))
    if not free.any():
        return cov, ""
    jf = jw[:, free]
    norms = np.linalg.norm(jf, axis=0)
    if (norms == 0).any():
        return None, "a parameter has no effect on the fitted values (not identifiable)"
    _, s, vt = np.linalg.svd(jf / norms, full_matrices=False)
    if s.size < jf.shape[1] or s[-1] < _RCOND * s[0]:
        return None, "the parameters are not identifiable from these samples (singular Jacobian)"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        inv = ((vt.T / s**2) @ vt) / np.outer(norms, norms)
    if not np.isfinite(inv).all():
        return None, "the parameters are not identifiable from these samples (overflow)"
    idx = np.flatnonzero(free)
    cov[np.ix_(idx, idx)] = inv * scale
    return cov, ""


def _fit(
    model: str,
    t: np.ndarray,
    a: np.ndarray,
    u: np.ndarray,
    lam_p: float,
    given: bool,
) -> TacFit:
    k = N_PARAMETERS[model]
    n = t.size
    sig = _sigma(a, u)
    lo, hi = _bounds(model, lam_p)

    def resid(x: np.ndarray) -> np.ndarray:
        return (_values(model, x, t) - a) / sig

    def jac(x: np.ndarray) -> np.ndarray:
        return _jacobian(model, x, t) / sig[:, None]

    best = None
    for x0 in _starts(model, t, a, sig, lam_p):
        x0 = np.clip(x0, lo, hi)
        # scipy divides by Jacobian columns that vanish when a rate runs to infinity
        # (instantaneous uptake): harmless there, so its floating-point warnings are muted
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            res = scipy.optimize.least_squares(
                resid, x0, jac=jac, bounds=(lo, hi), **_LSQ_OPTIONS
            )
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    x = best.x.copy()
    warnings: list[str] = []

    # biexp: fast component first (a relabelling, not a change of the fit)
    if model == "biexp" and x[1] < x[3]:
        x = np.array([x[2], x[3], x[0], x[1]])
        best_mask = np.asarray(best.active_mask)[[2, 3, 0, 1]]
    else:
        best_mask = np.asarray(best.active_mask)

    names = _PARAM_NAMES[model]
    kinds = _KINDS[model]
    # which internal parameters sit on a lower bound (amplitudes at 0, decay constants at
    # lambda_physical, the uptake-washout difference at 0)
    on_bound = np.zeros(k, dtype=bool)
    for i, kind in enumerate(kinds):
        ref = float(a.max()) if kind == "amp" else lam_p
        if best_mask[i] < 0 or x[i] - lo[i] <= _BOUND_RTOL * ref:
            on_bound[i] = True
    internal_names = list(names)
    if model == "uptake_washout":
        internal_names[2] = "lambda_uptake_minus_washout_per_h"
    active = [
        f"{internal_names[i]} = {'lambda_physical' if kinds[i] == 'lam' else '0'}"
        for i in np.flatnonzero(on_bound)
    ]
    lam_bound = any(on_bound[i] and kinds[i] == "lam" for i in range(k))
    fixed = on_bound.copy()
    if model == "biexp":
        for i in (0, 2):  # a component with amplitude 0: its decay constant is meaningless
            if on_bound[i]:
                fixed[i + 1] = True
    degenerate = False
    if model == "uptake_washout" and on_bound[2]:
        degenerate = True
        warnings.append(
            "uptake_washout: lambda_uptake ended equal to lambda_washout (uptake not resolved "
            "by the samples); the fit is degenerate and not used for the model choice."
        )

    r = resid(x)
    wrss = float(r @ r)
    dof = n - k
    jw = jac(x)
    free = ~fixed
    if given:
        scale = 1.0
        basis = "from the given relative uncertainties (covariance not rescaled)"
    elif dof > 0:
        scale = wrss / dof
        basis = (
            f"from the residual scatter: covariance x WRSS/(n-k) = {scale:.4g} "
            f"(n-k = {dof})"
        )
    else:
        scale = math.nan
        basis = (
            f"not estimable: {n} samples for {k} parameters leave no residual degree of "
            "freedom to estimate the scatter from (give relative_uncertainty or add samples)"
        )
    cov_int, why = _covariance(jw, free, 1.0)
    if cov_int is None:
        cov_int = np.full((k, k), np.nan)
        basis = f"not estimable: {why}"
        warnings.append(f"{model}: parameter uncertainties not estimable: {why}.")
    elif math.isnan(scale):
        cov_int = np.full((k, k), np.nan)
    else:
        cov_int = cov_int * scale
    if fixed.any() and not np.isnan(cov_int).all():
        basis += (
            "; parameters on a bound (" + ", ".join(active) + ") are held fixed there "
            "(standard uncertainty 0, conditional on the bound)"
        )
    if lam_bound:
        warnings.append(
            f"{model}: a decay constant is held at the physical decay constant "
            f"(T1/2 = {LN2 / lam_p:.4g} h): the samples decay more slowly than physical decay "
            "(check calibration, dead time, VOI and decay correction)."
        )

    rel_res = np.abs(a - _values(model, x, t)) / _sigma(a, np.ones_like(a))
    if rel_res.max() > WARN_RELATIVE_RESIDUAL:
        i = int(np.argmax(rel_res))
        warnings.append(
            f"{model}: poor fit: the sample at {t[i]:g} h is {100 * rel_res[i]:.0f} % off the "
            "curve (check the sample and the model)."
        )
    if not best.success:
        warnings.append(f"{model}: the optimiser did not converge ({best.message}).")
    tia, grad = _tia_and_gradient(model, x)
    tia_var = float(grad @ cov_int @ grad)
    pub, tmat = _public(model, x)
    cov_pub = tmat @ cov_int @ tmat.T
    sd_pub = np.sqrt(np.clip(np.diag(cov_pub), 0.0, None))
    sd_pub = np.where(np.isnan(np.diag(cov_pub)), np.nan, sd_pub)
    terminal = min(x[1], x[3]) if model == "biexp" else x[1]
    after = _tail_integral(model, x, float(t[-1]))
    before = tia - _tail_integral(model, x, float(t[0]))
    if tia > 0 and before / tia > WARN_BEFORE_FIRST_FRACTION:
        warnings.append(
            f"{model}: {100 * before / tia:.0f} % of the TIA lies before the first sample "
            f"({t[0]:g} h): it is an extrapolation back to injection, not measured."
        )
    return TacFit(
        model=model,
        params={nm: float(v) for nm, v in zip(names, pub)},
        param_sd={nm: float(v) for nm, v in zip(names, sd_pub)},
        tia_mbq_h=float(tia),
        tia_sd_mbq_h=math.sqrt(tia_var) if math.isfinite(tia_var) and tia_var >= 0 else math.nan,
        aicc=None if degenerate else _aicc(wrss, n, k, u),
        effective_half_life_h=float(LN2 / terminal),
        bound_active=lam_bound,
        active_bounds=tuple(active),
        n_points=n,
        dof=dof,
        wrss=wrss,
        residuals_mbq=tuple(float(v) for v in a - _values(model, x, t)),
        times_h=tuple(float(v) for v in t),
        activity_mbq=tuple(float(v) for v in a),
        relative_uncertainty=tuple(float(v) for v in u),
        physical_half_life_h=float(LN2 / lam_p),
        uncertainty_basis=basis,
        tia_before_first_sample_fraction=float(before / tia) if tia > 0 else 0.0,
        tia_after_last_sample_fraction=float(after / tia) if tia > 0 else 0.0,
        covariance=tuple(tuple(float(v) for v in row) for row in cov_pub),
        converged=bool(best.success) and not degenerate,
        options={},
        warnings=tuple(warnings),
    )


def _check_model(model: object) -> str:
    if model not in N_PARAMETERS:
        raise InputError(
            f"models: unknown model {model!r}; use one of {', '.join(sorted(N_PARAMETERS))} "
            "(or trapezoid_tia for the trapezoid method)."
        )
    return str(model)


def fit_model(
    times_h: Sequence[float] | np.ndarray,
    activity_mbq: Sequence[float] | np.ndarray,
    model: ModelName,
    *,
    physical_half_life_h: float,
    relative_uncertainty: float | Sequence[float] | np.ndarray | None = None,
) -> TacFit:
    """Fit one model to a time-activity curve (weighted least squares, bounded).

    Parameters
    ----------
    times_h : sequence of float, shape (n,)
        Sample times, hours after injection (>= 0, strictly increasing).
    activity_mbq : sequence of float, shape (n,)
        Activities, MBq (>= 0, finite, not all zero).
    model : {"mono", "biexp", "uptake_washout"}
        The model (module docstring). Needs n >= k samples (k = 2, 4, 3); with n == k the
        curve passes through the samples and the uncertainty is not estimable.
    physical_half_life_h : float
        Physical half-life of the nuclide, h (e.g. ``get_nuclide("Lu-177").half_life_h``);
        every decay constant is bounded below by ln 2 / this.
    relative_uncertainty : float or sequence of float, optional
        Relative standard uncertainty of each sample (0.05 for 5 %), or one value for all.
        None: equal relative uncertainties of unknown size (estimated from the scatter).

    Returns
    -------
    TacFit

    Raises
    ------
    InputError
        Bad samples (see :func:`fit_tac`), unknown model, or fewer samples than parameters.
    """
    name = _check_model(model)
    k = N_PARAMETERS[name]
    t, a, u, lam_p, given = _check_samples(
        times_h, activity_mbq, relative_uncertainty, physical_half_life_h, min_points=2
    )
    if t.size < k:
        raise InputError(
            f"times_h has {t.size} samples but the {name} model has {k} parameters; give at "
            f"least {k} time points or use a simpler model."
        )
    return _fit(name, t, a, u, lam_p, given)


def fit_tac(
    times_h: Sequence[float] | np.ndarray,
    activity_mbq: Sequence[float] | np.ndarray,
    *,
    physical_half_life_h: float,
    models: Sequence[str] = ("mono", "biexp", "uptake_washout"),
    relative_uncertainty: float | Sequence[float] | np.ndarray | None = None,
    aicc_tie_tolerance: float = 0.0,
) -> TacSelection:
    """Fit candidate models to a time-activity curve and choose one.

    The rule (docs/physics.md, "Model choice"):

    1. A model takes part in the choice when n >= k + 1 (at least one residual degree of
       freedom) — mono-exponential from 3 samples, uptake-washout from 4 — and, for the
       bi-exponential, n >= 6 (k + 2: its AICc defined); and its fit converged, is not
       degenerate (uptake-washout with λ_u = λ_w) and puts at most 90 % of its TIA before
       the first sample (:data:`MAX_BEFORE_FIRST_FRACTION`; above 50 % it is kept with a
       warning).
    2. If AICc = n ln(WRSS/n) + 2k + 2k(k+1)/(n−k−1) is defined for every such model
       (n >= k + 2), the lowest AICc wins; AICc values within ``aicc_tie_tolerance`` (default
       0: exact ties only) are ties, and ties go to the model with fewer parameters.
    3. Otherwise AICc cannot compare them:

       - 3 samples: only the mono-exponential is eligible and is chosen (with a warning if
         the samples rise, which it cannot describe);
       - 4 samples (mono-exponential AICc defined, uptake-washout not): the uptake-washout
         model is chosen when the largest sample is not the first one (an uptake phase was
         sampled, which a mono-exponential cannot describe), otherwise the mono-exponential.
    4. With only 2 samples no model has a residual degree of freedom: the mono-exponential
       through both points is returned (uncertainty not estimable).
    5. If no model remains, :class:`~netdose.errors.InputError` says why for each.

    Parameters
    ----------
    times_h : sequence of float, shape (n,)
        Hours after injection (>= 0, strictly increasing), n >= 2.
    activity_mbq : sequence of float, shape (n,)
        MBq (>= 0, finite, not all zero). A sample (0 h, 0 MBq) is refused: "nothing at
        injection" is an assumption, not a measurement.
    physical_half_life_h : float
        Physical half-life of the nuclide, h (``get_nuclide("Lu-177").half_life_h``).
    models : sequence of str
        Candidates among ``"mono"``, ``"biexp"``, ``"uptake_washout"``.
    relative_uncertainty : float or sequence of float, optional
        See :func:`fit_model`.
    aicc_tie_tolerance : float
        AICc differences up to this count as ties (>= 0).

    Returns
    -------
    TacSelection

    Raises
    ------
    InputError
        Unsorted or duplicate times, negative times, negative or non-finite activities, all
        activities zero, a zero sample at t = 0, fewer than 2 samples, an unknown model name,
        or no requested model that the samples allow.
    """
    if isinstance(models, str):
        models = (models,)
    requested = [_check_model(m) for m in models]
    if not requested:
        raise InputError("models is empty; give at least one of mono, biexp, uptake_washout.")
    tie = _float("aicc_tie_tolerance", aicc_tie_tolerance, "(AICc units)")
    if tie < 0:
        raise InputError(f"aicc_tie_tolerance = {tie:g} must be >= 0.")
    t, a, u, lam_p, given = _check_samples(
        times_h, activity_mbq, relative_uncertainty, physical_half_life_h, min_points=2
    )
    n = t.size
    ordered = [m for m in MODELS if m in requested]
    fits: dict[str, TacFit] = {}
    excluded: dict[str, str] = {}
    for m in ordered:
        k = N_PARAMETERS[m]
        if n >= MIN_POINTS_FOR_SELECTION[m] or (m == "mono" and n == 2):
            fits[m] = _fit(m, t, a, u, lam_p, given)
        if n < MIN_POINTS_FOR_SELECTION[m]:
            excluded[m] = (
                f"{n} samples; {m} (k = {k}) needs at least {MIN_POINTS_FOR_SELECTION[m]} "
                "to take part in the model choice"
            )
        elif not fits[m].converged:
            excluded[m] = "fit degenerate or not converged (" + "; ".join(
                w.rstrip(".") for w in fits[m].warnings
            ) + ")"
        elif fits[m].tia_before_first_sample_fraction > MAX_BEFORE_FIRST_FRACTION:
            excluded[m] = (
                f"{100 * fits[m].tia_before_first_sample_fraction:.1f} % of its TIA lies before "
                f"the first sample (more than {100 * MAX_BEFORE_FIRST_FRACTION:g} %): the samples "
                "do not determine it"
            )
    eligible = [m for m in ordered if m not in excluded]
    warnings: list[str] = []
    rises = int(np.argmax(a)) > 0

    if not eligible:
        mono_ok = "mono" in fits and fits["mono"].converged and (
            fits["mono"].tia_before_first_sample_fraction <= MAX_BEFORE_FIRST_FRACTION
        )
        if n == 2 and mono_ok:
            chosen, rule = fits["mono"], "two_points"
            reason = (
                "only 2 samples: the mono-exponential through both points (no residual degree "
                "of freedom, so no uncertainty estimate and no model comparison)"
            )
        elif n == 2 and "mono" in fits:
            raise InputError(
                "the mono-exponential through the 2 samples is not usable ("
                + "; ".join(w.rstrip(".") for w in fits["mono"].warnings)
                + f"). Check the activities {a.tolist()} MBq at {t.tolist()} h, or integrate "
                "with trapezoid_tia."
            )
        elif all("needs at least" in why for why in excluded.values()):
            needs = ", ".join(f"{m} >= {MIN_POINTS_FOR_SELECTION[m]}" for m in ordered)
            raise InputError(
                f"times_h has {n} samples, too few for the requested models ({needs} samples); "
                "add time points or include 'mono' in models."
            )
        else:
            why = "; ".join(f"{m}: {r}" for m, r in excluded.items())
            raise InputError(
                f"no requested model describes these samples ({why}). Check the activities "
                f"{a.tolist()} MBq at {t.tolist()} h, or integrate with trapezoid_tia."
            )
    else:
        undefined = [m for m in eligible if fits[m].aicc is None]
        if not undefined:
            score = {m: float(fits[m].aicc) for m in eligible}  # type: ignore[arg-type]
            scored = sorted(eligible, key=lambda m: (score[m], N_PARAMETERS[m]))
            best = scored[0]
            tol = tie + 1e-9 * (1.0 + abs(score[best]))
            ties = [m for m in eligible if score[m] - score[best] <= tol]
            best = min(ties, key=lambda m: N_PARAMETERS[m])
            chosen, rule = fits[best], "aicc"
            values = "; ".join(f"{m} {fits[m].aicc:.3f}" for m in scored)
            reason = f"lowest AICc: {best} (AICc {values})"
            if len(ties) > 1:
                reason += f"; tie within {tol:.3g} between {', '.join(ties)}: simpler model"
        elif len(eligible) == 1:
            only = eligible[0]
            chosen, rule = fits[only], "only_eligible"
            reason = (
                f"{n} samples: {only} is the only eligible model; its AICc is undefined "
                f"(n <= k + 1), so no comparison was made"
            )
        else:
            # 4 samples: mono (AICc defined) vs uptake_washout (AICc undefined)
            rule = "uptake_shape"
            if rises and "uptake_washout" in eligible:
                chosen = fits["uptake_washout"]
                reason = (
                    f"{n} samples, AICc undefined for uptake_washout: the largest sample is at "
                    f"{t[int(np.argmax(a))]:g} h, after the first, so an uptake phase was "
                    "sampled and a mono-exponential cannot describe it"
                )
            else:
                chosen = fits["mono"]
                reason = (
                    f"{n} samples, AICc undefined for uptake_washout: the samples do not rise "
                    "(largest sample first), so the simpler mono-exponential is used"
                )
        if chosen.model == "mono" and rises:
            warnings.append(
                "the samples rise before they fall (uptake phase) but the mono-exponential was "
                "chosen: it cannot describe uptake. Check the fit, or compare trapezoid_tia."
            )
    warnings.extend(chosen.warnings)
    return TacSelection(
        chosen=chosen,
        fits=fits,
        excluded=excluded,
        rule=rule,
        reason=reason,
        warnings=tuple(warnings),
    )


# =========================================================================== trapezoid
def _trapezoid_pieces(
    t: np.ndarray, a: np.ndarray, lam_head: float, lam_tail: float, start: str
) -> tuple[float, float, float]:
    """(head 0 → t_1, trapezoids t_1 → t_n, tail t_n → ∞), MBq·h."""
    if t[0] == 0.0:
        head = 0.0
    elif start == "zero":
        head = 0.5 * a[0] * t[0]
    else:
        head = float(a[0] * math.expm1(lam_head * t[0]) / lam_head)
    middle = float(np.sum(0.5 * (a[1:] + a[:-1]) * np.diff(t)))
    tail = float(a[-1] / lam_tail)
    return head, middle, tail


def _trapezoid_curve(fit: TacFit, t: np.ndarray) -> np.ndarray:
    ts = np.asarray(fit.times_h)
    a_s = np.asarray(fit.activity_mbq)
    lam_head = fit.params["lambda_head_per_h"]
    lam_tail = fit.params["lambda_tail_per_h"]
    out = np.interp(t, ts, a_s)
    before = t < ts[0]
    if fit.options.get("start") == "zero":
        out[before] = a_s[0] * t[before] / ts[0]
    else:
        out[before] = a_s[0] * np.exp(lam_head * (ts[0] - t[before]))
    after = t > ts[-1]
    out[after] = a_s[-1] * np.exp(-lam_tail * (t[after] - ts[-1]))
    return out


def _tail_lambda(
    t: np.ndarray, a: np.ndarray, u: np.ndarray, lam_p: float, given: bool, tail: str,
    tail_points: int,
) -> tuple[float, float, bool, str]:
    """(λ_tail, its SD, bound active, note)."""
    if tail == "physical":
        return lam_p, 0.0, False, "physical decay after the last sample"
    tt, at, ut = t[-tail_points:], a[-tail_points:], u[-tail_points:]
    if at[-1] == 0.0 or not (at > 0).any():
        return lam_p, 0.0, False, "last sample is 0: no tail"
    f = _fit("mono", tt, at, ut, lam_p, given)
    note = f"mono-exponential through the last {tail_points} samples"
    sd = f.param_sd["lambda_per_h"]
    return f.params["lambda_per_h"], sd, f.bound_active, note


def trapezoid_tia(
    times_h: Sequence[float] | np.ndarray,
    activity_mbq: Sequence[float] | np.ndarray,
    *,
    physical_half_life_h: float,
    tail: Literal["fit", "physical"] = "fit",
    tail_points: int = 2,
    start: Literal["zero", "extrapolate"] = "zero",
    relative_uncertainty: float | Sequence[float] | np.ndarray | None = None,
) -> TacFit:
    """TIA by trapezoids through the samples plus a head and an exponential tail.

    TIA = head (0 → t_1) + Σ trapezoids (t_i → t_i+1) + A_n / λ_tail.

    - ``start="zero"``: the activity rises linearly from 0 at injection to A_1 (head =
      A_1·t_1/2). ``start="extrapolate"``: the activity was there from injection and
      decayed with λ_head = max(ln(A_1/A_2)/(t_2 − t_1), λ_phys) (the first two samples,
      never slower than physical decay; λ_phys when they rise or one is 0): head =
      A_1·(exp(λ_head t_1) − 1)/λ_head. No head when t_1 = 0.
    - ``tail="fit"``: λ_tail from the bounded mono-exponential fit of the last
      ``tail_points`` (2 or 3) samples (λ_tail >= λ_phys, enforced in the fit;
      ``bound_active`` when it ends there); ``tail="physical"``: λ_tail = λ_phys. The tail
      starts at the last measured sample A_n (continuous curve), and is 0 when A_n = 0.

    Parameters
    ----------
    times_h, activity_mbq : sequence of float, shape (n,)
        As in :func:`fit_tac` (n >= 2; ``tail_points`` samples needed for the fitted tail).
    physical_half_life_h : float
        h.
    tail : {"fit", "physical"}
    tail_points : {2, 3}
    start : {"zero", "extrapolate"}
    relative_uncertainty : float or sequence of float, optional
        When given, the TIA uncertainty is propagated from it (numerical derivatives with
        respect to each sample); otherwise it is NaN (not estimated).

    Returns
    -------
    TacFit
        ``model == "trapezoid"``, ``aicc`` None, residuals 0 (the curve passes through the
        samples).
    """
    if tail not in ("fit", "physical"):
        raise InputError(f"tail = {tail!r}: use 'fit' or 'physical'.")
    if start not in ("zero", "extrapolate"):
        raise InputError(f"start = {start!r}: use 'zero' or 'extrapolate'.")
    if isinstance(tail_points, bool) or tail_points not in (2, 3):
        raise InputError(f"tail_points = {tail_points!r}: use 2 or 3.")
    t, a, u, lam_p, given = _check_samples(
        times_h, activity_mbq, relative_uncertainty, physical_half_life_h, min_points=2,
        fitting=False,
    )
    if tail == "fit" and t.size < tail_points:
        raise InputError(
            f"times_h has {t.size} samples; tail='fit' with tail_points={tail_points} needs at "
            f"least {tail_points} (use tail_points=2 or tail='physical')."
        )

    def head_lambda(av: np.ndarray) -> float:
        if av[0] > 0 and av[1] > 0:
            return max(math.log(av[0] / av[1]) / (t[1] - t[0]), lam_p)
        return lam_p

    def total(av: np.ndarray) -> tuple[float, tuple[float, float, float], float, float, bool,
                                        str, float]:
        lam_t, sd_t, bound, note = _tail_lambda(t, av, u, lam_p, given, tail, tail_points)
        lam_h = head_lambda(av)
        pieces = _trapezoid_pieces(t, av, lam_h, lam_t, start)
        return sum(pieces), pieces, lam_t, sd_t, bound, note, lam_h

    tia, pieces, lam_t, sd_t, bound, note, lam_h = total(a)
    if given:
        sig = _sigma(a, u)
        grad = np.zeros(t.size)
        for i in range(t.size):
            h = 1e-6 * max(a[i], SIGMA_FLOOR_FRACTION * float(a.max()))
            up, dn = a.copy(), a.copy()
            up[i] += h
            dn[i] = max(dn[i] - h, 0.0)
            grad[i] = (total(up)[0] - total(dn)[0]) / (up[i] - dn[i])
        tia_sd = float(np.sqrt(np.sum((grad * sig) ** 2)))
        basis = "propagated from the given relative uncertainties (numerical derivatives)"
    else:
        tia_sd = math.nan
        basis = "not estimated: give relative_uncertainty to propagate sample uncertainties"
    warnings = []
    active: tuple[str, ...] = ()
    if bound:
        active = ("lambda_tail_per_h = lambda_physical",)
        warnings.append(
            "trapezoid tail: the last samples decay more slowly than physical decay; the tail "
            f"uses physical decay (T1/2 = {LN2 / lam_p:.4g} h)."
        )
    a0 = 0.0 if start == "zero" or t[0] == 0.0 else float(a[0] * math.exp(lam_h * t[0]))
    if t[0] == 0.0:
        a0 = float(a[0])
    head, _, tail_part = pieces
    return TacFit(
        model="trapezoid",
        params={
            "lambda_tail_per_h": float(lam_t),
            "lambda_head_per_h": float(lam_h),
            "activity_at_0_mbq": a0,
        },
        param_sd={"lambda_tail_per_h": float(sd_t), "lambda_head_per_h": math.nan,
                  "activity_at_0_mbq": math.nan},
        tia_mbq_h=float(tia),
        tia_sd_mbq_h=tia_sd,
        aicc=None,
        effective_half_life_h=float(LN2 / lam_t),
        bound_active=bound,
        active_bounds=active,
        n_points=int(t.size),
        dof=0,
        wrss=0.0,
        residuals_mbq=tuple(0.0 for _ in t),
        times_h=tuple(float(v) for v in t),
        activity_mbq=tuple(float(v) for v in a),
        relative_uncertainty=tuple(float(v) for v in u),
        physical_half_life_h=float(LN2 / lam_p),
        uncertainty_basis=basis,
        tia_before_first_sample_fraction=head / tia if tia > 0 else 0.0,
        tia_after_last_sample_fraction=tail_part / tia if tia > 0 else 0.0,
        covariance=((math.nan,) * 3,) * 3,
        converged=True,
        options={"start": start, "tail": tail, "tail_points": tail_points, "tail_note": note},
        warnings=tuple(warnings),
    )
