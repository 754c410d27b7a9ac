"""``netdose sirt``: SIRT work-up and plan (``plan``), safety checks alone (``check``) and
post-treatment dosimetry (``post``). The plan file format is in docs/sirt-plan.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from netdose.errors import LimitExceeded
from netdose_cli._app import JsonOpt, app, emit_json, out_console, run, write_outputs

sirt_app = typer.Typer(
    help="Y-90 SIRT: work-up (lung shunt, GI deposition), activity, predicted and delivered dose.",
    no_args_is_help=True,
)
app.add_typer(sirt_app, name="sirt")

OutOpt = Annotated[Path, typer.Option("-o", "--out", help="Output folder (created if needed).")]


def _fmt(value: Any, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _print_plan(summary: dict[str, Any], files: dict[str, Path]) -> None:
    out_console.print(f"SIRT plan for {summary['patient']['id']}: {summary['status'].upper()}",
                      markup=False)
    for r in summary["reasons"]:
        out_console.print(f"  - {r}", markup=False, soft_wrap=True)
    lsf = summary["lsf"]
    out_console.print(f"LSF {lsf['used_pct']:.2f} % ({lsf['how']}); TNR "
                      f"{_fmt(summary['tumour_to_normal_ratio'])}", markup=False)
    for name, m in summary["methods"].items():
        out_console.print(
            f"  {name:10s} {m['status']:13s} activity {_fmt(m.get('activity_gbq'), '.4g')} GBq, "
            f"lung {_fmt(m.get('lung_dose_gy'), '.3g')} Gy", markup=False)
    pd = summary.get("predicted_dose")
    if pd:
        out_console.print(f"predicted dose ({pd['method']}) at {pd['activity_gbq']:.4g} GBq:",
                          markup=False)
        for comp, row in pd["metrics"].items():
            out_console.print(f"  {comp:24s} mean {row['mean']:8.2f} Gy  D70 {row['D70']:8.2f} Gy"
                              f"  V100 {row['V100']:6.1f} %", markup=False)
    for n in summary["not_checked"]:
        out_console.print(f"not checked: {n}", markup=False, soft_wrap=True)
    for role, p in files.items():
        out_console.print(f"wrote {role}: {p}", markup=False)


@sirt_app.command("plan")
def plan_cmd(
    plan_file: Annotated[Path, typer.Argument(help="SIRT plan file (TOML, docs/sirt-plan.md).")],
    out: OutOpt,
    as_json: JsonOpt = False,
) -> None:
    """Work-up and plan: LSF, lung dose, activity by the plan's method(s), predicted dose and
    DVHs, extrahepatic check. Exit 3 (report written) when the plan must not be delivered."""
    from netdose.sirt.plan import load_plan, run_plan, write_plan_outputs

    with run("sirt plan", plan_file=plan_file, out=out) as prov:
        spec = load_plan(plan_file)
        for path, role in spec.input_paths:
            prov.add_input(path, role)
        prov.add_constants(spec.constants.as_dict())
        with prov.timer("plan"):
            report = run_plan(spec)
        from netdose.report.sirt import write_sirt_plan_report

        def _write(d: Path) -> dict[str, Path]:
            written = write_plan_outputs(report, d, prov.to_dict())
            written["report_html"] = write_sirt_plan_report(
                report, spec, d / "report.html", provenance=prov.to_dict())
            return written

        with prov.timer("report"):
            files = write_outputs(out, _write)
        prov.outputs.extend(str(p) for p in files.values())
    if as_json:
        emit_json({**report.summary, "outputs": {k: str(v) for k, v in files.items()}})
    else:
        _print_plan(report.summary, files)
    if report.blocks:
        raise LimitExceeded("; ".join(report.reasons) + f" (report: {files['report_json']})")


@sirt_app.command("check")
def check_cmd(
    plan_file: Annotated[Path, typer.Argument(help="SIRT plan file (TOML).")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Folder for check.json (optional).")
    ] = None,
    activity_gbq: Annotated[
        float | None,
        typer.Option("--activity-gbq", help="Planned Y-90 activity for the lung and GI doses."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Safety checks alone: lung shunt (SPECT and planar), lung dose at --activity-gbq, and
    extrahepatic/GI deposition. Exit 3 when a finding blocks."""
    from netdose.io.atomic import atomic_write_text
    from netdose.io.runfiles import dump_json
    from netdose.sirt.plan import load_plan, run_check

    with run("sirt check", plan_file=plan_file, out=out, activity_gbq=activity_gbq) as prov:
        spec = load_plan(plan_file)
        for path, role in spec.input_paths:
            prov.add_input(path, role)
        if activity_gbq is not None and not (activity_gbq > 0 and activity_gbq < 100):
            from netdose.errors import InputError

            raise InputError(f"--activity-gbq {activity_gbq!r}: give the planned Y-90 activity "
                             "in GBq (0 < A < 100).")
        summary = run_check(spec, activity_gbq)
        files: dict[str, Path] = {}
        if out is not None:
            body = {**summary, "provenance": prov.to_dict()}
            files = write_outputs(out, lambda d: {"report_json": atomic_write_text(
                d / "check.json", dump_json(body))})
    if as_json:
        emit_json({**summary, "outputs": {k: str(v) for k, v in files.items()}})
    else:
        out_console.print(f"SIRT check for {summary['patient']['id']}: "
                          f"{summary['status'].upper()}", markup=False)
        for r in summary["reasons"]:
            out_console.print(f"  - {r}", markup=False, soft_wrap=True)
        out_console.print(f"LSF {summary['lsf']['used_pct']:.2f} % ({summary['lsf']['how']})",
                          markup=False)
        for f in summary["extrahepatic"]["findings"]:
            out_console.print(f"  {f['severity']}: {f['message']}", markup=False, soft_wrap=True)
        for n in summary["not_checked"]:
            out_console.print(f"not checked: {n}", markup=False, soft_wrap=True)
    if summary["status"] == "do not treat":
        raise LimitExceeded("; ".join(summary["reasons"]))


@sirt_app.command("post")
def post_cmd(
    post_file: Annotated[Path, typer.Argument(help="Post-treatment file (TOML).")],
    out: OutOpt,
    as_json: JsonOpt = False,
) -> None:
    """Delivered dose from a Y-90 PET or quantitative bremsstrahlung SPECT, compared with the
    plan report."""
    from netdose.sirt.plan import load_post, run_post, write_post_outputs

    with run("sirt post", post_file=post_file, out=out) as prov:
        spec = load_post(post_file)
        for path, role in spec.input_paths:
            prov.add_input(path, role)
        prov.add_constants(spec.constants.as_dict())
        report = run_post(spec)
        files = write_outputs(out, lambda d: write_post_outputs(report, d, prov.to_dict()))
    s = report.summary
    if as_json:
        emit_json({**s, "outputs": {k: str(v) for k, v in files.items()}})
        return
    out_console.print(f"Y-90 at implantation {s['activity_at_implant_gbq']:.4g} GBq "
                      f"({s['elapsed_h']:.1f} h before the scan); dose by {s['dose_method']}",
                      markup=False)
    for comp, row in s["metrics"].items():
        out_console.print(f"  {comp:20s} mean {row['mean']:8.2f} Gy", markup=False)
    for comp, rows in (s.get("comparison_with_plan") or {}).items():
        m = rows.get("mean")
        if m:
            out_console.print(f"  {comp:20s} planned {m['planned']:.2f} Gy, delivered "
                              f"{m['delivered']:.2f} Gy ({_fmt(m['difference_pct'], '+.1f')} %)",
                              markup=False)
    for role, p in files.items():
        out_console.print(f"wrote {role}: {p}", markup=False)
