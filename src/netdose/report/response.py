"""The response report: one self-contained HTML page per case (docs/physics.md §17).

Findings first (the latest call of each criterion, progression in amber), then the calls
per time point against baseline and against nadir with the numbers that decided them, a
waterfall plot (change of each target lesion from baseline at the latest time point) and a
spider plot (change of each target lesion and of the target sum over time), the SSTR-PET
lesion changes (reported, not categorised), and every number of the assessment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netdose.io.atomic import atomic_write_text
from netdose.report import figures
from netdose.report.html import Report
from netdose.response.case import Case

__all__ = ["response_report", "write_response_report"]

_PROGRESSION = {"PD", "iUPD", "iCPD", "PMD"}
_RESPONSE = {"CR", "PR", "iCR", "iPR", "CMR", "PMR"}


def _severity(category: str | None) -> str:
    if category in _PROGRESSION:
        return "warning"
    if category in _RESPONSE:
        return "ok"
    return "info"


def _size(case: Case, tp_index: int, lesion_id: str) -> float | None:
    le = case.timepoints[tp_index].lesion(lesion_id)
    return None if le is None else le.size_mm


def response_report(case: Case, assessment: Mapping[str, Any], *,
                    provenance: Mapping[str, Any] | None = None) -> str:
    """The HTML page of a response assessment.

    Parameters
    ----------
    case : Case
        The validated case (:func:`netdose.response.case.load_case`).
    assessment : mapping
        :func:`netdose.response.assess.assess_case` of it.
    provenance : mapping, optional
    """
    tps = assessment["timepoints"]
    criteria = list(assessment.get("criteria", []))
    r = Report(f"Response assessment: {case.patient.id}",
               f"{len(tps)} time points, {tps[0]['date']} to {tps[-1]['date']}; "
               f"criteria {', '.join(criteria)}")
    last = tps[-1]
    calls = [(c, (last.get(c) or {}).get("category")) for c in criteria]
    worst = next((c for c, cat in calls if cat in _PROGRESSION), None)
    r.set_status("warning" if worst else "ok",
                 f"Latest time point {last['label']} ({last['date']}): "
                 + "; ".join(f"{c} {cat or 'NE'}" for c, cat in calls))
    findings = []
    for c, cat in calls:
        block = last.get(c) or {}
        findings.append((_severity(cat), (f"{c}: {cat or 'NE'} (vs baseline "
                         f"{block.get('vs_baseline') or 'NE'}, vs nadir "
                         f"{block.get('vs_nadir') or 'NE'}): {block.get('reason', '')}")))
    r.add_findings(findings)

    r.add_section("Calls per time point")
    rows = []
    for tp in tps:
        for c in criteria:
            b = tp.get(c) or {}
            rows.append([tp["label"], tp["date"], c, b.get("category"), b.get("vs_baseline"),
                         b.get("vs_nadir"), b.get("reason")])
    r.add_table(["time point", "date", "criterion", "category", "vs baseline", "vs nadir",
                 "reason"], rows, caption="`category` is the criterion's official call; the "
                "other two use a single reference, as the case-report form asks.")

    targets = list(assessment.get("targets", []))
    if targets and len(case.timepoints) > 1:
        r.add_section("Target lesions")
        base = {t: _size(case, 0, t) for t in targets}
        changes = {}
        li = len(case.timepoints) - 1
        for t in targets:
            now = _size(case, li, t)
            if base[t] and now is not None:
                changes[t] = 100.0 * (now - base[t]) / base[t]
        if changes:
            r.add_figure(figures.waterfall_plot(changes, title=f"Change of each target lesion "
                                                f"from baseline at {last['label']}"),
                         "Waterfall: RECIST thresholds −30 % and +20 % dashed (for the sum, "
                         "shown per lesion for orientation).")
        d0 = case.timepoints[0].date
        series: dict[str, tuple[list[float], list[float]]] = {}
        for t in targets:
            xs, ys = [], []
            for i, tp in enumerate(case.timepoints):
                v = _size(case, i, t)
                if base[t] and v is not None:
                    xs.append((tp.date - d0).days / 7.0)
                    ys.append(100.0 * (v - base[t]) / base[t])
            if xs:
                series[t] = (xs, ys)
        sums = [(tp.get("RECIST1.1") or {}).get("sum_mm") for tp in tps]
        if sums[0]:
            xs = [(case.timepoints[i].date - d0).days / 7.0 for i, s in enumerate(sums)
                  if s is not None]
            ys = [100.0 * (s - sums[0]) / sums[0] for s in sums if s is not None]
            series["target sum"] = (xs, ys)
        if series:
            r.add_figure(figures.spider_plot(series), "Spider plot: change from baseline of "
                         "each target lesion and of the RECIST target sum.")
        size_rows = []
        for t in targets:
            size_rows.append([t] + [_size(case, i, t) for i in range(len(case.timepoints))])
        r.add_table(["lesion"] + [tp.label for tp in case.timepoints], size_rows,
                    ["mm"] * (len(case.timepoints) + 1), caption="Target sizes (longest "
                    "diameter; short axis for nodes).")

    sstr = assessment.get("sstr_pet")
    if sstr and sstr.get("lesions"):
        r.add_section("SSTR-PET lesion changes (reported, not categorised)")
        r.add_paragraph("No validated SSTR-PET response criteria exist: SULpeak, SUVmax, "
                        "tumour-to-liver and tumour-to-spleen ratios (SULpeak over the "
                        "reference SULmean) and the Krenning-type score per lesion, with the "
                        "change from baseline. PERCIST above is the FDG criterion.")
        rows = []
        for lid, seq in sstr["lesions"].items():
            for x in seq:
                score = x["krenning_score"]
                rows.append([lid, x["label"], x["sul_peak"], x["sul_peak_change_pct"],
                             x["suv_max"], x["tumour_to_liver"], x["tumour_to_spleen"],
                             score if score is not None else "{}-{}".format(
                                 *x["krenning_score_range"]), x["score_change"]])
        r.add_table(["lesion", "time point", "SULpeak", "Δ SULpeak", "SUVmax", "T/L", "T/S",
                     "score", "Δ score"], rows, ["", "", "SUL", "%", "SUV", "", "", "", ""])
        prow = [[p["label"], p["sum_sul_peak"], p["sum_sul_peak_change_pct"],
                 p["highest_score"], p["liver_sul_mean"], p["spleen_sul_mean"]]
                for p in sstr["patient"]]
        r.add_table(["time point", "sum SULpeak", "Δ", "highest score", "liver", "spleen"],
                    prow, ["", "SUL", "%", "", "SULmean", "SULmean"],
                    caption="Per patient.")
    if provenance is not None:
        r.add_table(["role", "path", "SHA-256"],
                    [[i.get("role"), i.get("path"), i.get("sha256")]
                     for i in provenance.get("inputs", [])], caption="Inputs.")
    r.add_all_values(dict(assessment))
    return r.render()


def write_response_report(case: Case, assessment: Mapping[str, Any], path: str | Path, *,
                          provenance: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`response_report` atomically; return the path."""
    return atomic_write_text(path, response_report(case, assessment, provenance=provenance))
