"""Cumulative DVHs against analytic dose distributions, partial-volume weights, properties
(monotonicity, scaling) and bad inputs."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from netdose.dosimetry.dvh import CSV_COLUMNS, DVH, dvh
from netdose.errors import GeometryError, InputError
from netdose.image import Image, coverage_fraction

SPACING = (2.0, 2.0, 2.0)  # voxel 8 mm^3 = 0.008 mL


def _img(arr: np.ndarray, spacing=SPACING, origin=(0.0, 0.0, 0.0)) -> Image:
    return Image(np.asarray(arr), spacing, origin)


def _ramp(n_levels: int = 50, step_gy: float = 2.0) -> tuple[Image, Image]:
    """Dose rising linearly along x, sampled at voxel centres: (i + 0.5) * step, i = 0..n-1,
    over a 4 x 5 x n box: a uniform dose distribution from 0 to n * step (voxel edges)."""
    x = (np.arange(n_levels) + 0.5) * step_gy
    dose = np.broadcast_to(x, (4, 5, n_levels)).astype(np.float64)
    return _img(dose), _img(np.ones(dose.shape, dtype=bool))


# ---------------------------------------------------------------------- analytic cases
def test_linear_ramp_gives_the_uniform_distribution():
    step, n = 2.0, 50
    dose, mask = _ramp(n, step)
    h = dvh(dose, mask, name="box")
    d_max_edge, d_range = n * step, n * step  # analytic: uniform on [0, 100] Gy
    assert h.n_voxels == 4 * 5 * n
    assert h.volume_ml == pytest.approx(h.n_voxels * 0.008, rel=1e-12)
    assert h.mean_gy == pytest.approx(d_max_edge / 2.0, rel=1e-12)
    assert h.max_gy == pytest.approx((n - 0.5) * step) and h.min_gy == pytest.approx(0.5 * step)
    for p in np.linspace(0.0, 100.0, 401):
        analytic = d_max_edge - p / 100.0 * d_range
        got = h.d(p)
        # Exact convention: the centre dose of the voxel layer holding the p-quantile
        # (ties at layer boundaries go to the hotter layer).
        k = max(math.ceil(p / 100.0 * n - 1e-9), 1)  # 1-based layer from the top
        assert got == pytest.approx((n - k + 0.5) * step, abs=1e-9), p
        # ... so within half a layer's dose step of the analytic value.
        assert abs(got - analytic) <= 0.5 * step + 1e-9, p
    assert h.d(70) == pytest.approx(31.0)  # analytic 30 Gy: boundary, hotter layer
    assert h.d(70.5) == pytest.approx(29.0)  # analytic 29.5 Gy
    for x in np.linspace(-5.0, 105.0, 221):
        n_ge = np.count_nonzero((np.arange(n) + 0.5) * step >= x)
        assert h.v(x) == pytest.approx(100.0 * n_ge / n, abs=1e-9), x
        analytic_v = min(max(100.0 - x, 0.0), 100.0)
        assert abs(h.v(x) - analytic_v) <= 100.0 / n + 1e-9


def test_two_level_dose():
    dose = np.full((10, 10, 10), 40.0)
    dose[:3] = 120.0  # 30 % of the voxels
    h = dvh(_img(dose), _img(np.ones(dose.shape, bool)))
    assert h.mean_gy == pytest.approx(0.3 * 120.0 + 0.7 * 40.0, rel=1e-12)
    assert h.d(2) == h.d(30) == 120.0
    assert h.d(30.0001) == h.d(50) == h.d(70) == h.d(100) == 40.0
    assert h.v(40.0) == 100.0  # inclusive: the 40 Gy voxels count at 40 Gy
    assert h.v(40.0000001) == pytest.approx(30.0)
    assert h.v(120.0) == pytest.approx(30.0)
    assert h.v(120.0000001) == 0.0
    s = h.summary()
    assert s["V100_pct"] == pytest.approx(30.0) and s["V150_pct"] == 0.0
    assert s["D70_gy"] == 40.0 and s["D2_gy"] == 120.0 and s["D95_gy"] == 40.0
    for key in ("D50_gy", "D90_gy", "V120_pct", "volume_ml", "mean_gy", "constants"):
        assert key in s
    assert "inclusive" in s["constants"]["vx_convention"]
    extra = h.summary(d_percents=(99.5,), v_doses_gy=(60.0,))
    assert extra["D99.5_gy"] == 40.0 and extra["V60_pct"] == pytest.approx(30.0)


def test_only_mask_voxels_count():
    dose = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    mask = np.zeros(dose.shape, bool)
    mask[1, 1:3, 1:4] = True
    h = dvh(_img(dose), _img(mask))
    inside = dose[mask]
    assert h.n_voxels == inside.size
    assert h.mean_gy == pytest.approx(inside.mean())
    assert h.max_gy == inside.max() and h.min_gy == inside.min()
    assert h.d(100) == inside.min() and h.d(0) == inside.max()


def test_fraction_weights():
    dose = np.zeros((1, 1, 3))
    dose[0, 0, :] = (10.0, 20.0, 99.0)
    mask = np.array([[[False, True, False]]])
    frac = np.array([[[0.25, 0.75, 0.0]]])
    h = dvh(_img(dose), _img(mask), fraction=_img(frac))
    assert h.n_voxels == 2  # the 99 Gy voxel has fraction 0
    assert h.volume_ml == pytest.approx(1.0 * 0.008)
    assert h.mean_gy == pytest.approx(0.25 * 10 + 0.75 * 20)
    assert h.v(15.0) == pytest.approx(75.0)
    assert h.d(75.0) == 20.0 and h.d(75.01) == 10.0
    assert h.constants["weighting"] == "coverage fraction"


def test_fraction_from_a_fine_mask_keeps_the_native_volume():
    # A sphere drawn at 0.5 mm, carried to a 2 mm dose grid: the fraction-weighted DVH
    # has the native volume, and its mean of a linear dose is the sphere's centroid dose.
    fine_n = 48
    c = (np.arange(fine_n) + 0.5) * 0.5
    zz, yy, xx = np.meshgrid(c, c, c, indexing="ij")
    sphere = (xx - 12.0) ** 2 + (yy - 12.0) ** 2 + (zz - 12.0) ** 2 <= 8.0**2
    fine = Image(sphere, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    grid = Image(np.zeros((12, 12, 12)), SPACING, (1.0, 1.0, 1.0))
    frac = coverage_fraction(fine, grid)
    xc = 1.0 + 2.0 * np.arange(12)
    dose = grid.with_array(np.broadcast_to(xc, (12, 12, 12)).astype(np.float64))
    h = dvh(dose, grid.with_array(frac.array >= 0.5), fraction=frac, name="sphere")
    native_ml = sphere.sum() * 0.125e-3
    assert h.volume_ml == pytest.approx(native_ml, rel=1e-9)
    assert h.mean_gy == pytest.approx(12.0, abs=0.05)


def test_mass_from_density():
    dose, mask = _ramp(10)
    h = dvh(dose, mask, density_g_cm3=1.04)
    assert h.mass_kg == pytest.approx(h.volume_ml * 1.04 / 1000.0, rel=1e-12)
    rho = dose.with_array(np.full(dose.shape, 0.26))
    assert dvh(dose, mask, density_g_cm3=rho).mass_kg == pytest.approx(h.volume_ml * 0.26e-3)
    assert dvh(dose, mask).mass_kg is None


# ---------------------------------------------------------------------- curve and CSV
def test_curve_is_exact_at_its_points():
    dose, mask = _ramp(50, 2.0)
    h = dvh(dose, mask, bin_width_gy=5.0)
    x, v = h.curve()
    assert x[0] == 0.0 and v[0] == 100.0 and v[-1] == 0.0
    assert np.all(np.diff(x) == pytest.approx(5.0))
    assert x[-1] > h.max_gy
    assert np.all(np.diff(v) <= 0.0)
    for xi, vi in zip(x, v):
        assert vi == pytest.approx(h.v(xi), abs=1e-12)
    # default bin width: 1/2/5 x 10^k with at most 1000 points to the maximum
    assert dvh(dose, mask).bin_width_gy == pytest.approx(0.1)


def test_csv(tmp_path):
    dose = np.full((2, 2, 2), 3.0)
    dose[0] = 7.0
    h = dvh(_img(dose), _img(np.ones((2, 2, 2), bool)), bin_width_gy=1.0)
    rows = h.to_csv_rows()
    assert rows[0] == CSV_COLUMNS
    assert rows[1] == ("0", "100", format(h.volume_ml, ".10g"))
    out = h.write_csv(tmp_path / "sub" / "dvh.csv")
    with open(out, newline="") as fh:
        back = list(csv.reader(fh))
    assert back[0] == list(CSV_COLUMNS)
    table = {float(r[0]): float(r[1]) for r in back[1:]}
    assert table[3.0] == 100.0 and table[4.0] == 50.0 and table[7.0] == 50.0 and table[8.0] == 0.0
    first = out.read_bytes()
    h.write_csv(out)
    assert out.read_bytes() == first  # deterministic
    assert not [p for p in out.parent.iterdir() if p.name != "dvh.csv"]  # no temp files left


# ---------------------------------------------------------------------- properties
_doses = hnp.arrays(
    np.float64, st.integers(1, 60),
    elements=st.floats(0.0, 500.0, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(d=_doses, data=st.data())
def test_dvh_properties(d, data):
    n = d.size
    w = np.asarray(data.draw(hnp.arrays(np.float64, n, elements=st.floats(0.01, 1.0))))
    dose = _img(d.reshape(1, 1, n))
    mask = _img(np.ones((1, 1, n), bool))
    for h in (dvh(dose, mask), dvh(dose, mask, fraction=_img(w.reshape(1, 1, n)))):
        ps = np.linspace(0.0, 100.0, 41)
        ds = np.array([h.d(p) for p in ps])
        assert np.all(np.diff(ds) <= 0.0)  # Dx non-increasing in x
        assert ds[0] == h.max_gy and ds[-1] == h.min_gy
        for p, dp in zip(ps, ds):
            assert h.v(dp) >= p * (1.0 - 1e-9)  # D(p) receives by at least p % of the volume
            assert dp in d
        xs = np.linspace(-1.0, 501.0, 53)
        vs = np.array([h.v(x) for x in xs])
        assert np.all(np.diff(vs) <= 1e-12)  # Vx non-increasing in x
        _, curve_v = h.curve(7.0)
        assert np.all(np.diff(curve_v) <= 1e-12)  # the DVH curve is non-increasing
        assert h.min_gy - 1e-9 <= h.mean_gy <= h.max_gy + 1e-9
    k = data.draw(st.floats(0.01, 100.0))
    h1 = dvh(dose, mask)
    hk = dvh(dose.with_array(d.reshape(1, 1, n) * k), mask)
    for p in (0.0, 2.0, 50.0, 70.0, 95.0, 100.0):
        assert hk.d(p) == pytest.approx(k * h1.d(p), rel=1e-12, abs=1e-300)
    assert hk.mean_gy == pytest.approx(k * h1.mean_gy, rel=1e-9, abs=1e-300)


# ---------------------------------------------------------------------- bad inputs
def test_grid_mismatch_raises_geometry_error():
    dose, mask = _ramp(10)
    shifted = Image(mask.array, SPACING, (1.0, 0.0, 0.0))
    with pytest.raises(GeometryError, match="mask 'liver'"):
        dvh(dose, shifted, name="liver")
    with pytest.raises(GeometryError, match="fraction map"):
        dvh(dose, mask, fraction=Image(np.ones(mask.shape), (1.0, 1.0, 1.0)), name="liver")


@pytest.mark.parametrize(
    "case, match",
    [
        ("empty", "mask 'tumour_1' is empty"),
        ("nan", "NaN"),
        ("float_mask", "must be boolean"),
        ("fraction_range", r"fractions in \[0, 1\]"),
        ("fraction_zero_in_mask", "coverage fraction 0"),
        ("bad_percent", r"percentage in \[0, 100\]"),
        ("bad_width", "bin_width_gy must be > 0"),
        ("bad_density", "density"),
    ],
)
def test_bad_inputs(case, match):
    dose, mask = _ramp(10)
    with pytest.raises(InputError, match=match):
        if case == "empty":
            dvh(dose, mask.with_array(np.zeros(mask.shape, bool)), name="tumour_1")
        elif case == "nan":
            arr = dose.array.copy()
            arr[0, 0, 0] = np.nan
            dvh(dose.with_array(arr), mask)
        elif case == "float_mask":
            dvh(dose, mask.with_array(np.full(mask.shape, 0.7)))
        elif case == "fraction_range":
            dvh(dose, mask, fraction=mask.with_array(np.full(mask.shape, 1.5)))
        elif case == "fraction_zero_in_mask":
            dvh(dose, mask, fraction=mask.with_array(np.zeros(mask.shape)))
        elif case == "bad_percent":
            dvh(dose, mask).d(101.0)
        elif case == "bad_width":
            dvh(dose, mask, bin_width_gy=0.0)
        elif case == "bad_density":
            dvh(dose, mask, density_g_cm3=-1.0)


def test_dvh_is_frozen_and_read_only():
    dose, mask = _ramp(5)
    h = dvh(dose, mask)
    assert isinstance(h, DVH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.mean_gy = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        h.doses_gy[0] = 1.0


def test_dvh_of_a_denormal_dose_does_not_fail():
    # Found by hypothesis: a maximum of 5e-324 Gy made the bin-width logarithm fail.
    dose = _img(np.array([5e-324]).reshape(1, 1, 1))
    h = dvh(dose, _img(np.ones((1, 1, 1), bool)))
    assert h.max_gy == 5e-324 and h.d(50.0) == 5e-324
