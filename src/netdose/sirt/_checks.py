"""Input checks shared by the SIRT calculation modules (private).

Every check raises :class:`~netdose.errors.InputError` whose message names the parameter, the
value received and how to fix it.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from collections.abc import Sequence

from netdose.errors import InputError

DEVICES: tuple[str, ...] = ("resin", "glass")


def finite(name: str, value: object, unit: str = "") -> float:
    """``value`` as a float; InputError if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(
            f"{name} = {value!r} is not a number; give {name} as a finite number"
            f"{' in ' + unit if unit else ''}."
        )
    out = float(value)
    if not math.isfinite(out):
        raise InputError(
            f"{name} = {out!r} is not finite; give a measured value"
            f"{' in ' + unit if unit else ''} (NaN usually means a missing measurement)."
        )
    return out


def positive(name: str, value: object, unit: str) -> float:
    """A finite number > 0."""
    out = finite(name, value, unit)
    if out <= 0.0:
        u = f" {unit}" if unit else ""
        raise InputError(f"{name} = {out!r}{u}: it must be greater than 0{u}.")
    return out


def non_negative(name: str, value: object, unit: str) -> float:
    """A finite number >= 0."""
    out = finite(name, value, unit)
    if out < 0.0:
        u = f" {unit}" if unit else ""
        raise InputError(f"{name} = {out!r}{u}: it cannot be negative.")
    return out


def _percent_hint(value: float) -> str:
    if 1.0 <= value <= 100.0:
        return f" It looks like a percentage: give a fraction ({value:g} % is {value / 100:g})."
    return ""


def fraction_below_one(name: str, value: object) -> float:
    """A fraction in [0, 1) (lung shunt fraction, residual fraction)."""
    out = finite(name, value)
    if not 0.0 <= out < 1.0:
        raise InputError(
            f"{name} = {out!r} is outside [0, 1): give it as a fraction of the activity "
            f"(0.12 for 12 %).{_percent_hint(out)}"
        )
    return out


def fraction_closed(name: str, value: object) -> float:
    """A fraction in [0, 1] (tumour involvement)."""
    out = finite(name, value)
    if not 0.0 <= out <= 1.0:
        raise InputError(
            f"{name} = {out!r} is outside [0, 1]: give it as a fraction (0.2 for 20 %)."
            f"{_percent_hint(out)}"
        )
    return out


def device(value: object) -> str:
    """``"resin"`` or ``"glass"`` (case and surrounding blanks ignored)."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in DEVICES:
        raise InputError(
            f"device = {value!r} is not a known microsphere type; use 'resin' (SIR-Spheres) "
            "or 'glass' (TheraSphere)."
        )
    return text


def dose_list(name: str, values: object) -> tuple[float, ...]:
    """A sequence of absorbed doses in Gy, each finite and >= 0 (may be empty)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InputError(
            f"{name} = {values!r} is not a list of doses; give the lung doses of earlier "
            "treatments in Gy, e.g. [12.5], or [] when there was none."
        )
    return tuple(non_negative(f"{name}[{i}]", v, "Gy") for i, v in enumerate(values))


def aware_datetime(name: str, value: object) -> _dt.datetime:
    """A timezone-aware :class:`datetime.datetime`."""
    if not isinstance(value, _dt.datetime):
        raise InputError(
            f"{name} = {value!r} is not a datetime; give a datetime.datetime with a time zone, "
            "e.g. datetime.fromisoformat('2025-03-02T12:00:00-05:00')."
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} = {value.isoformat()} has no time zone. Vial labels state the calibration "
            "time in the manufacturer's zone, which may differ from the clinic's; a naive time "
            "would silently assume they are the same (6 h is a 6-7 % error in Y-90 activity). "
            "Give an aware datetime, e.g. datetime(2025, 3, 2, 12, 0, "
            "tzinfo=zoneinfo.ZoneInfo('America/New_York'))."
        )
    return value
