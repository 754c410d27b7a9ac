"""Single-time-point (STP) time-integrated activity, and dose from a TIA.

With one quantitative scan at time t after injection, the TIA needs an assumption about the
kinetics. Both methods here assume mono-exponential clearance A(τ) = A(t)·exp(−λ_eff (τ − t))
from injection on (instantaneous uptake):

- :func:`hanscheid_tia` (Hänscheid et al. 2018): TIA ≈ A(t) · 2t / ln 2. It needs no
  half-life: it is the mono-exponential TIA A(t)·exp(λt)/λ with the exponential replaced by
  its value at t = T_eff. For mono-exponential kinetics the ratio to the exact TIA is
  R(x) = 2x·2^(−x), x = t / T_eff: exact at t = T_eff **and** at t = 2 T_eff, at most
  +6.15 % (at t = T_eff / ln 2), and within −10 % / +6.15 % for 0.764 <= t/T_eff <= 2.437.
- :func:`madsen_tia` (Madsen et al. 2018): TIA = A(t) · exp(λ_eff t) / λ_eff with a
  population effective half-life that the caller gives, with its source (netdose ships no
  table of population half-lives: none could be verified against the original papers here;
  see docs/physics.md). Exact for mono-exponential kinetics with that T_eff.

:func:`dose_from_tia_gy` turns a TIA into a mean absorbed dose with an S-value-type factor,
D = TIA · k / m (k in Gy·g/(MBq·h), m in g) or D = TIA · S (S in Gy/(MBq·h));
:func:`local_deposition_factor_gy_g_per_mbq_h` gives k for local deposition of the
charged-particle energy of a nuclide (ICRP-107): k = E · (J/MeV) · (Bq/MBq) · (s/h) · (g/kg)
— 0.08532 Gy·g/(MBq·h) for Lu-177 (E = 0.14792 MeV per decay).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from netdose.errors import InputError, PhysicsRangeError
from netdose.nuclides import Nuclide, get_nuclide
from netdose.units import BQ_PER_MBQ, G_PER_KG, J_PER_MEV, LN2, S_PER_H

__all__ = [
    "HANSCHEID_REFERENCE",
    "MADSEN_REFERENCE",
    "StpResult",
    "dose_from_tia_gy",
    "hanscheid_relative_error",
    "hanscheid_tia",
    "local_deposition_factor_gy_g_per_mbq_h",
    "madsen_tia",
]

#: Citation of the Hänscheid method (as commonly quoted; not verified against the original
#: here).
HANSCHEID_REFERENCE = (
    "Hänscheid H, Lapa C, Buck AK, Lassmann M, Werner RA. Dose mapping after endoradiotherapy "
    "with 177Lu-DOTATATE/DOTATOC by a single measurement after 4 days. J Nucl Med. "
    "2018;59(1):75-81"
)
#: Citation of the Madsen method (as commonly quoted; not verified against the original here).
MADSEN_REFERENCE = (
    "Madsen MT, Menda Y, O'Dorisio TM, O'Dorisio MS. Technical Note: Single time point dose "
    "estimate for exponential clearance. Med Phys. 2018;45(5):2318-2324"
)


def _number(name: str, value: object, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} = {value!r} is not a number; give it in {unit}.")
    out = float(value)
    if not math.isfinite(out):
        raise InputError(f"{name} = {out!r} is not finite; give a measured value in {unit}.")
    return out


def _positive(name: str, value: object, unit: str, fix: str = "") -> float:
    out = _number(name, value, unit)
    if out <= 0.0:
        raise InputError(f"{name} = {out:g} {unit}: it must be greater than 0.{fix}")
    return out


def _non_negative(name: str, value: object, unit: str, fix: str = "") -> float:
    out = _number(name, value, unit)
    if out < 0.0:
        raise InputError(f"{name} = {out:g} {unit}: it cannot be negative.{fix}")
    return out


_TIME_FIX = (
    " The scan time is hours after injection; a single-time-point estimate needs a scan after "
    "the injection."
)


@dataclasses.dataclass(frozen=True)
class StpResult:
    """A single-time-point TIA and what it assumed.

    Attributes
    ----------
    method : str
        ``"hanscheid"`` or ``"madsen"``.
    tia_mbq_h : float
        Time-integrated activity from injection to infinity, MBq·h.
    activity_mbq : float
        The measured activity A(t), MBq.
    time_h : float
        Scan time t, hours after injection.
    effective_half_life_h : float or None
        T_eff used (Madsen); None for Hänscheid (which assumes t ≈ T_eff to 2 T_eff).
    physical_half_life_h : float or None
        Physical half-life checked against (Madsen).
    effective_half_life_source : str or None
        Where the caller's T_eff came from (Madsen).
    equation : str
    reference : str
    notes : tuple of str
    """

    method: str
    tia_mbq_h: float
    activity_mbq: float
    time_h: float
    effective_half_life_h: float | None
    physical_half_life_h: float | None
    effective_half_life_source: str | None
    equation: str
    reference: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        out["notes"] = list(self.notes)
        return out


def hanscheid_relative_error(time_h: float, effective_half_life_h: float) -> float:
    """Relative error of the Hänscheid TIA for mono-exponential kinetics.

    (TIA_Hänscheid − TIA_exact) / TIA_exact = 2x·2^(−x) − 1, x = t / T_eff (instantaneous
    uptake, mono-exponential clearance with T_eff). Zero at x = 1 and x = 2, maximum
    +0.0615 at x = 1/ln 2.

    Parameters
    ----------
    time_h : float
        Scan time, h after injection (> 0).
    effective_half_life_h : float
        True effective half-life, h (> 0).
    """
    t = _positive("time_h", time_h, "h", _TIME_FIX)
    te = _positive("effective_half_life_h", effective_half_life_h, "h")
    x = t / te
    return 2.0 * x * 2.0 ** (-x) - 1.0


def hanscheid_tia(activity_mbq: float, time_h: float) -> StpResult:
    """Hänscheid single-time-point TIA: A(t) · 2t / ln 2.

    Parameters
    ----------
    activity_mbq : float
        Activity in the organ or lesion at the scan, MBq (>= 0).
    time_h : float
        Scan time, hours after injection (> 0). The method was proposed for a scan about
        4 days (96 h) after Lu-177 DOTATATE/DOTATOC; its error for mono-exponential kinetics
        is :func:`hanscheid_relative_error` (within −10 % / +6.15 % for
        0.764 <= t/T_eff <= 2.437).

    Returns
    -------
    StpResult
    """
    a = _non_negative("activity_mbq", activity_mbq, "MBq",
                      " Check the VOI and the calibration factor.")
    t = _positive("time_h", time_h, "h", _TIME_FIX)
    return StpResult(
        method="hanscheid",
        tia_mbq_h=a * 2.0 * t / LN2,
        activity_mbq=a,
        time_h=t,
        effective_half_life_h=None,
        physical_half_life_h=None,
        effective_half_life_source=None,
        equation="TIA = A(t) * 2 t / ln 2",
        reference=HANSCHEID_REFERENCE,
        notes=(
            (
                "assumes mono-exponential clearance from injection; exact when t = T_eff or "
                "t = 2 T_eff, error 2x*2^-x - 1 with x = t/T_eff otherwise (-10 % to +6.15 % "
                "for 0.764 <= t/T_eff <= 2.437)"
            ),
        ),
    )


def madsen_tia(
    activity_mbq: float,
    time_h: float,
    *,
    effective_half_life_h: float,
    physical_half_life_h: float,
    effective_half_life_source: str,
) -> StpResult:
    """Madsen single-time-point TIA: A(t) · exp(λ_eff t) / λ_eff, λ_eff = ln 2 / T_eff.

    Parameters
    ----------
    activity_mbq : float
        Activity at the scan, MBq (>= 0).
    time_h : float
        Scan time, hours after injection (> 0).
    effective_half_life_h : float
        Population effective half-life of this organ/lesion and radiopharmaceutical, h
        (0 < T_eff <= T_phys). No default: give your institution's or a published value.
    physical_half_life_h : float
        Physical half-life of the nuclide, h (``get_nuclide("Lu-177").half_life_h``): an
        effective half-life cannot exceed it.
    effective_half_life_source : str
        Where T_eff comes from (publication, local cohort); recorded in the result.

    Raises
    ------
    InputError
        Negative activity, non-positive time or half-lives, empty source.
    PhysicsRangeError
        T_eff longer than the physical half-life.
    """
    a = _non_negative("activity_mbq", activity_mbq, "MBq",
                      " Check the VOI and the calibration factor.")
    t = _positive("time_h", time_h, "h", _TIME_FIX)
    te = _positive("effective_half_life_h", effective_half_life_h, "h")
    tp = _positive("physical_half_life_h", physical_half_life_h, "h")
    if te > tp * (1.0 + 1e-12):
        raise PhysicsRangeError(
            f"effective_half_life_h = {te:g} h is longer than the physical half-life "
            f"{tp:g} h; an effective half-life includes physical decay "
            "(1/T_eff = 1/T_phys + 1/T_biol) and cannot exceed it. Check the value and its unit "
            "(hours, not days)."
        )
    if not isinstance(effective_half_life_source, str) or not effective_half_life_source.strip():
        raise InputError(
            "effective_half_life_source is empty; say where the population effective half-life "
            "comes from (publication or local cohort): it is recorded with the result."
        )
    lam = LN2 / te
    notes = ["assumes mono-exponential clearance with the given T_eff from injection"]
    if t > 5.0 * te:
        notes.append(
            f"the scan is {t / te:.1f} effective half-lives after injection: an error in T_eff "
            "is amplified by exp(lambda t)"
        )
    return StpResult(
        method="madsen",
        tia_mbq_h=a * math.exp(lam * t) / lam,
        activity_mbq=a,
        time_h=t,
        effective_half_life_h=te,
        physical_half_life_h=tp,
        effective_half_life_source=effective_half_life_source.strip(),
        equation="TIA = A(t) * exp(lambda_eff t) / lambda_eff, lambda_eff = ln 2 / T_eff",
        reference=MADSEN_REFERENCE,
        notes=tuple(notes),
    )


def local_deposition_factor_gy_g_per_mbq_h(nuclide: str | Nuclide) -> float:
    """S-value-type factor k for local deposition of the charged-particle energy, Gy·g/(MBq·h).

    k = E · J_PER_MEV · BQ_PER_MBQ · S_PER_H · G_PER_KG, with E the ICRP-107 electron
    (beta, conversion, Auger) + alpha energy per decay in MeV (photons not deposited): the
    mean dose to a mass m (g) holding a TIA (MBq·h) is TIA · k / m. Lu-177: 0.08532.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    e_mev = nuc.electron_energy_mev + nuc.alpha_energy_mev
    return e_mev * J_PER_MEV * BQ_PER_MBQ * S_PER_H * G_PER_KG


def dose_from_tia_gy(
    tia_mbq_h: float,
    *,
    mass_g: float | None = None,
    factor_gy_g_per_mbq_h: float | None = None,
    s_value_gy_per_mbq_h: float | None = None,
) -> float:
    """Mean absorbed dose (Gy) from a TIA with an S-value-type factor.

    Give either ``factor_gy_g_per_mbq_h`` and ``mass_g`` (D = TIA · k / m; k e.g. from
    :func:`local_deposition_factor_gy_g_per_mbq_h` or a mass-scaled S value) or
    ``s_value_gy_per_mbq_h`` for this organ (D = TIA · S), not both.

    Parameters
    ----------
    tia_mbq_h : float
        Time-integrated activity, MBq·h (>= 0).
    mass_g : float, optional
        Organ or lesion mass, g (> 0).
    factor_gy_g_per_mbq_h : float, optional
        Mass-scaled factor k, Gy·g/(MBq·h) (> 0).
    s_value_gy_per_mbq_h : float, optional
        S value of the organ, Gy/(MBq·h) (> 0).
    """
    tia = _non_negative("tia_mbq_h", tia_mbq_h, "MBq·h")
    if s_value_gy_per_mbq_h is not None:
        if factor_gy_g_per_mbq_h is not None or mass_g is not None:
            raise InputError(
                "give either s_value_gy_per_mbq_h, or factor_gy_g_per_mbq_h with mass_g, not "
                "both (the S value already includes the mass)."
            )
        return tia * _positive("s_value_gy_per_mbq_h", s_value_gy_per_mbq_h, "Gy/(MBq·h)")
    if factor_gy_g_per_mbq_h is None or mass_g is None:
        raise InputError(
            "dose_from_tia_gy needs factor_gy_g_per_mbq_h and mass_g (e.g. 0.08532 Gy·g/(MBq·h) "
            "for Lu-177 local deposition and the organ mass in g), or s_value_gy_per_mbq_h."
        )
    k = _positive("factor_gy_g_per_mbq_h", factor_gy_g_per_mbq_h, "Gy·g/(MBq·h)")
    m = _positive("mass_g", mass_g, "g", " Give the organ or lesion mass in grams.")
    return tia * k / m
