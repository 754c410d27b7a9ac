"""Time to generate a dose voxel kernel for a new spacing, and to load a cached one.

Not a test: run ``python benchmarks/bench_kernels.py``. Targets (dose-engine issue): a new
spacing in <= 5 s, a cached kernel in <= 50 ms. The cache goes to a temporary folder so the
run neither uses nor disturbs the user's cache. "new spacing" is measured with
``use_cache=False`` (the nuclide's point kernel, kept in memory per process, reused), and
again with the point kernel rebuilt from the Monte Carlo tables (a new nuclide or density).
The first call in the process (loading the tables) is printed separately.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Any

CASES: list[tuple[str, str, tuple[float, float, float], tuple[str, ...] | None]] = [
    ("Y-90, SPECT 4.42 mm", "Y-90", (4.42, 4.42, 4.42), None),
    ("Y-90, PET 2.34x2.34x2.78 mm", "Y-90", (2.34, 2.34, 2.78), None),
    ("Y-90, CT grid 0.98x0.98x3 mm", "Y-90", (0.98, 0.98, 3.0), None),
    ("Lu-177 + photons, SPECT 4.42 mm", "Lu-177", (4.42, 4.42, 4.42), ("electrons", "photons")),
    ("Lu-177 + photons, CT grid 0.98x0.98x3 mm", "Lu-177", (0.98, 0.98, 3.0), ("electrons", "photons")),
]


def _median_s(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(repeats: int = 5) -> list[dict[str, Any]]:
    """Measure every case; return one row per case (seconds)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("NETDOSE_CACHE_DIR")
        os.environ["NETDOSE_CACHE_DIR"] = cache
        try:
            from netdose.kernels import voxel_kernel
            from netdose.kernels.point import _point_kernel_cached

            def fresh(nuclide: str, spacing: tuple[float, float, float], kw: dict[str, Any]) -> None:
                _point_kernel_cached.cache_clear()  # point kernel rebuilt from the tables too
                voxel_kernel(nuclide, spacing, use_cache=False, **kw)

            t0 = time.perf_counter()
            voxel_kernel("Y-90", (5.0, 5.0, 5.0), use_cache=False)
            first_call_s = time.perf_counter() - t0
            for label, nuclide, spacing, comps in CASES:
                kw: dict[str, Any] = {} if comps is None else {"components": comps}
                new_s = _median_s(lambda: voxel_kernel(nuclide, spacing, use_cache=False, **kw), repeats)
                fresh_s = _median_s(lambda: fresh(nuclide, spacing, kw), repeats)
                voxel_kernel(nuclide, spacing, use_cache=True, **kw)  # fill the cache
                cached_s = _median_s(lambda: voxel_kernel(nuclide, spacing, use_cache=True, **kw), repeats)
                k = voxel_kernel(nuclide, spacing, use_cache=True, **kw)
                rows.append(
                    {
                        "case": label,
                        "shape_zyx": list(k.values_mgy_per_mbq_s.shape),
                        "new_spacing_s": new_s,
                        "new_point_kernel_and_spacing_s": fresh_s,
                        "cached_s": cached_s,
                        "first_call_in_process_s": first_call_s,
                        "meets_targets": max(new_s, fresh_s) <= 5.0 and cached_s <= 0.05,
                    }
                )
        finally:
            if old is None:
                os.environ.pop("NETDOSE_CACHE_DIR", None)
            else:
                os.environ["NETDOSE_CACHE_DIR"] = old
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run` rows."""
    out = [
        f"first kernel in this process (tables, JIT): {rows[0]['first_call_in_process_s']:.2f} s",
        "",
        "| case | kernel (z,y,x) | new spacing (s) | new nuclide/density + spacing (s) | cached (ms) "
        "| targets (<= 5 s, <= 50 ms) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['case']} | {'x'.join(map(str, r['shape_zyx']))} | {r['new_spacing_s']:.3f} | "
            f"{r['new_point_kernel_and_spacing_s']:.3f} | "
            f"{1000 * r['cached_s']:.2f} | {'met' if r['meets_targets'] else 'MISSED'} |"
        )
    return "\n".join(out)


def main() -> None:
    print(format_table(run()))


if __name__ == "__main__":
    main()
