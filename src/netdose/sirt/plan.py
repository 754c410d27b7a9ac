"""The SIRT plan: a documented TOML plan file in, a complete work-up and plan report out.

:func:`load_plan` reads and validates the plan file (format in docs/sirt-plan.md; examples
in docs/examples). :func:`run_plan` runs the chain a physicist runs before a SIRT:

1. MAA SPECT (+ optional CT) and masks onto the SPECT grid; compartments (whole liver,
   perfused/treated volume, tumours, perfused normal liver, lungs, other organs);
2. lung shunt fraction from SPECT/CT masks and/or planar counts (both reported);
3. the activity by the chosen method(s) (resin BSA, MIRD single compartment, partition,
   voxel-based constraints), with device rules (resin LSF table) and lung limits;
4. predicted Y-90 dose at the prescribed activity (LDM or DVK), DVH metrics per compartment;
5. extrahepatic/GI deposition check with predicted Y-90 doses;
6. optional vial order (decay from calibration to injection, expected residual).

The report says what could not be checked (no lung mask, no CT, no planar counts, organs
without masks) and its status is ``"treat"``, ``"review"`` (computed, but a safety check
could not be made) or ``"do not treat"`` (a limit or a finding blocks).

:func:`run_check` runs steps 1, 2, 5 (and the lung dose at a given activity) only;
:func:`load_post` / :func:`run_post` do the post-treatment dosimetry from Y-90 PET or
quantitative bremsstrahlung SPECT and compare with a plan report.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from netdose.dosimetry.density import density_from_ct
from netdose.dosimetry.dvh import DVH, dvh
from netdose.errors import InputError
from netdose.image import Image, resample
from netdose.io import read_image
from netdose.io.atomic import atomic_write_text
from netdose.io.masks import MaskSet, NamedMask
from netdose.io.rtdose import write_rtdose
from netdose.io.runfiles import (
    MaskFile,
    dvh_csv,
    jsonable,
    load_mask_files,
    mask_files,
    union,
    write_result_json,
)
from netdose.io.tomlfile import Table, load_toml
from netdose.io.volume import write_volume
from netdose.sirt import prescription as rx
from netdose.sirt.constants import SirtConstants
from netdose.sirt.decay import vial_activity_to_order
from netdose.sirt.extrahepatic import check_extrahepatic
from netdose.sirt.predict import (
    DEFAULT_METRICS,
    PostTreatmentDose,
    PredictedDose,
    compare_with_plan,
    compartment_metrics,
    post_treatment_dose,
    predicted_dose,
    tumour_to_normal_ratio,
    voxel_plan,
)
from netdose.sirt.shunt import LsfResult, lsf_planar, lsf_spect

__all__ = [
    "PLAN_FORMAT",
    "PlanInputs",
    "PlanReport",
    "PlanSpec",
    "PostReport",
    "PostSpec",
    "load_plan",
    "load_plan_inputs",
    "load_post",
    "run_check",
    "run_plan",
    "run_post",
    "write_plan_outputs",
    "write_post_outputs",
]

PLAN_FORMAT = "netdose-sirt-plan"
POST_FORMAT = "netdose-sirt-post"
FORMAT_VERSION = 1
METHODS = ("bsa", "mird", "partition", "voxel")
LSF_CHOICES = ("spect", "planar", "max", "assume-zero")
#: Names of the compartments in the report (keys of the metrics, DVH CSV, constraints).
PERFUSED, TUMOUR, NORMAL, LIVER, LUNG = "perfused", "tumour", "normal", "liver", "lung"
Status = Literal["treat", "review", "do not treat"]
_DENSITY_CT_NOTE = "CT HU -> density by Schneider et al. 2000 (netdose.dosimetry.density)"


# =========================================================================== plan spec
@dataclasses.dataclass(frozen=True)
class PlanSpec:
    """A validated SIRT plan file (see docs/sirt-plan.md for every key).

    Attributes mirror the file; paths are absolute; ``constants`` holds the SirtConstants
    built from the ``[constants]`` table.
    """

    file: Path
    patient_id: str
    height_cm: float | None
    weight_kg: float | None
    maa_path: Path
    maa_series_uid: str | None
    negative_voxels: Literal["refuse", "clip"]
    maa_injected_mbq: float | None
    ct_path: Path | None
    ct_resample: bool
    mask_files: tuple[MaskFile, ...]
    liver: tuple[str, ...]
    perfused: tuple[str, ...] | None
    tumours: tuple[str, ...]
    normal: tuple[str, ...] | None
    lungs: tuple[str, ...]
    organs: tuple[str, ...] | None
    planar_counts: dict[str, float] | None
    device: str
    methods: tuple[str, ...]
    lsf_source: str | float
    previous_lung_doses_gy: tuple[float, ...]
    residual_fraction: float | None
    lung_mass: Literal["standard", "ct"] | float
    bsa_tumour_fraction: float | None
    mird_target_dose_gy: float | None
    partition_tumour_dose_gy: float | None
    partition_normal_dose_gy: float | None
    constraints: tuple[rx.Constraint, ...]
    dose_method: Literal["ldm", "dvk"]
    dose_density: Literal["constant", "ct"]
    constants: SirtConstants
    vial: dict[str, Any] | None
    options: dict[str, Any]

    @property
    def input_paths(self) -> list[tuple[Path, str]]:
        """(path, role) of every input file, for the provenance block."""
        out = [(self.file, "plan"), (self.maa_path, "maa_spect")]
        if self.ct_path is not None:
            out.append((self.ct_path, "ct"))
        for mf in self.mask_files:
            out.append((mf.path, "masks"))
            if isinstance(mf.labels, Path):
                out.append((mf.labels, "mask_labels"))
        return out


def _names(table: Table, key: str, *, required: bool = False) -> tuple[str, ...] | None:
    values = table.strings(key, required=required)
    return None if values is None else tuple(values)


def _mask_files(root: Table) -> tuple[MaskFile, ...]:
    return tuple(mf for mf, _ in mask_files(root))


def _constants(root: Table) -> SirtConstants:
    t = root.table("constants")
    if t is None:
        return SirtConstants()
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(SirtConstants):
        if f.name in t.data:
            if f.name == "resin_lsf_reduction_table":
                raw = t.any(f.name)
                kwargs[f.name] = tuple(tuple(row) for row in raw) if isinstance(raw, list) else raw
            else:
                kwargs[f.name] = t.number(f.name, unit=f.metadata["unit"])
    t.finish()
    try:
        return SirtConstants(**kwargs)
    except InputError as exc:
        raise root.error("constants", str(exc)) from None


def _header(root: Table, fmt: str) -> None:
    got = root.string("format", required=True)
    if got != fmt:
        raise root.error("format", f"is {got!r}; this command reads {fmt!r} files.")
    version = root.number("version", unit="", required=True)
    if version != FORMAT_VERSION:
        raise root.error("version", f"{version:g} is not supported; netdose reads version "
                         f"{FORMAT_VERSION}.")


def _ct_table(root: Table) -> tuple[Path | None, bool]:
    """``[ct] image`` and ``resample`` (None, False without a CT)."""
    ct_t = root.table("ct")
    if ct_t is None:
        return None, False
    path = ct_t.path("image", required=True)
    resample_ = ct_t.boolean("resample", default=False)
    ct_t.finish()
    return path, resample_


def _maa(root: Table) -> tuple[Path, str | None, Any, float | None]:
    t = root.table("maa", required=True)
    assert t is not None
    path = t.path("image", required=True)
    series = t.string("series_uid")
    neg = t.string("negative_voxels", default="refuse", choices=("refuse", "clip"))
    injected = t.number("injected_mbq", unit="MBq", minimum=0.0, strict_minimum=True)
    t.finish()
    assert path is not None
    return path, series, neg, injected


def load_plan(path: str | Path) -> PlanSpec:
    """Read and validate a SIRT plan file (TOML).

    Raises
    ------
    InputError
        Naming the file, the key and the fix, for anything missing, misspelt or out of range.
    """
    root = load_toml(path, kind="SIRT plan")
    _header(root, PLAN_FORMAT)
    patient = root.table("patient", required=True)
    assert patient is not None
    patient_id = patient.string("id", required=True)
    height = patient.number("height_cm", unit="cm", minimum=50.0, maximum=250.0)
    weight = patient.number("weight_kg", unit="kg", minimum=20.0, maximum=300.0)
    patient.finish()
    maa_path, series, neg, injected = _maa(root)

    ct_path, ct_resample = _ct_table(root)

    mask_files = _mask_files(root)
    comp = root.table("compartments", required=True)
    assert comp is not None
    liver = _names(comp, "liver", required=True)
    perfused = _names(comp, "perfused")
    tumours = _names(comp, "tumours") or ()
    normal = _names(comp, "normal")
    lungs = _names(comp, "lungs") or ()
    organs = _names(comp, "organs")
    comp.finish()
    assert liver is not None

    planar_t = root.table("planar")
    planar = None
    if planar_t is not None:
        planar = {k: planar_t.number(k, unit="counts", required=True, minimum=0.0)
                  for k in ("lung_anterior", "lung_posterior", "liver_anterior",
                            "liver_posterior")}
        planar_t.finish()

    tr = root.table("treatment", required=True)
    assert tr is not None
    device = tr.string("device", required=True, choices=("resin", "glass"))
    raw_methods = tr.strings("method", required=True) or []
    methods = []
    for m in raw_methods:
        if m.lower() not in METHODS:
            raise tr.error("method", f"{m!r} is not one of {', '.join(METHODS)}.")
        methods.append(m.lower())
    if len(set(methods)) != len(methods):
        raise tr.error("method", "lists a method twice.")
    raw_lsf = tr.any("lsf")
    lsf_source: str | float
    if raw_lsf is None:
        raise tr.error("lsf", "is required: 'spect' (lung masks), 'planar' ([planar] counts), "
                       "'max' (the larger of both), a measured fraction such as 0.062, or "
                       "'assume-zero' (no lung information; lung dose then not checked).")
    if isinstance(raw_lsf, str):
        lsf_source = tr.string("lsf", choices=LSF_CHOICES) or ""
    else:
        lsf_source = tr.number("lsf", unit="(fraction)", minimum=0.0) or 0.0
        if lsf_source >= 1.0:
            raise tr.error("lsf", f"{lsf_source:g} is not a fraction in [0, 1); "
                           f"{lsf_source:g} % is {lsf_source / 100:g}.")
    previous = tuple(tr.numbers("previous_lung_doses_gy", unit="Gy", minimum=0.0) or ()) \
        if "previous_lung_doses_gy" in tr else None
    if previous is None:
        raise tr.error("previous_lung_doses_gy", "is required (the cumulative lung limit "
                       "depends on earlier SIRT treatments): give [] when there were none.")
    residual = tr.number("residual_fraction", unit="(fraction)", minimum=0.0, maximum=0.99)
    raw_lm = tr.any("lung_mass")
    lung_mass: Any
    if raw_lm is None:
        lung_mass = "standard"
    elif isinstance(raw_lm, str):
        lung_mass = tr.string("lung_mass", choices=("standard", "ct"))
    else:
        lung_mass = tr.number("lung_mass", unit="kg", minimum=0.1, maximum=5.0)
    bsa_f = mird_d = part_t = part_n = None
    bsa_t = tr.table("bsa")
    if bsa_t is not None:
        bsa_f = bsa_t.number("tumour_fraction", unit="(fraction)", minimum=0.0, maximum=1.0)
        bsa_t.finish()
    mird_t = tr.table("mird")
    if mird_t is not None:
        mird_d = mird_t.number("target_dose_gy", unit="Gy", required=True, minimum=0.0,
                               strict_minimum=True)
        mird_t.finish()
    part = tr.table("partition")
    if part is not None:
        part_t = part.number("tumour_dose_gy", unit="Gy", minimum=0.0, strict_minimum=True)
        part_n = part.number("normal_dose_gy", unit="Gy", minimum=0.0, strict_minimum=True)
        part.finish()
        if part_t is None and part_n is None:
            raise part.error(None, "give tumour_dose_gy, normal_dose_gy or both.")
    constraints = []
    for ct_ in tr.tables("constraints"):
        structure = ct_.string("structure", required=True)
        metric = ct_.string("metric", default="mean")
        op = ct_.string("op", required=True, choices=("<=", ">="))
        value = ct_.number("dose_gy", unit="Gy", required=True, minimum=0.0, strict_minimum=True)
        ct_.finish()
        try:
            constraints.append(rx.Constraint(structure or "", metric or "", op, value))  # type: ignore[arg-type]
        except InputError as exc:
            raise ct_.error(None, str(exc)) from None
    tr.finish()
    if "mird" in methods and mird_d is None:
        raise root.error("treatment.mird", "method 'mird' needs [treatment.mird] target_dose_gy.")
    if "partition" in methods and part is None:
        raise root.error("treatment.partition", "method 'partition' needs "
                         "[treatment.partition] tumour_dose_gy and/or normal_dose_gy.")
    if "partition" in methods and not tumours:
        raise root.error("compartments.tumours", "method 'partition' needs tumour masks.")
    if "voxel" in methods and not constraints:
        raise root.error("treatment.constraints", "method 'voxel' needs at least one "
                         "[[treatment.constraints]] (structure, metric, op, dose_gy).")
    if "bsa" in methods:
        if device != "resin":
            raise root.error("treatment.method", "the BSA method is for resin microspheres; "
                             "use 'mird' or 'partition' for glass.")
        if height is None or weight is None:
            raise root.error("patient", "method 'bsa' needs height_cm and weight_kg.")
    if lung_mass == "ct" and ct_path is None:
        raise root.error("treatment.lung_mass", "'ct' needs a [ct] image.")
    if lsf_source == "spect" and not lungs:
        raise root.error("treatment.lsf", "'spect' needs lung masks in compartments.lungs.")
    if lsf_source == "planar" and planar is None:
        raise root.error("treatment.lsf", "'planar' needs a [planar] table of counts.")
    if lsf_source == "max" and (planar is None or not lungs):
        raise root.error("treatment.lsf", "'max' needs both lung masks and [planar] counts.")

    dose_t = root.table("dose")
    dose_method, dose_density = "ldm", "constant"
    if dose_t is not None:
        dose_method = dose_t.string("method", default="ldm", choices=("ldm", "dvk")) or "ldm"
        dose_density = dose_t.string("density", default="constant",
                                     choices=("constant", "ct")) or "constant"
        dose_t.finish()
    if dose_density == "ct" and ct_path is None:
        raise root.error("dose.density", "'ct' needs a [ct] image.")
    constants = _constants(root)

    vial_t = root.table("vial")
    vial = None
    if vial_t is not None:
        vial = {
            "calibration_datetime": vial_t.datetime("calibration_datetime", required=True),
            "injection_datetime": vial_t.datetime("injection_datetime", required=True),
            "expected_residual_fraction": vial_t.number(
                "expected_residual_fraction", unit="(fraction)", minimum=0.0, maximum=0.99,
                default=residual if residual is not None else constants.residual_fraction_default,
            ),
        }
        vial_t.finish()

    check_t = root.table("checks")
    options: dict[str, Any] = {}
    if check_t is not None:
        for key, unit in (("focal_threshold", "(x liver mean)"), ("min_volume_ml", "mL"),
                          ("liver_margin_mm", "mm")):
            v = check_t.number(key, unit=unit, minimum=0.0, strict_minimum=True)
            if v is not None:
                options[key] = v
        check_t.finish()
    root.finish()
    return PlanSpec(
        file=Path(path).resolve(), patient_id=patient_id or "", height_cm=height,
        weight_kg=weight, maa_path=maa_path, maa_series_uid=series, negative_voxels=neg,
        maa_injected_mbq=injected, ct_path=ct_path, ct_resample=ct_resample,
        mask_files=mask_files, liver=liver, perfused=perfused, tumours=tumours, normal=normal,
        lungs=lungs, organs=organs, planar_counts=planar, device=device or "",
        methods=tuple(methods), lsf_source=lsf_source, previous_lung_doses_gy=previous,
        residual_fraction=residual, lung_mass=lung_mass, bsa_tumour_fraction=bsa_f,
        mird_target_dose_gy=mird_d, partition_tumour_dose_gy=part_t,
        partition_normal_dose_gy=part_n, constraints=tuple(constraints),
        dose_method=dose_method,  # type: ignore[arg-type]
        dose_density=dose_density,  # type: ignore[arg-type]
        constants=constants, vial=vial, options=options,
    )


# =========================================================================== images
@dataclasses.dataclass
class PlanInputs:
    """Images and masks of a plan on the MAA SPECT grid (see :func:`load_plan_inputs`)."""

    maa: Image
    ct: Image | None
    masks: MaskSet
    compartments: dict[str, Image]
    tumour_parts: dict[str, Image]
    organs: dict[str, NamedMask]
    lung_parts: list[NamedMask]
    notes: list[str]
    not_checked: list[str]


def _read_maa(spec_path: Path, series: str | None, negative: str, notes: list[str],
              what: str = "MAA SPECT") -> Image:
    img = read_image(spec_path, series_uid=series)
    img.require_finite(f"{what} {spec_path}")
    arr = np.asarray(img.array, dtype=np.float32)
    neg = arr < 0
    if neg.any():
        n = int(neg.sum())
        neg_sum = float(-arr[neg].sum())
        pos_sum = float(arr[~neg].sum())
        if negative == "refuse":
            raise InputError(
                f"{spec_path}: the {what} has {n} negative voxel(s) (sum {neg_sum:.4g} against "
                f"{pos_sum:.4g} positive), as iterative reconstructions with some filters "
                "produce. netdose does not change counts silently: set negative_voxels = "
                "\"clip\" in the plan to set them to 0 (recorded in the report)."
            )
        arr = np.where(neg, 0.0, arr).astype(np.float32)
        notes.append(
            f"{n} negative voxel(s) of the {what} set to 0 (negative_voxels = \"clip\"); they "
            f"summed to {neg_sum:.4g}, {100 * neg_sum / max(pos_sum, 1e-300):.3f} % of the "
            "positive counts."
        )
    return img.with_array(arr)


def load_plan_inputs(spec: PlanSpec) -> PlanInputs:
    """The MAA (and CT) and the masks of a plan on the SPECT grid, with its compartments."""
    notes: list[str] = []
    not_checked: list[str] = []
    maa = _read_maa(spec.maa_path, spec.maa_series_uid, spec.negative_voxels, notes)
    ct = None
    if spec.ct_path is not None:
        ct = read_image(spec.ct_path)
        if not ct.same_grid(maa):
            if not spec.ct_resample:
                raise InputError(
                    f"{spec.ct_path}: the CT grid ({ct.describe_grid()}) is not the MAA SPECT "
                    f"grid ({maa.describe_grid()}). Set resample = true in [ct] to resample it "
                    "(linear) onto the SPECT grid, or give a CT on the SPECT grid."
                )
            ct = resample(ct, maa, "linear", fill_value=-1000.0)
            notes.append("CT resampled (linear, air outside) onto the MAA SPECT grid.")
    else:
        not_checked.append(
            "no CT: tissue density is the constant "
            f"{spec.constants.tissue_density_g_ml:g} g/mL and the lung mass is not from the "
            "patient's CT"
        )
    masks = load_mask_files(list(spec.mask_files), maa)
    where = f"{spec.file}: compartments"
    liver = union(masks, spec.liver, LIVER, f"{where}.liver")
    perfused = union(masks, spec.perfused, PERFUSED, f"{where}.perfused") if spec.perfused \
        else liver
    comps: dict[str, Image] = {LIVER: liver.mask, PERFUSED: perfused.mask}
    tumour_parts: dict[str, Image] = {}
    if spec.tumours:
        for name in spec.tumours:
            tumour_parts[name] = union(masks, [name], name, f"{where}.tumours").mask
        tum = np.any([m.array for m in tumour_parts.values()], axis=0)
        outside = tum & ~perfused.mask.array
        if outside.any():
            notes.append(
                f"{int(outside.sum())} tumour voxel(s) lie outside the perfused volume; the "
                "tumour compartment is restricted to the perfused volume."
            )
        comps[TUMOUR] = maa.with_array(tum & perfused.mask.array)
    if spec.normal:
        comps[NORMAL] = union(masks, spec.normal, NORMAL, f"{where}.normal").mask
    elif TUMOUR in comps:
        comps[NORMAL] = maa.with_array(perfused.mask.array & ~comps[TUMOUR].array)
        notes.append("perfused normal liver = perfused volume minus the tumour masks.")
    else:
        comps[NORMAL] = perfused.mask
        notes.append("no tumour masks: the perfused normal liver is the whole perfused volume.")
    for key, img in comps.items():
        if not img.array.any():
            raise InputError(f"{where}: the {key} compartment is empty on the MAA SPECT grid; "
                             "check the mask names and that the masks belong to this study.")
    lung_parts = [union(masks, [n], n, f"{where}.lungs") for n in spec.lungs]
    used = set(spec.liver) | set(spec.perfused or ()) | set(spec.tumours) | \
        set(spec.normal or ()) | set(spec.lungs)
    organ_names = spec.organs if spec.organs is not None else tuple(
        n for n in masks.names if n not in used)
    organs = {n: union(masks, [n], n, f"{where}.organs") for n in organ_names}
    for lp in lung_parts:
        organs.setdefault(lp.name, lp)
    return PlanInputs(maa, ct, masks, comps, tumour_parts, organs, lung_parts, notes, not_checked)


# =========================================================================== shunt
def _shunt(spec: PlanSpec, inp: PlanInputs) -> tuple[float, str, dict[str, Any], list[str]]:
    """(LSF used, how, {"spect": ..., "planar": ...}, not-checked notes)."""
    results: dict[str, Any] = {}
    not_checked: list[str] = []
    spect: LsfResult | None = None
    planar: LsfResult | None = None
    if inp.lung_parts:
        lung_in: Any = {m.name: m for m in inp.lung_parts}
        spect = lsf_spect(inp.maa, inp.compartments[LIVER], lung_in)
        results["spect"] = spect.summary()
    else:
        not_checked.append("no lung mask: the SPECT/CT lung shunt fraction could not be "
                           "measured and lung truncation by the field of view not checked")
    if spec.planar_counts is not None:
        planar = lsf_planar(**spec.planar_counts)
        results["planar"] = planar.summary()
    else:
        not_checked.append("no planar lung/liver counts: no planar LSF")
    src = spec.lsf_source
    if isinstance(src, float):
        return src, f"given in the plan file ({100 * src:.2f} %)", results, not_checked
    if src == "assume-zero":
        not_checked.append(
            "lung shunt fraction unknown (lsf = 'assume-zero'): activities are computed with "
            "LSF 0 and the lung dose is NOT checked; measure the LSF before treatment"
        )
        return 0.0, "assumed 0 (not measured)", results, not_checked
    values = {}
    if spect is not None and spect.lsf is not None:
        values["spect"] = spect.lsf
    if planar is not None and planar.lsf is not None:
        values["planar"] = planar.lsf
    if src == "max":
        key = max(values, key=lambda k: values[k])
        return values[key], f"the larger of SPECT and planar ({key})", results, not_checked
    if src not in values:
        raise InputError(f"{spec.file}: treatment.lsf = {src!r} but no {src} LSF could be "
                         "measured; see the other LSF options.")
    return values[src], f"{src} (measured)", results, not_checked


# =========================================================================== report
@dataclasses.dataclass(frozen=True)
class PlanReport:
    """Everything a SIRT plan run found and decided.

    Attributes
    ----------
    status : {"treat", "review", "do not treat"}
    reasons : tuple of str
        Why (blocking findings and limits first).
    activity_gbq : float or None
        The prescribed activity (the first method), GBq; None when no method was run.
    predicted : PredictedDose or None
        Predicted dose at ``activity_gbq``.
    dvhs : dict of str to DVH
        Per compartment of the predicted dose.
    summary : dict
        The JSON report (without provenance).
    """

    status: Status
    reasons: tuple[str, ...]
    activity_gbq: float | None
    predicted: PredictedDose | None
    dvhs: dict[str, DVH]
    summary: dict[str, Any]
    source_dicom: Path | None = None
    inputs: PlanInputs | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def blocks(self) -> bool:
        """True when the plan must not be delivered."""
        return self.status == "do not treat"


def _mass_kg(mask: Image, spec: PlanSpec, density: Image | None) -> float:
    if density is not None and spec.dose_density == "ct":
        return float(np.sum(density.array[mask.array], dtype=np.float64)
                     * mask.voxel_volume_ml / 1000.0)
    return float(mask.array.sum()) * mask.voxel_volume_ml * spec.constants.tissue_density_g_ml \
        / 1000.0


def _lung_mass(spec: PlanSpec, inp: PlanInputs, density: Image | None,
               not_checked: list[str]) -> tuple[float | None, str]:
    if isinstance(spec.lung_mass, float):
        return spec.lung_mass, "given in the plan file"
    if spec.lung_mass == "ct":
        if not inp.lung_parts:
            raise InputError(f"{spec.file}: treatment.lung_mass = 'ct' needs lung masks "
                             "(compartments.lungs).")
        assert density is not None
        lung = np.any([m.mask.array for m in inp.lung_parts], axis=0)
        m = float(np.sum(density.array[lung], dtype=np.float64) * inp.maa.voxel_volume_ml / 1e3)
        return m, f"from the CT: lung masks x CT density ({_DENSITY_CT_NOTE})"
    return None, f"standard {spec.constants.lung_mass_kg:g} kg (SirtConstants.lung_mass_kg)"


def _prescribe(method: str, spec: PlanSpec, inp: PlanInputs, lsf: float, masses: dict[str, float],
               tnr: float | None, lung_mass: float | None) -> dict[str, Any]:
    common = {"previous_lung_doses_gy": list(spec.previous_lung_doses_gy),
                  "residual_fraction": spec.residual_fraction, "lung_mass_kg": lung_mass,
                  "constants": spec.constants}
    if method == "bsa":
        f = spec.bsa_tumour_fraction
        how = "given in the plan file"
        if f is None:
            liver_ml = float(inp.compartments[LIVER].array.sum()) * inp.maa.voxel_volume_ml
            tum_ml = (float(inp.compartments[TUMOUR].array.sum()) * inp.maa.voxel_volume_ml
                      if TUMOUR in inp.compartments else 0.0)
            f = tum_ml / liver_ml
            how = "tumour volume / whole-liver volume from the masks"
        p = rx.resin_bsa(spec.height_cm or 0.0, spec.weight_kg or 0.0, f, lsf,
                         perfused_mass_kg=masses[PERFUSED],
                         tumour_mass_kg=masses.get(TUMOUR) if TUMOUR in masses else None,
                         tnr=tnr if TUMOUR in masses else None, **common)
        out = jsonable(p)
        out["tumour_fraction_source"] = how
        return out
    if method == "mird":
        p = rx.mird_single_compartment(spec.mird_target_dose_gy or 0.0, masses[PERFUSED], lsf,
                                       device=spec.device, **common)
        return jsonable(p)
    if method == "partition":
        p = rx.partition(tumour_dose_gy=spec.partition_tumour_dose_gy,
                         normal_dose_gy=spec.partition_normal_dose_gy,
                         tumour_mass_kg=masses[TUMOUR], normal_mass_kg=masses[NORMAL],
                         tnr=tnr or 0.0, lsf=lsf, device=spec.device, **common)
        return jsonable(p)
    raise AssertionError(method)  # pragma: no cover


def _voxel(spec: PlanSpec, inp: PlanInputs, lsf: float, lung_mass: float | None,
           ct: Image | None) -> dict[str, Any]:
    masks: dict[str, Image] = {**inp.compartments, **inp.tumour_parts}
    vp = voxel_plan(inp.maa, masks, PERFUSED, lsf, list(spec.constraints),
                    lung_mass_kg=lung_mass, previous_lung_doses_gy=list(spec.previous_lung_doses_gy),
                    method=spec.dose_method, constants=spec.constants, ct=ct)
    status, reasons = vp.status, list(vp.reasons)
    # Device rules the voxel method does not know: the resin LSF ceiling and lung limits.
    if spec.device == "resin" and lsf > spec.constants.resin_max_lsf:
        status = rx.DO_NOT_TREAT
        reasons.append(f"LSF {100 * lsf:.1f} % is above the {100 * spec.constants.resin_max_lsf:g} "
                       "% resin limit (SIR-Spheres instructions for use)")
    lung = rx.check_lung_limits(vp.lung_dose_gy, list(spec.previous_lung_doses_gy),
                                device=spec.device, constants=spec.constants)
    if lung.reasons:
        status = rx.DO_NOT_TREAT
        reasons.extend(lung.reasons)
    residual = (spec.residual_fraction if spec.residual_fraction is not None
                else spec.constants.residual_fraction_default)
    return {
        "method": "voxel",
        "device": spec.device,
        "status": status,
        "reasons": reasons,
        "activity_gbq": vp.activity_gbq if vp.plan.feasible else None,
        "evaluated_at_gbq": vp.activity_gbq,
        "vial_activity_gbq": vp.activity_gbq / (1.0 - residual),
        "residual_fraction": residual,
        "lsf": lsf,
        "lung_dose_gy": vp.lung_dose_gy,
        "cumulative_lung_dose_gy": vp.cumulative_lung_dose_gy,
        "lung_mass_kg": vp.lung_mass_kg,
        "dose_per_gbq": vp.dose_per_gbq,
        "constraints": jsonable(vp.plan),
        "metrics_at_activity": jsonable(vp.metrics),
        "warnings": list(vp.warnings),
    }


def _mask_summary(inp: PlanInputs) -> dict[str, Any]:
    v = inp.maa.voxel_volume_ml
    out = {k: {"volume_ml": float(m.array.sum()) * v} for k, m in inp.compartments.items()}
    for k, m in inp.tumour_parts.items():
        out[f"tumour part {k}"] = {"volume_ml": float(m.array.sum()) * v}
    return out


def _status(reasons_block: list[str], not_checked: list[str]) -> tuple[Status, list[str]]:
    if reasons_block:
        return "do not treat", reasons_block
    if not_checked:
        return "review", [f"not checked: {n}" for n in not_checked]
    return "treat", ["every check passed"]


def _safety_not_checked(not_checked: Sequence[str]) -> list[str]:
    """The not-checked items that leave a *safety* question open (status 'review')."""
    return [n for n in not_checked if n.startswith("lung shunt fraction unknown")]


def run_plan(spec: PlanSpec) -> PlanReport:
    """Run the whole SIRT work-up and plan (module docstring); compute, do not write."""
    inp = load_plan_inputs(spec)
    not_checked = list(inp.not_checked)
    lsf, lsf_how, lsf_results, nc = _shunt(spec, inp)
    not_checked.extend(nc)
    density = density_from_ct(inp.ct, name=str(spec.ct_path)) if inp.ct is not None else None
    dose_ct = inp.ct if spec.dose_density == "ct" else None
    masses = {k: _mass_kg(m, spec, density) for k, m in inp.compartments.items()}
    tnr = None
    if TUMOUR in inp.compartments:
        tnr = tumour_to_normal_ratio(inp.maa, inp.compartments[TUMOUR], inp.compartments[NORMAL])
    lung_mass, lung_mass_how = _lung_mass(spec, inp, density, not_checked)

    methods: dict[str, Any] = {}
    for m in spec.methods:
        if m == "voxel":
            methods[m] = _voxel(spec, inp, lsf, lung_mass, dose_ct)
        else:
            methods[m] = _prescribe(m, spec, inp, lsf, masses, tnr, lung_mass)
    if lsf_how.startswith("assumed"):
        for m in methods.values():
            for key in ("lung_dose_gy", "cumulative_lung_dose_gy"):
                if key in m:
                    m[key] = None
            m.setdefault("warnings", []).append("lung dose not checked: LSF unknown")
    chosen = methods[spec.methods[0]]
    activity = chosen.get("activity_gbq")
    at = activity if activity is not None else chosen.get("evaluated_at_gbq")
    block: list[str] = []
    if chosen["status"] == rx.DO_NOT_TREAT:
        block.extend(f"{spec.methods[0]}: {r}" for r in chosen["reasons"])

    predicted = None
    dvhs: dict[str, DVH] = {}
    metrics: dict[str, Any] = {}
    if at:
        predicted = predicted_dose(inp.maa, inp.compartments[PERFUSED], at, lsf,
                                   method=spec.dose_method, constants=spec.constants, ct=dose_ct)
        comp_masks = {**inp.compartments, **{f"tumour part {k}": v
                                             for k, v in inp.tumour_parts.items()}}
        metrics = compartment_metrics(predicted.dose_gy, comp_masks, metrics=DEFAULT_METRICS,
                                      density_g_ml=spec.constants.tissue_density_g_ml)
        for name, mask in comp_masks.items():
            dvhs[name] = dvh(predicted.dose_gy, mask, name=name,
                             density_g_cm3=spec.constants.tissue_density_g_ml)
    lung_dose = None
    if lsf_how.startswith("assumed"):
        metrics[LUNG] = {"mean": None, "note": "not checked: LSF unknown"}
    elif at:
        lm = lung_mass if lung_mass is not None else spec.constants.lung_mass_kg
        lung_dose = rx.lung_dose_gy(at, lsf, lm, spec.constants)
        metrics[LUNG] = {"mean": lung_dose, "mass_kg": lm, "mass_source": lung_mass_how,
                         "model": "D_lung = C · A · LSF / m_lung"}

    kwargs: dict[str, Any] = {}
    if predicted is not None:
        kwargs["y90_dose_gy"] = predicted.dose_gy
    if spec.maa_injected_mbq is not None:
        kwargs["injected_mbq"] = spec.maa_injected_mbq
    eh = check_extrahepatic(inp.maa, inp.compartments[LIVER], dict(inp.organs) or None,
                            **kwargs, **spec.options)
    not_checked.extend(eh.not_checked)
    block.extend(f"extrahepatic: {f.message}" for f in eh.blocking)

    vial = None
    if spec.vial is not None and activity:
        order = vial_activity_to_order(activity, spec.vial["injection_datetime"],
                                       spec.vial["calibration_datetime"],
                                       spec.vial["expected_residual_fraction"])
        vial = jsonable(order)
    status, reasons = _status(block, _safety_not_checked(not_checked))
    summary = {
        "format": "netdose-sirt-plan-report",
        "version": FORMAT_VERSION,
        "status": status,
        "reasons": reasons,
        "patient": {"id": spec.patient_id, "height_cm": spec.height_cm,
                    "weight_kg": spec.weight_kg},
        "device": spec.device,
        "prescribed_method": spec.methods[0],
        "activity_gbq": activity,
        "lsf": {"used": lsf, "used_pct": 100.0 * lsf, "how": lsf_how, **lsf_results},
        "lung": metrics.get(LUNG),
        "tumour_to_normal_ratio": tnr,
        "masses_kg": masses,
        "compartments": _mask_summary(inp),
        "methods": methods,
        "predicted_dose": {
            "method": spec.dose_method, "density": spec.dose_density,
            "activity_gbq": at,
            "gbq_per_count": predicted.gbq_per_count,
            "counts_in_perfused_volume": predicted.counts_in_mask,
            "activity_in_grid_gbq": predicted.activity_in_grid_gbq,
            "energy_constant_gy_kg_per_gbq": predicted.energy_constant_gy_kg_per_gbq,
            "kernel_energy_constant_gy_kg_per_gbq":
                predicted.kernel_energy_constant_gy_kg_per_gbq,
            "metrics": {k: v for k, v in metrics.items() if k != LUNG},
        } if predicted is not None else None,
        "extrahepatic": eh.summary(),
        "vial_order": vial,
        "not_checked": not_checked,
        "notes": inp.notes,
        "constants": spec.constants.as_dict(),
        "plan_file": str(spec.file),
    }
    source = spec.maa_path if spec.maa_path.is_dir() else None
    return PlanReport(status, tuple(reasons), activity, predicted, dvhs, jsonable(summary),
                      source, inp)


def run_check(spec: PlanSpec, activity_gbq: float | None = None) -> dict[str, Any]:
    """The safety checks alone: LSF, lung dose (at ``activity_gbq`` when given) and the
    extrahepatic check; returns the JSON-ready report with ``status``."""
    inp = load_plan_inputs(spec)
    not_checked = list(inp.not_checked)
    lsf, lsf_how, lsf_results, nc = _shunt(spec, inp)
    not_checked.extend(nc)
    block: list[str] = []
    if spec.device == "resin" and lsf > spec.constants.resin_max_lsf and \
            not lsf_how.startswith("assumed"):
        block.append(f"LSF {100 * lsf:.1f} % is above the "
                     f"{100 * spec.constants.resin_max_lsf:g} % resin limit")
    lung: dict[str, Any] | None = None
    if activity_gbq is not None and not lsf_how.startswith("assumed"):
        density = density_from_ct(inp.ct, name=str(spec.ct_path)) if inp.ct is not None else None
        lm, how = _lung_mass(spec, inp, density, not_checked)
        lm = lm if lm is not None else spec.constants.lung_mass_kg
        d = rx.lung_dose_gy(activity_gbq, lsf, lm, spec.constants)
        chk = rx.check_lung_limits(d, list(spec.previous_lung_doses_gy), device=spec.device,
                                   constants=spec.constants)
        block.extend(chk.reasons)
        lung = {"activity_gbq": activity_gbq, "mean": d, "mass_kg": lm, "mass_source": how,
                **jsonable(chk)}
    elif activity_gbq is None:
        not_checked.append("no activity given (--activity-gbq): lung dose not computed")
    kwargs: dict[str, Any] = {}
    if spec.maa_injected_mbq is not None:
        kwargs["injected_mbq"] = spec.maa_injected_mbq
    if activity_gbq is not None:
        kwargs["planned_y90_gbq"] = activity_gbq
    eh = check_extrahepatic(inp.maa, inp.compartments[LIVER], dict(inp.organs) or None,
                            **kwargs, **spec.options)
    not_checked.extend(eh.not_checked)
    block.extend(f"extrahepatic: {f.message}" for f in eh.blocking)
    status, reasons = _status(block, _safety_not_checked(not_checked))
    return jsonable({
        "format": "netdose-sirt-check-report", "version": FORMAT_VERSION,
        "status": status, "reasons": reasons, "patient": {"id": spec.patient_id},
        "device": spec.device,
        "lsf": {"used": lsf, "used_pct": 100 * lsf, "how": lsf_how, **lsf_results},
        "lung": lung, "extrahepatic": eh.summary(), "not_checked": not_checked,
        "notes": inp.notes, "constants": spec.constants.as_dict(),
        "plan_file": str(spec.file),
    })


# =========================================================================== outputs
def write_plan_outputs(report: PlanReport, out_dir: str | Path,
                       provenance: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``plan.json``, ``predicted_dose.nii.gz``, ``predicted_dose_rtdose.dcm`` and
    ``dvh.csv`` into ``out_dir`` (each atomically); return them by role."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    if report.predicted is not None:
        files["dose_nifti"] = write_volume(report.predicted.dose_gy, out / "predicted_dose.nii.gz")
        files["dose_rtdose"] = write_rtdose(
            report.predicted.dose_gy, out / "predicted_dose_rtdose.dcm",
            source=report.source_dicom, description="netdose SIRT predicted Y-90 dose (MAA)")
        files["dvh_csv"] = atomic_write_text(out / "dvh.csv", dvh_csv(report.dvhs))
    files["report_json"] = write_result_json(out / "plan.json", report.summary, files,
                                             provenance)
    return files


# =========================================================================== post-treatment
@dataclasses.dataclass(frozen=True)
class PostSpec:
    """A validated post-treatment file (format ``netdose-sirt-post``)."""

    file: Path
    patient_id: str
    image_path: Path
    image_series_uid: str | None
    modality: Literal["pet", "bremsstrahlung-spect"]
    calibration_bq_ml_per_unit: float | None
    negative_voxels: Literal["refuse", "clip"]
    scan_datetime: _dt.datetime
    implant_datetime: _dt.datetime
    ct_path: Path | None
    ct_resample: bool
    mask_files: tuple[MaskFile, ...]
    compartments: dict[str, tuple[str, ...]]
    plan_report: Path | None
    dose_method: Literal["ldm", "dvk"]
    constants: SirtConstants

    @property
    def input_paths(self) -> list[tuple[Path, str]]:
        """(path, role) of every input file."""
        out = [(self.file, "post"), (self.image_path, "y90_image")]
        if self.ct_path is not None:
            out.append((self.ct_path, "ct"))
        out.extend((mf.path, "masks") for mf in self.mask_files)
        if self.plan_report is not None:
            out.append((self.plan_report, "plan_report"))
        return out


def load_post(path: str | Path) -> PostSpec:
    """Read and validate a post-treatment file (TOML, docs/examples/sirt_post_phantom.toml)."""
    root = load_toml(path, kind="SIRT post-treatment")
    _header(root, POST_FORMAT)
    patient = root.table("patient", required=True)
    assert patient is not None
    pid = patient.string("id", required=True)
    patient.finish()
    y = root.table("y90", required=True)
    assert y is not None
    image = y.path("image", required=True)
    series = y.string("series_uid")
    modality = y.string("modality", required=True, choices=("pet", "bremsstrahlung-spect"))
    calib = y.number("calibration_bq_ml_per_unit", unit="Bq/mL per image unit", minimum=0.0,
                     strict_minimum=True)
    neg = y.string("negative_voxels", default="refuse", choices=("refuse", "clip"))
    scan = y.datetime("scan_datetime", required=True)
    implant = y.datetime("implant_datetime", required=True)
    y.finish()
    if modality == "bremsstrahlung-spect" and calib is None:
        raise root.error("y90.calibration_bq_ml_per_unit",
                         "a bremsstrahlung SPECT needs its quantitative calibration "
                         "(Bq/mL per image unit); netdose does not guess it.")
    ct_path, ct_resample = _ct_table(root)
    mask_files = _mask_files(root)
    comp = root.table("compartments", required=True)
    assert comp is not None
    compartments = {k: tuple(comp.strings(k) or ()) for k in list(comp.data)}
    comp.finish()
    if not compartments:
        raise comp.error(None, "name at least one compartment, e.g. tumour = [\"Tumor 1\"].")
    plan_report = root.path("plan_report") if "plan_report" in root else None
    dose_t = root.table("dose")
    method = "ldm"
    if dose_t is not None:
        method = dose_t.string("method", default="ldm", choices=("ldm", "dvk")) or "ldm"
        dose_t.finish()
    constants = _constants(root)
    root.finish()
    assert image is not None and scan is not None and implant is not None
    return PostSpec(Path(path).resolve(), pid or "", image, series, modality,  # type: ignore[arg-type]
                    calib, neg, scan, implant, ct_path, ct_resample,  # type: ignore[arg-type]
                    mask_files, compartments, plan_report, method,  # type: ignore[arg-type]
                    constants)


@dataclasses.dataclass(frozen=True)
class PostReport:
    """Post-treatment dosimetry: the dose map, DVHs and the JSON summary."""

    post: PostTreatmentDose
    dvhs: dict[str, DVH]
    summary: dict[str, Any]


def run_post(spec: PostSpec) -> PostReport:
    """Delivered Y-90 dose from the post-treatment scan, compared with the plan report."""
    notes: list[str] = []
    img = _read_maa(spec.image_path, spec.image_series_uid, spec.negative_voxels, notes,
                    what="Y-90 image")
    if spec.modality == "pet":
        units = str(img.meta.get("units") or "").upper()
        if units and units != "BQML":
            raise InputError(f"{spec.image_path}: the Y-90 PET has Units {units!r}; netdose "
                             "needs activity concentration (BQML).")
        if spec.calibration_bq_ml_per_unit is not None:
            img = img.with_array(img.array * np.float32(spec.calibration_bq_ml_per_unit))
            notes.append(f"image multiplied by {spec.calibration_bq_ml_per_unit:g} "
                         "(calibration_bq_ml_per_unit).")
        elif not units:
            notes.append("the image does not state its units; its voxels are taken as Bq/mL "
                         "(Y-90 PET).")
    else:
        img = img.with_array(img.array * np.float32(spec.calibration_bq_ml_per_unit or 1.0))
        notes.append(f"bremsstrahlung SPECT x {spec.calibration_bq_ml_per_unit:g} Bq/mL per "
                     "unit (quantitative calibration from the plan file).")
    ct = None
    if spec.ct_path is not None:
        ct = read_image(spec.ct_path)
        if not ct.same_grid(img):
            if not spec.ct_resample:
                raise InputError(f"{spec.ct_path}: the CT is not on the Y-90 image grid; set "
                                 "resample = true in [ct].")
            ct = resample(ct, img, "linear", fill_value=-1000.0)
    masks = load_mask_files(list(spec.mask_files), img)
    comps = {k: union(masks, v, k, f"{spec.file}: compartments.{k}").mask
             for k, v in spec.compartments.items()}
    post = post_treatment_dose(img, scan_datetime=spec.scan_datetime,
                               implant_datetime=spec.implant_datetime, masks=comps,
                               constants=spec.constants, method=spec.dose_method, ct=ct)
    dvhs = {k: dvh(post.dose_gy, m, name=k, density_g_cm3=spec.constants.tissue_density_g_ml)
            for k, m in comps.items()}
    comparison = None
    if spec.plan_report is not None:
        try:
            planned_report = json.loads(spec.plan_report.read_text(encoding="utf-8"))
            planned = planned_report["predicted_dose"]["metrics"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{spec.plan_report}: not a netdose SIRT plan report with "
                             f"predicted-dose metrics ({exc!r}).") from None
        comparison = compare_with_plan(post, planned)
        if not comparison:
            notes.append("no compartment of the post-treatment file has the same name as one "
                         "of the plan (perfused, tumour, normal, liver, ...): nothing compared.")
    summary = jsonable({
        "format": "netdose-sirt-post-report", "version": FORMAT_VERSION,
        "patient": {"id": spec.patient_id}, "modality": spec.modality,
        "activity_at_implant_gbq": post.activity_at_implant_gbq,
        "activity_at_implant_mbq": post.activity_at_implant_gbq * 1e3,
        "elapsed_h": post.elapsed_h, "decay_correction": post.decay_correction,
        "dose_method": post.method, "metrics": post.metrics, "comparison_with_plan": comparison,
        "notes": notes, "constants": post.constants, "post_file": str(spec.file),
    })
    return PostReport(post, dvhs, summary)


def write_post_outputs(report: PostReport, out_dir: str | Path,
                       provenance: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``post.json``, ``delivered_dose.nii.gz``, ``delivered_dose_rtdose.dcm`` and
    ``dvh.csv`` (each atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "dose_nifti": write_volume(report.post.dose_gy, out / "delivered_dose.nii.gz"),
        "dose_rtdose": write_rtdose(report.post.dose_gy, out / "delivered_dose_rtdose.dcm",
                                    dose_summation_type="RECORD",
                                    description="netdose SIRT delivered Y-90 dose"),
        "dvh_csv": atomic_write_text(out / "dvh.csv", dvh_csv(report.dvhs)),
    }
    files["report_json"] = write_result_json(out / "post.json", report.summary, files,
                                             provenance)
    return files
