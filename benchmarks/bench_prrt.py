"""PRRT cycle on the phantom (not a test): time of a whole cycle and organ recovery.

1. **Whole cycle**: 4 SPECT/CT time points of the PRRT patient phantom, rigid registration of
   each to the 24 h CT, organ TAC fits, voxel TIA, DVK dose (Lu-177 with photons, CT
   densities), BED, limits, next cycle: ``netdose.prrt.cycle.run_cycle`` timed end to end
   (kernel cached; a first warm-up run compiles the Numba kernels). Issue target: < 60 s on
   2 cores.
2. **Recovery per organ** against the phantom truth (same kernel, uniform density as the
   truth's reference dose): noise-free and unblurred, then 10 mm FWHM blur, then 10 mm blur
   + Poisson noise (5.67 cps/MBq, 30 min per scan). Blur spills activity out of small organs
   and lesions (partial volume), which neither the fits nor the dose can recover without a
   recovery-coefficient correction (not applied by netdose).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from netdose_phantoms.prrt_patient import EXAMPLE_SENSITIVITY_CPS_PER_MBQ, prrt_patient

from netdose.prrt.cycle import load_cycle, run_cycle

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "prrt_cycle_phantom.toml"


def _cycle(root: Path, name: str, *edits: tuple[str, str]) -> Any:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in edits:
        text = text.replace(old, new)
    (root / name).write_text(text, encoding="utf-8")
    return load_cycle(root / name)


def run(repeats: int = 1) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = {
            "noise-free": {},
            "10 mm blur": {"fwhm_mm": 10.0},
            "10 mm blur + noise": {"fwhm_mm": 10.0,
                                   "counts_per_mbq_s": EXAMPLE_SENSITIVITY_CPS_PER_MBQ},
        }
        timing_spec = None
        for label, kw in cases.items():
            d = root / label.replace(" ", "_").replace("+", "p")
            prrt_patient(**kw).write_nifti(d / "prrt-phantom" / "nifti")
            spec = _cycle(d, "cycle.toml", ('density = "ct"', 'density = "constant"'))
            if timing_spec is None:
                timing_spec = _cycle(d, "timed.toml")
            report = run_cycle(spec)
            truth = json.loads((d / "prrt-phantom/nifti/truth.json").read_text())
            ref = truth["reference_dose"]["dvk"]["organ_mean_gy"]
            for r in report.organ_rows:
                o = r["organ"]
                rows.append({
                    "benchmark": "recovery", "case": label, "organ": o,
                    "tia_recovery": r["tia_mbq_h"] / truth["organs"][o]["tia_mbq_h"],
                    "dose_recovery": r["mean_dose_gy"] / ref[o],
                    "model": report.summary["fits"][o].get("model"),
                })
        assert timing_spec is not None
        run_cycle(timing_spec)  # warm-up: Numba compilation and kernel cache
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            run_cycle(timing_spec)
            times.append(time.perf_counter() - t0)
        rows.append({"benchmark": "whole cycle", "case": "4 time points, rigid registration, "
                     "TAC fits, VOI-scaled voxel TIA, DVK with CT density, BED, next cycle",
                     "seconds": min(times), "target_s": 60.0})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    out = ["| case | organ | fit | TIA / truth | dose / reference |", "|---|---|---|---|---|"]
    for r in rows:
        if r["benchmark"] == "recovery":
            out.append(f"| {r['case']} | {r['organ']} | {r['model']} | {r['tia_recovery']:.3f} "
                       f"| {r['dose_recovery']:.3f} |")
    for r in rows:
        if r["benchmark"] == "whole cycle":
            out.append("")
            out.append(f"Whole PRRT cycle ({r['case']}): {r['seconds']:.1f} s "
                       f"(target < {r['target_s']:.0f} s).")
    return "\n".join(out)
