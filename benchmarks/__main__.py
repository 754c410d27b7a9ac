"""Run every netdose benchmark: ``python -m benchmarks`` (from the repository root).

Prints one markdown table per benchmark and writes ``benchmarks/results.json`` with the rows
and the machine they ran on. Benchmarks are not tests: they measure, they do not assert.
Options: ``--quick`` (fewer repeats), ``--only NAME`` (repeatable), ``--out PATH``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: (name, module, how to call its run(), description). Each module has ``run(**kw) -> rows``
#: and ``format_table(rows) -> str`` (or the runner prints the rows as a table).
BENCHMARKS: list[tuple[str, str, dict[str, Any], str]] = [
    ("convolution", "benchmarks.bench_convolution", {"repeats": 5},
     "dose convolution vs scipy.signal.fftconvolve (float64 and float32)"),
    ("kernels", "benchmarks.bench_kernels", {"repeats": 5},
     "dose voxel kernel generation (new spacing) and cache load"),
    ("voxel_fit", "benchmarks.bench_voxel_fit", {"repeats": 3},
     "per-voxel mono-exponential TIA fit (Numba) vs scipy curve_fit per voxel"),
    ("sirt", "benchmarks.bench_sirt", {"repeats": 3},
     "full SIRT plan on the real MAA sample (target < 10 s)"),
    ("prrt", "benchmarks.bench_prrt", {"repeats": 1},
     "whole PRRT cycle time; organ TIA/dose recovery noise-free, blurred, blurred + noise"),
    ("accuracy", "benchmarks.bench_accuracy", {},
     "dose on the public phantoms against independent references; phantom generation time"),
]


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured."""
    import numba
    import numpy
    import scipy

    from netdose import __version__

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem_gib = round(int(fh.readline().split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "netdose": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _generic_table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 5")
    parser.add_argument("--only", action="append", choices=[b[0] for b in BENCHMARKS])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.json")
    args = parser.parse_args(argv)
    info = machine_info()
    print(f"netdose benchmarks on {info['cpu']} ({info['cpu_count']} CPUs, {info['memory_gib']} GiB), "
          f"Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, numba {info['numba']}\n")
    results: dict[str, Any] = {"machine": info, "benchmarks": {}}
    for name, module_name, kwargs, description in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        kw = dict(kwargs)
        if args.quick and "repeats" in kw:
            kw["repeats"] = 3
        module = importlib.import_module(module_name)
        t0 = time.perf_counter()
        rows = module.run(**kw)
        elapsed = time.perf_counter() - t0
        fmt = getattr(module, "format_table", _generic_table)
        print(f"## {name}: {description} ({elapsed:.0f} s)\n")
        print(fmt(rows))
        print()
        results["benchmarks"][name] = {"description": description, "seconds": elapsed, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.only and args.out.exists():
        # A partial run updates its benchmarks and keeps the others' last results.
        try:
            previous = json.loads(args.out.read_text(encoding="utf-8"))
            merged = dict(previous.get("benchmarks", {}))
            merged.update(results["benchmarks"])
            results["benchmarks"] = merged
        except (OSError, ValueError):
            pass
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
