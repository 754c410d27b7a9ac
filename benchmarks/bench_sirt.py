"""SIRT plan timing (not a test): the whole plan on the real MAA sample, in process.

``netdose.sirt.plan.load_plan`` + ``run_plan`` on docs/examples/sirt_plan_maa_sample.toml
(real Tc-99m MAA SPECT 128 x 128 x 160 and its 3D Slicer segmentation on the 512 x 512 x 161
CT grid: masks moved onto the SPECT grid; partition, voxel and BSA methods; DVK predicted
dose; DVHs; extrahepatic check), and the HTML report. Issue target: full plan < 10 s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from netdose.report.sirt import sirt_plan_report
from netdose.sirt.plan import load_plan, run_plan

PLAN = Path(__file__).resolve().parents[1] / "docs" / "examples" / "sirt_plan_maa_sample.toml"


def run(repeats: int = 3) -> list[dict[str, Any]]:
    spec = load_plan(PLAN)
    run_plan(spec)  # warm-up: kernel cache, Numba compilation
    plan_s, report_s = [], []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        report = run_plan(load_plan(PLAN))
        t1 = time.perf_counter()
        sirt_plan_report(report, spec)
        plan_s.append(t1 - t0)
        report_s.append(time.perf_counter() - t1)
    return [{"case": "real MAA sample: partition + voxel + BSA, DVK, DVHs, extrahepatic check",
             "plan_s": min(plan_s), "report_s": min(report_s), "target_s": 10.0,
             "ratio_to_target": min(plan_s) / 10.0}]


def format_table(rows: list[dict[str, Any]]) -> str:
    out = ["| case | plan (s) | HTML report (s) | target | plan / target |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['case']} | {r['plan_s']:.2f} | {r['report_s']:.2f} | "
                   f"< {r['target_s']:.0f} s | {r['ratio_to_target']:.3f} |")
    return "\n".join(out)
