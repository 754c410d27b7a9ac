"""``netdose prrt``: cycle dosimetry with the therapy record (``cycle``), the cumulative
table (``history``) and eligibility from SSTR (and FDG) PET (``eligibility``). The cycle
file format is in docs/prrt-cycle.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from netdose.errors import InputError, LimitExceeded
from netdose_cli._app import JsonOpt, app, emit_json, out_console, run, write_outputs

prrt_app = typer.Typer(
    help="Lu-177 PRRT: cycle dosimetry, BED and limits, therapy record, eligibility.",
    no_args_is_help=True,
)
app.add_typer(prrt_app, name="prrt")

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="Therapy record (SQLite). Default: netdose's user data folder "
                 "(NETDOSE_DATA_DIR), file therapy.sqlite."),
]


def _db_path(db: Path | None) -> Path:
    from netdose.prrt.record import default_db_path

    return db if db is not None else default_db_path()


def _previous_rows(history: Any, cycle_number: int) -> list[dict[str, Any]]:
    rows = []
    for c in history.cycles:
        if c.cycle_number == cycle_number:
            continue
        gbq = c.administered_activity_mbq / 1000.0
        for o in c.organs:
            rows.append({"cycle": c.cycle_number, "organ": o.organ, "dose_gy": o.dose_gy,
                         "bed_gy": o.bed_gy, "dose_per_activity_gy_per_gbq": o.dose_gy / gbq,
                         "effective_half_life_h": o.effective_half_life_h})
    return rows


def _history_table(history: Any) -> None:
    organs = sorted({o.organ for c in history.cycles for o in c.organs})
    out_console.print(f"Patient {history.patient.patient_id}: {len(history.cycles)} cycle(s)",
                      markup=False)
    header = f"{'cycle':>5} {'GBq':>6}  " + "  ".join(f"{o[:14]:>14}" for o in organs)
    out_console.print(header + "   (dose Gy / BED Gy)", markup=False)
    for c in history.cycles:
        cells = []
        by = {o.organ: o for o in c.organs}
        for o in organs:
            r = by.get(o)
            cells.append(f"{'-':>14}" if r is None else
                         f"{r.dose_gy:6.2f}/{'-' if r.bed_gy is None else f'{r.bed_gy:.2f}':>7}")
        out_console.print(f"{c.cycle_number:>5} {c.administered_activity_mbq / 1000:6.2f}  "
                          + "  ".join(cells), markup=False)
    cells = []
    for o in organs:
        cum = history.organ(o)
        bed = "-" if cum.cumulative_bed_gy is None else f"{cum.cumulative_bed_gy:.2f}"
        cells.append(f"{cum.cumulative_dose_gy:6.2f}/{bed:>7}")
    out_console.print(f"{'sum':>5} {'':>6}  " + "  ".join(cells), markup=False)


@prrt_app.command("cycle")
def cycle_cmd(
    cycle_file: Annotated[Path, typer.Argument(help="PRRT cycle file (TOML, docs/prrt-cycle.md).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder (created if needed).")],
    db: DbOpt = None,
    no_db: Annotated[bool, typer.Option("--no-db", help="Do not read or write a record.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace this cycle if already recorded.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Dosimetry of one cycle: registration, TAC fits, voxel TIA, dose, organ doses, BED,
    cumulative limits with the earlier cycles of the record, next-cycle activity; records the
    cycle. Exit 3 (outputs written, cycle recorded) when a cumulative limit is exceeded."""
    from netdose.prrt.cycle import load_cycle, run_cycle, write_cycle_outputs
    from netdose.prrt.record import InputFile, OrganDose, TherapyRecord

    with run("prrt cycle", cycle_file=cycle_file, out=out, db=db, no_db=no_db,
             replace=replace) as prov:
        spec = load_cycle(cycle_file)
        for path, role in spec.input_paths:
            prov.add_input(path, role)
        previous: list[dict[str, Any]] = []
        hist_before = None
        patient_change: str | None = None  # written only after the cycle is computed
        record = None
        db_path = None
        notes: list[str] = []
        if not no_db:
            db_path = _db_path(db)
            record = TherapyRecord(db_path, create=True)
        try:
            if record is not None:
                if spec.patient_id in record.patients():
                    pat = record.patient(spec.patient_id)
                    if pat.risk_factors != spec.risk_factors or pat.sex != spec.sex:
                        patient_change = "update"
                        notes.append("patient sex/risk factors updated in the record from the "
                                     "cycle file")
                    hist = record.history(spec.patient_id)
                    if any(c.cycle_number == spec.cycle_number for c in hist.cycles) and \
                            not replace:
                        raise InputError(
                            f"cycle {spec.cycle_number} of patient {spec.patient_id!r} is already "
                            f"in the record {db_path}; use --replace to replace it, or check "
                            "cycle.number in the cycle file."
                        )
                    previous = _previous_rows(hist, spec.cycle_number)
                    hist_before = hist
                else:
                    patient_change = "new"
            with prov.timer("cycle"):
                report = run_cycle(spec, previous)
            summary = dict(report.summary)
            summary["notes"] = list(summary.get("notes", [])) + notes
            summary["record"] = None if db_path is None else str(db_path)
            body_report = dataclasses.replace(report, summary=summary)
            from netdose.report.prrt import write_prrt_cycle_report

            def _write(d: Path) -> dict[str, Path]:
                written = write_cycle_outputs(body_report, d, prov.to_dict())
                written["report_html"] = write_prrt_cycle_report(
                    body_report, d / "report.html",
                    history=None if hist_before is None else hist_before.as_dict(),
                    provenance=prov.to_dict())
                return written

            files = write_outputs(out, _write)
            if record is not None:
                doses = []
                for r in report.organ_rows:
                    b = report.bed_results.get(r["organ"])
                    fit = summary["fits"][r["organ"]]
                    method = (f"SPECT/CT {len(spec.timepoints)} time point(s), "
                              f"{spec.dose_method.upper()}, {fit.get('model', fit.get('method'))}")
                    if b is not None:
                        doses.append(OrganDose.from_bed(r["organ"], b, method=method,
                                                        mass_g=r["mass_g"],
                                                        tia_mbq_h=r["tia_mbq_h"]))
                    else:
                        doses.append(OrganDose(organ=r["organ"], dose_gy=r["mean_dose_gy"],
                                               method=method, mass_g=r["mass_g"],
                                               tia_mbq_h=r["tia_mbq_h"],
                                               effective_half_life_h=r["effective_half_life_h"]))
                inputs = [InputFile.from_path(role, p) for p, role in spec.input_paths]
                if patient_change is not None:
                    record.add_patient(spec.patient_id, sex=spec.sex,
                                       risk_factors=spec.risk_factors,
                                       replace=patient_change == "update")
                record.add_cycle(spec.patient_id, spec.cycle_number,
                                 administered_activity_mbq=spec.injected_mbq,
                                 injection_datetime=spec.injection, nuclide=spec.nuclide,
                                 organ_doses=doses, inputs=inputs, replace=replace,
                                 created_at=spec.injection)
                history = record.history(spec.patient_id)
            else:
                history = None
        finally:
            if record is not None:
                record.close()
    s = summary
    if as_json:
        emit_json({**s, "outputs": {k: str(v) for k, v in files.items()}})
    else:
        out_console.print(f"PRRT cycle {spec.cycle_number} for {spec.patient_id}: "
                          f"{spec.injected_mbq / 1000:.2f} GBq {spec.nuclide}", markup=False)
        out_console.print(f"{'VOI':16s} {'TIA MBq·h':>11} {'model':>15} {'Gy':>7} {'Gy/GBq':>7} "
                          f"{'BED Gy':>7}", markup=False)
        for r in report.organ_rows:
            fit = s["fits"][r["organ"]]
            out_console.print(
                f"{r['organ']:16s} {r['tia_mbq_h']:11.1f} {fit.get('model', fit.get('method')):>15} "
                f"{r['mean_dose_gy']:7.2f} {r['dose_per_activity_gy_per_gbq']:7.3f} "
                f"{'-' if r['bed_gy'] is None else format(r['bed_gy'], '7.2f'):>7}", markup=False)
        if history is not None:
            _history_table(history)
        nc = s.get("next_cycle")
        if nc:
            out_console.print(f"next cycle: {nc['verdict']}: {nc['reason']}", markup=False,
                              soft_wrap=True)
        for n in s.get("not_checked", []):
            out_console.print(f"not checked: {n}", markup=False, soft_wrap=True)
        for role, p in files.items():
            out_console.print(f"wrote {role}: {p}", markup=False)
    lim = s.get("limits") or {}
    if lim.get("ok") is False:
        exceeded = [st["message"] for o in lim.get("organs", []) for st in o.get("statuses", [])
                    if st.get("exceeded")]
        raise LimitExceeded("cumulative organ limit exceeded: " + "; ".join(exceeded)
                            + f" (outputs in {out})")


@prrt_app.command("history")
def history_cmd(
    patient: Annotated[str, typer.Argument(help="Patient id as recorded.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The cumulative table of a patient: per cycle activity, organ doses and BED, sums and
    the limit check."""
    from netdose.prrt.record import TherapyRecord

    path = _db_path(db)
    with TherapyRecord(path) as record:
        if patient not in record.patients():
            known = ", ".join(record.patients()) or "none"
            raise InputError(f"patient {patient!r} is not in the record {path} (patients: "
                             f"{known}).")
        history = record.history(patient)
        check = history.check_limits()
    if as_json:
        emit_json({**history.as_dict(), "limits": check.as_dict(), "record": str(path)})
        return
    _history_table(history)
    for m in check.messages:
        out_console.print(m, markup=False, soft_wrap=True)
