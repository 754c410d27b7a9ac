"""PRRT next-cycle activity: the largest activity that keeps every organ within its limits.

For each organ with limits, the dose of a future cycle is predicted from this patient's dose
per unit activity k (Gy/GBq) of the cycles done so far — the most recent cycle
(``estimate="latest"``, default) or the mean over cycles (``"mean"``) — and its BED from the
effective half-life estimated the same way:

    d(A) = k · A,   BED(A) = k A + q A²,   q = k² · G / (α/β)   (G: repair factor)

Every remaining cycle gets the same activity A (the usual fixed-activity scheme, and the
choice that maximises total activity under a convex BED constraint). With n remaining
cycles, cumulative dose D0 and BED B0 so far and limits L_D, L_B:

    dose:  D0 + n k A <= L_D        ->  A <= (L_D − D0) / (n k)
    BED:   B0 + n (k A + q A²) <= L_B  ->  A <= 2 R / (k + sqrt(k² + 4 q R)),  R = (L_B − B0)/n

(the positive root of the quadratic, written without cancellation). The activity is the
smallest of these over all organs and limits, capped at the standard activity (7.4 GBq)
unless the caller sets another cap. Activities are not rounded: rounding up would break the
limiting constraint.

If a limit is already reached or exceeded, or no cycle remains, the result says
"no further cycle within limits" with the reason; it does not raise.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal

from netdose.dosimetry.radiobiology import TissueParameters, g_factor, tissue_parameters
from netdose.errors import InputError
from netdose.prrt.limits import LIMIT_RTOL, Limits, Quantity, RiskFactors
from netdose.sirt import _checks
from netdose.units import MBQ_PER_GBQ

__all__ = [
    "NO_FURTHER_CYCLE",
    "STANDARD_ACTIVITY_GBQ",
    "STANDARD_CYCLES",
    "STANDARD_SCHEME_SOURCE",
    "WITHIN_LIMITS",
    "ConstraintBound",
    "NextCyclePlan",
    "OrganHistory",
    "OrganPrediction",
    "plan_next_cycle",
]

WITHIN_LIMITS: Literal["within limits"] = "within limits"
NO_FURTHER_CYCLE: Literal["no further cycle within limits"] = "no further cycle within limits"
Verdict = Literal["within limits", "no further cycle within limits"]
Estimate = Literal["latest", "mean"]

#: Standard Lu-177 DOTATATE activity per cycle and number of cycles.
STANDARD_ACTIVITY_GBQ: float = 7.4
STANDARD_CYCLES: int = 4
STANDARD_SCHEME_SOURCE = (
    "[177Lu]Lu-DOTATATE (Lutathera) standard scheme: 7.4 GBq (200 mCi) per administration, "
    "4 administrations 8 weeks apart (NETTER-1; product label) — as commonly quoted, not "
    "verified against the label here."
)


# =========================================================================== inputs
@dataclasses.dataclass(frozen=True)
class OrganHistory:
    """One organ's dosimetry over the cycles done so far.

    Attributes
    ----------
    organ : str
        Organ name (``"kidney_left"``); its limit class comes from the name.
    dose_per_activity_gy_per_gbq : tuple of float
        Absorbed dose per administered activity of each cycle with dosimetry, oldest first,
        Gy/GBq (> 0).
    cumulative_dose_gy : float
        Absorbed dose of all cycles given so far, Gy.
    cumulative_bed_gy : float or None
        Sum of per-cycle BEDs so far, Gy (required when a BED limit applies).
    effective_half_life_h : tuple of float
        Effective half-life of each cycle, oldest first, hours (required when a BED limit
        applies; may be empty otherwise).
    tissue : TissueParameters or None
        Radiobiology parameters; None: the default of the organ's class.
    """

    organ: str
    dose_per_activity_gy_per_gbq: tuple[float, ...]
    cumulative_dose_gy: float
    cumulative_bed_gy: float | None = None
    effective_half_life_h: tuple[float, ...] = ()
    tissue: TissueParameters | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.organ, str) or not self.organ.strip():
            raise InputError(f"OrganHistory.organ = {self.organ!r} is not an organ name.")
        o = self.organ
        k = _positive_tuple(f"{o}: dose_per_activity_gy_per_gbq",
                            self.dose_per_activity_gy_per_gbq, "Gy/GBq")
        if not k:
            raise InputError(
                f"{o}: dose_per_activity_gy_per_gbq is empty; give the dose per GBq of at least "
                "one cycle with dosimetry."
            )
        object.__setattr__(self, "dose_per_activity_gy_per_gbq", k)
        object.__setattr__(self, "effective_half_life_h", _positive_tuple(
            f"{o}: effective_half_life_h", self.effective_half_life_h, "h"))
        object.__setattr__(self, "cumulative_dose_gy", _checks.non_negative(
            f"{o}: cumulative_dose_gy", self.cumulative_dose_gy, "Gy"))
        if self.cumulative_bed_gy is not None:
            object.__setattr__(self, "cumulative_bed_gy", _checks.non_negative(
                f"{o}: cumulative_bed_gy", self.cumulative_bed_gy, "Gy"))
        if self.tissue is not None and not isinstance(self.tissue, TissueParameters):
            raise InputError(f"{o}: tissue = {self.tissue!r} is not TissueParameters.")


def _positive_tuple(name: str, values: object, unit: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InputError(f"{name} = {values!r} must be a list of numbers in {unit}.")
    return tuple(_checks.positive(f"{name}[{i}]", v, unit) for i, v in enumerate(values))


# =========================================================================== results
@dataclasses.dataclass(frozen=True)
class ConstraintBound:
    """One organ limit and the largest activity per remaining cycle it allows.

    Attributes
    ----------
    organ, limit_class, quantity : str
        Organ, its limit class and ``"dose_gy"`` or ``"bed_gy"``.
    limit_gy : float
    condition, source : str
    cumulative_so_far_gy : float
        Dose or BED of the cycles done, Gy.
    budget_per_cycle_gy : float
        (limit − so far) / remaining cycles, Gy (negative: already exceeded).
    max_activity_gbq : float
        Largest activity per remaining cycle this limit allows, GBq (0 when none).
    predicted_cumulative_gy : float
        Cumulative dose or BED after all remaining cycles at the planned activity, Gy.
    fraction_used : float
        predicted cumulative / limit.
    """

    organ: str
    limit_class: str
    quantity: str
    limit_gy: float
    condition: str
    source: str
    cumulative_so_far_gy: float
    budget_per_cycle_gy: float
    max_activity_gbq: float
    predicted_cumulative_gy: float
    fraction_used: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class OrganPrediction:
    """Predicted doses of one organ at the planned activity.

    Attributes
    ----------
    organ : str
    dose_per_activity_gy_per_gbq : float
        k used for the prediction, Gy/GBq.
    effective_half_life_h : float or None
        T_eff used for BED, hours.
    g_factor : float or None
    alpha_beta_gy, repair_half_time_h : float or None
        Tissue parameters used (None: no BED predicted).
    dose_per_cycle_gy, bed_per_cycle_gy : float, float or None
        One remaining cycle at the planned activity, Gy.
    cumulative_dose_gy, cumulative_bed_gy : float, float or None
        After all remaining cycles, Gy.
    """

    organ: str
    dose_per_activity_gy_per_gbq: float
    effective_half_life_h: float | None
    g_factor: float | None
    alpha_beta_gy: float | None
    repair_half_time_h: float | None
    dose_per_cycle_gy: float
    bed_per_cycle_gy: float | None
    cumulative_dose_gy: float
    cumulative_bed_gy: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class NextCyclePlan:
    """The activity per remaining cycle and why.

    Attributes
    ----------
    verdict : str
        ``"within limits"`` or ``"no further cycle within limits"``.
    reason : str
        What fixed the activity, or why no further cycle is possible.
    activity_gbq : float
        Activity for each remaining cycle, GBq (0 when no further cycle).
    cycles_done, remaining_cycles : int
    limited_by : str
        ``"limit"`` (an organ limit), ``"cap"`` (the activity cap) or ``"none"``.
    limiting_organ, limiting_quantity : str or None
        The tightest organ constraint (reported even when the cap binds).
    limiting_limit_gy : float or None
    uncapped_activity_gbq : float
        Largest activity per remaining cycle all limits allow, GBq.
    cap_gbq : float
        Activity cap used, GBq.
    estimate : str
        ``"latest"`` or ``"mean"``.
    constraints : tuple of ConstraintBound
    predictions : tuple of OrganPrediction
    risk_factors : dict
    limits : dict
        ``Limits.as_dict()``.
    assumptions, warnings : tuple of str
    """

    verdict: Verdict
    reason: str
    activity_gbq: float
    cycles_done: int
    remaining_cycles: int
    limited_by: str
    limiting_organ: str | None
    limiting_quantity: str | None
    limiting_limit_gy: float | None
    uncapped_activity_gbq: float
    cap_gbq: float
    estimate: Estimate
    constraints: tuple[ConstraintBound, ...]
    predictions: tuple[OrganPrediction, ...]
    risk_factors: dict[str, bool]
    limits: dict[str, Any]
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def activity_mbq(self) -> float:
        """Activity per remaining cycle, MBq."""
        return self.activity_gbq * MBQ_PER_GBQ

    @property
    def feasible(self) -> bool:
        """True when a further cycle within limits is possible."""
        return self.verdict == WITHIN_LIMITS

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (infinite activities as null)."""
        out = dataclasses.asdict(self)
        for key in ("assumptions", "warnings"):
            out[key] = list(out[key])
        if math.isinf(self.uncapped_activity_gbq):
            out["uncapped_activity_gbq"] = None
        for c in out["constraints"]:
            if math.isinf(c["max_activity_gbq"]):
                c["max_activity_gbq"] = None
        return out


# =========================================================================== solver
def _estimate(values: tuple[float, ...], how: Estimate) -> float:
    return values[-1] if how == "latest" else math.fsum(values) / len(values)


def _max_activity_dose(budget_per_cycle_gy: float, k: float) -> float:
    return max(budget_per_cycle_gy, 0.0) / k


def _max_activity_bed(budget_per_cycle_gy: float, k: float, q: float) -> float:
    r = max(budget_per_cycle_gy, 0.0)
    return 2.0 * r / (k + math.sqrt(k * k + 4.0 * q * r))


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} = {value!r} must be a whole number >= {minimum}.")
    return int(value)


def plan_next_cycle(
    organs: Sequence[OrganHistory],
    *,
    cycles_done: int,
    limits: Limits,
    risk_factors: RiskFactors,
    remaining_cycles: int | None = None,
    total_cycles: int = STANDARD_CYCLES,
    standard_activity_gbq: float = STANDARD_ACTIVITY_GBQ,
    max_activity_gbq: float | None = None,
    estimate: Estimate = "latest",
) -> NextCyclePlan:
    """Largest equal activity for the remaining cycles within every organ limit.

    Parameters
    ----------
    organs : sequence of OrganHistory
        Dosimetry so far of each organ (at least one organ with a limit, e.g. a kidney).
    cycles_done : int
        Cycles already given (>= 1: planning needs this patient's dosimetry).
    limits : Limits
        ``Limits.default()`` or with overrides.
    risk_factors : RiskFactors
        The patient's renal risk factors (choose the kidney BED limit).
    remaining_cycles : int, optional
        Cycles still to give (each at the returned activity); default
        ``total_cycles − cycles_done``.
    total_cycles : int
        Planned cycles in total (default 4, the standard scheme).
    standard_activity_gbq : float
        Standard activity per cycle, GBq (default 7.4).
    max_activity_gbq : float, optional
        Activity cap per cycle, GBq; None: ``standard_activity_gbq``. Give a larger value to
        allow more than the standard activity.
    estimate : {"latest", "mean"}
        Dose per activity and effective half-life of future cycles: the most recent cycle's
        (default; follows the patient's current kinetics) or the mean over the cycles done
        (less sensitive to one noisy measurement).

    Returns
    -------
    NextCyclePlan
        Activity, limiting organ and limit, predicted doses and BEDs; ``verdict`` "no further
        cycle within limits" (with ``reason``) when no positive activity fits.

    Raises
    ------
    InputError
        Bad inputs; no organ with a limit; a BED limit applies to an organ without
        ``cumulative_bed_gy`` or ``effective_half_life_h``.
    """
    if estimate not in ("latest", "mean"):
        raise InputError(f"estimate = {estimate!r}; use 'latest' or 'mean'.")
    if not isinstance(limits, Limits):
        raise InputError(f"limits = {limits!r} is not a Limits; use Limits.default().")
    if not isinstance(risk_factors, RiskFactors):
        raise InputError(
            f"risk_factors = {risk_factors!r} is not a RiskFactors; state them explicitly, "
            "e.g. RiskFactors.none()."
        )
    done = _whole("cycles_done", cycles_done, 1)
    total = _whole("total_cycles", total_cycles, 1)
    n = total - done if remaining_cycles is None else _whole("remaining_cycles",
                                                             remaining_cycles, 0)
    standard = _checks.positive("standard_activity_gbq", standard_activity_gbq, "GBq")
    cap = standard if max_activity_gbq is None else _checks.positive(
        "max_activity_gbq", max_activity_gbq, "GBq")
    if isinstance(organs, (str, bytes)) or not isinstance(organs, Sequence) or not organs:
        raise InputError("organs must be a non-empty list of OrganHistory (one per organ).")
    names = [o.organ if isinstance(o, OrganHistory) else None for o in organs]
    for i, o in enumerate(organs):
        if not isinstance(o, OrganHistory):
            raise InputError(f"organs[{i}] = {o!r} is not an OrganHistory.")
    dupes = sorted({x for x in names if names.count(x) > 1 and x is not None})
    if dupes:
        raise InputError(f"organ(s) {dupes} given more than once; give one OrganHistory each.")

    warnings: list[str] = []
    # -- per-organ model
    models: list[tuple[OrganHistory, float, float | None, float | None,
                       TissueParameters | None]] = []
    bounds: list[tuple[OrganHistory, str, Quantity, float, str, str, float, float, float]] = []
    for o in organs:
        if len(o.dose_per_activity_gy_per_gbq) > done:
            raise InputError(
                f"{o.organ}: {len(o.dose_per_activity_gy_per_gbq)} dose-per-activity values "
                f"for {done} cycles done; give one value per cycle with dosimetry."
            )
        if len(o.dose_per_activity_gy_per_gbq) < done:
            warnings.append(
                f"{o.organ}: dosimetry for {len(o.dose_per_activity_gy_per_gbq)} of {done} "
                "cycles; check that cumulative_dose_gy includes the cycles without dosimetry."
            )
        k = _estimate(o.dose_per_activity_gy_per_gbq, estimate)
        organ_limits = limits.for_organ(o.organ)
        applicable = organ_limits.applicable(risk_factors) if organ_limits else ()
        needs_bed = any(q == "bed_gy" for q, _, _ in applicable)
        tissue = o.tissue
        if tissue is None and (needs_bed or o.effective_half_life_h):
            try:
                tissue = tissue_parameters(o.organ)
            except InputError:
                if needs_bed:
                    raise
                tissue = None
        t_eff = _estimate(o.effective_half_life_h, estimate) if o.effective_half_life_h else None
        if needs_bed and (t_eff is None or o.cumulative_bed_gy is None):
            missing = "effective_half_life_h" if t_eff is None else "cumulative_bed_gy"
            raise InputError(
                f"{o.organ}: a BED limit applies but {missing} is missing; give the effective "
                "half-life of each cycle and the cumulative BED so far."
            )
        g = None if (t_eff is None or tissue is None) else g_factor(
            t_eff, tissue.repair_half_time_h)
        q = None if g is None or tissue is None else k * k * g / tissue.alpha_beta_gy
        models.append((o, k, t_eff, g, tissue))
        if organ_limits is None:
            continue
        for quantity, limit, condition in applicable:
            so_far = o.cumulative_dose_gy if quantity == "dose_gy" else float(
                o.cumulative_bed_gy or 0.0)
            budget = (limit - so_far) / n if n > 0 else 0.0
            if n == 0:
                a_max = 0.0
            elif quantity == "dose_gy":
                a_max = _max_activity_dose(budget, k)
            else:
                a_max = _max_activity_bed(budget, k, float(q or 0.0))
            bounds.append((o, organ_limits.organ, quantity, limit, condition,
                           organ_limits.source_of(quantity, risk_factors), so_far, budget,
                           a_max))
    if not bounds:
        raise InputError(
            f"none of the organs {names} has a limit in the limits used "
            f"({', '.join(sorted(limits.organs))}); give at least the kidneys' dosimetry "
            "('kidney_left', 'kidney_right' or 'kidneys')."
        )
    covered = {b[1] for b in bounds}
    for key, ol in sorted(limits.organs.items()):
        if key not in covered and ol.applicable(risk_factors):
            warnings.append(f"no dosimetry for any {key} organ: its limits were not checked")

    # -- activity
    tight = min(bounds, key=lambda b: b[8])
    uncapped = tight[8]
    activity = min(uncapped, cap)
    already = [b for b in bounds if b[6] > b[3] * (1.0 + LIMIT_RTOL)]
    reached = [b for b in bounds if b[8] <= 0.0]
    label = {"dose_gy": "absorbed dose", "bed_gy": "BED"}
    if n == 0:
        verdict: Verdict = NO_FURTHER_CYCLE
        reason = (f"no cycle remains: {done} cycle(s) done of {total} planned "
                  "(pass remaining_cycles to plan more)")
        activity, limited_by = 0.0, "none"
    elif already or reached:
        verdict = NO_FURTHER_CYCLE
        reason = "; ".join(
            f"{b[0].organ}: cumulative {label[b[2]]} {b[6]:.2f} Gy "
            f"{'already exceeds' if b in already else 'has reached'} the {b[3]:g} Gy {b[1]} "
            f"{label[b[2]]} limit ({b[4]})"
            for b in (already or reached)
        ) + "; any further activity would exceed it"
        activity, limited_by = 0.0, "limit"
    elif uncapped <= cap:
        verdict = WITHIN_LIMITS
        limited_by = "limit"
        reason = (
            f"{activity:.4g} GBq per cycle for {n} cycle(s) brings {tight[0].organ} to its "
            f"{tight[3]:g} Gy {tight[1]} {label[tight[2]]} limit ({tight[4]})"
        )
    else:
        verdict = WITHIN_LIMITS
        limited_by = "cap"
        reason = (
            f"capped at {cap:g} GBq per cycle for {n} cycle(s); the limits would allow "
            f"{uncapped:.4g} GBq (tightest: {tight[0].organ} {label[tight[2]]} "
            f"{tight[3]:g} Gy)"
        )

    # -- predictions at the chosen activity
    predictions: list[OrganPrediction] = []
    pred_by_organ: dict[str, tuple[float, float | None]] = {}
    for o, k, t_eff, g, tissue in models:
        d1 = k * activity
        b1 = None if g is None or tissue is None else d1 * (1.0 + g * d1 / tissue.alpha_beta_gy)
        cum_d = o.cumulative_dose_gy + n * d1
        cum_b = None if b1 is None or o.cumulative_bed_gy is None else (
            o.cumulative_bed_gy + n * b1)
        pred_by_organ[o.organ] = (cum_d, cum_b)
        predictions.append(OrganPrediction(
            organ=o.organ,
            dose_per_activity_gy_per_gbq=k,
            effective_half_life_h=t_eff,
            g_factor=g,
            alpha_beta_gy=None if tissue is None or g is None else tissue.alpha_beta_gy,
            repair_half_time_h=None if tissue is None or g is None else tissue.repair_half_time_h,
            dose_per_cycle_gy=d1,
            bed_per_cycle_gy=b1,
            cumulative_dose_gy=cum_d,
            cumulative_bed_gy=cum_b,
        ))
    constraints = []
    for o, cls, quantity, limit, condition, source, so_far, budget, a_max in bounds:
        cum_d, cum_b = pred_by_organ[o.organ]
        pred = cum_d if quantity == "dose_gy" else float(cum_b if cum_b is not None else so_far)
        constraints.append(ConstraintBound(
            organ=o.organ, limit_class=cls, quantity=quantity, limit_gy=limit,
            condition=condition, source=source, cumulative_so_far_gy=so_far,
            budget_per_cycle_gy=budget, max_activity_gbq=a_max,
            predicted_cumulative_gy=pred, fraction_used=pred / limit,
        ))
    assumptions = (
        (f"dose per GBq and effective half-life of future cycles = the {estimate} value(s) "
         "of the cycles done"),
        f"the same activity in each of the {n} remaining cycle(s)",
        ("BED additive over cycles (cycles weeks apart); uptake phase neglected "
         "(overestimates BED: conservative for organs at risk)"),
        f"standard scheme: {STANDARD_SCHEME_SOURCE}",
    )
    return NextCyclePlan(
        verdict=verdict,
        reason=reason,
        activity_gbq=activity,
        cycles_done=done,
        remaining_cycles=n,
        limited_by=limited_by,
        limiting_organ=tight[0].organ,
        limiting_quantity=tight[2],
        limiting_limit_gy=tight[3],
        uncapped_activity_gbq=uncapped,
        cap_gbq=cap,
        estimate=estimate,
        constraints=tuple(constraints),
        predictions=tuple(predictions),
        risk_factors=risk_factors.as_dict(),
        limits=limits.as_dict(),
        assumptions=assumptions,
        warnings=tuple(warnings),
    )
