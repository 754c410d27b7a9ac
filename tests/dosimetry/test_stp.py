"""Single-time-point TIA (Hänscheid, Madsen) and dose from TIA: the worked case, the
validity conditions derived analytically, properties and bad inputs."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdose.dosimetry.stp import (
    dose_from_tia_gy,
    hanscheid_relative_error,
    hanscheid_tia,
    local_deposition_factor_gy_g_per_mbq_h,
    madsen_tia,
)
from netdose.errors import InputError, PhysicsRangeError
from netdose.nuclides import get_nuclide

LN2 = math.log(2.0)
T_PHYS_H = get_nuclide("Lu-177").half_life_h


def exact_mono_tia(a0: float, teff: float) -> float:
    return a0 * teff / LN2


def test_acceptance_hanscheid_kidney_worked_case():
    """A(96 h) = 40 MBq in a 300 g kidney, k = 0.08532 Gy·g/(MBq·h): 3.151 Gy."""
    stp = hanscheid_tia(40.0, 96.0)
    assert stp.tia_mbq_h == pytest.approx(40.0 * 2 * 96.0 / LN2, rel=1e-15)
    assert stp.tia_mbq_h == pytest.approx(11079.9, abs=0.05)
    dose = dose_from_tia_gy(stp.tia_mbq_h, mass_g=300.0, factor_gy_g_per_mbq_h=0.08532)
    assert dose == pytest.approx(3.151, abs=5e-4)  # the value, 4 significant digits
    assert stp.method == "hanscheid" and "J Nucl Med" in stp.reference
    json.dumps(stp.to_dict(), allow_nan=False)


def test_local_deposition_factor_of_lu177_is_0_08532():
    """k = E_electrons · 1.602176634e-13 J/MeV · 3.6e9 decays/(MBq·h) · 1e3 g/kg with the
    ICRP-107 electron energy 0.14792 MeV: 0.085318 (the issue's 0.08532, 4 digits)."""
    k = local_deposition_factor_gy_g_per_mbq_h("Lu-177")
    assert k == pytest.approx(0.08532, rel=1e-4)
    e = get_nuclide("Lu-177").electron_energy_mev
    assert k == pytest.approx(e * 1.602176634e-13 * 1e6 * 3600 * 1e3, rel=1e-12)


@pytest.mark.parametrize("teff", [20.0, 60.0, 110.0, T_PHYS_H])
@pytest.mark.parametrize("x", [1.0, 2.0])
def test_hanscheid_is_exact_at_t_equal_teff_and_twice_teff(teff, x):
    """For A(t) = A0·2^(-t/T): A(t)·2t/ln2 / (A0 T/ln2) = 2x·2^(-x), x = t/T, which is 1 at
    x = 1 and x = 2 (not only at one time)."""
    a0 = 123.0
    t = x * teff
    a_t = a0 * 2.0 ** (-x)
    assert hanscheid_tia(a_t, t).tia_mbq_h == pytest.approx(exact_mono_tia(a0, teff), rel=1e-12)
    assert hanscheid_relative_error(t, teff) == pytest.approx(0.0, abs=1e-12)


def test_hanscheid_error_between_and_outside():
    # maximum overestimate at t = T/ln2: 2/(e ln 2) - 1 = +6.15 %
    assert hanscheid_relative_error(60.0 / LN2, 60.0) == pytest.approx(2 / (math.e * LN2) - 1,
                                                                        rel=1e-12)
    assert 2 / (math.e * LN2) - 1 == pytest.approx(0.0615, abs=5e-5)
    # -10 % at t/T = 0.764 and 2.437 (documented validity window)
    assert hanscheid_relative_error(0.7644, 1.0) == pytest.approx(-0.10, abs=1e-4)
    assert hanscheid_relative_error(2.4373, 1.0) == pytest.approx(-0.10, abs=1e-4)
    assert hanscheid_relative_error(4.0, 1.0) == pytest.approx(-0.5, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    a0=st.floats(1e-3, 1e5),
    teff=st.floats(1.0, T_PHYS_H),
    x=st.floats(0.05, 8.0),
)
def test_hanscheid_error_formula_matches_the_mono_exponential(a0, teff, x):
    t = x * teff
    a_t = a0 * math.exp(-LN2 * x)
    ratio = hanscheid_tia(a_t, t).tia_mbq_h / exact_mono_tia(a0, teff)
    assert ratio - 1.0 == pytest.approx(hanscheid_relative_error(t, teff), abs=1e-12)
    assert ratio <= 2 / (math.e * LN2) + 1e-12


@settings(max_examples=50, deadline=None)
@given(
    a0=st.floats(1e-3, 1e5),
    teff=st.floats(1.0, T_PHYS_H),
    t=st.floats(0.5, 400.0),
)
def test_madsen_is_exact_for_mono_exponential_with_the_right_teff(a0, teff, t):
    a_t = a0 * math.exp(-LN2 / teff * t)
    stp = madsen_tia(a_t, t, effective_half_life_h=teff, physical_half_life_h=T_PHYS_H,
                     effective_half_life_source="test: the true value")
    assert stp.tia_mbq_h == pytest.approx(exact_mono_tia(a0, teff), rel=1e-9)


def test_madsen_records_its_assumptions():
    stp = madsen_tia(40.0, 96.0, effective_half_life_h=50.0, physical_half_life_h=T_PHYS_H,
                     effective_half_life_source="local cohort 2024, n = 31")
    assert stp.effective_half_life_source == "local cohort 2024, n = 31"
    assert stp.effective_half_life_h == 50.0 and stp.physical_half_life_h == T_PHYS_H
    assert "Med Phys" in stp.reference
    # T_eff equal to the physical half-life is allowed (no biological clearance)
    phys = madsen_tia(40.0, 96.0, effective_half_life_h=T_PHYS_H, physical_half_life_h=T_PHYS_H,
                      effective_half_life_source="physical decay")
    assert phys.tia_mbq_h == pytest.approx(40.0 * math.exp(LN2 / T_PHYS_H * 96.0) * T_PHYS_H
                                           / LN2, rel=1e-12)
    late = madsen_tia(1.0, 300.0, effective_half_life_h=20.0, physical_half_life_h=T_PHYS_H,
                      effective_half_life_source="x")
    assert any("amplified" in n for n in late.notes)


def test_dose_with_an_s_value():
    assert dose_from_tia_gy(1000.0, s_value_gy_per_mbq_h=2.5e-4) == pytest.approx(0.25)
    assert dose_from_tia_gy(0.0, mass_g=10.0, factor_gy_g_per_mbq_h=0.085) == 0.0


_MADSEN_OK = {
    "effective_half_life_h": 50.0,
    "physical_half_life_h": T_PHYS_H,
    "effective_half_life_source": "x",
}
BAD = [
    (lambda: hanscheid_tia(40.0, 0.0), InputError, "time_h = 0 h: it must be greater than 0"),
    (lambda: hanscheid_tia(40.0, -5.0), InputError, "time_h = -5 h"),
    (lambda: hanscheid_tia(-1.0, 96.0), InputError, "activity_mbq = -1 MBq: it cannot be negative"),
    (lambda: hanscheid_tia(float("nan"), 96.0), InputError, "activity_mbq = nan is not finite"),
    (lambda: hanscheid_tia("40", 96.0), InputError, "activity_mbq = '40' is not a number"),
    (lambda: madsen_tia(40.0, 0.0, **_MADSEN_OK), InputError, "time_h = 0 h"),
    (lambda: madsen_tia(-1.0, 96.0, **_MADSEN_OK), InputError, "activity_mbq = -1 MBq"),
    (lambda: madsen_tia(40.0, 96.0, **{**_MADSEN_OK, "effective_half_life_h": 0.0}),
     InputError, "effective_half_life_h = 0 h"),
    (lambda: madsen_tia(40.0, 96.0, **{**_MADSEN_OK, "effective_half_life_h": 200.0}),
     PhysicsRangeError, "effective_half_life_h = 200 h is longer than the physical half-life"),
    (lambda: madsen_tia(40.0, 96.0, **{**_MADSEN_OK, "physical_half_life_h": -1.0}),
     InputError, "physical_half_life_h = -1 h"),
    (lambda: madsen_tia(40.0, 96.0, **{**_MADSEN_OK, "effective_half_life_source": " "}),
     InputError, "effective_half_life_source is empty"),
    (lambda: hanscheid_relative_error(0.0, 50.0), InputError, "time_h = 0 h"),
    (lambda: hanscheid_relative_error(96.0, 0.0), InputError, "effective_half_life_h = 0 h"),
    (lambda: dose_from_tia_gy(-1.0, mass_g=300.0, factor_gy_g_per_mbq_h=0.08532),
     InputError, "tia_mbq_h = -1"),
    (lambda: dose_from_tia_gy(100.0, mass_g=0.0, factor_gy_g_per_mbq_h=0.08532),
     InputError, "mass_g = 0 g: it must be greater than 0"),
    (lambda: dose_from_tia_gy(100.0, mass_g=300.0), InputError, "needs factor_gy_g_per_mbq_h"),
    (lambda: dose_from_tia_gy(100.0, mass_g=300.0, factor_gy_g_per_mbq_h=0.08,
                              s_value_gy_per_mbq_h=1e-4), InputError, "not both"),
    (lambda: dose_from_tia_gy(100.0, mass_g=300.0, factor_gy_g_per_mbq_h=-0.08),
     InputError, "factor_gy_g_per_mbq_h = -0.08"),
    (lambda: local_deposition_factor_gy_g_per_mbq_h("Lu-999"), InputError, "unknown radionuclide"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
