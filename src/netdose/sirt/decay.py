"""Y-90 vial activity and physical decay for SIRT: ordering, injection and residual.

A(t) = A(t0) · exp(−λ (t − t0)), λ = ln 2 / T½, T½ from ICRP-107 (:mod:`netdose.nuclides`;
Y-90: 64.10 h). Microspheres do not wash out, so physical decay is the whole story.

- :func:`vial_activity_to_order`: the activity the vial must hold at its calibration time so
  that, after decay to the injection time and the expected residual loss, the patient
  receives the prescribed activity: A_cal = A_presc / (1 − R) · exp(λ (t_inj − t_cal)).
- :func:`delivered_activity`: what the patient received, from the vial's calibrated activity
  and the residual measured (later) in vial and delivery set, decay-corrected back to the
  injection time:
  A_del = A_cal · exp(−λ (t_inj − t_cal)) − A_res · exp(λ (t_res − t_inj)).

All times must be timezone-aware :class:`datetime.datetime` objects: vial labels state
calibration times in the manufacturer's time zone, and a naive time would silently assume it
is the clinic's (6 h is a 6-7 % error in Y-90 activity). Impossible or implausible times
(injection more than 14 days from calibration, residual measured before injection or more
than 14 days after it) raise :class:`~netdose.errors.InputError`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any

from netdose.errors import InputError
from netdose.nuclides import get_nuclide
from netdose.sirt import _checks
from netdose.sirt.constants import MAX_CALIBRATION_OFFSET_D, MAX_RESIDUAL_DELAY_D
from netdose.units import S_PER_D, S_PER_H

__all__ = [
    "DeliveredActivity",
    "VialOrder",
    "activity_at",
    "decay_factor",
    "delivered_activity",
    "vial_activity_to_order",
]


def _elapsed_s(name_from: str, t_from: object, name_to: str, t_to: object) -> float:
    a = _checks.aware_datetime(name_from, t_from)
    b = _checks.aware_datetime(name_to, t_to)
    return (b - a).total_seconds()


def _factor(nuclide: str, elapsed_s: float) -> float:
    return float(get_nuclide(nuclide).decay_factor(elapsed_s))


def decay_factor(
    from_datetime: _dt.datetime, to_datetime: _dt.datetime, nuclide: str = "Y-90"
) -> float:
    """A(to) / A(from) = exp(−λ (to − from)) for physical decay.

    Greater than 1 when ``to_datetime`` is before ``from_datetime`` (decay back in time).

    Parameters
    ----------
    from_datetime, to_datetime : datetime.datetime
        Timezone-aware times.
    nuclide : str
        Radionuclide (ICRP-107 half-life); Y-90 by default.
    """
    return _factor(nuclide, _elapsed_s("from_datetime", from_datetime, "to_datetime",
                                       to_datetime))


def activity_at(
    activity_gbq: float,
    calibration_datetime: _dt.datetime,
    at_datetime: _dt.datetime,
    nuclide: str = "Y-90",
) -> float:
    """Activity in GBq at ``at_datetime`` of a source holding ``activity_gbq`` at calibration.

    Parameters
    ----------
    activity_gbq : float
        Activity at ``calibration_datetime``, GBq (>= 0).
    calibration_datetime, at_datetime : datetime.datetime
        Timezone-aware times (``at_datetime`` may be before calibration).
    nuclide : str
        Radionuclide; Y-90 by default.
    """
    a = _checks.non_negative("activity_gbq", activity_gbq, "GBq")
    return a * decay_factor(calibration_datetime, at_datetime, nuclide)


def _half_life_h(nuclide: str) -> float:
    return get_nuclide(nuclide).half_life_h


def _injection_offset_s(
    calibration_datetime: object, injection_datetime: object, nuclide: str
) -> float:
    dt_s = _elapsed_s("calibration_datetime", calibration_datetime, "injection_datetime",
                      injection_datetime)
    if abs(dt_s) > MAX_CALIBRATION_OFFSET_D * S_PER_D:
        when = "after" if dt_s > 0 else "before"
        raise InputError(
            f"injection_datetime is {abs(dt_s) / S_PER_D:.1f} days {when} "
            f"calibration_datetime (more than {MAX_CALIBRATION_OFFSET_D:g} days, i.e. "
            f"{MAX_CALIBRATION_OFFSET_D * S_PER_D / S_PER_H / _half_life_h(nuclide):.1f} "
            f"half-lives of {nuclide}); check both dates (day, month, year) on the vial label "
            "and in the plan."
        )
    return dt_s


@dataclasses.dataclass(frozen=True)
class VialOrder:
    """The vial activity to order for a prescription.

    Attributes
    ----------
    vial_activity_at_calibration_gbq : float
        Activity the vial must hold at its calibration time, GBq.
    vial_activity_at_injection_gbq : float
        The same vial at injection: prescribed / (1 − R), GBq.
    prescribed_gbq : float
        Activity to be delivered to the patient at injection, GBq.
    expected_residual_fraction : float
        R, the fraction expected to stay in vial and delivery set.
    hours_calibration_to_injection : float
        t_inj − t_cal in hours (negative: injection before calibration).
    decay_factor_calibration_to_injection : float
        exp(−λ (t_inj − t_cal)).
    nuclide : str
    half_life_h : float
        ICRP-107 half-life used, hours.
    """

    vial_activity_at_calibration_gbq: float
    vial_activity_at_injection_gbq: float
    prescribed_gbq: float
    expected_residual_fraction: float
    hours_calibration_to_injection: float
    decay_factor_calibration_to_injection: float
    nuclide: str
    half_life_h: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


def vial_activity_to_order(
    prescribed_gbq: float,
    injection_datetime: _dt.datetime,
    calibration_datetime: _dt.datetime,
    expected_residual_fraction: float,
    nuclide: str = "Y-90",
) -> VialOrder:
    """Vial activity at calibration so that the patient receives ``prescribed_gbq``.

    A_cal = prescribed / (1 − R) / exp(−λ (t_inj − t_cal)).

    Parameters
    ----------
    prescribed_gbq : float
        Activity to deliver to the patient at injection, GBq (> 0), e.g.
        ``Prescription.activity_gbq``.
    injection_datetime, calibration_datetime : datetime.datetime
        Timezone-aware; at most 14 days apart.
    expected_residual_fraction : float
        Fraction expected to stay in vial and delivery set, in [0, 1) (no default: it is
        the institution's value for the device).
    nuclide : str
        Y-90 by default.
    """
    a = _checks.positive("prescribed_gbq", prescribed_gbq, "GBq")
    r = _checks.fraction_below_one("expected_residual_fraction", expected_residual_fraction)
    dt_s = _injection_offset_s(calibration_datetime, injection_datetime, nuclide)
    f = _factor(nuclide, dt_s)
    at_injection = a / (1.0 - r)
    return VialOrder(
        vial_activity_at_calibration_gbq=at_injection / f,
        vial_activity_at_injection_gbq=at_injection,
        prescribed_gbq=a,
        expected_residual_fraction=r,
        hours_calibration_to_injection=dt_s / S_PER_H,
        decay_factor_calibration_to_injection=f,
        nuclide=get_nuclide(nuclide).name,
        half_life_h=_half_life_h(nuclide),
    )


@dataclasses.dataclass(frozen=True)
class DeliveredActivity:
    """Activity delivered to the patient, from the vial and the measured residual.

    Attributes
    ----------
    delivered_gbq : float
        Vial at injection − residual decay-corrected to injection, GBq.
    vial_activity_at_injection_gbq : float
        Calibrated vial activity decayed to the injection time, GBq.
    residual_at_injection_gbq : float
        Measured residual decay-corrected back to the injection time, GBq.
    residual_fraction : float
        residual_at_injection / vial_at_injection.
    hours_calibration_to_injection, hours_injection_to_residual : float
        Time intervals, hours.
    decay_factor_calibration_to_injection, decay_factor_injection_to_residual : float
        exp(−λ Δt) of each interval.
    nuclide : str
    half_life_h : float
    """

    delivered_gbq: float
    vial_activity_at_injection_gbq: float
    residual_at_injection_gbq: float
    residual_fraction: float
    hours_calibration_to_injection: float
    hours_injection_to_residual: float
    decay_factor_calibration_to_injection: float
    decay_factor_injection_to_residual: float
    nuclide: str
    half_life_h: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


def delivered_activity(
    vial_gbq_at_calibration: float,
    calibration_datetime: _dt.datetime,
    injection_datetime: _dt.datetime,
    residual_gbq: float,
    residual_measured_datetime: _dt.datetime,
    nuclide: str = "Y-90",
) -> DeliveredActivity:
    """Activity delivered to the patient at injection.

    A_del = A_cal · exp(−λ (t_inj − t_cal)) − A_res · exp(+λ (t_res − t_inj)).

    Parameters
    ----------
    vial_gbq_at_calibration : float
        Vial activity at its calibration time (label or dose-calibrator measurement
        decay-corrected to it), GBq (> 0).
    calibration_datetime, injection_datetime : datetime.datetime
        Timezone-aware; at most 14 days apart.
    residual_gbq : float
        Activity measured in vial, tubing and catheter after the injection, GBq (>= 0).
    residual_measured_datetime : datetime.datetime
        Timezone-aware; not before the injection, at most 14 days after it.
    nuclide : str
        Y-90 by default.

    Raises
    ------
    InputError
        Negative activities, impossible times, or a residual (decay-corrected to the
        injection) larger than the vial activity at injection.
    """
    vial = _checks.positive("vial_gbq_at_calibration", vial_gbq_at_calibration, "GBq")
    residual = _checks.non_negative("residual_gbq", residual_gbq, "GBq")
    dt_inj_s = _injection_offset_s(calibration_datetime, injection_datetime, nuclide)
    dt_res_s = _elapsed_s("injection_datetime", injection_datetime,
                          "residual_measured_datetime", residual_measured_datetime)
    if dt_res_s < 0.0:
        raise InputError(
            f"residual_measured_datetime is {-dt_res_s / S_PER_H:.2f} h before "
            "injection_datetime; the residual is measured after the injection: check both "
            "times (and their time zones)."
        )
    if dt_res_s > MAX_RESIDUAL_DELAY_D * S_PER_D:
        raise InputError(
            f"residual_measured_datetime is {dt_res_s / S_PER_D:.1f} days after the injection "
            f"(more than {MAX_RESIDUAL_DELAY_D:g} days); check the date."
        )
    f_inj = _factor(nuclide, dt_inj_s)
    f_res = _factor(nuclide, dt_res_s)
    vial_at_injection = vial * f_inj
    residual_at_injection = residual / f_res
    if residual_at_injection > vial_at_injection:
        raise InputError(
            f"residual_gbq = {residual:g} GBq, decay-corrected to the injection "
            f"({residual_at_injection:.4g} GBq), is more than the vial held then "
            f"({vial_at_injection:.4g} GBq); check the residual measurement, its time and "
            "the vial activity."
        )
    return DeliveredActivity(
        delivered_gbq=vial_at_injection - residual_at_injection,
        vial_activity_at_injection_gbq=vial_at_injection,
        residual_at_injection_gbq=residual_at_injection,
        residual_fraction=residual_at_injection / vial_at_injection,
        hours_calibration_to_injection=dt_inj_s / S_PER_H,
        hours_injection_to_residual=dt_res_s / S_PER_H,
        decay_factor_calibration_to_injection=f_inj,
        decay_factor_injection_to_residual=f_res,
        nuclide=get_nuclide(nuclide).name,
        half_life_h=_half_life_h(nuclide),
    )
