"""The standardised imaging case-report form (CRF) of a response assessment.

:func:`build_crf` gathers, from a case and its :func:`~netdose.response.assess.assess_case`
result: patient, previous treatments, imaging procedures (date and modality per time point),
baseline and nadir dates, the target-lesion table (id, organ/location, size per time point,
density in HU, SUVmax), non-target and new lesions, PET reference values, and the
conclusions per criterion against baseline and against nadir, with the thresholds used.

Renderings: :func:`crf_json` (the form as JSON), :func:`crf_csv` (one long table, one value
per row) and :func:`crf_html` (a printable, self-contained page: inline CSS, ``@media
print``, no script, no network). Every text from the case is escaped (:func:`html.escape`).
The outputs are deterministic (no time stamps), so the same case gives the same bytes.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import netdose
from netdose.response.case import CRITERIA, Case

__all__ = ["build_crf", "crf_csv", "crf_html", "crf_json", "format_value"]

#: Key numbers shown in the conclusions table, per criterion: (field, label, unit).
_KEY_NUMBERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "RECIST1.1": (("sum_mm", "sum", "mm"), ("change_vs_baseline_pct", "vs baseline", "%"),
                  ("change_vs_nadir_pct", "vs nadir", "%"),
                  ("change_vs_nadir_mm", "vs nadir", "mm")),
    "Choi": (("sum_mm", "size", "mm"), ("change_vs_baseline_pct", "size vs baseline", "%"),
             ("change_vs_nadir_pct", "size vs nadir", "%"), ("density_hu", "density", "HU"),
             ("density_change_vs_baseline_pct", "density vs baseline", "%"),
             ("density_change_vs_nadir_pct", "density vs nadir", "%")),
    "iRECIST": (("sum_mm", "sum", "mm"), ("change_vs_nadir_pct", "vs nadir", "%"),
                ("sum_at_iupd_mm", "sum at iUPD", "mm"),
                ("new_lesion_target_sum_mm", "new-lesion target sum", "mm")),
    "PERCIST": (("sul_peak", "hottest SULpeak", "SUL"),
                ("change_vs_baseline_pct", "vs baseline", "%"),
                ("change_vs_baseline_sul", "vs baseline", "SUL"),
                ("change_vs_nadir_pct", "vs nadir", "%"),
                ("change_vs_nadir_sul", "vs nadir", "SUL"),
                ("reference_sul_mean", "reference SULmean", "SUL")),
}


def format_value(value: Any) -> str:
    """How a value appears on the form: numbers with at most 3 decimals and no trailing
    zeros (42, -34.62, 3.2), booleans as yes/no, null as an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


# =========================================================================== the form
def build_crf(case: Case, assessment: Mapping[str, Any]) -> dict[str, Any]:
    """The case-report form as JSON-ready data.

    Parameters
    ----------
    case : Case
        The validated case.
    assessment : dict
        ``assess_case(case)`` (any subset of criteria).
    """
    tps = case.timepoints
    dates = {tp.label: tp.date.isoformat() for tp in tps}
    criteria = [c for c in CRITERIA if c in assessment.get("criteria", [])]
    last = assessment["timepoints"][-1]
    nadirs: dict[str, Any] = {}
    for crit in criteria:
        block = last.get(crit, {})
        label = block.get("nadir_timepoint")
        nadirs[crit] = {"label": label, "date": dates.get(label) if label else None}
    targets = list(assessment["targets"])
    base = case.baseline

    def pet_value(tp_index: int, lesion_id: str, field: str) -> float | None:
        pet = tps[tp_index].pet
        le = pet.lesion(lesion_id) if pet is not None else None
        return getattr(le, field) if le is not None else None

    def lesion_rows(ids: Sequence[str]) -> list[dict[str, Any]]:
        rows = []
        for lid in ids:
            b = base.lesion(lid)
            assert b is not None
            per_tp = []
            for tp in tps:
                le = tp.lesion(lid)
                per_tp.append({
                    "label": tp.label,
                    "evaluated": le.evaluated if le is not None else None,
                    "size_mm": le.size_mm if le is not None else None,
                    "longest_diameter_mm": le.longest_diameter_mm if le is not None else None,
                    "short_axis_mm": le.short_axis_mm if le is not None else None,
                    "mean_hu": le.mean_hu if le is not None else None,
                    "suv_max": pet_value(tp.index, lid, "suv_max"),
                    "sul_peak": pet_value(tp.index, lid, "sul_peak"),
                })
            rows.append({"id": lid, "organ": b.organ, "location": b.location,
                         "measure": b.size_field, "timepoints": per_tp})
        return rows

    new_lesions = []
    for tp in tps[1:]:
        for n in tp.new_lesions:
            new_lesions.append({"label": tp.label, "id": n.id, "organ": n.organ,
                                "location": n.location, "size_mm": n.size_mm,
                                "unequivocal": n.unequivocal,
                                "new_baseline": n.id in tp.new_baseline_lesions})
        if tp.pet is not None:
            for pn in tp.pet.new_lesions:
                new_lesions.append({"label": tp.label, "id": pn.id, "organ": "PET",
                                    "location": None, "sul_peak": pn.sul_peak,
                                    "suv_max": pn.suv_max,
                                    "unequivocal": pn.typical_of_tumour,
                                    "new_baseline": pn.id in tp.new_baseline_lesions})
    ct_ids = {le.id for le in base.lesions}
    pet_only = []
    if base.pet is not None:
        for ple in base.pet.lesions:
            if ple.id in ct_ids:
                continue
            pet_only.append({"id": ple.id, "timepoints": [
                {"label": tp.label, "sul_peak": pet_value(tp.index, ple.id, "sul_peak"),
                 "suv_max": pet_value(tp.index, ple.id, "suv_max")} for tp in tps]})
    conclusions = []
    for entry in assessment["timepoints"]:
        row: dict[str, Any] = {"label": entry["label"], "date": entry["date"]}
        for crit in criteria:
            block = entry.get(crit, {})
            row[crit] = {
                "category": block.get("category"),
                "vs_baseline": block.get("vs_baseline"),
                "vs_nadir": block.get("vs_nadir"),
                "numbers": {field: block.get(field) for field, _, _ in _KEY_NUMBERS[crit]},
                "reason": block.get("reason"),
            }
        conclusions.append(row)
    return {
        "form": "imaging case-report form: tumour response",
        "software": f"netdose {netdose.__version__}",
        "patient": {"id": case.patient.id, "sex": case.patient.sex,
                    "weight_kg": case.patient.weight_kg, "height_cm": case.patient.height_cm},
        "comment": case.comment,
        "previous_treatments": [
            {"name": t.name, "start_date": t.start_date.isoformat() if t.start_date else None,
             "end_date": t.end_date.isoformat() if t.end_date else None, "notes": t.notes}
            for t in case.previous_treatments],
        "procedures": [
            {"label": tp.label, "date": tp.date.isoformat(), "modality": tp.modality,
             "modality_change": tp.modality_change,
             "new_baseline_lesions": list(tp.new_baseline_lesions),
             "non_target_status": tp.non_target_status, "comment": tp.comment}
            for tp in tps],
        "baseline": {"label": base.label, "date": base.date.isoformat()},
        "nadir": nadirs,
        "criteria": criteria,
        "target_selection": assessment.get("target_selection", {}).get("method"),
        "target_lesions": lesion_rows(targets),
        "non_target_lesions": lesion_rows(list(assessment["non_targets"])),
        "pet_only_lesions": pet_only,
        "new_lesions": new_lesions,
        "pet_reference": [
            {"label": tp.label,
             "liver_sul_mean": tp.pet.liver_sul_mean if tp.pet else None,
             "liver_sul_sd": tp.pet.liver_sul_sd if tp.pet else None,
             "blood_pool_sul_mean": tp.pet.blood_pool_sul_mean if tp.pet else None,
             "blood_pool_sul_sd": tp.pet.blood_pool_sul_sd if tp.pet else None}
            for tp in tps],
        "conclusions": conclusions,
        "constants": assessment.get("constants", {}),
    }


def crf_json(crf: Mapping[str, Any]) -> str:
    """The form as indented JSON text (ends with a newline)."""
    return json.dumps(crf, indent=2, ensure_ascii=False) + "\n"


# =========================================================================== CSV
def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_rows(crf: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str, str, Any]]:
    """(section, timepoint, lesion, criterion, field, value)."""
    for key, value in crf["patient"].items():
        yield "patient", "", "", "", key, value
    for i, t in enumerate(crf["previous_treatments"]):
        for key, value in t.items():
            yield "previous_treatment", "", "", "", f"{i + 1}.{key}", value
    for p in crf["procedures"]:
        for key in ("date", "modality", "modality_change", "non_target_status"):
            yield "procedure", p["label"], "", "", key, p[key]
    yield "reference", crf["baseline"]["label"], "", "", "baseline_date", crf["baseline"]["date"]
    for crit, n in crf["nadir"].items():
        yield "reference", n["label"] or "", "", crit, "nadir_date", n["date"]
    for section in ("target_lesions", "non_target_lesions"):
        for le in crf[section]:
            yield section[:-1], "", le["id"], "", "organ", le["organ"]
            yield section[:-1], "", le["id"], "", "location", le["location"]
            for tp in le["timepoints"]:
                for key in ("size_mm", "mean_hu", "suv_max", "sul_peak"):
                    yield section[:-1], tp["label"], le["id"], "", key, tp[key]
    for le in crf["pet_only_lesions"]:
        for tp in le["timepoints"]:
            for key in ("sul_peak", "suv_max"):
                yield "pet_only_lesion", tp["label"], le["id"], "", key, tp[key]
    for n in crf["new_lesions"]:
        for key, value in n.items():
            if key not in ("label", "id"):
                yield "new_lesion", n["label"], n["id"], "", key, value
    for r in crf["pet_reference"]:
        for key, value in r.items():
            if key != "label":
                yield "pet_reference", r["label"], "", "", key, value
    for row in crf["conclusions"]:
        for crit in crf["criteria"]:
            block = row[crit]
            for key in ("category", "vs_baseline", "vs_nadir"):
                yield "conclusion", row["label"], "", crit, key, block[key]
            for key, value in block["numbers"].items():
                yield "conclusion", row["label"], "", crit, key, value
            yield "conclusion", row["label"], "", crit, "reason", block["reason"]


def crf_csv(crf: Mapping[str, Any]) -> str:
    """The form as one long CSV table: section, timepoint, lesion, criterion, field, value."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", "timepoint", "lesion", "criterion", "field", "value"])
    for row in _csv_rows(crf):
        writer.writerow([*row[:5], _csv_value(row[5])])
    return buf.getvalue()


# =========================================================================== HTML
_CSS = """
body{font-family:Helvetica,Arial,sans-serif;font-size:10.5pt;color:#111;margin:1.5em auto;
max-width:1400px;padding:0 1em}
h1{font-size:16pt;margin:0 0 .2em}h2{font-size:12pt;margin:1.2em 0 .4em;border-bottom:1px solid
#888}
table{border-collapse:collapse;width:100%;margin:.3em 0}
th,td{border:1px solid #999;padding:2px 5px;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
table.lesions{font-size:9pt}
.cat{font-weight:bold}.muted{color:#555}.reason{font-size:9pt}
.sig td{height:2.2em}
@media print{body{margin:0;max-width:none;font-size:9pt}h2{break-after:avoid}
tr{break-inside:avoid}a{color:inherit;text-decoration:none}@page{size:A4 landscape;margin:12mm}}
"""


def _e(value: Any) -> str:
    return html.escape(format_value(value))


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None
           = None, raw: bool = False) -> str:
    numeric = numeric or [False] * len(head)
    out = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in head),
           "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for value, num in zip(row, numeric, strict=True):
            cell = value if raw and isinstance(value, _Raw) else _e(value)
            out.append(f'<td class="n">{cell}</td>' if num else f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _signed(field: str, value: Any) -> str:
    """Changes with an explicit sign (+12.5), other numbers as :func:`format_value`."""
    text = _e(value)
    if "change" in field and isinstance(value, (int, float)) and value > 0:
        return "+" + text
    return text


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def crf_html(crf: Mapping[str, Any]) -> str:
    """The form as a printable, self-contained HTML page."""
    p = crf["patient"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>CRF {html.escape(str(p['id']))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(crf['form'])}</h1>",
        (f'<p class="muted">{html.escape(crf["software"])}; criteria: '
         f"{html.escape(', '.join(crf['criteria']))}</p>"),
        "<h2>Patient</h2>",
        _table(["patient id", "sex", "weight (kg)", "height (cm)"],
               [[p["id"], p["sex"], p["weight_kg"], p["height_cm"]]],
               [False, False, True, True]),
    ]
    if crf.get("comment"):
        parts.append(f"<p>{html.escape(crf['comment'])}</p>")
    parts.append("<h2>Previous treatments</h2>")
    parts.append(_table(["treatment", "start", "end", "notes"],
                        [[t["name"], t["start_date"], t["end_date"], t["notes"]]
                         for t in crf["previous_treatments"]])
                 if crf["previous_treatments"] else "<p>none recorded</p>")
    parts.append("<h2>Imaging procedures</h2>")
    parts.append(_table(
        ["time point", "date", "modality", "modality change", "new baseline lesions",
         "non-target status (reader)", "comment"],
        [[r["label"], r["date"], r["modality"], r["modality_change"],
          ", ".join(r["new_baseline_lesions"]) or None, r["non_target_status"], r["comment"]]
         for r in crf["procedures"]]))
    parts.append("<h2>Reference dates</h2>")
    ref_rows = [["baseline (all criteria)", crf["baseline"]["label"], crf["baseline"]["date"]]]
    for crit, n in crf["nadir"].items():
        ref_rows.append([f"nadir, {crit} (reference of the last assessment)", n["label"],
                         n["date"]])
    parts.append(_table(["reference", "time point", "date"], ref_rows))

    labels = [r["label"] for r in crf["procedures"]]

    def lesion_table(rows: Sequence[Mapping[str, Any]]) -> str:
        head = ["lesion", "organ", "location", "measure"]
        for lab in labels:
            head += [f"{lab}: size (mm)", f"{lab}: HU", f"{lab}: SULpeak", f"{lab}: SUVmax"]
        body = []
        num = [False] * 4 + [True] * (4 * len(labels))
        for le in rows:
            cells: list[Any] = [le["id"], le["organ"], le["location"],
                                "short axis" if le["measure"] == "short_axis_mm"
                                else "longest diameter"]
            for tp in le["timepoints"]:
                size = _Raw("n.e.") if tp["evaluated"] is False else tp["size_mm"]
                cells += [size, tp["mean_hu"], tp["sul_peak"], tp["suv_max"]]
            body.append(cells)
        return _table(head, body, num, raw=True).replace("<table>", '<table class="lesions">', 1)

    parts.append(f"<h2>Target lesions ({html.escape(str(crf['target_selection']))} "
                 "selection, RECIST 1.1)</h2>")
    parts.append(lesion_table(crf["target_lesions"]) if crf["target_lesions"]
                 else "<p>no target lesions</p>")
    parts.append("<h2>Non-target lesions</h2>")
    parts.append(lesion_table(crf["non_target_lesions"]) if crf["non_target_lesions"]
                 else "<p>none</p>")
    if crf["pet_only_lesions"]:
        parts.append("<h2>Lesions seen on PET only</h2>")
        head = ["lesion"] + [f"{lab}: {q}" for lab in labels for q in ("SULpeak", "SUVmax")]
        parts.append(_table(head, [[le["id"]] + [v for tp in le["timepoints"]
                                                 for v in (tp["sul_peak"], tp["suv_max"])]
                                   for le in crf["pet_only_lesions"]],
                            [False] + [True] * (2 * len(labels))))
    parts.append("<h2>New lesions</h2>")
    parts.append(_table(
        ["time point", "lesion", "organ", "location", "size (mm)", "SULpeak", "SUVmax",
         "unequivocal / typical of tumour", "new baseline lesion (modality change)"],
        [[n["label"], n["id"], n["organ"], n["location"], n.get("size_mm"), n.get("sul_peak"),
          n.get("suv_max"), n["unequivocal"], n["new_baseline"]] for n in crf["new_lesions"]],
        [False, False, False, False, True, True, True, False, False])
        if crf["new_lesions"] else "<p>none</p>")
    parts.append("<h2>PET reference regions</h2>")
    parts.append(_table(
        ["time point", "liver SULmean", "liver SD", "blood pool SULmean", "blood pool SD"],
        [[r["label"], r["liver_sul_mean"], r["liver_sul_sd"], r["blood_pool_sul_mean"],
          r["blood_pool_sul_sd"]] for r in crf["pet_reference"]],
        [False, True, True, True, True]))
    parts.append("<h2>Conclusions</h2>")
    rows = []
    for row in crf["conclusions"]:
        for crit in crf["criteria"]:
            b = row[crit]
            numbers = "; ".join(
                f"{html.escape(label)} {_signed(field, b['numbers'][field])} "
                f"{html.escape(unit)}"
                for field, label, unit in _KEY_NUMBERS[crit] if b["numbers"][field] is not None)
            rows.append([row["label"], row["date"], crit,
                         _Raw(f'<span class="cat">{_e(b["category"])}</span>'),
                         b["vs_baseline"], b["vs_nadir"], _Raw(numbers),
                         _Raw(f'<span class="reason">{_e(b["reason"])}</span>')])
    parts.append(_table(["time point", "date", "criterion", "category", "vs baseline",
                         "vs nadir", "numbers", "reason"], rows, raw=True))
    parts.append("<h2>Criteria constants</h2>")
    const_rows = []
    for crit, consts in crf["constants"].items():
        for key, value in consts.items():
            if key != "source":
                const_rows.append([crit, key, value])
        const_rows.append([crit, "source", consts.get("source")])
    parts.append(_table(["criterion", "constant", "value"], const_rows))
    parts.append("<h2>Signatures</h2>")
    parts.append('<table class="sig"><tr><th>reader (name, date)</th><td></td>'
                 "<th>physicist / physician (name, date)</th><td></td></tr></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
