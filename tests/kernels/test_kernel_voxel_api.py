"""Voxel-kernel API, cache and integration against naive NumPy references."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from netdose.errors import GeometryError, InputError, NetdoseError, NetdoseWarning
from netdose.kernels import default_components, point_kernel, voxel_kernel
from netdose.kernels.voxel import _tent_gauss, voxel_s_values_from_point_kernel


def test_kernel_layout_and_summary():
    vk = voxel_kernel("Y-90", (2.34, 2.34, 2.78), use_cache=False)
    nz, ny, nx = vk.shape
    assert nz % 2 == ny % 2 == nx % 2 == 1
    assert vk.center_index == (nz // 2, ny // 2, nx // 2)
    v = vk.values_mgy_per_mbq_s
    assert v.dtype == np.float64 and v[vk.center_index] == v.max()
    # the x and y extents are equal, z shorter (larger spacing)
    assert nx == ny and nz <= nx
    assert vk.spacing_mm == (2.34, 2.34, 2.78)
    assert vk.components == ("beta", "ce", "auger")
    s = vk.summary()
    json.dumps(s)
    assert s["units"] == "mGy/(MBq s) per voxel"
    assert vk.max_range_mm == pytest.approx(vk.electron_range_mm)
    # Y-90 electrons reach ~11 mm in soft tissue (CSDA range of 2.28 MeV / 1.04 g/cm3)
    assert 9.0 < vk.electron_range_mm < 12.5


def test_default_components():
    assert "photons" not in default_components("Y-90")
    assert default_components("Lu-177") == ("beta", "ce", "auger", "photons")
    assert "photons" in default_components("Tc-99m")


def test_lu177_kernel_extends_to_photon_radius():
    vk = voxel_kernel("Lu-177", (4.42,) * 3, photon_radius_mm=50.0, use_cache=False)
    assert vk.photon_radius_mm == 50.0
    assert vk.shape[0] == 2 * (math.floor(50.0 / 4.42) + 1) + 1
    # photon dose decreases outwards, and is zero beyond the truncation radius
    c = vk.center_index[0]
    row = vk.values_mgy_per_mbq_s[c, c, c:]
    assert np.all(np.diff(row[1:]) < 0)
    assert row[-1] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"nuclide": "Xx-999"}, InputError),
        ({"nuclide": "not a nuclide"}, InputError),
        ({"spacing_mm": (0.0, 1.0, 1.0)}, GeometryError),
        ({"spacing_mm": (-2.0, 2.0, 2.0)}, GeometryError),
        ({"spacing_mm": (2.0, 2.0)}, GeometryError),
        ({"spacing_mm": (2.0, float("nan"), 2.0)}, GeometryError),
        ({"density_g_cm3": 0.0}, InputError),
        ({"density_g_cm3": -1.04}, InputError),
        ({"density_g_cm3": float("nan")}, InputError),
        ({"components": ("neutrons",)}, InputError),
        ({"components": ()}, InputError),
        ({"medium": "granite"}, InputError),
        ({"nuclide": "Lu-177", "photon_radius_mm": 0.0}, InputError),
    ],
)
def test_bad_input_raises_netdose_error(kwargs, error):
    args = {"nuclide": "Y-90", "spacing_mm": (3.0, 3.0, 3.0), "use_cache": False}
    args.update(kwargs)
    with pytest.raises(error) as info:
        voxel_kernel(**args)
    assert isinstance(info.value, NetdoseError)
    assert str(info.value)  # says what was wrong


def test_cache_round_trip_and_corrupt_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NETDOSE_CACHE_DIR", str(tmp_path))
    first = voxel_kernel("Y-90", (4.42, 4.42, 4.42))
    files = list((tmp_path / "kernels").glob("Y-90_*.npy"))
    assert len(files) == 1
    second = voxel_kernel("Y-90", (4.42, 4.42, 4.42))
    assert second.info.get("from_cache") == 1.0
    np.testing.assert_array_equal(
        first.values_mgy_per_mbq_s, second.values_mgy_per_mbq_s
    )
    assert (
        second.summary()["emitted_energy_mev"] == first.summary()["emitted_energy_mev"]
    )
    # another spacing, density or component set is another file
    voxel_kernel("Y-90", (4.42, 4.42, 4.0))
    voxel_kernel("Y-90", (4.42, 4.42, 4.42), density_g_cm3=1.0)
    assert len(list((tmp_path / "kernels").glob("Y-90_*.npy"))) == 3
    assert len(list((tmp_path / "kernels").glob("Y-90_*.json"))) == 3
    # a corrupt file is regenerated with a warning, not fatal
    files[0].write_bytes(b"not an npy file")
    with pytest.warns(NetdoseWarning, match="regenerating"):
        third = voxel_kernel("Y-90", (4.42, 4.42, 4.42))
    np.testing.assert_array_equal(
        third.values_mgy_per_mbq_s, first.values_mgy_per_mbq_s
    )
    assert voxel_kernel("Y-90", (4.42, 4.42, 4.42)).info.get("from_cache") == 1.0


def naive_s_energy(pk, spacing, offsets, n=1_000_000, seed=0):
    """Brute-force reference: sample decay points uniformly in the source voxel, an absorbed
    energy quantum at a distance drawn from the point kernel's E(r) in an isotropic direction,
    and bin the deposition point into voxels. Returns energy (MeV per decay) per offset."""
    rng = np.random.default_rng(seed)
    a = np.asarray(spacing, float)
    c = pk.total_cumulative_mev
    e_abs = c[-1]
    r = np.interp(rng.random(n) * e_abs, c, pk.r_mm)
    mu = 2 * rng.random(n) - 1
    phi = 2 * np.pi * rng.random(n)
    s = np.sqrt(1 - mu**2)
    d = np.column_stack([r * s * np.cos(phi), r * s * np.sin(phi), r * mu])
    src = (rng.random((n, 3)) - 0.5) * a
    idx = np.floor((src + d) / a + 0.5).astype(int)
    out = {}
    for o in offsets:
        out[o] = e_abs * np.count_nonzero(np.all(idx == np.array(o), axis=1)) / n
    return out


@pytest.mark.parametrize(
    ("nuclide", "spacing"),
    [("Y-90", (3.0, 3.0, 3.0)), ("Y-90", (2.0, 2.5, 4.0)), ("Lu-177", (0.5, 0.5, 0.5))],
)
def test_integration_matches_brute_force_sampling(nuclide, spacing):
    pk = point_kernel(nuclide, 1.04, ("electrons",))
    energy, _ = voxel_s_values_from_point_kernel(pk, spacing)
    cz, cy, cx = (s // 2 for s in energy.shape)
    offsets = [
        (0, 0, 0),
        (1, 0, 0),
        (0, 1, 0),
        (0, 0, 1),
        (1, 1, 0),
        (1, 1, 1),
        (2, 0, 0),
    ]
    ref = naive_s_energy(pk, spacing, offsets)
    e_abs = pk.total_cumulative_mev[-1]
    for i, j, k in offsets:
        ours = (
            energy[cz + k, cy + j, cx + i]
            if max(abs(i) - cx, abs(j) - cy, abs(k) - cz) <= 0
            else 0.0
        )
        p = ref[(i, j, k)] / e_abs
        sigma = e_abs * math.sqrt(max(p * (1 - p), 1e-12) / 1_000_000)
        assert abs(ours - ref[(i, j, k)]) <= 4 * sigma + 1e-9, (
            (i, j, k),
            ours,
            ref[(i, j, k)],
            sigma,
        )


def test_far_field_quadrature_matches_numpy_reference():
    rng = np.random.default_rng(1)
    r_step = 0.1
    k_tab = np.ascontiguousarray(
        np.exp(-np.arange(400) * r_step / 7.0) * rng.uniform(0.9, 1.1, 400)
    )
    hx, hy, hz, ax, ay, az = 4, 3, 2, 1.5, 2.0, 3.0
    got = _tent_gauss(hx, hy, hz, ax, ay, az, r_step, k_tab)
    nodes = np.array([-math.sqrt(0.4), 0.0, math.sqrt(0.4)])
    weights = np.array([5 / 24, 7 / 12, 5 / 24])
    ref = np.zeros_like(got)
    for iz in range(hz + 1):
        for iy in range(hy + 1):
            for ix in range(hx + 1):
                z = az * (iz + nodes)[:, None, None]
                y = ay * (iy + nodes)[None, :, None]
                x = ax * (ix + nodes)[None, None, :]
                u = np.sqrt(x**2 + y**2 + z**2) / r_step
                kv = np.interp(u, np.arange(k_tab.size), k_tab)
                w = (
                    weights[:, None, None]
                    * weights[None, :, None]
                    * weights[None, None, :]
                )
                ref[iz, iy, ix] = np.sum(w * kv) * ax * ay * az
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_point_kernel_api():
    pk = point_kernel("Y-90", 1.04)
    assert pk.r_mm[0] == 0.0 and np.all(np.diff(pk.r_mm) > 0)
    emitted = sum(pk.emitted_mev.values())
    assert emitted == pytest.approx(0.93311, rel=1e-3)  # ICRP-107 (physics-data.md)
    # everything not escaping is absorbed within the maximum range
    inside = pk.absorbed_fraction_within(pk.max_range_mm)
    assert inside == pytest.approx(
        1.0 - sum(pk.escaped_mev.values()) / emitted, rel=1e-12
    )
    assert np.all(pk.energy_per_shell_mev() >= 0.0)
    dose = pk.dose_mgy_per_mbq_s(np.array([0.5, 1.0, 2.0, 5.0]))
    assert np.all(np.diff(dose) < 0)
    # lower density: same energy, range longer by the density ratio (range scaling)
    lung = point_kernel("Y-90", 0.3)
    assert lung.electron_range_mm == pytest.approx(
        pk.electron_range_mm * 1.04 / 0.3, rel=0.01
    )


def test_components_that_emit_nothing_are_rejected():
    with pytest.raises(InputError, match="emits nothing"):
        point_kernel("F-18", components=("ce",))
