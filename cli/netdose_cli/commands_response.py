"""Response-assessment commands: ``netdose response assess`` (and, later, ``measure``).

The sub-app :data:`response_app` is registered on the main app as ``response``; further
response commands add themselves to it with ``@response_app.command()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from netdose.errors import InputError
from netdose_cli._app import JsonOpt, app, emit_json, out_console, run

response_app = typer.Typer(
    name="response",
    help="Tumour response: RECIST 1.1, Choi, iRECIST, PERCIST and the case-report form.",
    no_args_is_help=True,
)
app.add_typer(response_app, name="response")

#: Files written by ``assess -o DIR``.
CRF_FILES = ("crf.json", "crf.csv", "crf.html", "report.html", "assessment.json")


def _numbers(crit: str, block: dict[str, Any]) -> str:
    def val(key: str, unit: str, signed: bool = False) -> str | None:
        value = block.get(key)
        if value is None:
            return None
        return f"{value:+g} {unit}" if signed else f"{value:g} {unit}"

    keys = {
        "RECIST1.1": [("sum_mm", "mm", False), ("change_vs_baseline_pct", "% vs baseline", True),
                      ("change_vs_nadir_pct", "% vs nadir", True)],
        "iRECIST": [("sum_mm", "mm", False), ("change_vs_nadir_pct", "% vs nadir", True)],
        "Choi": [("sum_mm", "mm", False), ("change_vs_baseline_pct", "% size", True),
                 ("density_change_vs_baseline_pct", "% HU", True)],
        "PERCIST": [("sul_peak", "SULpeak", False), ("change_vs_baseline_pct", "% vs baseline",
                                                     True)],
    }[crit]
    return ", ".join(v for k, u, s in keys if (v := val(k, u, s)) is not None)


@response_app.command("assess")
def assess(
    case_file: Annotated[Path, typer.Argument(help="Response case file (JSON; see "
                                                   "docs/examples/response_case.json).")],
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="Folder for the case-report form (crf.json, crf.csv, "
                                         "crf.html), the report (report.html) and the results "
                                         "(assessment.json)."),
    ] = None,
    criteria: Annotated[
        list[str] | None,
        typer.Option("--criterion", help="Only this criterion (repeatable): RECIST1.1, Choi, "
                                         "iRECIST, PERCIST. Default: the case's list, or all."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Response per time point by RECIST 1.1, Choi, iRECIST and PERCIST, against baseline and
    nadir; with -o, the imaging case-report form."""
    from netdose.io.atomic import atomic_write_text
    from netdose.response.assess import assess_case
    from netdose.response.case import load_case
    from netdose.response.crf import build_crf, crf_csv, crf_html, crf_json

    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is a file; give a folder for the case-report "
                         "form.")
    with run("response assess", case_file=case_file, out=out, criteria=criteria) as prov:
        case = load_case(case_file)
        prov.add_input(case_file, "case")
        result = assess_case(case, criteria=criteria)
        from netdose.response.sstr import sstr_changes

        result["sstr_pet"] = sstr_changes(case)
        prov.add_constants(result["constants"])
        if out is not None:
            crf = build_crf(case, result)
            # Everything is rendered before the first file is written.
            from netdose.report.response import response_report

            html = response_report(case, result, provenance=prov.to_dict())
            from netdose.io.runfiles import dump_json

            texts = dict(zip(CRF_FILES, (crf_json(crf), crf_csv(crf), crf_html(crf), html,
                                         dump_json({**result, "provenance": prov.to_dict()})),
                             strict=True))
            for name, text in texts.items():
                atomic_write_text(out / name, text)
                prov.outputs.append(str(out / name))
    if as_json:
        emit_json({**result, "provenance": prov.to_dict()})
        return
    sel = result["target_selection"]
    out_console.print(
        f"patient {result['patient_id']}: targets {', '.join(result['targets']) or 'none'} "
        f"({sel['method']} selection); non-targets {', '.join(result['non_targets']) or 'none'}"
    )
    for tp in result["timepoints"]:
        table = Table(title=f"{tp['label']} {tp['date']} ({tp['modality']})", title_justify="left")
        for col in ("criterion", "category", "vs baseline", "vs nadir", "numbers"):
            table.add_column(col)
        table.add_column("reason", overflow="fold")
        for crit in result["criteria"]:
            block = tp[crit]
            table.add_row(crit, str(block["category"] or "-"), str(block["vs_baseline"] or "-"),
                          str(block["vs_nadir"] or "-"), _numbers(crit, block), block["reason"])
        out_console.print(table)
    if out is not None:
        out_console.print(f"wrote {', '.join(str(out / n) for n in CRF_FILES)}")
