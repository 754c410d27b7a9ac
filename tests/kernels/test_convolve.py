"""Tests of netdose.kernels.convolve against a naive NumPy convolution.

The reference (:func:`naive_convolve`) loops over kernel offsets and adds shifted copies
of the zero-padded activity: obviously correct, slow, float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import netdose.kernels.convolve as cv
from netdose.errors import InputError, NetdoseError
from netdose.kernels.convolve import (
    choose_method,
    clear_spectrum_cache,
    convolve_dose,
    plan_convolution,
    set_spectrum_cache_limit,
    spectrum_cache_info,
)

F32_TOL = 1.0e-5  # the contract: float32 results within 1e-5 of the maximum
F64_TOL = 1.0e-12


# --------------------------------------------------------------------------- reference
def naive_convolve(activity: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``out[j] = sum_d kernel[d] * activity[j - (d - c)]``, zero activity outside.

    Loops over every kernel offset ``d`` (index into the kernel) and adds the activity
    shifted by ``d - c`` (``c`` the kernel centre), read from a zero-padded copy.
    """
    a = np.asarray(activity, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    c = [s // 2 for s in k.shape]
    padded = np.pad(a, [(ci, ci) for ci in c])
    out = np.zeros(a.shape)
    nz, ny, nx = a.shape
    for dz in range(k.shape[0]):
        for dy in range(k.shape[1]):
            for dx in range(k.shape[2]):
                # out[j] += k[d] * a[j - (d - c)]; a[i] sits at padded[i + c]
                z0, y0, x0 = 2 * c[0] - dz, 2 * c[1] - dy, 2 * c[2] - dx
                out += k[dz, dy, dx] * padded[z0 : z0 + nz, y0 : y0 + ny, x0 : x0 + nx]
    return out


def rel_err(x: np.ndarray, ref: np.ndarray) -> float:
    """Largest absolute difference relative to the largest absolute reference value."""
    scale = float(np.max(np.abs(ref)))
    return float(np.max(np.abs(np.asarray(x, np.float64) - ref))) / (scale if scale > 0 else 1.0)


def random_activity(shape, density=1.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.gamma(2.0, 1.0, size=shape)
    if density < 1.0:
        a[rng.random(shape) >= density] = 0.0
    return a


def asymmetric_kernel(shape, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.random(shape) + 0.1
    k[0, 0, 0] += 3.0  # make sure no mirror symmetry can hide a missing flip
    return k


def spherical_kernel(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    d = np.sqrt(z * z + y * y + x * x)
    return np.where(d <= radius + 0.01, 1.0 / (d * d + 0.5), 0.0)


METHODS = ["direct", "fft", "hybrid"]
DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_spectrum_cache()
    yield
    clear_spectrum_cache()


# --------------------------------------------------------------------------- the reference
def test_naive_reference_equals_scipy_same_mode():
    a = random_activity((6, 7, 9), 0.6)
    k = asymmetric_kernel((3, 5, 3))
    assert rel_err(naive_convolve(a, k), scipy.signal.fftconvolve(a, k, mode="same")) < 1e-13


# --------------------------------------------------------------------------- equals naive
CASES = {
    "dense": ((9, 10, 11), (3, 5, 7), 1.0),
    "sparse": ((12, 11, 13), (5, 3, 5), 0.03),
    "non-cubic": ((4, 13, 30), (3, 3, 5), 0.7),
    "kernel larger than image in z": ((3, 12, 12), (9, 5, 5), 0.8),
    "kernel larger than image in y and x": ((10, 4, 3), (3, 11, 9), 0.8),
    "one voxel thick in z": ((1, 20, 20), (5, 5, 5), 0.8),
    "one voxel thick in y": ((15, 1, 16), (3, 3, 3), 1.0),
    "single voxel": ((1, 1, 1), (3, 3, 3), 1.0),
    "flush per kernel row (float32, ky*kx > 128)": ((8, 16, 20), (3, 13, 13), 0.5),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_equals_naive(case, method, dtype):
    shape, kshape, density = CASES[case]
    a = random_activity(shape, density, seed=len(case))
    k = asymmetric_kernel(kshape)
    ref = naive_convolve(a, k)
    out = convolve_dose(a, k, method=method, dtype=dtype)
    assert out.shape == a.shape
    assert out.dtype == np.dtype(dtype)
    assert rel_err(out, ref) <= (F32_TOL if dtype is np.float32 else F64_TOL)


BOXES = {
    "upper corner box": (slice(11, 14), slice(13, 15), slice(12, 16)),
    "lower corner box": (slice(0, 2), slice(0, 3), slice(0, 2)),
    "slab at the top in z": (slice(13, 14), slice(None), slice(None)),
    "voxel at (13, 0, 7)": (13, 0, 7),
    "voxel at (0, 14, 15)": (0, 14, 15),
    "two voxels far apart": ((1, 12), (2, 13), (14, 1)),
}


@pytest.mark.parametrize("box", list(BOXES), ids=list(BOXES))
@pytest.mark.parametrize("method", METHODS)
def test_activity_cropped_to_a_box_touching_one_border(method, box):
    """The FFT path transforms only the non-zero box; padding must still avoid wrap-around
    when the box touches one border and the output box is clipped there."""
    a = np.zeros((14, 15, 16))
    a[BOXES[box]] = 1.0 + np.random.default_rng(4).random(a[BOXES[box]].shape)
    for kshape in ((5, 7, 3), (3, 3, 9), (9, 1, 1)):
        k = asymmetric_kernel(kshape)
        ref = naive_convolve(a, k)
        for dtype in DTYPES:
            out = convolve_dose(a, k, method=method, dtype=dtype)
            assert rel_err(out, ref) <= (F32_TOL if dtype is np.float32 else F64_TOL)


HYBRID_LAYOUTS = {
    "dense": (slice(None), slice(None), slice(None)),
    "source box inside in z": (slice(7, 19), slice(2, 9), slice(None)),
    "source box at the top in z": (slice(20, 27), slice(None), slice(3, 8)),
    "source box at the bottom in z": (slice(0, 4), slice(None), slice(None)),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("block", [1, 2, 3])
@pytest.mark.parametrize("layout", list(HYBRID_LAYOUTS), ids=list(HYBRID_LAYOUTS))
def test_hybrid_blocks_ring_and_slabs(monkeypatch, layout, block, threads):
    """Blocks of 1-3 output planes, a ring of source-plane spectra that wraps around many
    times, two slabs that transform their boundary planes twice, source boxes that start
    inside the output box or touch either end: all equal the naive reference."""
    monkeypatch.setattr(cv, "_HYBRID_BLOCK_BYTES", 1)
    monkeypatch.setattr(cv, "_HYBRID_MIN_BLOCK", block)
    a = np.zeros((27, 10, 11))
    sl = HYBRID_LAYOUTS[layout]
    a[sl] = random_activity(a[sl].shape, 0.7, seed=block)
    for kshape in ((7, 3, 5), (9, 1, 3), (1, 5, 5)):
        k = asymmetric_kernel(kshape)
        ref = naive_convolve(a, k)
        for dtype in DTYPES:
            out = convolve_dose(a, k, method="hybrid", dtype=dtype, threads=threads)
            assert rel_err(out, ref) <= (F32_TOL if dtype is np.float32 else F64_TOL)


@pytest.mark.parametrize("first", ["bottom thread", "top thread"])
def test_hybrid_one_thread_of_a_pair_takes_every_block(monkeypatch, first):
    """Blocks are handed out from both ends of the range; whichever thread runs first may
    take them all (going up, or going down through the ring)."""
    monkeypatch.setattr(cv, "_HYBRID_BLOCK_BYTES", 1)
    monkeypatch.setattr(cv, "_HYBRID_MIN_BLOCK", 2)

    def sequential(tasks):
        for task in tasks if first == "bottom thread" else tasks[::-1]:
            task()

    monkeypatch.setattr(cv, "_in_threads", sequential)
    a = np.zeros((23, 7, 8))
    a[2:20] = random_activity((18, 7, 8), 0.8, seed=8)
    k = asymmetric_kernel((7, 3, 3))
    out = convolve_dose(a, k, method="hybrid", dtype=np.float64, threads=2)
    assert rel_err(out, naive_convolve(a, k)) <= F64_TOL


def test_block_queue_hands_out_the_range_once_from_both_ends():
    q = cv._BlockQueue(3, 20, 4)
    taken = [q.take(True), q.take(False), q.take(False), q.take(True), q.take(True)]
    assert taken == [(3, 7), (16, 20), (12, 16), (7, 11), (11, 12)]
    assert q.take(True) is None and q.take(False) is None


def test_hybrid_kernel_longer_than_the_source_box_in_z():
    """kz = 15 > the 3 source planes: most kernel planes meet no source plane."""
    a = np.zeros((12, 8, 9))
    a[5:8] = random_activity((3, 8, 9), seed=2)
    k = asymmetric_kernel((15, 3, 3))
    out = convolve_dose(a, k, method="hybrid", dtype=np.float64, threads=2)
    assert rel_err(out, naive_convolve(a, k)) <= F64_TOL


def test_hybrid_on_the_public_maa_spect(maa_dir):
    """Real data (tests/data/sirt-maa-sample): the Tc-99m MAA SPECT, negatives clipped, with
    the real Y-90 kernel (11x7x7 on 4.4x4.4x2.5 mm): auto picks the hybrid path, within
    1e-5 of the maximum of scipy's float64 result (float32) and 1e-12 (float64)."""
    from netdose.io import read_image
    from netdose.kernels import voxel_kernel

    img = read_image(maa_dir / "patient_2_SPECT.nrrd")
    a = np.clip(np.asarray(img.array, np.float32), 0.0, None)
    k = voxel_kernel("Y-90", img.spacing_mm).values_mgy_per_mbq_s
    assert k.shape == (11, 7, 7)
    ref = scipy.signal.fftconvolve(a.astype(np.float64), k, mode="same")
    plan = plan_convolution(a, k)
    assert plan.method == "hybrid", plan.reason
    assert plan.hybrid_cost_s < min(plan.fft_cost_s, plan.direct_cost_s)
    assert rel_err(convolve_dose(a, k), ref) <= F32_TOL
    assert rel_err(convolve_dose(a, k, method="hybrid", dtype=np.float64), ref) <= F64_TOL


@pytest.mark.parametrize("method", METHODS)
def test_activity_with_zero_margin_and_at_the_border(method):
    """Cropping to the non-zero box must not cut what falls near or on the border."""
    a = np.zeros((14, 15, 16))
    a[5:8, 6:9, 4:11] = random_activity((3, 3, 7), seed=3)  # interior box (crop path)
    a[0, 0, 15] = 5.0  # a corner voxel: part of its dose falls outside
    a[13, 7, 0] = 2.0
    k = asymmetric_kernel((5, 7, 3))
    for dtype in DTYPES:
        out = convolve_dose(a, k, method=method, dtype=dtype)
        assert rel_err(out, naive_convolve(a, k)) <= (F32_TOL if dtype is np.float32 else F64_TOL)


@pytest.mark.parametrize("method", METHODS)
def test_spherical_kernel_with_zero_taps(method):
    a = random_activity((10, 12, 14), 0.3)
    k = spherical_kernel(3)
    out = convolve_dose(a, k, method=method)
    assert rel_err(out, naive_convolve(a, k)) <= F32_TOL


@pytest.mark.parametrize("method", METHODS)
def test_kernel_with_negative_values(method):
    """Not a dose kernel, but the operation is linear: no clipping may happen then."""
    a = random_activity((8, 9, 10), 0.5)
    k = asymmetric_kernel((3, 3, 5)) - 0.6
    out = convolve_dose(a, k, method=method, dtype=np.float64)
    assert out.min() < 0.0
    assert rel_err(out, naive_convolve(a, k)) <= F64_TOL


def test_float32_large_kernel_many_terms_direct():
    """15^3 = 3375 terms per voxel: the float64 accumulator keeps float32 within 1e-5."""
    a = random_activity((16, 16, 16), 1.0)
    k = np.random.default_rng(5).random((15, 15, 15))
    for method in METHODS:
        out = convolve_dose(a, k, method=method, dtype=np.float32)
        assert rel_err(out, naive_convolve(a, k)) <= F32_TOL


def test_fft_result_has_no_negative_values_for_a_non_negative_kernel():
    a = np.zeros((20, 20, 20))
    a[10, 10, 10] = 1.0e6
    k = spherical_kernel(4)
    out = convolve_dose(a, k, method="fft")
    assert out.min() >= 0.0


# --------------------------------------------------------------------------- physics-ish
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("method", METHODS)
def test_delta_source_reproduces_the_kernel_unflipped(method, dtype):
    k = asymmetric_kernel((5, 3, 7))
    a = np.zeros((11, 9, 13))
    src = (4, 3, 8)
    a[src] = 2.0
    out = convolve_dose(a, k, method=method, dtype=dtype)
    # out[j] = 2 * k[j - src + c]: the kernel appears as is (not mirrored) around src
    block = out[src[0] - 2 : src[0] + 3, src[1] - 1 : src[1] + 2, src[2] - 3 : src[2] + 4]
    tol = 1e-6 if dtype is np.float32 else 1e-13
    np.testing.assert_allclose(block, 2.0 * k, rtol=tol, atol=tol * 2 * k.max())
    assert np.count_nonzero(np.abs(out) > tol * k.max()) == k.size


@pytest.mark.parametrize("method", METHODS)
def test_total_energy_is_conserved_when_nothing_falls_outside(method):
    k = asymmetric_kernel((5, 7, 3))
    inner = random_activity((6, 5, 8), 0.5)
    a = np.pad(inner, [(2, 2), (3, 3), (1, 1)])  # margin = kernel radius
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        out = convolve_dose(a, k, method=method, dtype=dtype)
        expected = a.sum() * k.sum()
        assert abs(float(out.astype(np.float64).sum()) - expected) <= tol * expected


@pytest.mark.parametrize("method", METHODS)
def test_integer_and_non_contiguous_activity(method):
    rng = np.random.default_rng(7)
    counts = rng.poisson(3.0, size=(7, 8, 9)).astype(np.int32)
    k = asymmetric_kernel((3, 3, 3))
    ref = naive_convolve(counts, k)
    assert rel_err(convolve_dose(counts, k, method=method), ref) <= F32_TOL
    fortran = np.asfortranarray(counts.astype(np.float64))
    assert rel_err(convolve_dose(fortran, k, method=method), ref) <= F32_TOL
    big = np.zeros((14, 8, 18))
    big[::2, :, ::2] = counts
    view = big[::2, :, ::2]
    assert rel_err(convolve_dose(view, k, method=method), ref) <= F32_TOL


def test_all_zero_activity_gives_zeros():
    a = np.zeros((4, 5, 6), np.float32)
    k = asymmetric_kernel((3, 3, 3))
    assert plan_convolution(a, k).method == "none"
    for method in ("auto", *METHODS):
        out = convolve_dose(a, k, method=method)
        assert out.dtype == np.float32 and not out.any()


def test_threads_do_not_change_the_result():
    a = random_activity((24, 10, 12), 0.4)
    k = asymmetric_kernel((5, 5, 5))
    for method in METHODS:
        one = convolve_dose(a, k, method=method, threads=1)
        all_threads = convolve_dose(a, k, method=method)
        np.testing.assert_array_equal(one, all_threads)
        np.testing.assert_array_equal(all_threads, convolve_dose(a, k, method=method))


def test_input_is_not_modified():
    a = random_activity((6, 7, 8), 0.5)
    k = asymmetric_kernel((3, 3, 3))
    a0, k0 = a.copy(), k.copy()
    for method in METHODS:
        convolve_dose(a, k, method=method)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(k, k0)


# --------------------------------------------------------------------------- properties
_shape = st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 7))
_kshape = st.tuples(*(st.sampled_from([1, 3, 5]) for _ in range(3)))


@settings(max_examples=25, deadline=None)
@given(
    shape=_shape,
    kshape=_kshape,
    alpha=st.floats(0.0, 10.0),
    beta=st.floats(0.0, 10.0),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(METHODS),
)
def test_linearity(shape, kshape, alpha, beta, seed, method):
    rng = np.random.default_rng(seed)
    x = rng.random(shape) * (rng.random(shape) < 0.6)
    y = rng.random(shape)
    k = rng.random(kshape)
    lhs = convolve_dose(alpha * x + beta * y, k, method=method, dtype=np.float64)
    rhs = alpha * convolve_dose(x, k, method=method, dtype=np.float64) + beta * convolve_dose(
        y, k, method=method, dtype=np.float64
    )
    scale = max(float(np.abs(rhs).max()), 1e-300)
    assert float(np.abs(lhs - rhs).max()) <= 1e-12 * scale


@settings(max_examples=25, deadline=None)
@given(
    shift=st.tuples(st.integers(-2, 2), st.integers(-2, 2), st.integers(-2, 2)),
    kshape=_kshape,
    seed=st.integers(0, 2**16),
    method=st.sampled_from(METHODS),
)
def test_shift_equivariance_away_from_borders(shift, kshape, seed, method):
    rng = np.random.default_rng(seed)
    n = 16
    a = np.zeros((n, n, n))
    a[6:10, 6:10, 6:10] = rng.random((4, 4, 4)) * (rng.random((4, 4, 4)) < 0.7)
    k = rng.random(kshape)
    moved = np.roll(a, shift, axis=(0, 1, 2))  # stays inside: 6-2 >= kernel radius 2
    out = convolve_dose(a, k, method=method, dtype=np.float64)
    out_moved = convolve_dose(moved, k, method=method, dtype=np.float64)
    # everything both results can be non-zero in is >= 2 voxels from every border
    np.testing.assert_allclose(
        out_moved, np.roll(out, shift, axis=(0, 1, 2)), rtol=0, atol=1e-12 * max(out.max(), 1e-300)
    )


# --------------------------------------------------------------------------- spectrum cache
def test_spectrum_cache_hit_skips_the_kernel_transform(monkeypatch):
    calls = []
    original = cv._kernel_spectrum

    def counting(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(cv, "_kernel_spectrum", counting)
    a = random_activity((12, 13, 14), 0.8)
    k = asymmetric_kernel((5, 5, 5))
    first = convolve_dose(a, k, method="fft")
    info = spectrum_cache_info()
    assert (info.hits, info.misses, info.entries) == (0, 1, 1)
    assert info.nbytes > 0
    # the same kernel and grid again (e.g. the next time point): no kernel FFT
    second = convolve_dose(2.0 * a, k, method="fft")
    info = spectrum_cache_info()
    assert (info.hits, info.misses, len(calls)) == (1, 1, 1)
    np.testing.assert_allclose(second, 2.0 * first, rtol=1e-6, atol=1e-6 * first.max())
    assert plan_convolution(a, k).spectrum_cached
    # a different kernel is a miss
    convolve_dose(a, k + 1.0, method="fft")
    assert spectrum_cache_info().misses == 2 and len(calls) == 2
    # float64 has its own spectrum
    convolve_dose(a, k, method="fft", dtype=np.float64)
    assert spectrum_cache_info().misses == 3


def test_spectrum_cache_reuses_a_covering_padded_shape():
    k = asymmetric_kernel((3, 3, 3))
    a = random_activity((20, 20, 20), 1.0)
    convolve_dose(a, k, method="fft")
    # smaller support: the minimum padding is smaller, the cached larger spectrum fits
    b = np.zeros_like(a)
    b[1:19, 0:20, 0:20] = a[1:19]
    out = convolve_dose(b, k, method="fft")
    assert spectrum_cache_info().hits == 1
    assert rel_err(out, naive_convolve(b, k)) <= F32_TOL


def test_hybrid_kernel_plane_spectra_are_cached_apart_from_3d_spectra(monkeypatch):
    calls = []
    original = cv._kernel_plane_spectra

    def counting(*args, **kwargs):
        calls.append(args[1:3])
        return original(*args, **kwargs)

    monkeypatch.setattr(cv, "_kernel_plane_spectra", counting)
    a = random_activity((12, 13, 14), 0.8)
    k = asymmetric_kernel((5, 5, 5))
    assert not plan_convolution(a, k).hybrid_spectrum_cached
    first = convolve_dose(a, k, method="hybrid")
    assert len(calls) == 1 and spectrum_cache_info().misses == 1
    plan = plan_convolution(a, k)
    assert plan.hybrid_spectrum_cached and not plan.spectrum_cached
    second = convolve_dose(3.0 * a, k, method="hybrid")
    assert len(calls) == 1 and spectrum_cache_info().hits == 1
    np.testing.assert_allclose(second, 3.0 * first, rtol=1e-6, atol=1e-6 * first.max())
    # the 3-D spectrum of the same kernel and grid is another entry, and vice versa
    convolve_dose(a, k, method="fft")
    assert spectrum_cache_info().entries == 2 and spectrum_cache_info().misses == 2
    assert plan_convolution(a, k).spectrum_cached
    # float64 has its own plane spectra
    convolve_dose(a, k, method="hybrid", dtype=np.float64)
    assert len(calls) == 2
    # a smaller (y, x) support reuses the cached, slightly larger planes (exact)
    b = np.zeros_like(a)
    b[:, 1:13, :] = a[:, 1:13, :]
    out = convolve_dose(b, k, method="hybrid")
    assert len(calls) == 2
    assert rel_err(out, naive_convolve(b, k)) <= F32_TOL


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_fft_within_the_memory_budget_multiplies_the_kernel_spectrum_by_blocks(
    monkeypatch, dtype
):
    """A full kernel spectrum that would not fit the call's memory budget next to the
    source spectrum is multiplied in block by block; the spectrum is cached at the end when
    it fits next to the result alone, and not at all when it does not."""
    monkeypatch.setattr(cv, "_MEMORY_FLOOR_BYTES", 0)
    monkeypatch.setattr(cv, "_BLOCK_BYTES", 2048)  # several blocks of frequency rows
    a = np.zeros((14, 15, 16))
    a[2:11, 3:12, 1:15] = random_activity((9, 9, 14), 0.8, seed=6)
    k = asymmetric_kernel((7, 5, 9))
    ref = naive_convolve(a, k)
    tol = F32_TOL if dtype is np.float32 else F64_TOL
    plan = plan_convolution(a, k, dtype=dtype)
    pad = plan.padded_shape
    spec_bytes = pad[0] * pad[1] * (pad[2] // 2 + 1) * 2 * np.dtype(dtype).itemsize
    out_bytes = a.size * np.dtype(dtype).itemsize
    # room for the result and one spectrum, not two: block products, then cached
    budget = (spec_bytes + out_bytes + 1 - k.size * np.dtype(dtype).itemsize) / a.nbytes
    monkeypatch.setattr(cv, "_MEMORY_BUDGET", budget)
    assert rel_err(convolve_dose(a, k, method="fft", dtype=dtype), ref) <= tol
    assert spectrum_cache_info().entries == 1 and spectrum_cache_info().misses == 1
    assert rel_err(convolve_dose(a, k, method="fft", dtype=dtype), ref) <= tol
    assert spectrum_cache_info().hits == 1
    # no room even for that: block products every time, nothing cached
    clear_spectrum_cache()
    monkeypatch.setattr(cv, "_MEMORY_BUDGET", 0.0)
    for _ in range(2):
        assert rel_err(convolve_dose(a, k, method="fft", dtype=dtype), ref) <= tol
    assert spectrum_cache_info().entries == 0


def test_spectrum_cache_limit():
    a = random_activity((10, 10, 10))
    k = asymmetric_kernel((3, 3, 3))
    try:
        set_spectrum_cache_limit(0)
        convolve_dose(a, k, method="fft")
        assert spectrum_cache_info().entries == 0
    finally:
        set_spectrum_cache_limit(1 << 30)
    with pytest.raises(InputError, match="non-negative number of bytes"):
        set_spectrum_cache_limit(-1)


# --------------------------------------------------------------------------- planning
def test_choose_method_sparse_direct_short_kernel_hybrid_long_kernel_fft():
    method, reason = choose_method((128, 128, 128), (7, 7, 7), nnz=500)
    assert method == "direct" and "estimated" in reason
    # dense activity, kernel short in z (Y-90 on the MAA SPECT grid): hybrid
    method, reason = choose_method((160, 128, 128), (11, 7, 7), nnz=800_000)
    assert method == "hybrid" and "hybrid" in reason
    method, _ = choose_method((200, 256, 256), (9, 11, 11), nnz=200 * 256 * 256)
    assert method == "hybrid"
    # long in z (Lu-177 with photons on a 2.5 mm grid; a 61^3 kernel): 3-D FFT
    method, reason = choose_method((160, 128, 128), (83, 47, 47), nnz=800_000)
    assert method == "fft" and "FFT" in reason
    method, reason = choose_method((128, 128, 128), (61, 61, 61), nnz=128**3)
    assert method == "fft"
    # a cached spectrum lowers that path's estimate
    _, _, _, _, t_cold = cv._choose(
        (64, 64, 64), (9, 9, 9), 64**3, runs=None, source_shape=None, kernel_taps=None,
        dtype=np.float32, threads=1, spectrum_cached=False, hybrid_spectrum_cached=False,
    )
    _, _, _, _, t_warm = cv._choose(
        (64, 64, 64), (9, 9, 9), 64**3, runs=None, source_shape=None, kernel_taps=None,
        dtype=np.float32, threads=1, spectrum_cached=False, hybrid_spectrum_cached=True,
    )
    assert t_warm < t_cold


@pytest.mark.parametrize("method", ["direct", "fft", "hybrid"])
def test_plan_reports_a_requested_method(method):
    a = random_activity((10, 12, 14), 0.5)
    k = asymmetric_kernel((5, 3, 3))
    plan = plan_convolution(a, k, method=method)
    assert plan.method == method and plan.reason.startswith(f"{method}: requested")
    assert min(plan.direct_cost_s, plan.fft_cost_s, plan.hybrid_cost_s) > 0


def test_plan_reports_boxes_and_padding():
    a = np.zeros((20, 30, 40))
    a[5:10, 10:12, 20:30] = 1.0
    k = np.ones((3, 5, 7))
    plan = plan_convolution(a, k, method="fft")
    assert plan.method == "fft" and plan.reason.startswith("fft: requested")
    assert plan.source_box == ((5, 10), (10, 12), (20, 30))
    assert plan.output_box == ((4, 11), (8, 14), (17, 33))
    assert plan.nnz == 5 * 2 * 10
    assert plan.kernel_shape == (3, 5, 7)
    assert plan.dtype == "float32"
    assert all(p >= m for p, m in zip(plan.padded_shape, (7, 6, 16)))
    assert plan.direct_cost_s > 0 and plan.fft_cost_s > 0


def test_plan_crops_a_kernel_larger_than_the_image():
    plan = plan_convolution(np.ones((2, 30, 30)), np.ones((9, 3, 3)))
    assert plan.kernel_shape == (3, 3, 3)


# --------------------------------------------------------------------------- errors
_GOOD_A = np.ones((4, 4, 4))
_GOOD_K = np.ones((3, 3, 3))


def _with(arr, index, value):
    out = np.array(arr, dtype=np.float64)
    out[index] = value
    return out


ERRORS = [
    ("activity 2-D", np.ones((4, 4)), _GOOD_K, {}, r"activity must be a 3-D array"),
    ("activity 4-D", np.ones((2, 2, 2, 2)), _GOOD_K, {}, r"activity must be a 3-D array"),
    ("activity empty", np.ones((0, 4, 4)), _GOOD_K, {}, r"activity is empty"),
    (
        "activity NaN",
        _with(_GOOD_A, (1, 2, 3), np.nan),
        _GOOD_K,
        {},
        r"1 NaN or infinite voxel.*\(1, 2, 3\)",
    ),
    ("activity inf", _with(_GOOD_A, (0, 0, 0), np.inf), _GOOD_K, {}, r"NaN or infinite"),
    ("activity -inf", _with(_GOOD_A, (0, 0, 0), -np.inf), _GOOD_K, {}, r"NaN or infinite"),
    (
        "activity negative",
        _with(_with(_GOOD_A, (0, 0, 0), -1e-3), (3, 3, 3), -2.5),
        _GOOD_K,
        {},
        r"2 negative voxel\(s\) \(most negative -2\.5\).*np\.clip\(a, 0, None\)",
    ),
    ("activity complex", _GOOD_A.astype(complex), _GOOD_K, {}, r"real numbers.*complex128"),
    ("activity bool", _GOOD_A.astype(bool), _GOOD_K, {}, r"real numbers.*bool"),
    ("activity strings", np.full((2, 2, 2), "a"), _GOOD_K, {}, r"real numbers"),
    ("kernel 2-D", _GOOD_A, np.ones((3, 3)), {}, r"kernel must be a 3-D array"),
    ("kernel empty", _GOOD_A, np.ones((3, 0, 3)), {}, r"kernel is empty"),
    ("kernel even", _GOOD_A, np.ones((3, 4, 3)), {}, r"odd size in every axis.*\(3, 4, 3\)"),
    ("kernel NaN", _GOOD_A, _with(_GOOD_K, (1, 1, 1), np.nan), {}, r"kernel has 1 NaN or infinite"),
    (
        "kernel inf",
        _GOOD_A,
        _with(_GOOD_K, (0, 1, 2), np.inf),
        {},
        r"kernel has 1 NaN.*\(0, 1, 2\)",
    ),
    ("kernel complex", _GOOD_A, _GOOD_K.astype(complex), {}, r"kernel must hold real numbers"),
    (
        "method",
        _GOOD_A,
        _GOOD_K,
        {"method": "spline"},
        r"method must be one of \('auto', 'direct', 'fft', 'hybrid'\)",
    ),
    (
        "dtype int",
        _GOOD_A,
        _GOOD_K,
        {"dtype": np.int32},
        r"dtype must be numpy.float32 or numpy.float64",
    ),
    ("dtype float16", _GOOD_A, _GOOD_K, {"dtype": np.float16}, r"got float16"),
    ("dtype junk", _GOOD_A, _GOOD_K, {"dtype": "not-a-dtype"}, r"not a dtype"),
    ("threads 0", _GOOD_A, _GOOD_K, {"threads": 0}, r"threads must be between 1 and"),
    ("threads huge", _GOOD_A, _GOOD_K, {"threads": 10**6}, r"NUMBA_NUM_THREADS"),
    ("threads float", _GOOD_A, _GOOD_K, {"threads": 1.5}, r"threads must be a positive integer"),
    ("threads bool", _GOOD_A, _GOOD_K, {"threads": True}, r"threads must be a positive integer"),
    (
        "float32 overflow",
        np.full((2, 2, 2), 1e36),
        np.full((3, 3, 3), 100.0),
        {},
        r"float32 would overflow.*dtype=np.float64",
    ),
]


@pytest.mark.parametrize(
    ("activity", "kernel", "kwargs", "match"),
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
def test_errors(activity, kernel, kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        convolve_dose(activity, kernel, **kwargs)
    assert isinstance(info.value, NetdoseError) and isinstance(info.value, ValueError)
    with pytest.raises(InputError, match=match):
        plan_convolution(activity, kernel, **kwargs)


def test_float32_overflow_is_fine_in_float64():
    out = convolve_dose(np.full((2, 2, 2), 1e36), np.full((3, 3, 3), 100.0), dtype=np.float64)
    assert np.isfinite(out).all()


def test_choose_method_errors():
    with pytest.raises(InputError, match="3 entries"):
        choose_method((4, 4), (3, 3, 3), 1)


# --------------------------------------------------------------------------- kernel bodies
def test_python_bodies_of_the_numba_kernels():
    """Run the kernels' Python bodies (``.py_func``) so coverage measures them, and check
    they agree with the compiled versions."""
    rng = np.random.default_rng(11)
    a = rng.random((4, 5, 6)).astype(np.float32)
    a[a < 0.4] = 0.0
    a[1, 2, 3] = -0.5
    itype, absmask, expmask = cv._FLOAT_BITS[a.dtype]
    bits = a.view(itype)
    istat_jit, imax_jit, counts_jit = cv._scan(bits, absmask, expmask, 2, 2)
    one_i, one_m, counts = np.zeros(9, np.int64), np.zeros(1, itype), np.zeros(4 * 5, np.int64)
    cv._scan_slab.py_func(bits, absmask, expmask, 0, 4, 2, one_i, one_m, counts)
    np.testing.assert_array_equal(one_i[:3], istat_jit[:, :3].sum(axis=0))
    assert one_i[1] == 1 and one_i[0] == 0
    assert one_m.view(np.float32)[0] == a.max() and imax_jit.max() == one_m[0]
    np.testing.assert_array_equal(counts, counts_jit)
    nan_inf = a.copy()
    nan_inf[0, 0, 0], nan_inf[3, 4, 5] = np.nan, -np.inf
    istat = cv._scan(nan_inf.view(itype), absmask, expmask, 2, 1)[0]
    assert istat[0, 0] == 2

    a[1, 2, 3] = 0.0
    counts = cv._scan(a.view(itype), absmask, expmask, 2, 2)[2]
    ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    runs_jit = cv._fill_runs(a, 2, ptr, 2)
    runs_py = cv._fill_runs.py_func(a, 2, ptr, 2)
    for x, y in zip(runs_jit, runs_py):
        np.testing.assert_array_equal(x, y)
    lo = np.empty_like(runs_jit[0])
    hi = np.empty_like(runs_jit[1])
    cost = np.zeros(4, np.int64)
    cv._fill_runs_slab.py_func(a, 0, 4, 2, ptr, lo, hi, cost)
    np.testing.assert_array_equal(lo, runs_jit[0])
    np.testing.assert_array_equal(hi, runs_jit[1])
    np.testing.assert_array_equal(cost, runs_jit[2])
    # every voxel > 0 lies in a run of its row, and runs start and end on non-zero voxels
    for z in range(4):
        for y in range(5):
            inside = np.zeros(6, bool)
            for r in range(ptr[z * 5 + y], ptr[z * 5 + y + 1]):
                assert a[z, y, lo[r]] != 0 and a[z, y, hi[r] - 1] != 0
                inside[lo[r] : hi[r]] = True
            assert not np.any((a[z, y] != 0) & ~inside)

    # the direct worker and driver, on rows long enough for the 4-tap path
    b = rng.random((4, 5, 24)).astype(np.float32)
    b[b < 0.3] = 0.0
    b[:, :, 9:13] = 0.0  # a gap of 4 zeros: two runs in every row with gap 2
    counts = cv._scan(b.view(itype), absmask, expmask, 2, 2)[2]
    ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    lo, hi, _ = cv._fill_runs(b, 2, ptr, 2)
    k = asymmetric_kernel((3, 3, 7)).astype(np.float32)
    k[0, 0, :] = 0.0  # an empty kernel row
    tap_lo = np.zeros((3, 3), np.int64)
    tap_hi = np.full((3, 3), 7, np.int64)
    tap_hi[0, 0] = 0
    bp = np.pad(b, [(0, 0), (0, 0), (3, 3)])
    bounds = np.array([0, 2, 4], np.int64)
    occ = np.zeros((5, 6), np.int64)
    occ[1:, 1:] = (np.diff(ptr) > 0).reshape(4, 5).cumsum(axis=0).cumsum(axis=1)
    ref = naive_convolve(b, k)
    for flush_per_row in (False, True):
        out = np.zeros(b.shape, np.float32)
        cv._direct.py_func(bp, k, tap_lo, tap_hi, ptr, lo, hi, occ, flush_per_row, out, bounds)
        assert rel_err(out, ref) <= F32_TOL
        out = np.zeros(b.shape, np.float32)
        cv._direct_slab.py_func(bp, k, tap_lo, tap_hi, ptr, lo, hi, occ, flush_per_row, out, 0, 4)
        assert rel_err(out, ref) <= F32_TOL
    # one run times one kernel row: the 4-tap groups and the leftover taps
    part = np.zeros(24, np.float32)
    cv._run_taps.py_func(part, bp[1, 2], k[1, 1], 0, 24, 0, 7, 3, 24)
    expected = np.convolve(b[1, 2].astype(np.float64), k[1, 1].astype(np.float64), mode="same")
    np.testing.assert_allclose(part, expected, rtol=1e-5, atol=1e-6)
    dst = np.zeros(5)
    src = np.arange(5.0)
    cv._flush.py_func(dst, src, 1, 4)
    np.testing.assert_array_equal(dst, [0, 1, 2, 3, 0])
    np.testing.assert_array_equal(src, [0, 0, 0, 0, 4])

    # the hybrid path's workers: planar ring, z-sum, crop
    npts, w = 6, 4
    blk = (rng.random((3, npts)) + 1j * rng.random((3, npts))).astype(np.complex64)
    ring_jit = np.zeros((2, w, npts), np.float32)
    ring_py = np.zeros((2, w, npts), np.float32)
    cv._to_planar(blk.view(np.float32), ring_jit, 5)  # planes 5, 6, 7 -> slots 1, 2, 3
    cv._to_planar.py_func(blk.view(np.float32), ring_py, 5)
    np.testing.assert_array_equal(ring_jit, ring_py)
    np.testing.assert_array_equal(ring_jit[0, [1, 2, 3]], blk.real)
    np.testing.assert_array_equal(ring_jit[1, [1, 2, 3]], blk.imag)

    kz, cz, s, b = 3, 1, 2, 4  # source planes 0:4 sit at output planes 2:6
    src = (rng.random((b, npts)) + 1j * rng.random((b, npts))).astype(np.complex128)
    kern = (rng.random((kz, npts)) + 1j * rng.random((kz, npts))).astype(np.complex128)
    ring = np.zeros((2, b, npts))
    cv._to_planar(src.view(np.float64), ring, 0)
    expected = np.zeros((8, npts), np.complex128)
    for zo in range(8):
        for dz in range(kz):
            q = zo - dz + cz - s
            if 0 <= q < b:
                expected[zo] += kern[dz] * src[q]
    for func in (cv._zsum, cv._zsum.py_func):
        out = np.zeros((8, npts), np.complex128)
        func(ring, kern.real.copy(), kern.imag.copy(), s, b, cz, 0, out.view(np.float64))
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)

    real = rng.random((2, 3, 9)) - 0.5
    for func in (cv._crop, cv._crop.py_func):
        for clip in (False, True):
            dst = np.full((2, 3, 5), 7.0)
            func(dst, real, 2, clip)
            want = real[:, :, 2:7]
            np.testing.assert_array_equal(dst, np.maximum(want, 0.0) if clip else want)
