"""The electron and photon Monte Carlo engines (reduced statistics) and the shipped tables.

References: NIST ESTAR (CSDA ranges, radiation yields; the tables' own source), Lewis (1950)
for the mean projected range of a CSDA track with multiple scattering (exact first moment of
the transport equation, computed independently by numerical quadrature), NIST mass
energy-absorption coefficients of liquid water (Hubbell & Seltzer, NISTIR 5632, 1995, Table 4).
"""

from __future__ import annotations

import numpy as np
import pytest

from netdose.errors import InputError, PhysicsRangeError
from netdose.kernels import electron_mc
from netdose.kernels._tables import data_path, estar, xcom
from netdose.kernels.electron_mc import simulate_electron_kernel
from netdose.kernels.photon_mc import simulate_photon_kernel

# Hubbell & Seltzer (NISTIR 5632), water, liquid: mu_en/rho (cm2/g).
NIST_MU_EN_WATER = {
    0.05: 4.223e-2,
    0.1: 2.546e-2,
    0.2: 2.967e-2,
    0.5: 3.299e-2,
    1.0: 3.103e-2,
    2.0: 2.608e-2,
}


def test_electron_energy_is_conserved():
    res = simulate_electron_kernel(1.0, 2000, 11)
    total = res.cumulative_fraction[-1] + res.beyond_fraction + res.radiative_fraction
    assert total == pytest.approx(1.0, abs=1e-12)
    assert res.overflowed == 0
    # deposited energy integrates to 1 - radiative yield. ESTAR's yield is that of the primary
    # in the CSDA; the MC adds the knock-ons' own bremsstrahlung and energy-loss fluctuations
    # (a few % more): within 5 %.
    assert res.radiative_fraction == pytest.approx(
        float(estar("water").yield_(1.0)), rel=0.05
    )


def test_electron_mean_projected_range_matches_lewis():
    # CSDA transport (no straggling, no knock-ons, tracked to 1 keV): the mean projection of
    # the end point on the initial direction is Lewis's first moment, <z> = int exp(-tau) ds.
    e0 = 0.5
    res = simulate_electron_kernel(
        e0, 3000, 5, straggling=False, delta_rays=False, stop_range_fraction=1e-6
    )
    lewis = electron_mc.lewis_mean_projected_range_cm(e0)
    # statistical uncertainty of the mean (std of z ~0.3 r0, 3000 histories): ~1 %
    assert res.mean_end_z_cm == pytest.approx(lewis, rel=0.03)


def test_electron_mc_is_deterministic():
    a = simulate_electron_kernel(0.3, 500, 42)
    b = simulate_electron_kernel(0.3, 500, 42)
    np.testing.assert_array_equal(a.deposited_fraction, b.deposited_fraction)
    c = simulate_electron_kernel(0.3, 500, 43)
    assert not np.array_equal(a.deposited_fraction, c.deposited_fraction)


def test_electron_kernel_stays_within_csda_range():
    # Straggling lets a few electrons go slightly past r0, none far: 99 % of the energy lies
    # within r0 and all of it within 1.3 r0 (the CSDA range bounds the path length; energy
    # straggling lengthens it by a few %).
    res = simulate_electron_kernel(0.2, 2000, 3)
    c = res.cumulative_fraction / res.cumulative_fraction[-1]
    assert np.interp(1.0, res.x_edges, c) > 0.99
    assert np.interp(1.3, res.x_edges, c) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"energy_mev": 20.0},
        {"energy_mev": 1e-4},
        {"n_histories": 0},
        {"step_fraction": 0.0},
    ],
)
def test_electron_mc_rejects_bad_input(kwargs):
    args = {"energy_mev": 1.0, "n_histories": 10, "seed": 1}
    args.update(kwargs)
    with pytest.raises((InputError, PhysicsRangeError)):
        simulate_electron_kernel(**args)


def test_photon_energy_is_conserved():
    res = simulate_photon_kernel(1.5, 2000, 7)  # includes pair production
    total = res.cumulative_fraction[-1] + res.escaped_fraction
    assert total == pytest.approx(1.0, abs=1e-12)


def test_xcom_water_attenuation():
    # NIST XCOM total attenuation with coherent, water at 100 keV: 0.1707 cm2/g (Hubbell &
    # Seltzer, Table 4, same source data).
    x = xcom("water")
    total = x.coherent_cm2_g + x.incoherent_cm2_g + x.photoelectric_cm2_g + x.pair_cm2_g
    assert np.exp(
        np.interp(np.log(0.1), np.log(x.energy_mev), np.log(total))
    ) == pytest.approx(0.1707, rel=2e-3)


@pytest.mark.parametrize("energy_mev", sorted(NIST_MU_EN_WATER))
def test_photon_table_near_source_matches_nist_mu_en(energy_mev):
    # Close to the source, energy is absorbed by first collisions only:
    # E(r)/E = (mu_en/mu) (1 - exp(-mu r)). At r = 0.1 g/cm2 multiple scattering adds < 2 %;
    # the table has 5e5 histories per energy (~2 % noise at this radius): tolerance 5 %.
    with np.load(data_path("photon_kernels_water.npz")) as z:
        energies, edges, cum = z["energy_mev"], z["r_edges_g_cm2"], z["cumulative"]
    j = int(np.searchsorted(energies, energy_mev)) - 1
    f = np.log(energy_mev / energies[j]) / np.log(energies[j + 1] / energies[j])
    r = 0.1
    got = (1 - f) * np.interp(r, edges, cum[j]) + f * np.interp(r, edges, cum[j + 1])
    x = xcom("water")
    mu = np.interp(
        np.log(energy_mev),
        np.log(x.energy_mev),
        x.coherent_cm2_g + x.incoherent_cm2_g + x.photoelectric_cm2_g + x.pair_cm2_g,
    )
    expected = NIST_MU_EN_WATER[energy_mev] / mu * (1.0 - np.exp(-mu * r))
    assert got == pytest.approx(expected, rel=0.05)


def test_shipped_electron_table():
    with np.load(data_path("electron_kernels_water.npz")) as z:
        energies, cum, rad, r0 = (
            z["energy_mev"],
            z["cumulative"],
            z["radiative_fraction"],
            z["r0_cm"],
        )
        beyond = z["beyond_fraction"]
    assert np.all(np.diff(cum, axis=1) >= 0.0)
    np.testing.assert_allclose(cum[:, -1] + rad + beyond, 1.0, atol=1e-9)
    np.testing.assert_allclose(r0, estar("water").csda_range(energies), rtol=1e-9)
    # radiative losses as ESTAR's radiation yield (primary, CSDA); the MC adds the knock-ons'
    # bremsstrahlung and straggling: within 6 %
    np.testing.assert_allclose(rad, estar("water").yield_(energies), rtol=0.06)
    assert np.all(beyond < 1e-6)
