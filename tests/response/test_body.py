"""Body-size formulas for SUV normalisation (netdose.response.body): worked cases computed by
hand, the table of bad inputs, and invariants of the formulas."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from netdose.errors import InputError, NetdoseWarning, PhysicsRangeError
from netdose.response.body import (
    NORMALISATIONS,
    body_size,
    bsa_dubois_m2,
    ibw_kg,
    lbm_james_kg,
    lbm_janmahasatian_kg,
    normalise_sex,
)

weights = st.floats(min_value=40.0, max_value=140.0)
heights = st.floats(min_value=140.0, max_value=210.0)
sexes = st.sampled_from(["F", "M"])


# ---------------------------------------------------------------------- worked cases
def test_worked_case_sul_of_a_woman() -> None:
    # 70 kg, 170 cm woman, SUVbw 3.0 (the brief's worked case):
    # James-128: LBM = 1.07*70 - 148*(70/170)^2 = 74.9 - 25.0934 = 49.8066 kg
    #            SUL = 3.0 * 49.8066 / 70 = 2.1346
    # Janma:     BMI = 70/1.7^2 = 24.2215; LBM = 9270*70/(8780 + 244*24.2215) = 44.1728 kg
    #            SUL = 3.0 * 44.1728 / 70 = 1.8931
    james = body_size("lbm-james", 70.0, 170.0, "F")
    janma = body_size("lbm-janma", 70.0, 170.0, "F")
    assert 3.0 * james.factor_from_suvbw == pytest.approx(2.135, abs=5e-4)
    assert 3.0 * janma.factor_from_suvbw == pytest.approx(1.893, abs=5e-4)
    assert james.value == pytest.approx(49.8066, abs=1e-4)
    assert janma.value == pytest.approx(44.1728, abs=1e-4)
    assert james.suv_unit == "g/ml{SUVlbm(James128)}"
    assert janma.suv_unit == "g/ml{SUVlbm(Janma)}"


def test_hand_computed_values_for_a_man() -> None:
    # 70 kg, 175 cm man: James-128 1.10*70 - 128*(0.4)^2 = 77 - 20.48 = 56.52 kg;
    # Janma 9270*70/(6680 + 216*22.857143) = 648900/11617.143 = 55.8571 kg;
    # IBW 48.0 + 1.06*(175-152) = 72.38 kg (female 45.5 + 0.91*23 = 66.43 kg);
    # DuBois 0.007184 * 70^0.425 * 175^0.725 = 1.84814 m2.
    assert lbm_james_kg(70.0, 175.0, "M") == pytest.approx(56.52, abs=1e-9)
    assert lbm_janmahasatian_kg(70.0, 175.0, "M") == pytest.approx(55.8571, abs=1e-4)
    assert ibw_kg(175.0, "M") == pytest.approx(72.38, abs=1e-9)
    assert ibw_kg(175.0, "F") == pytest.approx(66.43, abs=1e-9)
    assert bsa_dubois_m2(70.0, 175.0) == pytest.approx(1.84814, abs=1e-5)


def test_bsa_normalisation_is_in_cm2_per_ml() -> None:
    size = body_size("bsa", 70.0, 175.0)
    # SUVbsa = SUVbw * BSA(cm2) / W(g) = SUVbw * 18481.4 / 70000
    assert size.factor_from_suvbw == pytest.approx(18481.43 / 70000.0, rel=1e-6)
    assert (size.unit, size.suv_unit) == ("m2", "cm2/ml{SUVbsa}")


def test_bw_is_identity_and_every_kind_has_a_source() -> None:
    assert body_size("bw", 81.0).factor_from_suvbw == 1.0
    for kind in NORMALISATIONS:
        size = body_size(kind, 70.0, 170.0, "M")
        assert size.source and size.formula
        assert size.as_dict()["kind"] == kind


def test_sex_is_case_insensitive_f_or_m_only() -> None:
    assert normalise_sex(" f ") == "F"
    assert lbm_james_kg(70, 170, "m") == lbm_james_kg(70, 170, "M")


def test_james_warns_past_its_maximum_and_fails_beyond() -> None:
    # female, 170 cm: the formula peaks at W = 1.07*170^2/(2*148) = 104.5 kg
    with pytest.warns(NetdoseWarning, match="past its maximum"):
        lbm_james_kg(120.0, 170.0, "F")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lbm_james_kg(100.0, 170.0, "F")
    with pytest.raises(PhysicsRangeError, match="Janmahasatian"):
        lbm_james_kg(300.0, 100.0, "F")


# ---------------------------------------------------------------------- bad inputs
BAD_SEX = [("O", "'O'"), ("X", "'X'"), ("", "''"), (None, "None"), (1, "1"), ("female", "female")]


@pytest.mark.parametrize(("sex", "shown"), BAD_SEX)
@pytest.mark.parametrize("func", [
    lambda s: lbm_james_kg(70, 170, s),
    lambda s: lbm_janmahasatian_kg(70, 170, s),
    lambda s: ibw_kg(170, s),
    lambda s: body_size("ibw", 70, 170, s if s is not None else "?"),
])
def test_sex_other_than_f_or_m_is_refused(func, sex, shown) -> None:
    with pytest.raises(InputError, match=r"sex = .*'F' \(female\) and 'M' \(male\)"):
        func(sex)


BAD_NUMBERS = [
    (lambda: lbm_james_kg(0, 170, "F"), InputError, "weight_kg = 0.0 kg: it must be"),
    (lambda: lbm_james_kg(-70, 170, "F"), InputError, "weight_kg"),
    (lambda: lbm_janmahasatian_kg(math.nan, 170, "F"), InputError, "weight_kg = nan"),
    (lambda: lbm_janmahasatian_kg("70", 170, "F"), InputError, "not a number"),
    (lambda: lbm_janmahasatian_kg(True, 170, "F"), InputError, "not a number"),
    (lambda: lbm_janmahasatian_kg(70, 1.70, "F"), PhysicsRangeError, "looks like metres"),
    (lambda: lbm_james_kg(70000, 170, "F"), PhysicsRangeError, "looks like grams"),
    (lambda: ibw_kg(math.inf, "M"), InputError, "height_cm = inf"),
    (lambda: bsa_dubois_m2(70, 1.7), PhysicsRangeError, "metres"),
    (lambda: body_size("sul", 70, 170, "F"), InputError, "unknown SUV normalisation 'sul'"),
    (lambda: body_size("lbm-janma", 70, None, "F"), InputError, r"PatientSize \(0010,1020\)"),
    (lambda: body_size("bsa", 70, None), InputError, "needs the patient's height"),
    (lambda: body_size("ibw", 70, 170, None), InputError, r"PatientSex \(0010,0040\)"),
    (lambda: body_size("bw", 0), InputError, "weight_kg"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_NUMBERS)
def test_bad_numbers_are_refused(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------- invariants
@given(weights, heights, sexes)
def test_janmahasatian_lbm_is_below_weight_and_rises_with_it(w, h, s) -> None:
    # LBM/W = 9270 / (c0 + c1 BMI) < 1 when BMI > (9270 - 6680)/216 = 12.0 kg/m2 (men) or
    # (9270 - 8780)/244 = 2.0 kg/m2 (women)
    assume(w / (h / 100.0) ** 2 > 12.1)
    lbm = lbm_janmahasatian_kg(w, h, s)
    assert 0.0 < lbm < w
    assert lbm_janmahasatian_kg(w + 1.0, h, s) > lbm


@given(heights, sexes)
def test_ibw_rises_with_height(h, s) -> None:
    assert ibw_kg(h + 1.0, s) > ibw_kg(h, s)


@given(weights, heights, sexes, st.sampled_from(NORMALISATIONS))
def test_factor_is_size_over_weight(w, h, s, kind) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetdoseWarning)
        size = body_size(kind, w, h, s)
    if kind == "bsa":
        assert size.factor_from_suvbw == pytest.approx(size.value * 1e4 / (w * 1e3), rel=1e-12)
    else:
        assert size.factor_from_suvbw == pytest.approx(size.value / w, rel=1e-12)
    assert size.factor_from_suvbw > 0.0


@given(weights, heights)
def test_women_have_less_lean_mass_than_men_of_the_same_size(w, h) -> None:
    assert lbm_janmahasatian_kg(w, h, "F") < lbm_janmahasatian_kg(w, h, "M")
