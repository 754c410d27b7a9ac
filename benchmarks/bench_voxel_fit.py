"""Speed of the per-voxel mono-exponential TIA fit (:func:`netdose.dosimetry.voxel_fit.fit_voxels`)
against a per-voxel ``scipy.optimize.curve_fit`` loop.

Not a test: run ``python benchmarks/bench_voxel_fit.py`` (``--quick`` for a 64^3 grid).
Target (PRRT issue): the Numba fit at least 200x faster per voxel than ``curve_fit``.

Case: 128^3 voxels, 4 time points (4, 24, 96, 168 h), Lu-177. Every voxel holds a positive
mono-exponential curve (A0 from a smooth background with hot spheres, T_eff varying from 30 h
to 140 h, a few regions slower than physical decay) with multiplicative gamma noise (20 %
SD), so that every voxel is fitted (a phantom with empty air around the body would flatter
the Numba time: zero voxels are skipped). Times:

- netdose: median of ``repeats`` calls of ``fit_voxels`` on the whole grid, after a warm-up
  call (which also compiles or loads the Numba kernels), on all Numba threads;
- scipy: one ``curve_fit`` per voxel on ``n_scipy`` (200) voxels chosen at random (seeded),
  same model, weights (sigma = max(A_i, 0.01 max A)) and bound (lambda >= lambda_phys),
  started from the same log-linear estimate; median of ``repeats`` loops.

Both run in the same process, one after the other. The per-voxel time ratio is
(scipy time / 200) / (netdose time / 128^3). The largest relative TIA difference between the
two on the sampled voxels is printed as a check that they solve the same problem. The machine
is shared: the load average is recorded.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize

from netdose.config import thread_count
from netdose.dosimetry.tac import SIGMA_FLOOR_FRACTION
from netdose.dosimetry.voxel_fit import STATUS, fit_voxels
from netdose.nuclides import get_nuclide
from netdose.units import LN2, S_PER_H

__all__ = ["TARGET_RATIO", "TIMES_H", "format_table", "main", "phantom", "run"]

#: Per-voxel speed-up target against curve_fit (PRRT issue).
TARGET_RATIO = 200.0
#: Scan times, h after injection.
TIMES_H = (4.0, 24.0, 96.0, 168.0)


def phantom(n: int, times_h: Sequence[float], half_life_h: float, seed: int = 0) -> np.ndarray:
    """Activity maps (n_time, n, n, n) float32 in Bq/mL: noisy mono-exponential voxels.

    A0: 2000 Bq/mL background plus three hot spheres (x5, x10, x20); T_eff: 30 h + 110 h x a
    smooth ramp along x, with one sphere at 1.2 x the physical half-life (slower than physical:
    the fit must sit on the bound); multiplicative gamma noise of 20 % SD.
    """
    rng = np.random.default_rng(seed)
    c = (np.arange(n) - (n - 1) / 2) / n
    z, y, x = np.meshgrid(c, c, c, indexing="ij", sparse=True)
    a0 = np.full((n, n, n), 2000.0)
    teff = 30.0 + 110.0 * (x + 0.5) + 0.0 * (y + z)
    for (cz, cy, cx, r, f) in ((0.1, 0.1, -0.2, 0.12, 5.0), (-0.2, 0.0, 0.2, 0.08, 10.0),
                               (0.2, -0.2, 0.1, 0.05, 20.0)):
        inside = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r * r
        a0 = np.where(inside, a0 * f, a0)
    slow = (z + 0.25) ** 2 + (y - 0.25) ** 2 + (x + 0.25) ** 2 <= 0.1**2
    teff = np.where(slow, 1.2 * half_life_h, np.broadcast_to(teff, (n, n, n)))
    t = np.asarray(times_h, dtype=np.float64)[:, None, None, None]
    act = a0[None] * np.exp(-LN2 / teff[None] * t)
    act *= rng.gamma(25.0, 1.0 / 25.0, size=act.shape)
    return act.astype(np.float32)


def _curve_fit_tia(
    t: np.ndarray, y: np.ndarray, lam_p: float
) -> float:
    """TIA (Bq·h/mL) of one voxel by scipy.optimize.curve_fit (same problem as netdose)."""
    sigma = np.maximum(y, SIGMA_FLOOR_FRACTION * y.max())
    slope = np.polyfit(t, np.log(y), 1)[0]
    lam0 = max(-slope, lam_p * 1.001)
    e = np.exp(-lam0 * t)
    w = 1.0 / sigma**2
    a00 = float(np.sum(w * y * e) / np.sum(w * e * e))
    popt, _ = scipy.optimize.curve_fit(
        lambda tt, a0, lam: a0 * np.exp(-lam * tt),
        t,
        y,
        p0=(a00, lam0),
        sigma=sigma,
        bounds=([0.0, lam_p], [np.inf, np.inf]),
    )
    return float(popt[0] / popt[1])


def _median_s(func: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run(repeats: int = 3, quick: bool = False, n_scipy: int = 200, seed: int = 0
        ) -> list[dict[str, Any]]:
    """Time both methods; one row (times in s, per-voxel times in µs and ms)."""
    n = 64 if quick else 128
    half_life_h = get_nuclide("Lu-177").half_life_h
    lam_p = LN2 / half_life_h
    t = np.asarray(TIMES_H)
    load_start = _loadavg()
    act = phantom(n, TIMES_H, half_life_h, seed)
    n_vox = n**3
    # warm-up: compile / load the cached kernels
    fit_voxels(act[:, :4, :4, :4], t, physical_half_life_h=half_life_h)
    result = fit_voxels(act, t, physical_half_life_h=half_life_h)
    numba_s = _median_s(
        lambda: fit_voxels(act, t, physical_half_life_h=half_life_h), max(1, repeats)
    )

    rng = np.random.default_rng(seed + 1)
    flat = act.reshape(len(TIMES_H), -1).astype(np.float64)
    idx = rng.choice(n_vox, size=n_scipy, replace=False)
    samples = [flat[:, i] for i in idx]

    def scipy_loop() -> list[float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [_curve_fit_tia(t, y, lam_p) for y in samples]

    ref = scipy_loop()  # warm-up
    scipy_s = _median_s(scipy_loop, max(1, repeats))
    ours = result.tia_bq_s_ml.reshape(-1)[idx].astype(np.float64) / S_PER_H
    rel = np.abs(ours / np.asarray(ref) - 1.0)
    numba_per_voxel = numba_s / n_vox
    scipy_per_voxel = scipy_s / n_scipy
    ratio = scipy_per_voxel / numba_per_voxel
    counts = {k: v for k, v in result.status_counts.items() if v}
    return [
        {
            "case": f"{n}^3 x {len(TIMES_H)} time points, Lu-177, 20 % noise",
            "grid_zyx": (n, n, n),
            "n_voxels": n_vox,
            "times_h": list(TIMES_H),
            "numba_threads": thread_count(),
            "numba_s": numba_s,
            "numba_us_per_voxel": 1e6 * numba_per_voxel,
            "curve_fit_voxels": n_scipy,
            "curve_fit_s": scipy_s,
            "curve_fit_ms_per_voxel": 1e3 * scipy_per_voxel,
            "ratio_per_voxel": ratio,
            "target_ratio": TARGET_RATIO,
            "meets_target": bool(ratio >= TARGET_RATIO),
            "max_rel_diff_tia_vs_curve_fit": float(rel.max()),
            "status_counts": counts,
            "status_meanings": {str(k): v for k, v in STATUS.items()},
            "load_average_start": load_start,
            "load_average_end": _loadavg(),
        }
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run` rows."""
    out = [
        (
            "| case | threads | netdose (s) | netdose µs/voxel | curve_fit ms/voxel "
            "| per-voxel ratio (target >= 200x) | max rel. TIA diff | load avg (start -> end) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        load = f"{r['load_average_start']} -> {r['load_average_end']}"
        out.append(
            f"| {r['case']} | {r['numba_threads']} | {r['numba_s']:.3f} "
            f"| {r['numba_us_per_voxel']:.3f} | {r['curve_fit_ms_per_voxel']:.3f} "
            f"| {r['ratio_per_voxel']:.0f}x {'(met)' if r['meets_target'] else '(NOT met)'} "
            f"| {r['max_rel_diff_tia_vs_curve_fit']:.1e} | {load} |"
        )
    for r in rows:
        counts = ", ".join(f"{k}: {v}" for k, v in r["status_counts"].items())
        out.append("")
        out.append(f"Voxel status ({r['case']}): {counts}.")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    parser.add_argument("--quick", action="store_true", help="64^3 instead of 128^3")
    args = parser.parse_args(argv)
    rows = run(repeats=args.repeats, quick=args.quick)
    print(format_table(rows))
    if not math.isfinite(rows[0]["ratio_per_voxel"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
