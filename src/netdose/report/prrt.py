"""The PRRT cycle report: one self-contained HTML page per cycle (docs/physics.md §17).

Findings first (cumulative limits exceeded, registration warnings, what was not checked, the
next-cycle verdict), then the organ/lesion table, time-activity curves with the fitted model
and the integrated area shaded, dose slices and a MIP with VOI contours, DVHs, the
cumulative record, radiobiology parameters, provenance and every number of ``cycle.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from netdose.io.atomic import atomic_write_text
from netdose.prrt.cycle import CycleReport
from netdose.report import figures
from netdose.report.html import Report

__all__ = ["prrt_cycle_report", "write_prrt_cycle_report"]

_MAX_CONTOURS = 8


def _fit_curve(obj: Any, t_max: float) -> tuple[np.ndarray, np.ndarray] | None:
    chosen = getattr(obj, "chosen", None)
    if chosen is None or not hasattr(chosen, "predict"):
        return None
    t = np.linspace(0.0, t_max, 300)
    return t, np.asarray(chosen.predict(t), dtype=float)


def _findings(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    lim = s.get("limits") or {}
    for organ in lim.get("organs", []):
        for st in organ.get("statuses", []):
            if st.get("exceeded"):
                out.append(("block", st["message"]))
    for reg in s.get("registration", []):
        for w in reg.get("warnings", []) or []:
            out.append(("warning", w))
    nc = s.get("next_cycle")
    if nc:
        sev = "ok" if nc.get("verdict") == "within limits" else "warning"
        out.append((sev, f"next cycle: {nc['verdict']}: {nc['reason']}"))
    for n in s.get("not_checked", []):
        out.append(("info", f"not checked: {n}"))
    for n in s.get("notes", []):
        out.append(("info", n))
    return out


def prrt_cycle_report(report: CycleReport, *, history: Mapping[str, Any] | None = None,
                      provenance: Mapping[str, Any] | None = None) -> str:
    """The HTML page of one cycle.

    Parameters
    ----------
    report : CycleReport
        From :func:`netdose.prrt.cycle.run_cycle`.
    history : mapping, optional
        ``TherapyHistory.as_dict()`` of the earlier cycles (the record before this cycle);
        the table adds this cycle's rows.
    provenance : mapping, optional
        The run's provenance block (inputs with SHA-256).
    """
    s = dict(report.summary)
    cyc = s["cycle"]
    r = Report(f"PRRT cycle {cyc['number']}: {s['patient']['id']}",
               f"{cyc['injected_mbq'] / 1000:.2f} GBq {cyc['nuclide']}, injected "
               f"{cyc['injection_datetime']}")
    lim = s.get("limits") or {}
    if lim.get("ok") is False:
        r.set_status("block", "A cumulative organ limit is exceeded: no further cycle at these "
                     "doses without review.")
    else:
        r.set_status("ok", "Cumulative organ doses and BED within their limits.")
    r.add_findings(_findings(s))

    r.add_section("Organ and lesion doses")
    cols = ["VOI", "kind", "volume", "mass", "TIA", "model", "T_eff", "mean dose", "Gy/GBq",
            "D70", "BED", "EQD2"]
    units = ["", "", "mL", "g", "MBq·h", "", "h", "Gy", "Gy/GBq", "Gy", "Gy", "Gy"]
    rows = []
    for row in report.organ_rows:
        fit = s["fits"][row["organ"]]
        rows.append([row["organ"], row["kind"], row["volume_ml"], row["mass_g"],
                     row["tia_mbq_h"], fit.get("model", fit.get("method")),
                     row["effective_half_life_h"], row["mean_dose_gy"],
                     row["dose_per_activity_gy_per_gbq"], row["D70_gy"], row["bed_gy"],
                     row["eqd2_gy"]])
    r.add_table(cols, rows, units, caption="Mean absorbed dose over each VOI on the "
                f"{s['dose']['method'].upper()} dose map; BED with the radiobiology below.")

    r.add_section("Time-activity curves")
    t_max = max(s["timepoints"][-1]["time_h"] * 1.5, 1.0)
    series = []
    for name, tac in s["tac"].items():
        item: dict[str, Any] = {"name": name, "times_h": tac["times_h"],
                                "values": tac["activity_mbq"]}
        curve = _fit_curve(report.fit_objects.get(name), t_max)
        if curve is not None:
            item.update(fit_t=curve[0], fit_values=curve[1], shade=True)
        series.append(item)
    organs = [x for x in series if x["name"] in {o["organ"] for o in report.organ_rows
                                                 if o["kind"] == "organ"}]
    lesions = [x for x in series if x not in organs]
    if organs:
        r.add_figure(figures.tac_plot(organs, title="Organs", log_y=True),
                     "Organ activity (points), the chosen fit (line) and its integral "
                     "(shaded) = the TIA.")
    if lesions:
        r.add_figure(figures.tac_plot(lesions, title="Lesions", log_y=True),
                     "Lesion activity, fit and integral.")
    fit_rows = [[name, f.get("model", f.get("method")), f.get("rule"), f.get("reason")]
                for name, f in s["fits"].items()]
    r.add_table(["VOI", "model", "rule", "why"], fit_rows, caption="Model choice per VOI.")

    if report.reference_spect is not None:
        r.add_section("Dose maps")
        vois = dict(list(report.vois.items())[:_MAX_CONTOURS])
        for kind in ("axial", "coronal"):
            r.add_figure(
                figures.slice_panel(report.reference_spect, report.dose_gy, vois, kind=kind,
                                    overlay_label="Gy",
                                    title=f"Cycle dose on the reference SPECT ({kind})"),
                f"{kind.capitalize()} slice through the dose maximum, VOI contours.")
        r.add_figure(figures.mip_panel(report.reference_spect, vois, axis="coronal",
                                       label="Bq/mL", title="Reference SPECT, coronal MIP"),
                     "Maximum-intensity projection of the reference time point.")
    if report.dvhs:
        r.add_figure(figures.dvh_plot(report.dvhs), "Cumulative DVHs of the cycle dose.")

    r.add_section("Cumulative record and limits")
    lim_rows = []
    for organ in lim.get("organs", []):
        for st in organ.get("statuses", []):
            lim_rows.append([st.get("organ", organ.get("organ")), st.get("quantity"),
                             st.get("cumulative_gy"), st.get("limit_gy"), st.get("fraction_used"),
                             "EXCEEDED" if st.get("exceeded") else "within", st.get("source")])
    if lim_rows:
        r.add_table(["organ", "quantity", "cumulative", "limit", "fraction used", "status",
                     "source"], lim_rows, ["", "", "Gy", "Gy", "", "", ""])
    if history is not None:
        h_rows = []
        for c in history.get("cycles", []):
            if c["cycle_number"] == cyc["number"]:
                continue
            for o in c.get("organs", []):
                h_rows.append([c["cycle_number"], c["administered_activity_mbq"], o["organ"],
                               o["dose_gy"], o.get("bed_gy")])
        for row in report.organ_rows:
            h_rows.append([cyc["number"], cyc["injected_mbq"], row["organ"],
                           row["mean_dose_gy"], row["bed_gy"]])
        r.add_table(["cycle", "activity", "VOI", "dose", "BED"], h_rows,
                    ["", "MBq", "", "Gy", "Gy"], caption="Every recorded cycle of the patient.")
    nc = s.get("next_cycle")
    if nc:
        r.add_section("Next cycle", level=3)
        r.add_key_values({"verdict": nc.get("verdict"), "activity per cycle (GBq)":
                          nc.get("activity_gbq"), "limited by": nc.get("limiting_organ"),
                          "reason": nc.get("reason")})

    r.add_section("Registration and inputs")
    reg_rows = [[x["timepoint"], "reference" if x.get("reference") else x.get("method"),
                 x.get("body_dice"), x.get("bone_dice"),
                 None if not x.get("translation_mm") else
                 float(np.linalg.norm(x["translation_mm"]))]
                for x in s["registration"]]
    r.add_table(["time point", "registration", "body Dice", "bone Dice", "|translation|"],
                reg_rows, ["", "", "", "", "mm"])
    rb = s.get("radiobiology") or {}
    r.add_table(["tissue", "α/β", "T_rep", "source"],
                [[k, v.get("alpha_beta_gy"), v.get("repair_half_time_h"), v.get("source")]
                 for k, v in rb.items()], ["", "Gy", "h", ""], caption="Radiobiology used.")
    if provenance is not None:
        r.add_table(["role", "path", "SHA-256"],
                    [[i.get("role"), i.get("path"), i.get("sha256")]
                     for i in provenance.get("inputs", [])], caption="Inputs.")
    r.add_all_values(s)
    return r.render()


def write_prrt_cycle_report(report: CycleReport, path: str | Path, *,
                            history: Mapping[str, Any] | None = None,
                            provenance: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`prrt_cycle_report` atomically; return the path."""
    return atomic_write_text(path, prrt_cycle_report(report, history=history,
                                                     provenance=provenance))
