"""``netdose demo``: the whole chain on built-in phantoms, no input needed.

1. SIRT: the SIRT work-up phantom (Tc-99m MAA, CT, masks) and the example plan
   (docs/examples/sirt_plan_phantom.toml) through ``netdose sirt plan``.
2. PRRT: two cycles of the Lu-177 DOTATATE patient phantom (four SPECT/CT time points each,
   10 % cycle-to-cycle uptake variation) through ``netdose prrt cycle`` into a demo therapy
   record, then ``netdose prrt history``.
3. Response: the example case (docs/examples/response_case.json) through
   ``netdose response assess``.

Each step runs the real command (in-process, ``--json``) so the demo shows exactly what a user
gets; the reports, JSON, RT Dose and NIfTI files land in ``DIR/sirt``, ``DIR/prrt``,
``DIR/response``.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from netdose.errors import InputError, LimitExceeded
from netdose_cli._app import app, out_console

EXAMPLES = "netdose_phantoms.data.examples"


def _example(name: str) -> str:
    return importlib.resources.files(EXAMPLES).joinpath(name).read_text(encoding="utf-8")


def _run_json(args: list[str]) -> dict[str, Any]:
    """Run a netdose command in-process with --json; return its JSON (exit 3 allowed)."""
    command = typer.main.get_command(app)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            command.main(args=[*args, "--json"], prog_name="netdose", standalone_mode=False)
        except LimitExceeded:
            pass  # the report is written; the summary shows the status
    return json.loads(buf.getvalue())


@app.command()
def demo(
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder (new or empty).")] = Path(
        "netdose-demo"),
) -> None:
    """Run SIRT planning, two PRRT cycles with the therapy record, and a response assessment
    on built-in phantoms; print a summary and where the reports are."""
    from netdose_phantoms.prrt_patient import prrt_cycles
    from netdose_phantoms.sirt_liver import sirt_liver

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out} exists and is not an empty folder; give a new folder so "
                         "the demo does not mix with other files.")
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        disable=not sys.stdout.isatty(), transient=True)
    with progress:
        step = progress.add_task("SIRT: building the MAA phantom", total=None)
        sirt = out / "sirt"
        sirt_liver().write_nifti(sirt / "sirt-phantom" / "nifti")
        (sirt / "plan.toml").write_text(_example("sirt_plan_phantom.toml"), encoding="utf-8")
        progress.update(step, description="SIRT: work-up and plan (netdose sirt plan)")
        results["sirt"] = _run_json(["sirt", "plan", str(sirt / "plan.toml"), "-o",
                                     str(sirt / "plan")])

        progress.update(step, description="PRRT: building two cycles of the patient phantom")
        prrt = out / "prrt"
        db = prrt / "demo-therapy.sqlite"
        template = _example("prrt_cycle_phantom.toml")
        results["prrt"] = []
        for n, ph in enumerate(prrt_cycles(2, uptake_variation=0.10), start=1):
            folder = prrt / f"cycle{n}"
            ph.write_nifti(folder / "prrt-phantom" / "nifti")
            text = template.replace("number = 1", f"number = {n}")
            # The second cycle eight weeks after the first (2026-03 -> 2026-04/05).
            text = text.replace("2026-03-0", f"2026-0{2 + 2 * n}-0")
            (folder / "cycle.toml").write_text(text, encoding="utf-8")
            progress.update(step, description=f"PRRT: cycle {n} (netdose prrt cycle)")
            results["prrt"].append(_run_json(["prrt", "cycle", str(folder / "cycle.toml"),
                                              "-o", str(folder / "out"), "--db", str(db)]))
        results["prrt_history"] = _run_json(["prrt", "history", "prrt-phantom", "--db", str(db)])

        progress.update(step, description="Response: RECIST 1.1, Choi, iRECIST, PERCIST")
        resp = out / "response"
        resp.mkdir(parents=True, exist_ok=True)
        (resp / "case.json").write_text(_example("response_case.json"), encoding="utf-8")
        results["response"] = _run_json(["response", "assess", str(resp / "case.json"), "-o",
                                          str(resp / "out")])
    elapsed = time.perf_counter() - t0
    _summary(results, out, elapsed)


def _summary(results: dict[str, Any], out: Path, elapsed: float) -> None:
    s = results["sirt"]
    t = Table(title="SIRT plan (sirt-liver phantom)", title_justify="left")
    for col in ("status", "method", "activity GBq", "LSF %", "lung Gy", "tumour mean Gy",
                "normal mean Gy"):
        t.add_column(col)
    m = s["predicted_dose"]["metrics"]
    t.add_row(s["status"], s["prescribed_method"], f"{s['activity_gbq']:.3f}",
              f"{s['lsf']['used_pct']:.2f}", f"{s['lung']['mean']:.2f}",
              f"{m['tumour']['mean']:.1f}", f"{m['normal']['mean']:.1f}")
    out_console.print(t)
    t = Table(title="PRRT (prrt-patient phantom, record: demo-therapy.sqlite)",
              title_justify="left")
    for col in ("cycle", "GBq", "kidney L Gy", "kidney R Gy", "kidney R BED Gy", "spleen Gy",
                "tumour_1 Gy", "next cycle GBq"):
        t.add_column(col)
    for c in results["prrt"]:
        rows = {r["organ"]: r for r in c["organs"]}
        nc = c.get("next_cycle") or {}
        t.add_row(str(c["cycle"]["number"]), f"{c['cycle']['injected_mbq'] / 1000:.2f}",
                  f"{rows['kidney_left']['mean_dose_gy']:.2f}",
                  f"{rows['kidney_right']['mean_dose_gy']:.2f}",
                  f"{rows['kidney_right']['bed_gy']:.2f}",
                  f"{rows['spleen']['mean_dose_gy']:.2f}",
                  f"{rows['tumour_1']['mean_dose_gy']:.1f}",
                  "-" if nc.get("activity_gbq") is None else f"{nc['activity_gbq']:.2f}")
    cum = {c["organ"]: c for c in results["prrt_history"]["cumulative"]}
    t.add_row("sum", "", f"{cum['kidney_left']['cumulative_dose_gy']:.2f}",
              f"{cum['kidney_right']['cumulative_dose_gy']:.2f}",
              f"{cum['kidney_right']['cumulative_bed_gy']:.2f}",
              f"{cum['spleen']['cumulative_dose_gy']:.2f}",
              f"{cum['tumour_1']['cumulative_dose_gy']:.1f}", "")
    out_console.print(t)
    r = results["response"]
    t = Table(title=f"Response ({r['patient_id']})", title_justify="left")
    t.add_column("time point")
    for crit in r["criteria"]:
        t.add_column(crit)
    for tp in r["timepoints"]:
        t.add_row(f"{tp['label']} {tp['date']}",
                  *[str(tp[c]["category"] or "-") for c in r["criteria"]])
    out_console.print(t)
    reports = sorted(out.rglob("report.html"))
    out_console.print(f"Reports ({len(reports)} HTML, with JSON, RT Dose, NIfTI and DVH CSV "
                      "beside them):", markup=False)
    for p in reports:
        out_console.print(f"  {p}", markup=False)
    out_console.print(f"Done in {elapsed:.0f} s.", markup=False)
