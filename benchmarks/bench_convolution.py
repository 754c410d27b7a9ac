"""Speed, accuracy and memory of :mod:`netdose.kernels.convolve` against scipy.

Not a test: run ``python benchmarks/bench_convolution.py`` (``--help`` for options). For each
case it prints the median time of ``--repeats`` runs (after a warm-up that also compiles the
Numba kernels and fills the kernel-spectrum cache) of

- netdose ``auto``, ``hybrid``, ``fft`` and ``direct`` (float32), ``fft`` with a cold
  spectrum cache (kernel transform included) and ``fft`` on one thread;
- ``scipy.signal.fftconvolve(a, k, mode="same")`` in float64 and in float32,

all in the same process, the speed-ups against both scipy variants, the largest difference
from the float64 scipy result relative to its maximum, and the peak memory of one call
(tracemalloc: every numpy array the call allocates; the input and an already cached kernel
spectrum are not counted). ``--calibrate`` fits the cost model of the automatic choice
instead. Timings on a machine shared with other work are noisy; the load average is printed.

The scipy calls and netdose's ``auto``, ``hybrid`` and ``fft`` are timed round-robin (one
call of each per round, ``--repeats`` rounds, median per method), so that a slower or faster
phase of a shared machine affects all of them alike; every timed call is preceded by a
``PAUSE_S`` pause (not timed) so that threads still busy from the previous call (Numba's
OpenMP workers spin for ~8 ms of CPU after a parallel loop) do not slow the next one.

Cases (targets: netdose >= 4x faster than float64 fftconvolve and >= 1.5x faster than float32
fftconvolve, within 1e-4 of the maximum, peak memory <= 4x the input volume + the kernel):

1. SPECT 128^3, 4.42 mm, Y-90 (7x7x7 kernel);
2. SPECT 128^3, 4.42 mm, Lu-177 with photons (kernel radius ``--photon-radius-mm``, default
   100 mm: 47x47x47);
3. PET 256x256x200 (x, y, z), 2.34x2.34x2.78 mm, Y-90 (11x11x9 kernel);

on a phantom that is dense inside an elliptical body contour and zero outside it (liver with
hot spheres; kidneys and spleen for Lu-177); and

4. - 5. the public Tc-99m MAA SPECT of ``tests/data/sirt-maa-sample/patient_2_SPECT.nrrd``
   (160x128x128, 4.418x4.418x2.5 mm, read with ``netdose.io.read_image``, negative voxels
   clipped to 0: 30 % of the voxels non-zero, spread over the reconstruction circle) with
   the Y-90 kernel (11x7x7) and with Lu-177 electrons + photons (83x47x47): real clinical
   data, public (see ``SOURCE.md`` next to it).

Unless ``--no-extra``, four more rows show the limits: a sparse case (Y-90 PET masked to
the liver) and "whole FOV" cases where every voxel of the field of view is non-zero (an
unmasked reconstruction), so that nothing can be cropped.

Kernels: if the physics module provides ``netdose.kernels.voxel_kernel`` the real dose voxel
kernels are used (Lu-177 with ``components=("electrons", "photons")``); otherwise, or with
``--stand-in``, stand-ins of the right sizes with a realistic radial fall-off (Y-90: beta
range 11 mm; Lu-177: beta range 2 mm plus a photon component ``exp(-mu r) / r^2`` to
``--photon-radius-mm``). The printout says which.

Threads: netdose uses as many threads as Numba has (2 on the development machine): Numba
threads for the direct path, ``workers=threads`` in ``scipy.fft`` for the FFT path, Python
threads (serial Numba workers, one-worker ``scipy.fft``) for the validation scan and the hybrid
path; ``scipy.signal.fftconvolve`` is single-threaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal

from netdose.kernels.convolve import (
    clear_spectrum_cache,
    convolve_dose,
    plan_convolution,
)

__all__ = [
    "CASES",
    "EXTRA_CASES",
    "Case",
    "case_activity",
    "main",
    "phantom",
    "read_activity",
    "run",
    "stand_in_kernel",
]

#: Speed-up targets from the issue.
TARGET_VS_F64 = 4.0
TARGET_VS_F32 = 1.5
TARGET_ACCURACY = 1.0e-4
TARGET_MEMORY = 4.0
#: Direct-path runs estimated longer than this are skipped (the estimate is printed).
MAX_DIRECT_S = 3.0
#: Lu-177 photon kernel radius, mm (the physics module's default truncation radius).
DEFAULT_PHOTON_RADIUS_MM = 100.0
#: Untimed pause before every timed call (see the module notes).
PAUSE_S = 0.02
#: The public MAA SPECT (tests/data/sirt-maa-sample, see SOURCE.md there).
MAA_SPECT = Path(__file__).resolve().parents[1] / "tests/data/sirt-maa-sample/patient_2_SPECT.nrrd"


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case.

    Attributes
    ----------
    name : str
        Label in the table.
    shape : tuple of 3 int
        Grid (z, y, x).
    spacing_xyz_mm : tuple of 3 float
        Voxel size (x, y, z) in mm.
    nuclide : str
        "Y-90" or "Lu-177".
    kind : str
        Phantom kind: "body", "liver" or "fov" (see :func:`phantom`), or "file": the
        activity is read from ``path`` (shape and spacing are then those of the file).
    required : bool
        One of the cases the targets apply to.
    path : pathlib.Path, optional
        Image file of a "file" case (read with ``netdose.io.read_image``).
    """

    name: str
    shape: tuple[int, int, int]
    spacing_xyz_mm: tuple[float, float, float]
    nuclide: str
    kind: str
    required: bool = True
    path: Path | None = None


_SPECT = ((128, 128, 128), (4.42, 4.42, 4.42))
_PET = ((200, 256, 256), (2.34, 2.34, 2.78))

_MAA = ((160, 128, 128), (4.418156, 4.418156, 2.5))

CASES: list[Case] = [
    Case("SPECT 128^3 Y-90", *_SPECT, "Y-90", "body"),
    Case("SPECT 128^3 Lu-177+photons", *_SPECT, "Lu-177", "body"),
    Case("PET 256x256x200 Y-90", *_PET, "Y-90", "body"),
    Case("public MAA SPECT, tests/data, Y-90", *_MAA, "Y-90", "file", path=MAA_SPECT),
    Case("public MAA SPECT, tests/data, Lu-177+photons", *_MAA, "Lu-177", "file", path=MAA_SPECT),
]
EXTRA_CASES: list[Case] = [
    Case("PET Y-90, liver only (sparse)", *_PET, "Y-90", "liver", required=False),
    Case("SPECT Y-90, whole FOV non-zero", *_SPECT, "Y-90", "fov", required=False),
    Case("SPECT Lu-177, whole FOV non-zero", *_SPECT, "Lu-177", "fov", required=False),
    Case("PET Y-90, whole FOV non-zero", *_PET, "Y-90", "fov", required=False),
]


# --------------------------------------------------------------------------- kernels
def _voxel_average(
    func: Callable[[np.ndarray], np.ndarray],
    radius_vox: Sequence[int],
    spacing_zyx: Sequence[float],
    sub: int = 4,
) -> np.ndarray:
    """Average of a radial function over each voxel of a kernel grid (sub x sub x sub points)."""
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    axes = []
    for r, s in zip(radius_vox, spacing_zyx):
        centres = np.arange(-r, r + 1) * s
        axes.append((centres[:, None] + offs[None, :] * s).ravel())
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    vals = func(np.sqrt(z * z + y * y + x * x))
    nz, ny, nx = (2 * r + 1 for r in radius_vox)
    return vals.reshape(nz, sub, ny, sub, nx, sub).mean(axis=(1, 3, 5))


def stand_in_kernel(
    nuclide: str,
    spacing_xyz_mm: Sequence[float],
    photon_radius_mm: float = DEFAULT_PHOTON_RADIUS_MM,
) -> np.ndarray:
    """A stand-in dose voxel kernel with the size and radial fall-off of the real one.

    Parameters
    ----------
    nuclide : {"Y-90", "Lu-177"}
        Y-90: pure beta, range 11 mm. Lu-177: beta (range 2 mm) plus photons to
        ``photon_radius_mm``.
    spacing_xyz_mm : sequence of 3 float
        Voxel size (x, y, z) in mm.
    photon_radius_mm : float
        Radius of the photon component of Lu-177 (sets the kernel size).

    Returns
    -------
    numpy.ndarray, shape (kz, ky, kx), float32
        Kernel normalised to sum 1 (fraction of the emitted energy per voxel); odd sizes,
        source voxel at the centre, zero beyond the range.
    """
    sx, sy, sz = (float(v) for v in spacing_xyz_mm)
    spacing_zyx = (sz, sy, sx)

    def beta(r: np.ndarray, r_max: float) -> np.ndarray:
        x = np.minimum(r / r_max, 1.0)
        return np.where(r < r_max, np.exp(-3.0 * x) * (1.0 - x) ** 2 / (r * r + 0.01), 0.0)

    if nuclide == "Y-90":
        r_max = 11.0
        radius = [math.ceil(r_max / s) for s in spacing_zyx]
        k = _voxel_average(lambda r: beta(r, r_max), radius, spacing_zyx)
    elif nuclide == "Lu-177":
        r_max = float(photon_radius_mm)
        mu = 0.0137  # 1/mm: water, ~200 keV
        radius = [math.ceil(r_max / s) for s in spacing_zyx]
        kb = _voxel_average(lambda r: beta(r, 2.0), radius, spacing_zyx)
        kp = _voxel_average(
            lambda r: np.where(r < r_max, np.exp(-mu * r) / (r * r + 1.0), 0.0), radius, spacing_zyx
        )
        k = kb / kb.sum() + 0.05 * kp / kp.sum()
    else:
        raise ValueError(f"no stand-in kernel for {nuclide!r}; use 'Y-90' or 'Lu-177'.")
    return (k / k.sum()).astype(np.float32)


def _real_kernel(
    nuclide: str, spacing_xyz_mm: Sequence[float], photon_radius_mm: float
) -> np.ndarray | None:
    """The physics module's kernel if ``netdose.kernels.voxel_kernel`` exists, else None.

    Lu-177 is asked for with electrons and photons (truncated at ``photon_radius_mm``).
    """
    try:
        from netdose.kernels import voxel_kernel
    except ImportError:
        return None
    kwargs: dict[str, Any] = {}
    if nuclide == "Lu-177":
        kwargs = {"components": ("electrons", "photons"), "photon_radius_mm": photon_radius_mm}
    kern = voxel_kernel(nuclide, tuple(spacing_xyz_mm), **kwargs)
    return np.asarray(kern.values_mgy_per_mbq_s, dtype=np.float32)


def get_kernel(
    nuclide: str, spacing_xyz_mm: Sequence[float], photon_radius_mm: float, stand_in: bool = False
) -> tuple[np.ndarray, str]:
    """(kernel (z, y, x) float32, "real" or "stand-in")."""
    real = None if stand_in else _real_kernel(nuclide, spacing_xyz_mm, photon_radius_mm)
    if real is not None:
        return real, "real"
    return stand_in_kernel(nuclide, spacing_xyz_mm, photon_radius_mm), "stand-in"


# --------------------------------------------------------------------------- phantoms
def phantom(
    shape: Sequence[int], spacing_xyz_mm: Sequence[float], kind: str, nuclide: str, seed: int = 0
) -> np.ndarray:
    """A patient-like activity distribution, float32, (z, y, x), arbitrary units (>= 0).

    Parameters
    ----------
    shape : sequence of 3 int
        Grid (z, y, x).
    spacing_xyz_mm : sequence of 3 float
        Voxel size (x, y, z) in mm.
    kind : {"body", "liver", "fov"}
        "body": uptake everywhere inside an elliptical body contour (340 x 230 mm, all
        slices), zero outside; liver (x3) with three hot spheres (x15-30); Lu-177 adds
        kidneys and spleen. "liver": only the liver and its spheres (a liver-masked Y-90
        PET). "fov": "body" plus a low positive background in every voxel (unmasked).
    nuclide : str
        "Lu-177" adds kidneys and spleen.
    seed : int
        Seed of the multiplicative noise (deterministic).
    """
    sx, sy, sz = spacing_xyz_mm
    nz, ny, nx = shape
    z = ((np.arange(nz) - (nz - 1) / 2) * sz)[:, None, None]
    y = ((np.arange(ny) - (ny - 1) / 2) * sy)[None, :, None]
    x = ((np.arange(nx) - (nx - 1) / 2) * sx)[None, None, :]

    def ellipsoid(cx: float, cy: float, cz: float, ax: float, ay: float, az: float) -> np.ndarray:
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 <= 1.0

    body = np.broadcast_to(((x / 170.0) ** 2 + (y / 115.0) ** 2) <= 1.0, shape)
    liver = ellipsoid(-70, 10, 40, 95, 75, 80)
    a = np.zeros(shape, np.float32)
    if kind in ("body", "fov"):
        a[body] = 1.0
    a[np.broadcast_to(liver, shape)] = 3.0
    for cx, cy, cz, r, v in (
        (-90, 0, 50, 25, 30.0),
        (-40, 30, 20, 15, 20.0),
        (-60, -20, 80, 10, 15.0),
    ):
        a[np.broadcast_to(ellipsoid(cx, cy, cz, r, r, r), shape)] = v
    if nuclide == "Lu-177" and kind != "liver":
        for cx in (-75.0, 75.0):
            a[np.broadcast_to(ellipsoid(cx, 55, -60, 35, 30, 55), shape)] = 8.0
        a[np.broadcast_to(ellipsoid(95, 20, 30, 45, 35, 55), shape)] = 4.0
    rng = np.random.default_rng(seed)
    a *= rng.gamma(25.0, 1.0 / 25.0, size=shape).astype(np.float32)
    if kind == "fov":
        a += rng.uniform(0.01, 0.05, size=shape).astype(np.float32)
    return a


def read_activity(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A reconstructed image as activity: float32 (z, y, x), negative voxels clipped to 0.

    Returns the array and the voxel size (x, y, z) in mm. Negative voxels (reconstruction
    noise) are clipped, as a user of ``convolve_dose`` must do explicitly.
    """
    from netdose.io import read_image

    img = read_image(path)
    arr = np.clip(np.asarray(img.array, dtype=np.float32), 0.0, None)
    sx, sy, sz = (float(v) for v in img.spacing_mm)
    return np.ascontiguousarray(arr), (sx, sy, sz)


def case_activity(case: Case, seed: int = 0) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The activity of a case (phantom or file) and its voxel size (x, y, z) in mm."""
    if case.kind == "file":
        if case.path is None:
            raise ValueError(f"case {case.name!r} has kind 'file' but no path")
        return read_activity(case.path)
    act = phantom(case.shape, case.spacing_xyz_mm, case.kind, case.nuclide, seed)
    return act, case.spacing_xyz_mm


# --------------------------------------------------------------------------- measuring
def _median_time(
    func: Callable[[], Any], repeats: int, before: Callable[[], None] | None = None
) -> float:
    """Median wall time (s) of ``repeats`` calls after one warm-up call."""
    if before is not None:
        before()
    func()
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        gc.collect()
        time.sleep(PAUSE_S)
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _median_times(funcs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time (s) of each function, timed round-robin for ``repeats`` rounds.

    One warm-up call each first; every timed call is preceded by ``gc.collect()`` and an
    untimed ``PAUSE_S`` pause (see the module notes).
    """
    for func in funcs.values():
        func()
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            gc.collect()
            time.sleep(PAUSE_S)
            t0 = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


def _peak_memory(func: Callable[[], Any]) -> float:
    """tracemalloc peak (bytes) of one call: every numpy array the call allocates.

    Arrays that exist before the call (the input, a cached kernel spectrum) are not counted;
    allocations outside numpy (pocketfft's per-thread line buffers, a few hundred kB) are not
    seen.
    """
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return float(peak)


def _rel_diff(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(x.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def run_case(
    case: Case,
    repeats: int = 5,
    photon_radius_mm: float = DEFAULT_PHOTON_RADIUS_MM,
    stand_in: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure one case; returns one row (times in ms, memory in MB)."""
    act, spacing = case_activity(case, seed)
    kernel, source = get_kernel(case.nuclide, spacing, photon_radius_mm, stand_in)
    a64, k64 = act.astype(np.float64), kernel.astype(np.float64)
    plan = plan_convolution(act, kernel)
    plan_direct = plan_convolution(act, kernel, method="direct")
    row: dict[str, Any] = {
        "case": case.name,
        "required": case.required,
        "grid_zyx": tuple(act.shape),
        "spacing_xyz_mm": spacing,
        "kernel_zyx": tuple(kernel.shape),
        "kernel_taps": int(np.count_nonzero(kernel)),
        "kernel_source": source,
        "nonzero_fraction": plan.nnz / act.size,
        "auto_method": plan.method,
        "auto_reason": plan.reason,
        "padded_shape": plan.padded_shape,
        "input_mb": act.nbytes / 1e6,
        "kernel_mb": kernel.nbytes / 1e6,
    }
    ref = scipy.signal.fftconvolve(a64, k64, mode="same")
    row["scipy32_err"] = _rel_diff(scipy.signal.fftconvolve(act, kernel, mode="same"), ref)
    methods: dict[str, Callable[[], np.ndarray]] = {
        "auto": lambda: convolve_dose(act, kernel),
        "hybrid": lambda: convolve_dose(act, kernel, method="hybrid"),
        "fft": lambda: convolve_dose(act, kernel, method="fft"),
        "direct": lambda: convolve_dose(act, kernel, method="direct"),
    }
    timed = _median_times(
        {
            "scipy64": lambda: scipy.signal.fftconvolve(a64, k64, mode="same"),
            "scipy32": lambda: scipy.signal.fftconvolve(act, kernel, mode="same"),
            "auto": methods["auto"],
            "hybrid": methods["hybrid"],
            "fft": methods["fft"],
        },
        repeats,
    )
    for name, t in timed.items():
        row[f"{name}_ms"] = 1e3 * t
    for name in ("auto", "hybrid", "fft"):
        row[f"{name}_err"] = _rel_diff(methods[name](), ref)
    if plan_direct.direct_cost_s > MAX_DIRECT_S:
        row["direct_ms"] = None
        row["direct_err"] = None
        row["direct_skipped"] = f"est. {plan_direct.direct_cost_s:.0f} s"
    else:
        reps = repeats if plan_direct.direct_cost_s < 0.5 else max(3, repeats // 2)
        row["direct_ms"] = 1e3 * _median_time(methods["direct"], reps)
        row["direct_err"] = _rel_diff(methods["direct"](), ref)
    row["fft_cold_ms"] = 1e3 * _median_time(
        methods["fft"], max(3, repeats // 2), before=clear_spectrum_cache
    )
    row["fft_1t_ms"] = 1e3 * _median_time(
        lambda: convolve_dose(act, kernel, method="fft", threads=1), repeats
    )
    # memory: warm spectrum cache (the repeated-use case) and cold (kernel FFT included)
    methods["auto"]()
    row["auto_peak_mb"] = _peak_memory(methods["auto"]) / 1e6
    clear_spectrum_cache()
    row["auto_cold_peak_mb"] = _peak_memory(methods["auto"]) / 1e6
    clear_spectrum_cache()
    row["fft_cold_peak_mb"] = _peak_memory(methods["fft"]) / 1e6
    row["scipy32_peak_mb"] = (
        _peak_memory(lambda: scipy.signal.fftconvolve(act, kernel, mode="same")) / 1e6
    )
    for name in ("auto", "hybrid", "fft", "direct"):
        if row.get(f"{name}_ms"):
            row[f"{name}_vs_scipy64"] = row["scipy64_ms"] / row[f"{name}_ms"]
            row[f"{name}_vs_scipy32"] = row["scipy32_ms"] / row[f"{name}_ms"]
    row["meets_targets"] = bool(
        row["auto_vs_scipy64"] >= TARGET_VS_F64
        and row["auto_vs_scipy32"] >= TARGET_VS_F32
        and row["auto_err"] <= TARGET_ACCURACY
        and row["auto_cold_peak_mb"] <= TARGET_MEMORY * row["input_mb"] + row["kernel_mb"]
    )
    clear_spectrum_cache()
    return row


def run(
    repeats: int = 5,
    extra: bool = True,
    photon_radius_mm: float = DEFAULT_PHOTON_RADIUS_MM,
    cases: Sequence[Case] | None = None,
    stand_in: bool = False,
) -> list[dict[str, Any]]:
    """Run the benchmark cases; one dict per case (see :func:`run_case` for the keys).

    Parameters
    ----------
    repeats : int
        Timed repeats per method (the median is reported), after one warm-up.
    extra : bool
        Also run :data:`EXTRA_CASES` (sparse and whole-FOV rows).
    photon_radius_mm : float
        Truncation radius of the Lu-177 photon kernel (sets the kernel size).
    cases : sequence of Case, optional
        Cases to run instead of the defaults.
    stand_in : bool
        Use the stand-in kernels even if the physics module's kernels are available.
    """
    todo = list(cases) if cases is not None else CASES + (EXTRA_CASES if extra else [])
    return [run_case(c, repeats, photon_radius_mm, stand_in) for c in todo]


# --------------------------------------------------------------------------- calibration
def calibrate(repeats: int = 5, threads: int = 1) -> dict[str, float]:
    """Fit the cost-model constants of ``netdose.kernels.convolve`` on this machine.

    Times the three paths (minus the shared validation scan, i.e. minus the time of
    :func:`plan_convolution`) on a spread of grids, kernels and sparsities, including the
    public MAA SPECT, with ``threads`` threads and cached kernel spectra, and fits by
    non-negative least squares on relative errors (each row divided by its time, so that
    small and large cases count alike):

    - direct: ``t = a * nnz * taps + r * runs * taps + b * row_pairs + v * voxels``;
    - FFT: ``t = c * P * log2(P) * 2 + d``;
    - hybrid: ``t = h * (b_z + m_z) * Q * log2(Q) + z * m_z * Q_h * kz + e`` (``Q`` padded
      (y, x) points, ``Q_h`` spectrum points per plane, ``b_z``/``m_z`` source/output
      planes).

    Returns
    -------
    dict
        ``_DIRECT_S_PER_TAP``, ``_DIRECT_S_PER_RUN_TAP``, ``_DIRECT_S_PER_ROW_PAIR``,
        ``_DIRECT_S_PER_VOXEL``, ``_FFT_S_PER_POINT_LOG``, ``_FFT_S_FIXED``,
        ``_HYBRID_S_PER_POINT_LOG``, ``_HYBRID_S_PER_ZTAP``, ``_HYBRID_S_FIXED`` as fitted.
    """
    import scipy.optimize

    import netdose.kernels.convolve as cv

    sp, pp = _SPECT[1], _PET[1]
    rng = np.random.default_rng(1)
    spect_sparse = (rng.random(_SPECT[0]) < 0.01).astype(np.float32)
    lesions = phantom(_SPECT[0], sp, "liver", "Y-90")
    lesions[lesions < 10.0] = 0.0
    y90_spect = get_kernel("Y-90", sp, DEFAULT_PHOTON_RADIUS_MM)[0]
    y90_pet = get_kernel("Y-90", pp, DEFAULT_PHOTON_RADIUS_MM)[0]
    lu_spect = get_kernel("Lu-177", sp, DEFAULT_PHOTON_RADIUS_MM)[0]
    maa, maa_sp = read_activity(MAA_SPECT)
    setups = [
        (phantom(_SPECT[0], sp, "body", "Y-90"), y90_spect),
        (phantom(_SPECT[0], sp, "fov", "Y-90"), y90_spect),
        (spect_sparse, y90_spect),
        (lesions, y90_spect),
        (phantom(_SPECT[0], sp, "liver", "Y-90"), y90_spect),
        (phantom(_PET[0], pp, "liver", "Y-90"), y90_pet),
        (phantom(_PET[0], pp, "body", "Y-90"), y90_pet),
        (phantom(_PET[0], pp, "fov", "Y-90"), y90_pet),
        (lesions, stand_in_kernel("Lu-177", sp, 40.0)),
        (phantom(_SPECT[0], sp, "body", "Lu-177"), lu_spect),
        (phantom(_SPECT[0], sp, "body", "Y-90"), stand_in_kernel("Y-90", sp)),
        (phantom(_PET[0], pp, "liver", "Y-90"), stand_in_kernel("Y-90", pp)),
        (
            phantom((64, 64, 64), (8.8, 8.8, 8.8), "body", "Y-90"),
            stand_in_kernel("Y-90", (8.8,) * 3),
        ),
        (maa, get_kernel("Y-90", maa_sp, DEFAULT_PHOTON_RADIUS_MM)[0]),
        (maa, get_kernel("Lu-177", maa_sp, DEFAULT_PHOTON_RADIUS_MM)[0]),
    ]
    d_rows, d_t, f_rows, f_t, h_rows, h_t = [], [], [], [], [], []
    for act, kern in setups:
        plan = plan_convolution(act, kern, threads=threads)
        t_plan = _median_time(
            lambda act=act, kern=kern: plan_convolution(act, kern, threads=threads), repeats
        )
        geo = cv._geometry(plan.shape, plan.kernel_shape, plan.source_box)
        crop = tuple(
            slice((s - k) // 2, (s + k) // 2) for s, k in zip(kern.shape, plan.kernel_shape)
        )
        taps = int(np.count_nonzero(kern[crop]))
        t_direct = float("nan")
        if plan.direct_cost_s < 2.0:
            t_direct = (
                _median_time(
                    lambda act=act, kern=kern: convolve_dose(
                        act, kern, method="direct", threads=threads
                    ),
                    repeats,
                )
                - t_plan
            )
            d_rows.append(
                [plan.nnz * taps, plan.runs * taps, cv._row_pairs(geo, plan.kernel_shape), act.size]
            )
            d_t.append(max(t_direct, 1e-5))
        times = _median_times(
            {
                "fft": lambda act=act, kern=kern: convolve_dose(
                    act, kern, method="fft", threads=threads
                ),
                "hybrid": lambda act=act, kern=kern: convolve_dose(
                    act, kern, method="hybrid", threads=threads
                ),
            },
            repeats,
        )
        pts = float(math.prod(plan.padded_shape))
        f_rows.append([pts * math.log2(pts) * 2.0, 1.0])
        f_t.append(max(times["fft"] - t_plan, 1e-5))
        (z0, z1), (o0, o1) = plan.source_box[0], plan.output_box[0]
        ly, lx = plan.padded_shape[1], plan.padded_shape[2]
        q = float(ly * lx)
        h_rows.append(
            [
                (z1 - z0 + o1 - o0) * q * math.log2(q),
                (o1 - o0) * ly * (lx // 2 + 1) * plan.kernel_shape[0],
                1.0,
            ]
        )
        h_t.append(max(times["hybrid"] - t_plan, 1e-5))
        print(
            f"  {act.shape} kernel {kern.shape}: nnz {plan.nnz}, runs {plan.runs}, direct "
            f"{1e3 * t_direct:.1f} ms, fft {1e3 * f_t[-1]:.1f} ms (padded {plan.padded_shape}), "
            f"hybrid {1e3 * h_t[-1]:.1f} ms, auto chose {plan.method}"
        )

    def fit(rows: list[list[float]], t: list[float]) -> np.ndarray:
        m, y = np.array(rows), np.array(t)
        return scipy.optimize.nnls(m / y[:, None], np.ones_like(y))[0]

    a, r, b, v = fit(d_rows, d_t)
    c, d = fit(f_rows, f_t)
    h, z, e = fit(h_rows, h_t)
    for name, rows, t, coef in (
        ("direct", d_rows, d_t, (a, r, b, v)),
        ("fft", f_rows, f_t, (c, d)),
        ("hybrid", h_rows, h_t, (h, z, e)),
    ):
        rel = np.array(rows) @ np.array(coef) / np.array(t) - 1.0
        print(
            f"  fit {name}: model/measured - 1 = median {np.median(np.abs(rel)):.0%}, "
            f"worst {rel[np.argmax(np.abs(rel))]:+.0%} ({len(t)} cases)"
        )
    return {
        "_DIRECT_S_PER_TAP": a,
        "_DIRECT_S_PER_RUN_TAP": r,
        "_DIRECT_S_PER_ROW_PAIR": b,
        "_DIRECT_S_PER_VOXEL": v,
        "_FFT_S_PER_POINT_LOG": c,
        "_FFT_S_FIXED": d,
        "_HYBRID_S_PER_POINT_LOG": h,
        "_HYBRID_S_PER_ZTAP": z,
        "_HYBRID_S_FIXED": e,
    }


# --------------------------------------------------------------------------- printing
def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Two markdown tables: times and speed-ups; accuracy and memory."""
    out = [
        (
            "| case | kernel (z,y,x) / taps | auto (path) ms | hybrid ms | fft ms | direct ms "
            "| fft cold ms | fft 1 thread ms | scipy f64 ms | scipy f32 ms | auto vs f64 "
            "| auto vs f32 | hybrid vs f64 / f32 | fft vs f64 / f32 | direct vs f64 / f32 |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ks = "x".join(str(v) for v in r["kernel_zyx"])
        direct = (
            _f(r.get("direct_ms"), ".1f")
            if r.get("direct_ms")
            else f"skipped ({r.get('direct_skipped')})"
        )
        mark = "" if r["required"] else " (extra)"
        out.append(
            f"| {r['case']}{mark} | {ks} / {r['kernel_taps']} "
            f"| {r['auto_ms']:.1f} ({r['auto_method']}) | {r['hybrid_ms']:.1f} "
            f"| {r['fft_ms']:.1f} | {direct} | {r['fft_cold_ms']:.1f} | {r['fft_1t_ms']:.1f} "
            f"| {r['scipy64_ms']:.1f} | {r['scipy32_ms']:.1f} | {r['auto_vs_scipy64']:.1f}x "
            f"| {r['auto_vs_scipy32']:.1f}x "
            f"| {r['hybrid_vs_scipy64']:.1f}x / {r['hybrid_vs_scipy32']:.1f}x "
            f"| {r['fft_vs_scipy64']:.1f}x / {r['fft_vs_scipy32']:.1f}x "
            f"| {_f(r.get('direct_vs_scipy64'), '.1f')}x / "
            f"{_f(r.get('direct_vs_scipy32'), '.1f')}x |"
        )
    out += [
        "",
        (
            "| case | non-zero voxels | FFT padded (z,y,x) | max diff/max auto | hybrid | fft "
            "| direct | scipy f32 | input MB | peak auto MB (x input) | peak auto cold MB "
            "(x input) | peak fft cold MB (x input) | peak scipy f32 MB (x input) "
            "| targets met |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pad = "x".join(str(v) for v in r["padded_shape"])
        inp = r["input_mb"]
        out.append(
            f"| {r['case']} | {100 * r['nonzero_fraction']:.0f} % | {pad} | {r['auto_err']:.1e} "
            f"| {r['hybrid_err']:.1e} | {r['fft_err']:.1e} | {_f(r.get('direct_err'), '.1e')} "
            f"| {r['scipy32_err']:.1e} | {inp:.1f} "
            f"| {r['auto_peak_mb']:.1f} ({r['auto_peak_mb'] / inp:.2f}) "
            f"| {r['auto_cold_peak_mb']:.1f} ({r['auto_cold_peak_mb'] / inp:.2f}) "
            f"| {r['fft_cold_peak_mb']:.1f} ({r['fft_cold_peak_mb'] / inp:.2f}) "
            f"| {r['scipy32_peak_mb']:.1f} ({r['scipy32_peak_mb'] / inp:.2f}) "
            f"| {'yes' if r['meets_targets'] else 'NO'}{'' if r['required'] else ' (extra)'} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: run the cases and print the markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per method (median)")
    parser.add_argument("--no-extra", action="store_true", help="only the three target cases")
    parser.add_argument(
        "--photon-radius-mm",
        type=float,
        default=DEFAULT_PHOTON_RADIUS_MM,
        help="Lu-177 photon kernel truncation radius, mm (sets the kernel size)",
    )
    parser.add_argument(
        "--stand-in",
        action="store_true",
        help="use the stand-in kernels even if netdose.kernels.voxel_kernel exists",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit the cost-model constants of the automatic choice (1 thread)",
    )
    args = parser.parse_args(argv)
    if args.calibrate:
        print(f"Calibrating (1 thread). Load average: {_loadavg()}.")
        for name, value in calibrate(args.repeats).items():
            print(f"{name} = {value:.3g}")
        return 0
    import numba
    import scipy

    threads = numba.get_num_threads()
    print(
        f"netdose convolution benchmark: numpy {np.__version__}, scipy {scipy.__version__}, "
        f"numba {numba.__version__}, {os.cpu_count()} CPU(s); netdose uses {threads} thread(s) "
        f"(Numba, scipy.fft workers, hybrid-path threads); scipy.signal.fftconvolve is "
        "single-threaded. "
        f"Load average at start: {_loadavg()}."
    )
    rows = run(args.repeats, not args.no_extra, args.photon_radius_mm, stand_in=args.stand_in)
    kinds = sorted({r["kernel_source"] for r in rows})
    where = (
        "from netdose.kernels.voxel_kernel"
        if "real" in kinds
        else "stand-ins of the right size; netdose.kernels.voxel_kernel not used"
    )
    print(f"Kernels: {', '.join(kinds)} ({where}).")
    print(
        f"Median of {args.repeats} runs after a warm-up; 'fft' uses the cached kernel spectrum, "
        "'fft cold' clears the cache before each run. Peak = tracemalloc peak of one call."
    )
    print()
    print(format_table(rows))
    print()
    for r in rows:
        print(f"- {r['case']}: {r['auto_reason']}")
    print(f"Load average at end: {_loadavg()}.")
    return 0


def _loadavg() -> str:
    try:
        return " ".join(os.getloadavg().__repr__().strip("()").split(", "))
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
