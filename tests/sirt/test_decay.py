"""Y-90 vial decay: ordering, delivered activity with a residual, impossible times.

Reference: A(t) = A0 · 2^(−Δt / T½) with the ICRP-107 Y-90 half-life 64.10 h (checked in
tests/test_nuclides.py), written out independently of the code's exp(−λt).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.errors import InputError
from netdose.sirt import (
    activity_at,
    decay_factor,
    delivered_activity,
    vial_activity_to_order,
)

T_HALF_H = 64.10
EST = dt.timezone(dt.timedelta(hours=-5))
CET = dt.timezone(dt.timedelta(hours=1))
UTC = dt.timezone.utc
CAL = dt.datetime(2025, 3, 2, 12, 0, tzinfo=EST)  # = 17:00 UTC


def ref_decay(hours: float) -> float:
    return 2.0 ** (-hours / T_HALF_H)


def test_one_half_life() -> None:
    later = CAL + dt.timedelta(hours=T_HALF_H)
    assert decay_factor(CAL, later) == pytest.approx(0.5, rel=1e-12)
    assert decay_factor(later, CAL) == pytest.approx(2.0, rel=1e-12)
    assert activity_at(3.0, CAL, later) == pytest.approx(1.5, rel=1e-12)


def test_time_zones_are_honoured() -> None:
    """Calibration 12:00 EST, injection 10:00 CET three days later: 64 h, not 70 h."""
    injection = dt.datetime(2025, 3, 5, 10, 0, tzinfo=CET)  # = 09:00 UTC
    assert decay_factor(CAL, injection) == pytest.approx(ref_decay(64.0), rel=1e-12)
    order = vial_activity_to_order(2.0, injection, CAL, 0.05)
    assert order.hours_calibration_to_injection == pytest.approx(64.0)
    assert order.vial_activity_at_injection_gbq == pytest.approx(2.0 / 0.95)
    assert order.vial_activity_at_calibration_gbq == pytest.approx(
        2.0 / 0.95 / ref_decay(64.0), rel=1e-12)
    assert order.half_life_h == pytest.approx(T_HALF_H)
    assert order.nuclide == "Y-90"


def test_delivered_activity_worked_case() -> None:
    """5 GBq at calibration, injected 48 h later, 0.1 GBq residual measured 2 h after."""
    injection = CAL + dt.timedelta(hours=48)
    measured = injection + dt.timedelta(hours=2)
    d = delivered_activity(5.0, CAL, injection, 0.1, measured)
    vial = 5.0 * ref_decay(48.0)
    residual = 0.1 / ref_decay(2.0)
    assert d.vial_activity_at_injection_gbq == pytest.approx(vial, rel=1e-12)
    assert d.residual_at_injection_gbq == pytest.approx(residual, rel=1e-12)
    assert d.delivered_gbq == pytest.approx(vial - residual, rel=1e-12)
    assert d.residual_fraction == pytest.approx(residual / vial, rel=1e-12)
    assert d.as_dict()["hours_injection_to_residual"] == pytest.approx(2.0)


def test_injection_before_calibration_is_allowed_within_the_window() -> None:
    injection = CAL - dt.timedelta(hours=20)
    order = vial_activity_to_order(1.5, injection, CAL, 0.0)
    assert order.vial_activity_at_calibration_gbq == pytest.approx(1.5 * ref_decay(20.0))
    assert order.decay_factor_calibration_to_injection > 1.0


@settings(max_examples=60, deadline=None)
@given(
    prescribed=st.floats(0.1, 20.0),
    offset_h=st.floats(-14 * 24.0, 14 * 24.0),
    residual=st.floats(0.0, 0.5),
    delay_h=st.floats(0.0, 14 * 24.0),
)
def test_order_then_deliver_round_trip(prescribed: float, offset_h: float, residual: float,
                                       delay_h: float) -> None:
    """Order for R, leave exactly R behind (measured later): the patient gets the
    prescription."""
    injection = CAL + dt.timedelta(hours=offset_h)
    order = vial_activity_to_order(prescribed, injection, CAL, residual)
    measured = injection + dt.timedelta(hours=delay_h)
    left = residual * order.vial_activity_at_injection_gbq * ref_decay(delay_h)
    d = delivered_activity(order.vial_activity_at_calibration_gbq, CAL, injection, left,
                           measured)
    assert d.delivered_gbq == pytest.approx(prescribed, rel=1e-9)
    assert d.residual_fraction == pytest.approx(residual, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(a=st.floats(-300.0, 300.0), b=st.floats(-300.0, 300.0))
def test_decay_factors_compose(a: float, b: float) -> None:
    t1 = CAL + dt.timedelta(hours=a)
    t2 = t1 + dt.timedelta(hours=b)
    assert decay_factor(CAL, t1) * decay_factor(t1, t2) == pytest.approx(
        decay_factor(CAL, t2), rel=1e-12)
    assert decay_factor(CAL, t2) == pytest.approx(ref_decay(a + b), rel=1e-9)


def test_other_nuclide() -> None:
    later = CAL + dt.timedelta(days=6.647)
    assert decay_factor(CAL, later, nuclide="Lu-177") == pytest.approx(0.5, rel=1e-3)


NAIVE = dt.datetime(2025, 3, 2, 12, 0)
INJ = CAL + dt.timedelta(hours=48)
RES = INJ + dt.timedelta(hours=1)


def _deliver(**kw: Any) -> Any:
    args: dict[str, Any] = {
        "vial_gbq_at_calibration": 5.0, "calibration_datetime": CAL, "injection_datetime": INJ,
        "residual_gbq": 0.1, "residual_measured_datetime": RES,
    }
    args.update(kw)
    return lambda: delivered_activity(**args)


def _order(**kw: Any) -> Any:
    args: dict[str, Any] = {
        "prescribed_gbq": 2.0, "injection_datetime": INJ, "calibration_datetime": CAL,
        "expected_residual_fraction": 0.03,
    }
    args.update(kw)
    return lambda: vial_activity_to_order(**args)


BAD: list[tuple[str, Any, str]] = [
    ("naive calibration", _order(calibration_datetime=NAIVE), "calibration_datetime.*no time zone"),
    ("naive injection", _deliver(injection_datetime=INJ.replace(tzinfo=None)),
     "injection_datetime.*no time zone"),
    ("string time", _order(injection_datetime="2025-03-04T12:00"), "not a datetime"),
    ("date only", _order(injection_datetime=dt.date(2025, 3, 4)), "not a datetime"),
    ("injection 15 days after", _order(injection_datetime=CAL + dt.timedelta(days=15)),
     "15.0 days after"),
    ("injection 15 days before", _deliver(injection_datetime=CAL - dt.timedelta(days=15),
                                          residual_measured_datetime=CAL),
     "15.0 days before"),
    ("residual before injection", _deliver(residual_measured_datetime=INJ - dt.timedelta(
        minutes=30)), "0.50 h before injection"),
    ("residual 20 days later", _deliver(residual_measured_datetime=INJ + dt.timedelta(days=20)),
     "20.0 days after"),
    ("residual larger than vial", _deliver(residual_gbq=4.0), "more than the vial held"),
    ("negative residual", _deliver(residual_gbq=-0.1), "residual_gbq.*negative"),
    ("negative vial", _deliver(vial_gbq_at_calibration=-5.0), "vial_gbq_at_calibration"),
    ("NaN vial", _deliver(vial_gbq_at_calibration=float("nan")), "not finite"),
    ("zero prescription", _order(prescribed_gbq=0.0), "prescribed_gbq"),
    ("residual fraction 1", _order(expected_residual_fraction=1.0),
     "expected_residual_fraction"),
    ("residual fraction %", _order(expected_residual_fraction=3.0), "3 % is 0.03"),
    ("negative activity_at", lambda: activity_at(-1.0, CAL, INJ), "activity_gbq"),
    ("unknown nuclide", _order(nuclide="Xx-999"), "Xx-999"),
]


@pytest.mark.parametrize(("call", "match"), [row[1:] for row in BAD], ids=[r[0] for r in BAD])
def test_bad_times_and_activities(call: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        call()
