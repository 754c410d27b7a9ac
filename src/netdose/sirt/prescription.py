"""SIRT (Y-90 radioembolisation) activity prescription: pure calculations, no I/O.

Models (docs/physics.md (section 8) gives every equation, constant and source):

- :func:`resin_bsa` — SIR-Spheres body-surface-area method with the LSF reduction table.
- :func:`mird_single_compartment` — one uniform compartment: A = D·m / (C·(1 − LSF)).
- :func:`partition` — tumour / normal liver / lung partition model (Ho et al. 1996).
- :func:`activity_for_constraints` — the activity window allowed by dose constraints that
  scale linearly with activity (D_c = k_c · A), e.g. from a predicted dose map.
- :func:`lung_dose_gy`, :func:`cumulative_lung_dose_gy`, :func:`check_lung_limits`.

Conventions:

- ``activity_gbq`` is the activity **delivered to the patient** (implanted), at injection.
  ``vial_activity_gbq`` = activity_gbq / (1 − R) is what must be in the vial at injection
  time, R being the residual fraction left in vial and delivery set. Decay to the vial's
  calibration time is in :mod:`netdose.sirt.decay`.
- Fractions (LSF, residual, tumour involvement) are fractions, not percentages.
- A safety limit that is exceeded does **not** raise: the result has ``status ==
  "do not treat"`` and says why in ``reasons``; :meth:`Prescription.raise_if_blocked` raises
  :class:`~netdose.errors.LimitExceeded` for callers who want that.
- Clinical inputs (height, weight, masses, LSF, device, earlier lung doses) have no
  defaults. Physical constants come from a :class:`~netdose.sirt.constants.SirtConstants`
  and every result records them.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from netdose.errors import InputError, LimitExceeded, PhysicsRangeError
from netdose.sirt import _checks
from netdose.sirt.constants import (
    DEFAULT_CONSTANTS,
    HEIGHT_RANGE_CM,
    MAX_TISSUE_MASS_KG,
    WEIGHT_RANGE_KG,
    SirtConstants,
)
from netdose.units import KG_PER_G

__all__ = [
    "DO_NOT_TREAT",
    "TREAT",
    "ActivityPlan",
    "Constraint",
    "ConstraintBound",
    "LungCheck",
    "Prescription",
    "activity_for_constraints",
    "bsa_dubois_m2",
    "check_lung_limits",
    "cumulative_lung_dose_gy",
    "lung_dose_gy",
    "mird_single_compartment",
    "partition",
    "resin_bsa",
    "tissue_mass_kg",
]

TREAT: Literal["treat"] = "treat"
DO_NOT_TREAT: Literal["do not treat"] = "do not treat"
Status = Literal["treat", "do not treat"]

#: Relative tolerance of limit comparisons, so that an activity chosen to sit exactly on a
#: limit is not flagged for a last-bit rounding difference.
_LIMIT_RTOL = 1e-9


def _pct(fraction: float) -> str:
    return f"{100.0 * fraction:.1f} %"


# =========================================================================== result types
@dataclasses.dataclass(frozen=True)
class Prescription:
    """One SIRT activity prescription and everything needed to sign or reproduce it.

    Attributes
    ----------
    method : str
        ``"resin_bsa"``, ``"mird_single_compartment"`` or ``"partition"``.
    device : str
        ``"resin"`` or ``"glass"``.
    status : str
        ``"treat"`` or ``"do not treat"``.
    reasons : tuple of str
        Why the plan is blocked (empty when ``status == "treat"``).
    activity_gbq : float
        Activity to be delivered to the patient at injection (after the residual), GBq.
        For a blocked plan this is still the activity the method computes, so that the
        report shows how far from the limits it is.
    vial_activity_gbq : float
        Activity needed in the vial at injection: ``activity_gbq / (1 - residual_fraction)``.
    residual_fraction : float
        Fraction of the vial activity expected to stay in vial and delivery set.
    lsf : float
        Lung shunt fraction used.
    lung_dose_gy : float
        Mean lung dose of this treatment, Gy.
    cumulative_lung_dose_gy : float
        Earlier treatments' lung doses + this one, Gy.
    perfused_dose_gy : float or None
        Mean dose over the whole perfused volume (tumour + normal liver), Gy.
    perfused_normal_dose_gy : float or None
        Mean dose to the perfused normal (non-tumoural) liver, Gy (partition doses only).
    tumour_dose_gy : float or None
        Mean tumour dose, Gy (partition doses only).
    masses_kg : dict
        Masses used, kg: ``"perfused"``, ``"tumour"``, ``"perfused_normal"``, ``"lung"``
        (those that were known).
    reduction_factor : float
        Activity factor applied by the method (resin LSF table); 1.0 for none.
    reductions : tuple of str
        Each reduction applied and why.
    binding_constraint : str or None
        Partition with two dose goals: the one that fixed the activity.
    warnings : tuple of str
        Assumptions the user should know about (default lung mass, residual not given...).
    inputs : dict
        The clinical inputs as received.
    details : dict
        Intermediate values of the method (e.g. ``bsa_m2``, ``activity_before_reductions_gbq``).
    constants : dict
        ``SirtConstants.as_dict()``: value, unit and source of every constant.
    """

    method: str
    device: str
    status: Status
    reasons: tuple[str, ...]
    activity_gbq: float
    vial_activity_gbq: float
    residual_fraction: float
    lsf: float
    lung_dose_gy: float
    cumulative_lung_dose_gy: float
    perfused_dose_gy: float | None
    perfused_normal_dose_gy: float | None
    tumour_dose_gy: float | None
    masses_kg: dict[str, float]
    reduction_factor: float
    reductions: tuple[str, ...]
    binding_constraint: str | None
    warnings: tuple[str, ...]
    inputs: dict[str, Any]
    details: dict[str, float]
    constants: dict[str, dict[str, Any]]

    @property
    def blocked(self) -> bool:
        """True when a limit blocks the plan (``status == "do not treat"``)."""
        return self.status == DO_NOT_TREAT

    def raise_if_blocked(self) -> Prescription:
        """Raise :class:`LimitExceeded` if the plan is blocked; return ``self`` otherwise."""
        if self.blocked:
            raise LimitExceeded(
                f"{self.method} ({self.device}) plan blocked: {'; '.join(self.reasons)}. "
                "Change the plan (activity, catheter position, LSF reduction) or accept the "
                "block; the result object still holds the computed activity and doses."
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field."""
        out = dataclasses.asdict(self)
        for key in ("reasons", "reductions", "warnings"):
            out[key] = list(out[key])
        return out


@dataclasses.dataclass(frozen=True)
class LungCheck:
    """Lung dose of one treatment checked against the per-treatment and cumulative limits.

    Attributes
    ----------
    lung_dose_gy : float
        This treatment, Gy.
    previous_lung_doses_gy : tuple of float
        Earlier treatments, Gy.
    cumulative_lung_dose_gy : float
        Sum of both, Gy.
    limit_gy, cumulative_limit_gy : float
        Limits applied, Gy.
    reasons : tuple of str
        One entry per limit exceeded (empty: within limits).
    """

    lung_dose_gy: float
    previous_lung_doses_gy: tuple[float, ...]
    cumulative_lung_dose_gy: float
    limit_gy: float
    cumulative_limit_gy: float
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when both limits are met."""
        return not self.reasons


# =========================================================================== small models
def tissue_mass_kg(volume_ml: float, *, constants: SirtConstants = DEFAULT_CONSTANTS) -> float:
    """Mass in kg of a liver or tumour volume: m = V · ρ (ρ = ``tissue_density_g_ml``).

    Parameters
    ----------
    volume_ml : float
        Volume in mL (cm³), > 0.
    constants : SirtConstants
        Supplies the tissue density (1.03 g/mL by default).
    """
    v = _checks.positive("volume_ml", volume_ml, "mL")
    return v * constants.tissue_density_g_ml * KG_PER_G


def bsa_dubois_m2(
    height_cm: float, weight_kg: float, *, constants: SirtConstants = DEFAULT_CONSTANTS
) -> float:
    """Body surface area by DuBois & DuBois (1916): 0.007184 · W^0.425 · H^0.725, in m².

    Parameters
    ----------
    height_cm : float
        Body height in cm, plausible range 100–250 cm.
    weight_kg : float
        Body weight in kg, plausible range 20–300 kg.
    constants : SirtConstants
        Supplies the DuBois coefficient and exponents.

    Raises
    ------
    InputError
        Not a finite number > 0.
    PhysicsRangeError
        Outside the plausible range (usually a unit mistake: metres, pounds).
    """
    h = _checks.positive("height_cm", height_cm, "cm")
    w = _checks.positive("weight_kg", weight_kg, "kg")
    lo, hi = HEIGHT_RANGE_CM
    if not lo <= h <= hi:
        hint = " It looks like metres: give centimetres." if h < 3.0 else ""
        raise PhysicsRangeError(
            f"height_cm = {h:g} cm is outside the plausible range {lo:g}-{hi:g} cm.{hint}"
        )
    lo, hi = WEIGHT_RANGE_KG
    if not lo <= w <= hi:
        raise PhysicsRangeError(
            f"weight_kg = {w:g} kg is outside the plausible range {lo:g}-{hi:g} kg; give the "
            "weight in kilograms (not pounds or grams)."
        )
    c = constants
    return float(
        c.dubois_coefficient * w**c.dubois_weight_exponent * h**c.dubois_height_exponent
    )


def lung_dose_gy(
    activity_gbq: float,
    lsf: float,
    lung_mass_kg: float,
    constants: SirtConstants = DEFAULT_CONSTANTS,
) -> float:
    """Mean lung dose D_lung = A · LSF · C / m_lung, in Gy.

    Parameters
    ----------
    activity_gbq : float
        Activity delivered to the patient, GBq (>= 0).
    lsf : float
        Lung shunt fraction in [0, 1).
    lung_mass_kg : float
        Lung mass, kg (``constants.lung_mass_kg`` is the standard 1 kg).
    constants : SirtConstants
        Supplies C (``energy_constant_gy_kg_per_gbq``).
    """
    a = _checks.non_negative("activity_gbq", activity_gbq, "GBq")
    f = _checks.fraction_below_one("lsf", lsf)
    m = _mass("lung_mass_kg", lung_mass_kg)
    return a * f * constants.energy_constant_gy_kg_per_gbq / m


def cumulative_lung_dose_gy(previous_doses_gy: Sequence[float], this_gy: float) -> float:
    """Sum of the lung doses of earlier treatments and of this one, Gy.

    Parameters
    ----------
    previous_doses_gy : sequence of float
        Lung doses of earlier SIRT treatments, Gy (empty when none).
    this_gy : float
        Lung dose of this treatment, Gy.
    """
    previous = _checks.dose_list("previous_doses_gy", previous_doses_gy)
    return math.fsum(previous) + _checks.non_negative("this_gy", this_gy, "Gy")


def check_lung_limits(
    lung_dose_gy: float,
    previous_lung_doses_gy: Sequence[float],
    *,
    device: str,
    constants: SirtConstants = DEFAULT_CONSTANTS,
) -> LungCheck:
    """Check one treatment's lung dose against the per-treatment and cumulative limits.

    A limit is exceeded when the dose is above it (equal is allowed).

    Parameters
    ----------
    lung_dose_gy : float
        This treatment's lung dose, Gy.
    previous_lung_doses_gy : sequence of float
        Earlier treatments' lung doses, Gy (empty when none).
    device : {"resin", "glass"}
        Selects the limits (``SirtConstants.lung_limits_gy``).
    constants : SirtConstants
        Supplies the limits (30 Gy per treatment, 50 Gy cumulative by default).
    """
    dev = _checks.device(device)
    dose = _checks.non_negative("lung_dose_gy", lung_dose_gy, "Gy")
    previous = _checks.dose_list("previous_lung_doses_gy", previous_lung_doses_gy)
    total = cumulative_lung_dose_gy(previous, dose)
    limit, cumulative_limit = constants.lung_limits_gy(dev)
    reasons = []
    if dose > limit * (1.0 + _LIMIT_RTOL):
        reasons.append(
            f"lung dose {dose:.2f} Gy exceeds the {limit:g} Gy per-treatment limit ({dev})"
        )
    if total > cumulative_limit * (1.0 + _LIMIT_RTOL):
        earlier = " + ".join(f"{d:g}" for d in previous) or "0"
        reasons.append(
            f"cumulative lung dose {total:.2f} Gy (earlier {earlier} Gy + this {dose:.2f} Gy) "
            f"exceeds the {cumulative_limit:g} Gy cumulative limit ({dev})"
        )
    return LungCheck(dose, previous, total, limit, cumulative_limit, tuple(reasons))


# =========================================================================== prescriptions
def resin_bsa(
    height_cm: float,
    weight_kg: float,
    tumour_fraction: float,
    lsf: float,
    *,
    previous_lung_doses_gy: Sequence[float],
    perfused_mass_kg: float | None = None,
    tumour_mass_kg: float | None = None,
    tnr: float | None = None,
    residual_fraction: float | None = None,
    lung_mass_kg: float | None = None,
    constants: SirtConstants = DEFAULT_CONSTANTS,
) -> Prescription:
    """Resin microspheres (SIR-Spheres), body-surface-area method.

    A = (BSA − 0.2) + f  (GBq; BSA in m², f the tumour involvement fraction of the liver),
    then × the LSF factor of the SIR-Spheres table (LSF ≤ 10 %: 1; ≤ 15 %: 0.8; ≤ 20 %:
    0.6; > 20 %: do not treat). Higher LSF never gives more activity.

    Parameters
    ----------
    height_cm, weight_kg : float
        Patient height (cm) and weight (kg), for the DuBois BSA.
    tumour_fraction : float
        Tumour volume / whole-liver volume, in [0, 1].
    lsf : float
        Lung shunt fraction in [0, 1).
    previous_lung_doses_gy : sequence of float
        Lung doses of earlier SIRT treatments, Gy; ``[]`` when none (required: the
        cumulative limit depends on it).
    perfused_mass_kg : float, optional
        Mass of the treated (perfused) liver, kg: gives the mean perfused-volume dose.
    tumour_mass_kg : float, optional
        Tumour mass inside the perfused volume, kg (needs ``perfused_mass_kg``).
    tnr : float, optional
        Tumour-to-normal activity concentration ratio from MAA (needs ``tumour_mass_kg``):
        gives the partition tumour and normal-liver doses this activity implies.
    residual_fraction : float, optional
        Expected residual fraction in [0, 1); not given: ``constants.residual_fraction_default``
        (0) with a warning.
    lung_mass_kg : float, optional
        Patient lung mass, kg; not given: ``constants.lung_mass_kg`` (1 kg) with a warning.
    constants : SirtConstants
        Physical constants (recorded in the result).

    Returns
    -------
    Prescription
        ``status == "do not treat"`` when LSF > 20 % or a lung limit is exceeded.
    """
    c = constants
    bsa_m2 = bsa_dubois_m2(height_cm, weight_kg, constants=c)
    f = _checks.fraction_closed("tumour_fraction", tumour_fraction)
    shunt = _checks.fraction_below_one("lsf", lsf)
    previous = _checks.dose_list("previous_lung_doses_gy", previous_lung_doses_gy)
    m_perf = None if perfused_mass_kg is None else _mass("perfused_mass_kg", perfused_mass_kg)
    m_tum = None if tumour_mass_kg is None else _mass("tumour_mass_kg", tumour_mass_kg)
    ratio = None if tnr is None else _checks.positive("tnr", tnr, "")
    if m_tum is not None and m_perf is None:
        raise InputError(
            "tumour_mass_kg was given without perfused_mass_kg; give the perfused (treated) "
            "liver mass too, or leave both out."
        )
    if m_tum is not None and m_perf is not None and m_tum >= m_perf:
        raise InputError(
            f"tumour_mass_kg = {m_tum:g} kg is not smaller than perfused_mass_kg = "
            f"{m_perf:g} kg; the perfused mass includes the tumour."
        )
    if ratio is not None and m_tum is None:
        raise InputError("tnr was given without tumour_mass_kg; give both or neither.")

    activity_0 = c.resin_bsa_gbq_per_m2 * (bsa_m2 - c.resin_bsa_offset_m2) + (
        c.resin_bsa_gbq_per_tumour_fraction * f
    )
    if activity_0 <= 0.0:
        raise PhysicsRangeError(
            f"the BSA method gives {activity_0:.4g} GBq (BSA {bsa_m2:.3f} m2): outside its "
            "range; use a dosimetric method (MIRD or partition)."
        )
    factor, reductions, reasons = _resin_lsf_factor(shunt, c)
    warnings = []
    if m_perf is None:
        warnings.append(
            "no perfused_mass_kg given: the BSA method does not use liver or tumour mass, so "
            "no liver dose is reported; give the masses to see the doses this activity implies"
        )
    elif m_tum is not None and ratio is None:
        warnings.append(
            "tumour_mass_kg given without tnr: only the perfused-volume mean dose is reported"
        )
    return _build(
        method="resin_bsa",
        device="resin",
        activity_gbq=activity_0 * factor,
        lsf=shunt,
        perfused_mass_kg=m_perf,
        tumour_mass_kg=m_tum,
        normal_mass_kg=None if m_tum is None or m_perf is None else m_perf - m_tum,
        tnr=ratio,
        residual_fraction=residual_fraction,
        lung_mass_kg=lung_mass_kg,
        previous=previous,
        constants=c,
        inputs={
            "height_cm": height_cm, "weight_kg": weight_kg, "tumour_fraction": f,
            "lsf": shunt, "previous_lung_doses_gy": list(previous),
            "perfused_mass_kg": m_perf, "tumour_mass_kg": m_tum, "tnr": ratio,
            "residual_fraction": residual_fraction, "lung_mass_kg": lung_mass_kg,
        },
        reasons=reasons,
        warnings=warnings,
        reductions=reductions,
        reduction_factor=factor,
        details={"bsa_m2": bsa_m2, "activity_before_reductions_gbq": activity_0},
    )


def mird_single_compartment(
    target_dose_gy: float,
    target_mass_kg: float,
    lsf: float,
    *,
    device: str,
    previous_lung_doses_gy: Sequence[float],
    residual_fraction: float | None = None,
    lung_mass_kg: float | None = None,
    constants: SirtConstants = DEFAULT_CONSTANTS,
) -> Prescription:
    """MIRD single-compartment (uniform) model: the glass package-insert method.

    Delivered activity A = D · m / (C · (1 − LSF)); vial activity at injection
    A / (1 − R) = D · m / (C · (1 − LSF) · (1 − R)), R the residual fraction.

    Parameters
    ----------
    target_dose_gy : float
        Mean dose wanted in the target (perfused) volume, Gy (> 0).
    target_mass_kg : float
        Mass of the target volume, kg (> 0); from a volume use :func:`tissue_mass_kg`.
    lsf : float
        Lung shunt fraction in [0, 1).
    device : {"resin", "glass"}
        Microsphere type: selects lung limits; resin also refuses LSF > 20 %.
    previous_lung_doses_gy : sequence of float
        Lung doses of earlier treatments, Gy; ``[]`` when none.
    residual_fraction : float, optional
        Expected residual fraction in [0, 1); not given: the constants' default (0) with a
        warning.
    lung_mass_kg : float, optional
        Patient lung mass, kg; not given: the standard 1 kg with a warning.
    constants : SirtConstants
        Physical constants; ``SirtConstants(energy_constant_gy_kg_per_gbq=50.0)`` reproduces
        the TheraSphere package insert.
    """
    c = constants
    dev = _checks.device(device)
    dose = _checks.positive("target_dose_gy", target_dose_gy, "Gy")
    mass = _mass("target_mass_kg", target_mass_kg)
    shunt = _checks.fraction_below_one("lsf", lsf)
    previous = _checks.dose_list("previous_lung_doses_gy", previous_lung_doses_gy)
    activity = dose * mass / (c.energy_constant_gy_kg_per_gbq * (1.0 - shunt))
    return _build(
        method="mird_single_compartment",
        device=dev,
        activity_gbq=activity,
        lsf=shunt,
        perfused_mass_kg=mass,
        tumour_mass_kg=None,
        normal_mass_kg=None,
        tnr=None,
        residual_fraction=residual_fraction,
        lung_mass_kg=lung_mass_kg,
        previous=previous,
        constants=c,
        inputs={
            "target_dose_gy": dose, "target_mass_kg": mass, "lsf": shunt, "device": dev,
            "previous_lung_doses_gy": list(previous),
            "residual_fraction": residual_fraction, "lung_mass_kg": lung_mass_kg,
        },
        reasons=_resin_lsf_block(dev, shunt, c),
        warnings=[(
            "single compartment: the dose is the mean over the whole target volume; tumour "
            "and normal-liver doses are not separated (use the partition model for them)"
        )],
    )


def partition(
    *,
    tumour_dose_gy: float | None = None,
    normal_dose_gy: float | None = None,
    tumour_mass_kg: float,
    normal_mass_kg: float,
    tnr: float,
    lsf: float,
    device: str,
    previous_lung_doses_gy: Sequence[float],
    residual_fraction: float | None = None,
    lung_mass_kg: float | None = None,
    constants: SirtConstants = DEFAULT_CONSTANTS,
) -> Prescription:
    """Partition model (Ho et al. 1996): tumour, perfused normal liver and lung.

    With T the tumour-to-normal ratio of activity *concentration* (activity per mass) from
    MAA, the liver activity A_liver = A · (1 − LSF) splits so that
    D_normal = C · A_liver / (T · m_tumour + m_normal) and D_tumour = T · D_normal. Solved
    for the activity that gives the requested tumour dose, or the requested normal-liver
    dose; with both, the smaller activity is taken and ``binding_constraint`` names the
    dose goal that fixed it.

    Parameters
    ----------
    tumour_dose_gy : float, optional
        Mean tumour dose wanted, Gy.
    normal_dose_gy : float, optional
        Mean perfused normal-liver dose wanted (or not to exceed, when both are given), Gy.
    tumour_mass_kg, normal_mass_kg : float
        Tumour and perfused normal-liver masses, kg (> 0).
    tnr : float
        Tumour-to-normal activity concentration ratio (> 0).
    lsf : float
        Lung shunt fraction in [0, 1).
    device : {"resin", "glass"}
        Microsphere type (lung limits; resin refuses LSF > 20 %).
    previous_lung_doses_gy : sequence of float
        Lung doses of earlier treatments, Gy; ``[]`` when none.
    residual_fraction, lung_mass_kg, constants
        As in :func:`mird_single_compartment`.
    """
    c = constants
    dev = _checks.device(device)
    if tumour_dose_gy is None and normal_dose_gy is None:
        raise InputError(
            "partition needs a dose goal: give tumour_dose_gy, normal_dose_gy or both (Gy)."
        )
    d_tum = None if tumour_dose_gy is None else _checks.positive(
        "tumour_dose_gy", tumour_dose_gy, "Gy")
    d_norm = None if normal_dose_gy is None else _checks.positive(
        "normal_dose_gy", normal_dose_gy, "Gy")
    m_tum = _mass("tumour_mass_kg", tumour_mass_kg)
    m_norm = _mass("normal_mass_kg", normal_mass_kg)
    ratio = _checks.positive("tnr", tnr, "")
    shunt = _checks.fraction_below_one("lsf", lsf)
    previous = _checks.dose_list("previous_lung_doses_gy", previous_lung_doses_gy)

    # activity per Gy of normal-liver dose: A = D_N · (T m_T + m_N) / (C (1 - LSF))
    gbq_per_normal_gy = (ratio * m_tum + m_norm) / (
        c.energy_constant_gy_kg_per_gbq * (1.0 - shunt)
    )
    candidates: dict[str, float] = {}
    if d_tum is not None:
        candidates["tumour_dose_gy"] = d_tum / ratio * gbq_per_normal_gy
    if d_norm is not None:
        candidates["normal_dose_gy"] = d_norm * gbq_per_normal_gy
    binding = min(candidates, key=candidates.__getitem__)
    warnings = []
    if ratio < 1.0:
        warnings.append(
            f"TNR {ratio:g} < 1: the tumour takes up less than normal liver per gram, so the "
            "tumour dose is below the normal-liver dose"
        )
    if d_tum is not None and d_norm is not None and binding == "normal_dose_gy":
        warnings.append(
            f"the normal-liver dose {d_norm:g} Gy limits the activity: the tumour gets "
            f"{ratio * d_norm:.1f} Gy instead of the requested {d_tum:g} Gy"
        )
    details = {f"activity_for_{k.removesuffix('_gy')}_gbq": v for k, v in candidates.items()}
    return _build(
        method="partition",
        device=dev,
        activity_gbq=candidates[binding],
        lsf=shunt,
        perfused_mass_kg=m_tum + m_norm,
        tumour_mass_kg=m_tum,
        normal_mass_kg=m_norm,
        tnr=ratio,
        residual_fraction=residual_fraction,
        lung_mass_kg=lung_mass_kg,
        previous=previous,
        constants=c,
        inputs={
            "tumour_dose_gy": d_tum, "normal_dose_gy": d_norm, "tumour_mass_kg": m_tum,
            "normal_mass_kg": m_norm, "tnr": ratio, "lsf": shunt, "device": dev,
            "previous_lung_doses_gy": list(previous),
            "residual_fraction": residual_fraction, "lung_mass_kg": lung_mass_kg,
        },
        reasons=_resin_lsf_block(dev, shunt, c),
        warnings=warnings,
        binding=binding if len(candidates) == 2 else None,
        details=details,
    )


# =========================================================================== internals
def _mass(name: str, value: object) -> float:
    m = _checks.positive(name, value, "kg")
    if m > MAX_TISSUE_MASS_KG:
        raise PhysicsRangeError(
            f"{name} = {m:g} kg is above the plausible {MAX_TISSUE_MASS_KG:g} kg; give the "
            "mass in kg (not g), or convert a volume in mL with tissue_mass_kg()."
        )
    return m


def _resin_lsf_factor(
    lsf: float, constants: SirtConstants
) -> tuple[float, list[str], list[str]]:
    """(activity factor, reductions, blocking reasons) from the SIR-Spheres LSF table."""
    lower = 0.0
    for upper, factor in constants.resin_lsf_reduction_table:
        if lsf <= upper:
            if factor < 1.0:
                reduction = (
                    f"LSF {_pct(lsf)} is in ({_pct(lower)}, {_pct(upper)}]: activity x "
                    f"{factor:g} (reduced by {_pct(1.0 - factor)}), SIR-Spheres IFU table"
                )
                return factor, [reduction], []
            return factor, [], []
        lower = upper
    return 1.0, [], _resin_lsf_block("resin", lsf, constants)


def _resin_lsf_block(device: str, lsf: float, constants: SirtConstants) -> list[str]:
    if device == "resin" and lsf > constants.resin_max_lsf:
        return [(
            f"LSF {_pct(lsf)} exceeds {_pct(constants.resin_max_lsf)}: resin microspheres "
            "must not be given (SIR-Spheres IFU); no activity reduction is defined above it"
        )]
    return []


def _build(
    *,
    method: str,
    device: str,
    activity_gbq: float,
    lsf: float,
    perfused_mass_kg: float | None,
    tumour_mass_kg: float | None,
    normal_mass_kg: float | None,
    tnr: float | None,
    residual_fraction: float | None,
    lung_mass_kg: float | None,
    previous: tuple[float, ...],
    constants: SirtConstants,
    inputs: dict[str, Any],
    reasons: Sequence[str] = (),
    warnings: Sequence[str] = (),
    reductions: Sequence[str] = (),
    reduction_factor: float = 1.0,
    binding: str | None = None,
    details: Mapping[str, float] | None = None,
) -> Prescription:
    """Doses, lung limits, residual and status common to every method."""
    c = constants
    reasons, warnings = list(reasons), list(warnings)
    if residual_fraction is None:
        residual = c.residual_fraction_default
        warnings.append(
            f"no residual_fraction given: assumed {residual:g} "
            "(SirtConstants.residual_fraction_default), so the vial activity equals the "
            "delivered activity; give the expected residual fraction"
        )
    else:
        residual = _checks.fraction_below_one("residual_fraction", residual_fraction)
    if lung_mass_kg is None:
        m_lung = c.lung_mass_kg
        warnings.append(
            f"lung mass {m_lung:g} kg is the standard value (SirtConstants.lung_mass_kg); "
            "give the patient's CT lung mass as lung_mass_kg for a patient-specific lung dose"
        )
    else:
        m_lung = _mass("lung_mass_kg", lung_mass_kg)

    cte = c.energy_constant_gy_kg_per_gbq
    liver_gbq = activity_gbq * (1.0 - lsf)
    masses = {"lung": m_lung}
    perfused_dose = normal_dose = tumour_dose = None
    if perfused_mass_kg is not None:
        masses["perfused"] = perfused_mass_kg
        perfused_dose = cte * liver_gbq / perfused_mass_kg
    if tumour_mass_kg is not None:
        masses["tumour"] = tumour_mass_kg
    if normal_mass_kg is not None:
        masses["perfused_normal"] = normal_mass_kg
    if tnr is not None and tumour_mass_kg is not None and normal_mass_kg is not None:
        normal_dose = cte * liver_gbq / (tnr * tumour_mass_kg + normal_mass_kg)
        tumour_dose = tnr * normal_dose

    lung = lung_dose_gy(activity_gbq, lsf, m_lung, c)
    check = check_lung_limits(lung, previous, device=device, constants=c)
    reasons.extend(check.reasons)
    headroom_gy = min(check.limit_gy, check.cumulative_limit_gy - math.fsum(previous))
    if not check.ok and headroom_gy <= 0.0:
        reasons[-1] += "; the earlier treatments alone use up the cumulative lung limit"
    elif not check.ok:  # then lsf > 0: this treatment's lung dose caused the breach
        largest_gbq = headroom_gy * m_lung / (lsf * cte)
        reasons[-1] += (
            f"; the largest activity within the lung limits at this LSF and lung mass is "
            f"{largest_gbq:.4g} GBq"
        )

    return Prescription(
        method=method,
        device=device,
        status=DO_NOT_TREAT if reasons else TREAT,
        reasons=tuple(reasons),
        activity_gbq=activity_gbq,
        vial_activity_gbq=activity_gbq / (1.0 - residual),
        residual_fraction=residual,
        lsf=lsf,
        lung_dose_gy=lung,
        cumulative_lung_dose_gy=check.cumulative_lung_dose_gy,
        perfused_dose_gy=perfused_dose,
        perfused_normal_dose_gy=normal_dose,
        tumour_dose_gy=tumour_dose,
        masses_kg=masses,
        reduction_factor=reduction_factor,
        reductions=tuple(reductions),
        binding_constraint=binding,
        warnings=tuple(warnings),
        inputs=dict(inputs),
        details=dict(details or {}),
        constants=c.as_dict(),
    )


# =========================================================================== linear solver
_DOSE_METRIC = re.compile(r"^[dD](\d+(?:\.\d+)?)(%|cc|ml)?$")
_NAMED_METRICS = ("mean", "max", "min", "median")


def _metric(metric: object) -> str:
    """Canonical metric name: mean, max, min, median, D<p> (% of volume) or D<v>cc."""
    text = metric.strip() if isinstance(metric, str) else ""
    if text.lower() in _NAMED_METRICS:
        return text.lower()
    m = _DOSE_METRIC.match(text)
    if m:
        number, unit = m.group(1), (m.group(2) or "%").lower()
        if unit == "%":
            if not 0.0 < float(number) <= 100.0:
                raise InputError(
                    f"metric {metric!r}: D<p> is the minimum dose to the hottest p % of the "
                    "volume; p must be in (0, 100]."
                )
            return f"D{number}"
        return f"D{number}cc"
    if text[:1] in ("V", "v"):
        raise InputError(
            f"metric {metric!r} is a volume, which does not scale linearly with activity; "
            "write the constraint as a dose-volume metric instead (V100 >= 70 % is "
            "D70 >= 100 Gy)."
        )
    raise InputError(
        f"unknown metric {metric!r}; use mean, max, min, median, D<p> (dose to the hottest "
        "p % of the volume, e.g. D70) or D<v>cc (e.g. D2cc)."
    )


@dataclasses.dataclass(frozen=True)
class Constraint:
    """A dose constraint on one structure: ``Constraint("tumour", "mean", ">=", 120.0)``.

    Attributes
    ----------
    structure : str
        Compartment name, e.g. ``"tumour"``, ``"perfused_normal"``, ``"lung"``.
    metric : str
        ``"mean"``, ``"max"``, ``"min"``, ``"median"``, ``"D70"`` (minimum dose to the hottest
        70 % of the volume) or ``"D2cc"``; all are doses, so they scale linearly with the
        administered activity. Volume metrics (V100) are refused.
    op : {"<=", ">="}
        ``"<="``: a limit (upper bound on activity); ``">="``: a goal (lower bound).
    value_gy : float
        The dose, Gy (> 0).
    """

    structure: str
    metric: str
    op: Literal["<=", ">="]
    value_gy: float

    def __post_init__(self) -> None:
        if not isinstance(self.structure, str) or not self.structure.strip() or (
            ":" in self.structure
        ):
            raise InputError(
                f"Constraint structure {self.structure!r} must be a non-empty name without ':'."
            )
        object.__setattr__(self, "structure", self.structure.strip())
        object.__setattr__(self, "metric", _metric(self.metric))
        if self.op not in ("<=", ">="):
            raise InputError(
                f"Constraint op {self.op!r} must be '<=' (a limit) or '>=' (a goal)."
            )
        object.__setattr__(self, "value_gy", _checks.positive("value_gy", self.value_gy, "Gy"))

    @property
    def key(self) -> str:
        """``"structure:metric"``, the key of its dose per GBq."""
        return f"{self.structure}:{self.metric}"

    def __str__(self) -> str:
        return f"{self.structure} {self.metric} {self.op} {self.value_gy:g} Gy"


@dataclasses.dataclass(frozen=True)
class ConstraintBound:
    """The activity bound one constraint implies.

    Attributes
    ----------
    constraint : Constraint
    dose_gy_per_gbq : float
        k in D = k · A.
    bound_gbq : float
        value_gy / k: the largest (``<=``) or smallest (``>=``) activity allowed; ``inf``
        when k = 0 (a limit that never binds, or a goal that cannot be met).
    predicted_gy : float
        The metric at the plan's activity (``ActivityPlan.evaluated_at_gbq``).
    met : bool
        Whether the constraint holds there.
    """

    constraint: Constraint
    dose_gy_per_gbq: float
    bound_gbq: float
    predicted_gy: float
    met: bool


@dataclasses.dataclass(frozen=True)
class ActivityPlan:
    """The activity window of a set of linear dose constraints and the chosen activity.

    Attributes
    ----------
    activity_min_gbq : float
        Largest lower bound (0 when there is no goal).
    activity_max_gbq : float
        Smallest upper bound.
    activity_gbq : float or None
        Chosen activity = ``activity_max_gbq`` (the most activity every limit allows), or
        None when infeasible.
    feasible : bool
        ``activity_min_gbq <= activity_max_gbq``.
    status : str
        ``"treat"`` or ``"do not treat"`` (infeasible).
    reasons : tuple of str
        Infeasible: each goal that cannot be met and the limits it conflicts with.
    binding : tuple of str
        The limit(s) that fix ``activity_max_gbq``.
    evaluated_at_gbq : float
        Activity at which ``bounds[i].predicted_gy`` is given: the chosen activity, or
        ``activity_max_gbq`` when infeasible (to show how short the goals fall).
    bounds : tuple of ConstraintBound
        One per constraint, in input order.
    warnings : tuple of str
    """

    activity_min_gbq: float
    activity_max_gbq: float
    activity_gbq: float | None
    feasible: bool
    status: Status
    reasons: tuple[str, ...]
    binding: tuple[str, ...]
    evaluated_at_gbq: float
    bounds: tuple[ConstraintBound, ...]
    warnings: tuple[str, ...]

    def raise_if_blocked(self) -> ActivityPlan:
        """Raise :class:`LimitExceeded` when infeasible; return ``self`` otherwise."""
        if not self.feasible:
            raise LimitExceeded(
                f"no activity meets every constraint: {'; '.join(self.reasons)}. Relax a "
                "goal or a limit, or change the plan (catheter position, perfused volume)."
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (each constraint written as its text and fields)."""
        out = dataclasses.asdict(self)
        for key in ("reasons", "binding", "warnings"):
            out[key] = list(out[key])
        out["bounds"] = [
            {**dataclasses.asdict(b), "constraint": {**dataclasses.asdict(b.constraint),
                                                     "text": str(b.constraint)},
             "bound_gbq": b.bound_gbq if math.isfinite(b.bound_gbq) else None}
            for b in self.bounds
        ]
        return out


def _dose_table(dose_per_gbq: object) -> dict[str, float]:
    if not isinstance(dose_per_gbq, Mapping):
        raise InputError(
            f"dose_per_gbq must be a mapping of 'structure' or 'structure:metric' to Gy per "
            f"GBq, got {type(dose_per_gbq).__name__}."
        )
    table: dict[str, float] = {}
    for raw_key, raw_value in dose_per_gbq.items():
        if not isinstance(raw_key, str) or not raw_key.strip():
            raise InputError(f"dose_per_gbq key {raw_key!r} must be a structure name.")
        structure, _, metric = raw_key.strip().partition(":")
        key = f"{structure.strip()}:{_metric(metric) if metric else 'mean'}"
        value = _checks.non_negative(f"dose_per_gbq[{raw_key!r}]", raw_value, "Gy/GBq")
        if key in table and table[key] != value:
            raise InputError(
                f"dose_per_gbq gives {key} twice with different values ({table[key]:g} and "
                f"{value:g} Gy/GBq); keep one."
            )
        table[key] = value
    return table


def activity_for_constraints(
    dose_per_gbq: Mapping[str, float], constraints: Sequence[Constraint]
) -> ActivityPlan:
    """Activity window of dose constraints that scale linearly with activity.

    Each metric is D = k · A with k from ``dose_per_gbq`` (Gy per GBq administered), e.g.
    from a predicted dose map computed for 1 GBq, or from a compartment model. A limit
    ``D <= L`` allows A <= L / k; a goal ``D >= G`` needs A >= G / k. The window is
    [max of goal bounds, min of limit bounds]; the chosen activity is its upper end (the most
    activity every limit allows). If a goal needs more than a limit allows, there is no
    activity: status ``"do not treat"``, and the reasons name the conflicting constraints.

    Parameters
    ----------
    dose_per_gbq : mapping of str to float
        Gy per GBq for each ``"structure:metric"`` (``"tumour:D70"``); a bare
        ``"structure"`` means its mean. Values >= 0.
    constraints : sequence of Constraint
        At least one limit (``"<="``) with k > 0 is needed to choose an activity.

    Raises
    ------
    InputError
        A constraint without its dose per GBq, bad values, or nothing that limits activity.
    """
    table = _dose_table(dose_per_gbq)
    if isinstance(constraints, Constraint) or not isinstance(constraints, Sequence) or not (
        constraints
    ):
        raise InputError("constraints must be a non-empty list of Constraint objects.")
    for con in constraints:
        if not isinstance(con, Constraint):
            raise InputError(f"{con!r} is not a Constraint; build it as Constraint(structure, "
                             "metric, op, value_gy).")
        if con.key not in table:
            raise InputError(
                f"no dose per GBq for '{con.key}' (constraint '{con}'); dose_per_gbq has "
                f"{', '.join(sorted(table)) or 'nothing'}."
            )

    rows = []
    for con in constraints:
        k = table[con.key]
        rows.append((con, k, con.value_gy / k if k > 0.0 else math.inf))
    uppers = [(con, b) for con, _, b in rows if con.op == "<="]
    lowers = [(con, b) for con, _, b in rows if con.op == ">="]
    a_max = min((b for _, b in uppers), default=math.inf)
    if not math.isfinite(a_max):
        raise InputError(
            "nothing limits the activity: give at least one '<=' constraint on a structure "
            "that receives dose (e.g. Constraint('perfused_normal', 'mean', '<=', 40.0) or a "
            "lung limit)."
        )
    a_min = max((b for _, b in lowers), default=0.0)
    feasible = a_min <= a_max * (1.0 + _LIMIT_RTOL)
    binding = tuple(str(con) for con, b in uppers if b <= a_max * (1.0 + _LIMIT_RTOL))

    reasons = []
    for con, lb in lowers:
        if lb <= a_max * (1.0 + _LIMIT_RTOL):
            continue
        if not math.isfinite(lb):
            reasons.append(
                f"'{con}' cannot be met at any activity: its dose per GBq is 0"
            )
            continue
        conflicts = ", ".join(
            f"'{u}' allows at most {ub:.4g} GBq" for u, ub in uppers if ub < lb
        )
        reasons.append(f"infeasible: '{con}' needs at least {lb:.4g} GBq, but {conflicts}")

    at = a_max
    bounds = []
    for con, k, b in rows:
        predicted = k * at
        if con.op == "<=":
            met = predicted <= con.value_gy * (1.0 + _LIMIT_RTOL)
        else:
            met = predicted >= con.value_gy * (1.0 - _LIMIT_RTOL)
        bounds.append(ConstraintBound(con, k, b, predicted, met))

    constrained = {con.structure for con in constraints}
    warnings = [
        f"'{key}' has a dose per GBq but no limit: is a lung constraint missing?"
        for key in sorted(table)
        if key.startswith("lung") and key.split(":")[0] not in constrained
    ]
    return ActivityPlan(
        activity_min_gbq=a_min,
        activity_max_gbq=a_max,
        activity_gbq=a_max if feasible else None,
        feasible=feasible,
        status=TREAT if feasible else DO_NOT_TREAT,
        reasons=tuple(reasons),
        binding=binding,
        evaluated_at_gbq=at,
        bounds=tuple(bounds),
        warnings=tuple(warnings),
    )
