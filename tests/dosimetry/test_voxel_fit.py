"""Per-voxel TIA fit (Numba) against a naive NumPy/scipy reference, exact mono-exponential
voxels, fallback rules, the VOI-shape-scaled method and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize

from netdose.dosimetry.tac import (
    SIGMA_FLOOR_FRACTION,
    fit_model,
    fit_tac,
    trapezoid_tia,
)
from netdose.dosimetry.voxel_fit import (
    STATUS_FIT,
    STATUS_FIT_PHYSICAL,
    STATUS_NOT_CONVERGED,
    STATUS_TRAPEZOID,
    STATUS_ZERO,
    _fit_chunk,
    _fit_one,
    fit_voxels,
    voi_scaled_tia,
)
from netdose.errors import GeometryError, InputError
from netdose.image import Image
from netdose.nuclides import get_nuclide

LN2 = math.log(2.0)
T_PHYS_H = get_nuclide("Lu-177").half_life_h
LAM_P = LN2 / T_PHYS_H
TIMES = np.array([4.0, 24.0, 96.0, 168.0])
S_PER_H = 3600.0


# --------------------------------------------------------------------------- reference
def reference_voxel(t: np.ndarray, y: np.ndarray, lam_p: float) -> tuple[float, float, int]:
    """Naive reference of one voxel: (TIA Bq·h/mL, T_eff h, status).

    Same documented rules as netdose, written independently: all samples <= 0 → 0; some
    <= 0 → trapezoid from (0, 0) through max(y, 0) + physical tail; otherwise
    scipy.optimize.least_squares on (A0 e^{-λt} - y)/max(y, 0.01 max y), λ >= λ_phys, and
    TIA = A0/λ.
    """
    if not (y > 0).any():
        return 0.0, math.nan, STATUS_ZERO
    if (y <= 0).any():
        yc = np.clip(y, 0.0, None)
        tt = np.concatenate([[0.0], t])
        yy = np.concatenate([[0.0], yc])
        return float(np.trapezoid(yy, tt) + yc[-1] / lam_p), LN2 / lam_p, STATUS_TRAPEZOID
    sig = np.maximum(y, 0.01 * y.max())
    lam0 = max(-np.polyfit(t, np.log(y), 1)[0], lam_p * 1.01)
    res = scipy.optimize.least_squares(
        lambda p: (p[0] * np.exp(-p[1] * t) - y) / sig,
        x0=[y[0] * math.exp(lam0 * t[0]), lam0],
        bounds=([0.0, lam_p], [np.inf, np.inf]),
        x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=10000,
    )
    a0, lam = res.x
    status = STATUS_FIT_PHYSICAL if lam <= lam_p * (1 + 1e-7) else STATUS_FIT
    return a0 / lam, LN2 / lam, status


def reference_maps(act: np.ndarray, t: np.ndarray, lam_p: float):
    shape = act.shape[1:]
    tia = np.zeros(shape)
    thalf = np.zeros(shape)
    status = np.zeros(shape, np.uint8)
    for idx in np.ndindex(shape):
        y = act[(slice(None), *idx)].astype(np.float64)
        tia[idx], thalf[idx], status[idx] = reference_voxel(t, y, lam_p)
    return tia * S_PER_H, thalf, status


def random_stack(shape=(5, 6, 7), seed=7, noise=0.15):
    """Seeded mono-exponential voxels (T_eff 10-250 h: some slower than physical) with
    multiplicative noise, a voxel with a zero sample, one all zero, one with a negative."""
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(10.0, 5000.0, shape)
    teff = rng.uniform(10.0, 250.0, shape)
    act = a0[None] * np.exp(-LN2 / teff[None] * TIMES[:, None, None, None])
    act *= 1.0 + noise * rng.standard_normal(act.shape)
    act[:, 0, 0, 0] = 0.0
    act[2, 0, 0, 1] = 0.0
    act[3, 0, 0, 2] = -4.0
    return act.astype(np.float32)


# --------------------------------------------------------------------------- vs reference
def test_numba_fit_matches_the_reference_on_a_random_grid():
    """Tolerance: relative 2e-5 on TIA and T_eff. Both solve the same smooth bounded problem
    to ~1e-12; the float32 outputs carry 6e-8, scipy's termination ~1e-9; 2e-5 leaves room
    for voxels with a flat cost valley (4 samples, 15 % noise)."""
    act = random_stack()
    res = fit_voxels(act, TIMES, physical_half_life_h=T_PHYS_H)
    ref_tia, ref_thalf, ref_status = reference_maps(act, TIMES, LAM_P)
    fitted = np.isin(ref_status, (STATUS_FIT, STATUS_FIT_PHYSICAL))
    assert fitted.sum() > 150 and (ref_status == STATUS_FIT_PHYSICAL).sum() > 5
    np.testing.assert_allclose(res.tia_bq_s_ml, ref_tia, rtol=2e-5)
    np.testing.assert_allclose(res.effective_half_life_h[fitted], ref_thalf[fitted], rtol=2e-5)
    # fallback voxels: the same status; fitted voxels: the same bound call except within
    # 1e-5 of the bound, where the two optimisers may stop on either side of the tolerance
    assert np.array_equal(res.status[~fitted], ref_status[~fitted])
    differs = fitted & (res.status != ref_status)
    assert np.all(np.abs(ref_thalf[differs] / T_PHYS_H - 1) < 1e-5)
    assert not (res.status == STATUS_NOT_CONVERGED).any()
    assert res.status[0, 0, 0] == STATUS_ZERO and math.isnan(res.effective_half_life_h[0, 0, 0])
    assert res.status[0, 0, 1] == STATUS_TRAPEZOID and res.status[0, 0, 2] == STATUS_TRAPEZOID
    assert res.n_negative_samples == 1


def test_numba_fit_equals_tac_fit_model_per_voxel():
    """The voxel fit is tac.fit_model("mono") per voxel (same weights, bound, integration)."""
    act = random_stack(shape=(2, 3, 4), seed=11)
    res = fit_voxels(act, TIMES, physical_half_life_h=T_PHYS_H)
    for idx in np.ndindex(act.shape[1:]):
        y = act[(slice(None), *idx)].astype(np.float64)
        if (y <= 0).any():
            trap = trapezoid_tia(TIMES, np.clip(y, 0, None), physical_half_life_h=T_PHYS_H,
                                 tail="physical") if (y > 0).any() else None
            if trap is not None:
                assert res.tia_bq_s_ml[idx] == pytest.approx(trap.tia_mbq_h * S_PER_H, rel=1e-6)
            continue
        fit = fit_model(TIMES, y, "mono", physical_half_life_h=T_PHYS_H)
        assert res.tia_bq_s_ml[idx] == pytest.approx(fit.tia_mbq_h * S_PER_H, rel=2e-5)


def test_exact_mono_exponential_voxels_are_recovered_to_1e4():
    """Noise-free voxels, T_eff from 5 h to the physical half-life, A0 over 6 decades, with and
    without a sample at t = 0: TIA = A0·T_eff/ln 2 within 1e-4 (measured ~1e-7: float32)."""
    teff = np.geomspace(5.0, T_PHYS_H, 12)
    a0 = np.geomspace(1e-1, 1e5, 9)
    aa, tt = np.meshgrid(a0, teff, indexing="ij")
    for times in (TIMES, np.array([0.0, 4.0, 24.0, 48.0, 96.0, 168.0])):
        act = (aa[None] * np.exp(-LN2 / tt[None] * times[:, None, None]))[:, None]
        res = fit_voxels(act.astype(np.float32), times, physical_half_life_h=T_PHYS_H)
        exact = (aa * tt / LN2 * S_PER_H)[None]
        np.testing.assert_allclose(res.tia_bq_s_ml, exact, rtol=1e-4)
        np.testing.assert_allclose(res.effective_half_life_h, tt[None], rtol=1e-4)
        np.testing.assert_allclose(res.a0_bq_ml, aa[None], rtol=1e-4)


def test_python_versions_of_the_kernels_agree_with_the_compiled_ones():
    """The kernel bodies run as plain Python (``.py_func``, measurable by coverage) give the
    same maps as the compiled kernels."""
    act = random_stack(shape=(1, 3, 5), seed=3)
    res = fit_voxels(act, TIMES, physical_half_life_h=T_PHYS_H)
    flat = np.ascontiguousarray(act.reshape(4, -1))
    n = flat.shape[1]
    tia, thalf, amp = (np.empty(n, np.float32) for _ in range(3))
    status = np.empty(n, np.uint8)
    py_chunk = getattr(_fit_chunk, "py_func", _fit_chunk)  # NUMBA_DISABLE_JIT=1: plain
    py_chunk(flat, TIMES, LAM_P, SIGMA_FLOOR_FRACTION, 50, 0, n, tia, thalf, amp, status)
    np.testing.assert_allclose(tia * S_PER_H, res.tia_bq_s_ml.reshape(-1), rtol=1e-6)
    assert np.array_equal(status, res.status.reshape(-1))
    y = flat[:, 5].astype(np.float64)
    w = 1.0 / np.maximum(y, 0.01 * y.max()) ** 2
    a_c, l_c, ok_c, b_c = _fit_one(TIMES, y, w, LAM_P, 50)
    a_p, l_p, ok_p, b_p = getattr(_fit_one, "py_func", _fit_one)(TIMES, y, w, LAM_P, 50)
    assert (ok_c, b_c) == (ok_p, b_p) and a_c == pytest.approx(a_p, rel=1e-12)
    assert l_c == pytest.approx(l_p, rel=1e-12)


def test_fallback_rules():
    t = TIMES
    act = np.zeros((4, 1, 1, 4), np.float32)
    act[:, 0, 0, 0] = [10.0, 0.0, 5.0, 2.0]  # a zero sample: trapezoid + physical tail
    act[:, 0, 0, 1] = [0.0, 0.0, 0.0, 0.0]  # all zero
    act[:, 0, 0, 2] = [10.0, 8.0, -1.0, 3.0]  # a negative sample, counted as 0
    act[:, 0, 0, 3] = [10.0, 12.0, 14.0, 15.0]  # rising: fit pinned at physical decay
    res = fit_voxels(act, t, physical_half_life_h=T_PHYS_H, n_chunks=3)
    tail = T_PHYS_H / LN2
    v0 = 0.5 * 10 * 4 + 0.5 * 10 * 20 + 0.5 * 5 * 72 + 0.5 * 7 * 72 + 2 * tail
    v2 = 0.5 * 10 * 4 + 0.5 * 18 * 20 + 0.5 * 8 * 72 + 0.5 * 3 * 72 + 3 * tail
    np.testing.assert_allclose(res.tia_bq_s_ml[0, 0, :3], np.array([v0, 0.0, v2]) * S_PER_H,
                               rtol=1e-6)
    assert list(res.status[0, 0]) == [STATUS_TRAPEZOID, STATUS_ZERO, STATUS_TRAPEZOID,
                                      STATUS_FIT_PHYSICAL]
    assert res.effective_half_life_h[0, 0, 3] == pytest.approx(T_PHYS_H, rel=1e-6)
    assert res.status_counts["every sample <= 0: TIA 0"] == 1
    assert res.n_negative_samples == 1 and any("negative" in n for n in res.notes)


def test_scaling_the_activity_scales_the_tia():
    act = random_stack(shape=(3, 3, 3), seed=5)
    base = fit_voxels(act, TIMES, physical_half_life_h=T_PHYS_H).tia_bq_s_ml
    for k in (1e-3, 7.0, 1e4):
        got = fit_voxels(act * np.float32(k), TIMES, physical_half_life_h=T_PHYS_H).tia_bq_s_ml
        np.testing.assert_allclose(got, k * base, rtol=1e-5)


def test_image_input_and_outputs():
    act = random_stack(shape=(2, 3, 4), seed=1)
    images = [Image(a, (2.0, 2.0, 3.0), (1.0, 2.0, 3.0)) for a in act]
    res = fit_voxels(images, TIMES, physical_half_life_h=T_PHYS_H)
    maps = res.images()
    assert maps["tia_bq_s_ml"].same_grid(images[0])
    assert maps["tia_bq_s_ml"].array.dtype == np.float32 and maps["status"].array.dtype == np.uint8
    np.testing.assert_array_equal(maps["tia_bq_s_ml"].array, res.tia_bq_s_ml)
    assert res.summary()["tia_unit"] == "Bq*s/mL"
    shifted = [images[0], Image(act[1], (2.0, 2.0, 3.0), (9.0, 2.0, 3.0)), *images[2:]]
    with pytest.raises(GeometryError, match=r"activity maps\[1\] is not on the grid"):
        fit_voxels(shifted, TIMES, physical_half_life_h=T_PHYS_H)
    with pytest.raises(InputError, match="no grid known"):
        fit_voxels(act, TIMES, physical_half_life_h=T_PHYS_H).images()


BAD_FIT = [
    ({"activity_bq_ml": np.ones((4, 3, 3), np.float32)}, "must be a 4-D array"),
    ({"times_h": [4.0, 24.0, 96.0]}, "times_h has 3 values but activity maps has 4"),
    ({"times_h": [4.0, 96.0, 24.0, 168.0]}, "must be strictly increasing"),
    ({"times_h": [4.0, 24.0, 24.0, 168.0]}, "must be strictly increasing"),
    ({"times_h": [-4.0, 24.0, 96.0, 168.0]}, r"must be finite hours after injection \(>= 0\)"),
    ({"activity_bq_ml": np.ones((1, 2, 2, 2), np.float32), "times_h": [4.0]},
     "has 1 time point"),
    ({"activity_bq_ml": np.full((4, 2, 2, 2), np.nan, np.float32)},
     "4 NaN or infinite|32 NaN or infinite"),
    ({"physical_half_life_h": 0.0}, "physical_half_life_h = 0.0 h must be > 0"),
    ({"physical_half_life_h": "159"}, "is not a number"),
    ({"max_iterations": 0}, "max_iterations = 0"),
    ({"n_chunks": 0}, "n_chunks = 0"),
    ({"activity_bq_ml": [1, 2]}, "must be a 4-D array .* or a sequence of Images"),
]


@pytest.mark.parametrize(("change", "match"), BAD_FIT)
def test_fit_voxels_bad_inputs(change, match):
    kwargs = {
        "activity_bq_ml": np.ones((4, 2, 2, 2), np.float32),
        "times_h": list(TIMES),
        "physical_half_life_h": T_PHYS_H,
        **change,
    }
    with pytest.raises(InputError, match=match):
        fit_voxels(kwargs.pop("activity_bq_ml"), kwargs.pop("times_h"), **kwargs)


# --------------------------------------------------------------------------- VOI-scaled
def _voi_case():
    rng = np.random.default_rng(2)
    a = rng.uniform(0.0, 100.0, (4, 5, 6)).astype(np.float32)
    img = Image(a, (2.0, 2.5, 4.0))
    m = np.zeros(a.shape, bool)
    m[1:3, 1:4, 2:5] = True
    return img, Image(m, img.spacing_mm)


def test_voi_scaled_tia_conserves_the_organ_tia_and_follows_the_shape():
    img, mask = _voi_case()
    organ = fit_tac(TIMES, [30.0, 25.0, 12.0, 6.0], physical_half_life_h=T_PHYS_H)
    out = voi_scaled_tia(img, mask, organ, mask_name="kidney_left")
    arr = out.array.astype(np.float64)
    v_ml = img.voxel_volume_ml
    assert out.array.dtype == np.float32 and out.same_grid(img)
    assert arr.sum() * v_ml == pytest.approx(organ.tia_mbq_h * 1e6 * S_PER_H, rel=1e-6)
    assert np.all(arr[~mask.array] == 0.0)
    a = img.array[mask.array].astype(np.float64)
    np.testing.assert_allclose(arr[mask.array] / arr[mask.array].sum(), a / a.sum(), rtol=1e-6)
    # a number and a TacFit give the same map
    same = voi_scaled_tia(img, mask, organ.tia_mbq_h).array
    np.testing.assert_array_equal(same, voi_scaled_tia(img, mask, organ.chosen).array)
    np.testing.assert_array_equal(same, out.array)


def test_voi_scaled_tia_bad_inputs():
    img, mask = _voi_case()
    neg = img.with_array(np.where(mask.array, -1.0, 1.0).astype(np.float32))
    with pytest.raises(InputError, match="negative voxel.*inside mask 'VOI'"):
        voi_scaled_tia(neg, mask, 100.0)
    zero = img.with_array(np.where(mask.array, 0.0, 5.0).astype(np.float32))
    with pytest.raises(InputError, match="activity inside mask 'liver' is zero"):
        voi_scaled_tia(zero, mask, 100.0, mask_name="liver")
    with pytest.raises(InputError, match="mask 'VOI' is empty"):
        voi_scaled_tia(img, mask.with_array(np.zeros(img.shape, bool)), 100.0)
    with pytest.raises(InputError, match="a boolean mask is needed"):
        voi_scaled_tia(img, mask.with_array(mask.array.astype(np.uint8)), 100.0)
    with pytest.raises(GeometryError, match="is not on the grid"):
        voi_scaled_tia(img, Image(mask.array, (1.0, 1.0, 1.0)), 100.0)
    with pytest.raises(InputError, match="organ_tia_mbq_h = -5.0"):
        voi_scaled_tia(img, mask, -5.0)
    with pytest.raises(InputError, match="is not a number"):
        voi_scaled_tia(img, mask, "100")
    with pytest.raises(InputError, match="must be netdose Images"):
        voi_scaled_tia(img.array, mask, 100.0)
