"""The SIRT plan report: one self-contained HTML page from a :class:`PlanReport`.

Order of the page (a physicist reads the safety part first):

1. title with the patient and the status; **findings**: the blocking reasons (status
   "do not treat") or the review reasons, then warnings (other methods that would not treat,
   method warnings, extrahepatic warnings, LSF warnings), then what could not be checked and
   the notes;
2. prescription (every method: activity, vial activity, implied doses, status; the voxel
   method's constraints), the vial order;
3. lung shunt (SPECT and planar) and lung dose;
4. compartments and predicted-dose metrics (mean, D50, D70, D90, V100, V120) with figures:
   axial and coronal slices of the predicted dose over the MAA with the compartment contours
   (through the dose maximum in the perfused volume), an axial slice through every blocking or
   warning extrahepatic finding, a coronal MIP of the MAA with the liver and lung contours, and
   the DVHs with the constraint lines;
5. extrahepatic findings and organ uptake;
6. constants (value, unit, source), provenance (inputs with SHA-256, software), and the
   appendix of every number of the JSON report (``plan.json``), written by
   :func:`netdose.report.html.format_number`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from netdose.errors import InputError
from netdose.image import Image
from netdose.io.atomic import atomic_write_text
from netdose.provenance import sha256_of, software_versions
from netdose.report import figures
from netdose.report.html import (
    Cell,
    Report,
    flatten_values,
    format_number,
    format_value,
    unit_from_key,
)
from netdose.sirt.plan import (
    LIVER,
    NORMAL,
    PERFUSED,
    TUMOUR,
    PlanInputs,
    PlanReport,
    PlanSpec,
)

__all__ = ["PlanImages", "plan_images", "sirt_plan_report", "write_sirt_plan_report"]

#: At most this many extrahepatic findings get their own slice figure.
MAX_FINDING_FIGURES = 4
#: Margin (mm) around the masks and the coloured dose shown on the image panels.
CROP_MARGIN_MM = 30.0
#: At most this many contours on a slice (compartments first, then organs).
MAX_CONTOURS = 8
_STATUS_SEVERITY = {"treat": "ok", "review": "warning", "do not treat": "block"}
_COLUMN_LABELS = {"volume_ml": "volume", "mass_kg": "mass", "n_voxels": "voxels"}
_DOSE_METRIC = re.compile(r"^(mean|min|max|median|D\d+(\.\d+)?(cc)?)$")
_VOLUME_METRIC = re.compile(r"^V\d+(\.\d+)?$")


@dataclasses.dataclass(frozen=True)
class PlanImages:
    """The images a plan report draws.

    Attributes
    ----------
    maa : Image
        The MAA SPECT as the plan used it (negative voxels clipped when the plan says so).
    contours : dict of str to Image
        Boolean masks on the MAA grid drawn as contours on slices, in drawing order
        (liver, perfused, tumour, lungs, other organs).
    mip_contours : dict of str to Image
        Masks drawn on the MIP (liver and lungs).
    perfused : Image
        The perfused (treated) volume, where the slices are centred.
    """

    maa: Image
    contours: dict[str, Image]
    mip_contours: dict[str, Image]
    perfused: Image


def plan_images(spec: PlanSpec, inputs: PlanInputs | None = None) -> PlanImages:
    """Read the MAA and build the compartment masks of a plan, as :func:`run_plan` does.

    Give ``inputs`` (``PlanReport.inputs``) to avoid reading them again.
    """
    from netdose.sirt.plan import load_plan_inputs

    inp = inputs if inputs is not None else load_plan_inputs(spec)
    comps = inp.compartments
    contours: dict[str, Image] = {LIVER: comps[LIVER]}
    if not np.array_equal(comps[PERFUSED].array, comps[LIVER].array):
        contours[PERFUSED] = comps[PERFUSED]
    if TUMOUR in comps:
        contours[TUMOUR] = comps[TUMOUR]
    lung_names = {m.name for m in inp.lung_parts}
    lungs = None
    if inp.lung_parts:
        lungs = inp.maa.with_array(np.any([m.mask.array for m in inp.lung_parts], axis=0))
        contours["lungs"] = lungs
    for name, nm in inp.organs.items():
        if name in lung_names or len(contours) >= MAX_CONTOURS:
            continue
        contours[name] = nm.mask
    mip = {LIVER: comps[LIVER]}
    if lungs is not None:
        mip["lungs"] = lungs
    return PlanImages(inp.maa, contours, mip, comps[PERFUSED])


# =========================================================================== helpers
def _get(d: Mapping[str, Any] | None, *keys: str) -> Any:
    cur: Any = d
    for k in keys:
        if not isinstance(cur, Mapping) or k not in cur:
            return None
        cur = cur[k]
    return cur


def _pct(fraction: Any) -> Any:
    return None if fraction is None else 100.0 * float(fraction)


def _unit_of(summary_units: Mapping[str, str]) -> Any:
    """Unit of a dotted path of the plan JSON: constants' own units, dose/volume metrics,
    then the unit in the key name."""
    def unit(path: str) -> str:
        if path in summary_units:
            return summary_units[path]
        parts = path.split(".")
        if any(p in ("metrics", "metrics_at_activity") for p in parts):
            last = parts[-1]
            if _DOSE_METRIC.match(last):
                return "Gy"
            if _VOLUME_METRIC.match(last):
                return "%"
        return unit_from_key(path)
    return unit


def _constant_units(data: Mapping[str, Any]) -> dict[str, str]:
    """Paths ``...constants.NAME.value[.i...]`` -> the ``unit`` given next to the value."""
    flat = dict(flatten_values(data))
    out = {}
    for path in flat:
        m = re.match(r"^(.*\.value)(\.\d+)*$", path) or re.match(r"^(value)(\.\d+)*$", path)
        if m:
            unit = flat.get(m.group(1)[: -len("value")] + "unit")
            if isinstance(unit, str):
                out[path] = unit
    return out


def _findings(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    status = s["status"]
    out: list[tuple[str, str]] = []
    reasons = list(s.get("reasons") or [])
    if status == "do not treat":
        out.extend(("block", f"Do not treat \u2014 {r}") for r in reasons)
    elif status == "review":
        out.extend(("warning", f"Review before treatment \u2014 {r}") for r in reasons)
    prescribed = s.get("prescribed_method")
    methods = s.get("methods") or {}
    for name, m in methods.items():
        if name != prescribed and m.get("status") == "do not treat":
            why = "; ".join(m.get("reasons") or []) or "see the method table"
            text = f"{name} (computed for comparison, not prescribed) would not treat: {why}"
            out.append(("warning", text))
    seen: dict[str, list[str]] = {}
    for name, m in methods.items():
        for w in m.get("warnings") or []:
            seen.setdefault(str(w), []).append(name)
    out.extend(("warning", f"{w} ({', '.join(names)})") for w, names in seen.items())
    eh = s.get("extrahepatic") or {}
    for f in eh.get("findings") or []:
        if f.get("severity") in ("warning", "info"):
            out.append((f["severity"], f"Extrahepatic: {f.get('message')}"))
    out.extend(("warning", f"Extrahepatic check: {w}") for w in eh.get("warnings") or [])
    for key in ("spect", "planar"):
        for w in _get(s, "lsf", key, "warnings") or []:
            out.append(("warning", f"LSF ({key}): {w}"))
    shown = {r.lower() for r in reasons}
    for n in s.get("not_checked") or []:
        if f"not checked: {n}".lower() not in shown:
            out.append(("info", f"Not checked: {n}"))
    out.extend(("info", f"Note: {n}") for n in s.get("notes") or [])
    return out


def _method_rows(s: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    prescribed = s.get("prescribed_method")
    for name, m in (s.get("methods") or {}).items():
        at = m.get("metrics_at_activity") or {}
        perfused = m.get("perfused_dose_gy", _get(at, PERFUSED, "mean"))
        normal = m.get("perfused_normal_dose_gy", _get(at, NORMAL, "mean"))
        tumour = m.get("tumour_dose_gy", _get(at, TUMOUR, "mean"))
        binding = m.get("binding_constraint")
        if binding is None:
            binding = _get(m, "constraints", "binding")
        status = str(m.get("status"))
        rows.append([
            name + (" (prescribed)" if name == prescribed else ""),
            Cell(status, _STATUS_SEVERITY.get(status)),
            m.get("activity_gbq"), m.get("vial_activity_gbq"), m.get("residual_fraction"),
            perfused, normal, tumour, m.get("lung_dose_gy"), m.get("cumulative_lung_dose_gy"),
            binding, "; ".join(m.get("reasons") or []) or None,
        ])
    return rows


def _constraint_label(structure: str, metric: str, op: str, value_gy: float) -> str:
    sign = "\u2264" if op == "<=" else "\u2265"
    return f"{structure} {metric} {sign} {format_number(float(value_gy))} Gy"


def _reference_lines(spec: PlanSpec) -> list[tuple[float, str]]:
    refs = [(c.value_gy, _constraint_label(c.structure, c.metric, c.op, c.value_gy))
            for c in spec.constraints]
    goals = []
    if "partition" in spec.methods:
        goals += [("partition tumour goal", spec.partition_tumour_dose_gy),
                  ("partition normal goal", spec.partition_normal_dose_gy)]
    if "mird" in spec.methods:
        goals.append(("MIRD perfused target", spec.mird_target_dose_gy))
    refs += [(v, f"{label} {format_number(v)} Gy") for label, v in goals if v is not None]
    return refs


def _provenance_from_spec(spec: PlanSpec) -> dict[str, Any]:
    return {
        "software": software_versions(),
        "inputs": [{"role": role, "path": str(path), "sha256": sha256_of(path)}
                   for path, role in spec.input_paths],
    }


# =========================================================================== sections
def _prescription(r: Report, s: Mapping[str, Any], spec: PlanSpec) -> None:
    r.add_section("Prescription")
    r.add_key_values([
        ("device", s.get("device")),
        ("prescribed method", s.get("prescribed_method")),
        ("prescribed activity", s.get("activity_gbq"), "GBq"),
        ("tumour-to-normal ratio (MAA)", s.get("tumour_to_normal_ratio")),
        ("patient height", _get(s, "patient", "height_cm"), "cm"),
        ("patient weight", _get(s, "patient", "weight_kg"), "kg"),
        ("previous lung doses", list(spec.previous_lung_doses_gy) or None, "Gy"),
    ])
    r.add_table(
        ["method", "status", "activity", "vial activity", "residual fraction",
         "perfused mean dose", "perfused normal mean dose", "tumour mean dose", "lung dose",
         "cumulative lung dose", "binding", "reasons"],
        _method_rows(s),
        ["", "", "GBq", "GBq", "1", "Gy", "Gy", "Gy", "Gy", "Gy", "", ""],
        caption="Activity by each method and the doses it implies",
    )
    r.add_paragraph("BSA, MIRD and partition doses are compartment-model mean doses "
                    "(uniform uptake per compartment); the voxel method's are the means of the "
                    "predicted voxel dose at its activity. The first method is prescribed; the "
                    "others are shown for comparison.")
    bounds = _get(s, "methods", "voxel", "constraints", "bounds")
    if bounds:
        rows = []
        for b in bounds:
            c = b.get("constraint") or {}
            rows.append([c.get("structure"), c.get("metric"), c.get("op"), c.get("value_gy"),
                         b.get("dose_gy_per_gbq"), b.get("bound_gbq"), b.get("predicted_gy"),
                         Cell(b.get("met"), "ok" if b.get("met") else "block")])
        r.add_table(["structure", "metric", "op", "limit or goal", "dose per GBq",
                     "activity bound", "predicted", "met"], rows,
                    ["", "", "", "Gy", "Gy/GBq", "GBq", "Gy", ""],
                    caption="Voxel method: dose constraints at the planned activity")
    vial = s.get("vial_order")
    if vial:
        r.add_section("Vial order", level=3)
        r.add_key_values([
            ("vial activity at calibration", vial.get("vial_activity_at_calibration_gbq"),
             "GBq"),
            ("vial activity at injection", vial.get("vial_activity_at_injection_gbq"), "GBq"),
            ("prescribed (delivered) activity", vial.get("prescribed_gbq"), "GBq"),
            ("expected residual fraction", vial.get("expected_residual_fraction")),
            ("calibration to injection", vial.get("hours_calibration_to_injection"), "h"),
            ("decay factor calibration to injection",
             vial.get("decay_factor_calibration_to_injection")),
            ("nuclide", vial.get("nuclide")),
            ("half-life", vial.get("half_life_h"), "h"),
        ])


def _lung(r: Report, s: Mapping[str, Any]) -> None:
    r.add_section("Lung shunt and lung dose")
    lsf = s.get("lsf") or {}
    r.add_key_values([("LSF used", lsf.get("used_pct"), "%"), ("how", lsf.get("how"))])
    rows = []
    for key in ("spect", "planar"):
        res = lsf.get(key)
        if res:
            rows.append([key, res.get("lsf_pct"), _pct(res.get("lsf_spill_corrected")),
                         res.get("lung_truncated"), res.get("lung_visible_fraction"),
                         "; ".join(res.get("truncation") or []) or None,
                         "; ".join(res.get("warnings") or []) or None])
    if rows:
        r.add_table(["measurement", "LSF", "LSF spill-corrected", "lung truncated",
                     "lung visible fraction", "truncation", "warnings"], rows,
                    ["", "%", "%", "", "1", "", ""], caption="Lung shunt fraction")
    else:
        r.add_paragraph("No lung shunt measurement (no lung masks, no planar counts).",
                        severity="warning")
    lung = s.get("lung") or {}
    if lung.get("mean") is None:
        r.add_paragraph("Lung dose: " + str(lung.get("note") or "not computed."),
                        severity="warning")
    else:
        r.add_key_values([
            ("lung mean dose", lung.get("mean"), "Gy"),
            ("lung mass", lung.get("mass_kg"), "kg"),
            ("lung mass source", lung.get("mass_source")),
            ("model", lung.get("model")),
        ], caption="Lung dose at the planned activity")


def _compartments(r: Report, s: Mapping[str, Any]) -> None:
    comps = s.get("compartments") or {}
    masses = s.get("masses_kg") or {}
    rows = [[name, c.get("volume_ml"), masses.get(name)] for name, c in comps.items()]
    if rows:
        r.add_table(["compartment", "volume", "mass"], rows, ["", "mL", "kg"],
                    caption="Compartments on the MAA SPECT grid (mass as used by the "
                            "compartment methods)")


def _metrics_table(r: Report, pd: Mapping[str, Any]) -> None:
    metrics = pd.get("metrics") or {}
    if not metrics:
        return
    keys: list[str] = []
    for row in metrics.values():
        for k in row:
            if k not in keys and not isinstance(row[k], (str, dict, list)):
                keys.append(k)
    dose = [k for k in keys if _DOSE_METRIC.match(k)]
    vol = [k for k in keys if _VOLUME_METRIC.match(k)]
    rest = [k for k in keys if k not in dose and k not in vol]
    cols = dose + vol + rest
    units = ["Gy"] * len(dose) + ["%"] * len(vol) + [unit_from_key(k) for k in rest]
    rows = [[name] + [row.get(k) for k in cols] for name, row in metrics.items()]
    labels = [_COLUMN_LABELS.get(k, k) for k in cols]
    r.add_table(["compartment", *labels], rows, ["", *units],
                caption="Predicted dose per compartment (D: minimum dose to the hottest x % "
                        "of the volume; V: % of the volume receiving at least x Gy)")


def _dose_facts(r: Report, report: PlanReport) -> None:
    p = report.predicted
    if p is None:
        return
    r.add_key_values([
        ("calibration k = A(1 - LSF) / counts in the perfused volume", p.gbq_per_count,
         "GBq/count"),
        ("MAA counts in the perfused volume", p.counts_in_mask),
        ("activity in the whole scaled map", p.activity_in_grid_gbq, "GBq"),
        ("energy constant used", p.energy_constant_gy_kg_per_gbq, "Gy\u00b7kg/GBq"),
        ("kernel energy constant (DVK)", p.kernel_energy_constant_gy_kg_per_gbq,
         "Gy\u00b7kg/GBq"),
    ], caption="Dose calculation")


def _dose_figures(r: Report, report: PlanReport, spec: PlanSpec, images: PlanImages,
                  s: Mapping[str, Any]) -> None:
    maa = images.maa
    colours = {name: figures.PALETTE[n % len(figures.PALETTE)]
               for n, name in enumerate(images.contours)}
    if report.predicted is not None:
        dose = report.predicted.dose_gy
        arr = np.asarray(dose.array, dtype=np.float64)
        inside = np.where(images.perfused.array, arr, -np.inf)
        k, j, i = np.unravel_index(int(np.argmax(inside)), arr.shape)
        point = tuple(float(v) for v in maa.physical_points(np.array([i, j, k], dtype=float)))
        top = float(arr[k, j, i])
        for kind in ("axial", "coronal"):
            png = figures.slice_panel(maa, dose, images.contours, kind=kind,
                                      through_lps_mm=point, colours=colours,
                                      crop_margin_mm=CROP_MARGIN_MM,
                                      overlay_label="predicted dose (Gy)", overlay_max=top,
                                      title=f"{kind.capitalize()}: predicted Y-90 dose over the "
                                            "MAA SPECT")
            r.add_figure(png, f"{kind.capitalize()} slice through the maximum predicted dose in "
                              "the perfused volume: predicted Y-90 dose (colour, Gy; the scale "
                              f"ends at that maximum, {format_number(top)} Gy, and higher doses "
                              "show in its top colour; doses below "
                              f"{format_number(100 * figures.OVERLAY_MIN_FRACTION)} % of it are "
                              "not coloured) over the MAA SPECT (grey), with the compartment "
                              "contours.")
        findings = [f for f in _get(s, "extrahepatic", "findings") or []
                    if f.get("severity") in ("block", "warning") and f.get("peak_lps_mm")]
        for n, f in enumerate(findings[:MAX_FINDING_FIGURES], start=1):
            try:
                png = figures.slice_panel(maa, dose, images.contours, kind="axial",
                                          through_lps_mm=f["peak_lps_mm"], colours=colours,
                                          mark_lps_mm=f["peak_lps_mm"],
                                          crop_margin_mm=CROP_MARGIN_MM,
                                          overlay_label="predicted dose (Gy)",
                                          title=f"Extrahepatic finding {n}: "
                                                f"{f.get('location')}")
            except InputError:
                continue
            r.add_figure(png, f"Axial slice through the peak of extrahepatic finding {n}, "
                              f"'{f.get('location')}' ({f.get('severity')}): "
                              f"{format_value(f.get('volume_ml'))} mL focus, peak "
                              f"{format_value(f.get('peak_to_liver'))} x liver mean; predicted "
                              "Y-90 dose (colour scale to the maximum of the whole map) over the "
                              "MAA SPECT; circle: the finding's peak.")
    r.add_figure(figures.mip_panel(maa, images.mip_contours, "coronal",
                                   label="MAA SPECT (image units)", colours=colours,
                                   title="MAA SPECT, coronal MIP"),
                 "Coronal maximum-intensity projection of the whole MAA SPECT field of view "
                 "with the liver and lung contours (projected).")
    if report.dvhs:
        r.add_figure(figures.dvh_plot(report.dvhs, _reference_lines(spec),
                                      title="Predicted dose-volume histograms"),
                     "Cumulative DVHs of the predicted dose per compartment; dashed lines: the "
                     "plan's dose constraints and goals.")


def _extrahepatic(r: Report, s: Mapping[str, Any]) -> None:
    eh = s.get("extrahepatic") or {}
    r.add_section("Extrahepatic deposition")
    fs = eh.get("findings") or []
    if fs:
        rows = [[f.get("location"), f.get("role"), Cell(f.get("severity"), f.get("severity")),
                 f.get("rule"), f.get("volume_ml"), f.get("extent_ml"),
                 _pct(f.get("fraction_of_counts")), _pct(f.get("fraction_of_injected")),
                 f.get("peak_to_liver"), f.get("distance_to_liver_mm"), f.get("mean_dose_gy"),
                 f.get("max_dose_gy"), Cell(f.get("blocks"), "block" if f.get("blocks") else None)]
                for f in fs]
        r.add_table(["location", "role", "severity", "rule", "volume", "extent",
                     "fraction of counts", "fraction of injected", "peak / liver mean",
                     "distance to liver", "predicted mean dose", "predicted max dose", "blocks"],
                    rows, ["", "", "", "", "mL", "mL", "%", "%", "1", "mm", "Gy", "Gy", ""],
                    caption="Extrahepatic findings (most severe first)")
        r.add_list([f"{f.get('location')}: {f.get('message')}" for f in fs],
                   title="Findings in words")
    else:
        r.add_paragraph("No extrahepatic focus above the detection threshold.")
    uptake = eh.get("organ_uptake") or {}
    if uptake:
        r.add_table(["organ", "role", "volume", "counts", "fraction of counts",
                     "mean / liver mean", "max / liver mean"],
                    [[k, u.get("role"), u.get("volume_ml"), u.get("counts"),
                      _pct(u.get("fraction_of_counts")), u.get("mean_to_liver"),
                      u.get("max_to_liver")] for k, u in uptake.items()],
                    ["", "", "mL", "", "%", "1", "1"], caption="Uptake per organ mask")
    r.add_list(eh.get("assumptions") or [], title="Assumptions")
    consts = {k: v for k, v in (eh.get("constants") or {}).items()
              if not isinstance(v, Mapping)}
    if consts:
        r.add_table(["parameter", "value"], [[k, v] for k, v in consts.items()],
                    caption="Detection parameters (docs/physics.md)")


def _constants(r: Report, s: Mapping[str, Any]) -> None:
    consts = s.get("constants") or {}
    r.add_section("Constants")
    r.add_table(["constant", "value", "unit", "source"],
                [[k, c.get("value"), c.get("unit"), c.get("source")] for k, c in consts.items()],
                caption="Every constant of the plan, with its source")


def _provenance(r: Report, prov: Mapping[str, Any]) -> None:
    r.add_section("Provenance")
    inputs = prov.get("inputs") or []
    if inputs:
        r.add_table(["role", "path", "SHA-256"],
                    [[i.get("role"), i.get("path"), i.get("sha256")] for i in inputs],
                    caption="Inputs", css_class="mono")
    soft = prov.get("software") or {}
    if soft:
        r.add_key_values(list(soft.items()), caption="Software")
    if prov.get("command"):
        r.add_key_values([("command", prov.get("command"))] +
                         [(f"option {k}", v) for k, v in (prov.get("options") or {}).items()])
    r.add_list(prov.get("warnings") or [], title="Warnings raised during the run")


# =========================================================================== public
def sirt_plan_report(report: PlanReport, spec: PlanSpec, *,
                     provenance: Mapping[str, Any] | None = None,
                     images: PlanImages | None = None) -> str:
    """The SIRT plan report as one self-contained HTML page.

    Parameters
    ----------
    report : PlanReport
        From :func:`netdose.sirt.plan.run_plan`.
    spec : PlanSpec
        The plan it was run from (:func:`netdose.sirt.plan.load_plan`).
    provenance : mapping, optional
        The run's provenance block (``Provenance.to_dict()``, as in ``plan.json``); it is
        shown and its numbers join the appendix. Default: the inputs of ``spec`` with their
        SHA-256 and the software versions.
    images : PlanImages, optional
        The MAA and masks; default :func:`plan_images` (re-reads the inputs).

    Returns
    -------
    str
        HTML (UTF-8 text): no script, no external reference.
    """
    from netdose import __version__

    s = report.summary
    images = images if images is not None else plan_images(spec, report.inputs)
    prov = dict(provenance) if provenance is not None else _provenance_from_spec(spec)
    pid = _get(s, "patient", "id") or spec.patient_id
    status = str(s.get("status"))
    activity = s.get("activity_gbq")
    act = f"{format_number(activity)} GBq" if activity is not None else "no activity"
    r = Report(
        f"SIRT plan \u2014 {pid} \u2014 {status.upper()}",
        f"Status: {status.upper()} \u00b7 {s.get('device')} microspheres \u00b7 prescribed "
        f"method {s.get('prescribed_method')} \u00b7 {act} \u00b7 plan file {spec.file.name}",
        footer=f"netdose {__version__} \u00b7 SIRT plan report ({s.get('format')} version "
               f"{s.get('version')}) \u00b7 numbers with 6 significant digits; the JSON report "
               "(plan.json) holds them in full.",
    )
    if status == "treat":
        r.set_status("ok", "Treat \u2014 " + "; ".join(s.get("reasons") or
                                                       ["every check passed"]))
    r.add_findings(_findings(s))
    _prescription(r, s, spec)
    _lung(r, s)
    r.add_section("Predicted dose")
    pd = s.get("predicted_dose")
    if pd:
        r.add_key_values([("dose method", pd.get("method")), ("density", pd.get("density")),
                          ("at activity", pd.get("activity_gbq"), "GBq")])
        _metrics_table(r, pd)
        _dose_facts(r, report)
    else:
        r.add_paragraph("No predicted dose: no activity was prescribed.", severity="warning")
    _compartments(r, s)
    _dose_figures(r, report, spec, images, s)
    _extrahepatic(r, s)
    _constants(r, s)
    _provenance(r, prov)
    data = dict(s)
    if provenance is not None:
        data["provenance"] = dict(provenance)
    r.add_all_values(data, unit_of=_unit_of(_constant_units(data)),
                     note="Every number of the JSON report (plan.json), by its key path, with 6 "
                          "significant digits; text values are in the sections above.")
    return r.render()


def write_sirt_plan_report(report: PlanReport, spec: PlanSpec, path: str | os.PathLike[str], *,
                           provenance: Mapping[str, Any] | None = None,
                           images: PlanImages | None = None) -> Path:
    """Write :func:`sirt_plan_report` to ``path`` atomically; return the path."""
    return atomic_write_text(path, sirt_plan_report(report, spec, provenance=provenance,
                                                    images=images))
