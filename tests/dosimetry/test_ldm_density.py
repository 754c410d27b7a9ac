"""Local energy deposition and CT density, against analytic values and the SIRT energy
constant of the literature."""

from __future__ import annotations

import numpy as np
import pytest

from netdose.dosimetry import (
    SCHNEIDER_2000_HU_DENSITY,
    absorbed_dose,
    density_from_ct,
    dose_ldm,
    time_integrated_activity_bq_s,
)
from netdose.errors import GeometryError, InputError, UnitsError
from netdose.image import Image
from netdose.nuclides import get_nuclide

SPACING = (4.0, 4.0, 5.0)


def _uniform(value: float, shape=(4, 5, 6), dtype=np.float64) -> Image:
    return Image(np.full(shape, value, dtype=dtype), SPACING, (10.0, -5.0, 100.0))


def _ct(hu: float, shape=(4, 5, 6)) -> Image:
    arr = np.full(shape, hu, dtype=np.float32)
    arr[0] = -1000.0  # a slab of air in the field of view, as in any patient CT
    return Image(arr, SPACING, (10.0, -5.0, 100.0))


def test_y90_ldm_reproduces_the_sirt_energy_constant():
    # 1 GBq of Y-90 decaying in place in 1 kg of tissue gives 49.67 Gy (the constant of the
    # SIRT literature, e.g. Sirtex and BTG package inserts). With ICRP-107's 0.93311 MeV per
    # decay netdose gets 49.77 Gy·kg/GBq (+0.2 %: the literature constant predates ICRP-107).
    density = 1.04
    conc_bq_ml = 1.0e9 / (1000.0 / density)  # 1 GBq per kg
    res = absorbed_dose(
        _uniform(conc_bq_ml), quantity="activity_bq_ml", nuclide="Y-90", method="ldm",
        kinetics="physical", density_g_cm3=density,
    )
    assert float(res.dose_gy.array.mean()) == pytest.approx(49.67, rel=0.005)
    assert res.dose_gy.array.dtype == np.float32


def test_ldm_analytic_value():
    # D = A * tau * E / m for one voxel, computed by hand.
    nuc = get_nuclide("Lu-177")
    tia = _uniform(0.0).array.copy()
    tia[1, 2, 3] = 1.0e9  # Bq·s in that voxel
    res = dose_ldm(_uniform(0.0).with_array(tia), "Lu-177", density_g_cm3=1.0)
    mass_kg = 4.0 * 4.0 * 5.0 * 1e-3 * 1.0 * 1e-3
    expected = 1.0e9 * nuc.electron_energy_mev * 1.602176634e-13 / mass_kg
    assert float(res.dose_gy.array[1, 2, 3]) == pytest.approx(expected, rel=1e-6)
    assert float(res.dose_gy.array.sum()) == pytest.approx(expected, rel=1e-6)
    assert res.constants["photon_energy_not_deposited_mev_per_decay"] == pytest.approx(0.0351, rel=1e-3)


def test_the_three_input_quantities_agree():
    nuc = get_nuclide("Y-90")
    conc = 2.5e5  # Bq/mL
    voxel_ml = 4.0 * 4.0 * 5.0 * 1e-3
    a = time_integrated_activity_bq_s(_uniform(conc), "activity_bq_ml", nuc, kinetics="physical")
    b = time_integrated_activity_bq_s(_uniform(conc * nuc.mean_life_s), "tia_bq_s_ml", nuc)
    c = time_integrated_activity_bq_s(
        _uniform(conc * voxel_ml * nuc.mean_life_s / 1e6 / 3600.0), "tia_mbq_h", nuc
    )
    np.testing.assert_allclose(a.array, b.array, rtol=1e-12)
    np.testing.assert_allclose(a.array, c.array, rtol=1e-12)


def test_ct_density_scales_ldm_dose_inversely():
    tia = _uniform(1.0e8)
    water = dose_ldm(tia, "Y-90", density_g_cm3=1.0)
    # Schneider table: 1600 HU -> 1.9642 g/cm3.
    bone = dose_ldm(tia, "Y-90", ct=_ct(1600.0))
    ratio = bone.dose_gy.array[2, 2, 2] / water.dose_gy.array[2, 2, 2]
    assert ratio == pytest.approx(1.0 / 1.9642, rel=1e-5)
    # The air voxel is floored at 0.05 g/cm3, not 0.0012.
    assert bone.dose_gy.array[0, 0, 0] / water.dose_gy.array[0, 0, 0] == pytest.approx(1 / 0.05, rel=1e-5)
    assert bone.constants["voxels_at_density_floor"] == 30


@pytest.mark.parametrize(
    ("hu", "rho"),
    [(-1000.0, 1.21e-3), (-98.0, 0.93), (14.0, 1.03), (100.0, 1.1199), (101.0, 1.0762),
     (1600.0, 1.9642), (3000.0, 2.8), (-1024.0, 1.21e-3), (4000.0, 2.8), (57.0, 1.031 + (34 / 77) * (1.1199 - 1.031))],
)
def test_hu_to_density_follows_the_schneider_table(hu, rho):
    out = density_from_ct(_ct(hu))
    assert float(out.array[2, 2, 2]) == pytest.approx(rho, rel=1e-5)
    assert len(SCHNEIDER_2000_HU_DENSITY) == 9


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: time_integrated_activity_bq_s(_uniform(-1.0), "activity_bq_ml", "Y-90", kinetics="physical"),
         InputError, r"negative voxel.*clip"),
        (lambda: time_integrated_activity_bq_s(_uniform(np.nan), "tia_bq_s_ml", "Y-90"),
         InputError, "NaN"),
        (lambda: time_integrated_activity_bq_s(_uniform(1.0), "activity_bq_ml", "Y-90"),
         InputError, "kinetics='physical'"),
        (lambda: time_integrated_activity_bq_s(_uniform(1.0), "tia_mbq_h", "Y-90", kinetics="physical"),
         InputError, "already time-integrated"),
        (lambda: time_integrated_activity_bq_s(_uniform(1.0), "counts", "Y-90"),  # type: ignore[arg-type]
         InputError, "unknown input quantity"),
        (lambda: time_integrated_activity_bq_s(_uniform(1.0), "tia_mbq_h", "Yx-90"),
         InputError, "chemical element"),
        (lambda: dose_ldm(_uniform(1.0), "Y-90", density_g_cm3=0.0), InputError, "positive"),
        (lambda: dose_ldm(_uniform(1.0), "Y-90", ct=_ct(0.0, shape=(4, 5, 7)), ct_name="ct.nii"),
         GeometryError, "ct.nii is not on the grid"),
        (lambda: density_from_ct(Image(np.zeros((3, 3, 3)), (1, 1, 1)), name="mu.nii"),
         UnitsError, r"mu\.nii does not look like a CT in Hounsfield"),
        (lambda: density_from_ct(_ct(0.0), [(0.0, 1.0), (0.0, 1.1)]), InputError, "increasing"),
        (lambda: absorbed_dose(_uniform(1.0), quantity="tia_mbq_h", nuclide="Y-90", method="mc"),  # type: ignore[arg-type]
         InputError, "unknown dose method"),
    ],
)
def test_bad_dose_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
