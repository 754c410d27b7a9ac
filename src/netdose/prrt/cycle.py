"""One PRRT cycle from its file (docs/prrt-cycle.md) to organ doses, BED, limits and the
next-cycle activity.

Chain (:func:`run_cycle`): quantitative SPECT(/CT) time points → Bq/mL (counts with a
calibration factor and frame duration, decay during the frame handled explicitly) →
registration of every time point to the reference (CT-based, :mod:`netdose.prrt.registration`)
→ masks on the reference grid → organ/lesion time-activity curves and fits
(:func:`netdose.dosimetry.tac.fit_tac`; single-time-point methods when there is one scan) →
voxel time-integrated activity (per-voxel Numba fit, or VOI-shape-scaled) → dose (DVK with
Lu-177 photons, or LDM; CT densities) → organ/lesion mean doses and DVHs → BED/EQD2 per organ
→ cumulative limits with the earlier cycles (from the therapy record) → next-cycle activity.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from netdose.dosimetry import dose_dvk, dose_ldm
from netdose.dosimetry.dvh import DVH, dvh
from netdose.dosimetry.radiobiology import (
    TISSUES,
    BEDResult,
    TissueParameters,
    bed,
    tissue_class,
)
from netdose.dosimetry.stp import hanscheid_tia, madsen_tia
from netdose.dosimetry.tac import fit_tac
from netdose.dosimetry.voxel_fit import fit_voxels, voi_scaled_tia
from netdose.errors import GeometryError, InputError
from netdose.image import Image
from netdose.io import read_image
from netdose.io.atomic import atomic_write_text
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
from netdose.nuclides import get_nuclide
from netdose.prrt.limits import CycleOrganDose, Limits, RiskFactors, check_cumulative
from netdose.prrt.planning import OrganHistory, plan_next_cycle
from netdose.prrt.registration import (
    Registration,
    apply_to_image,
    apply_to_mask,
    register_ct,
)
from netdose.units import BQ_PER_MBQ, S_PER_H

__all__ = ["CYCLE_FORMAT", "CycleReport", "CycleSpec", "TimePointSpec", "load_cycle",
           "run_cycle", "write_cycle_outputs"]

CYCLE_FORMAT = "netdose-prrt-cycle"
FORMAT_VERSION = 1
MODELS = ("mono", "biexp", "uptake_washout")


# =========================================================================== spec
@dataclasses.dataclass(frozen=True)
class TimePointSpec:
    """One SPECT(/CT) time point of the cycle file."""

    spect: Path
    spect_series_uid: str | None
    ct: Path | None
    acquired: _dt.datetime
    units: Literal["bq_ml", "counts"]
    calibration_cps_per_mbq: float | None
    frame_duration_s: float | None
    negative_voxels: Literal["refuse", "clip"]


@dataclasses.dataclass(frozen=True)
class CycleSpec:
    """A validated PRRT cycle file (docs/prrt-cycle.md)."""

    file: Path
    patient_id: str
    sex: str
    risk_factors: RiskFactors
    cycle_number: int
    nuclide: str
    injected_mbq: float
    injection: _dt.datetime
    total_cycles: int
    standard_activity_gbq: float
    max_activity_gbq: float | None
    timepoints: tuple[TimePointSpec, ...]
    reference: int
    registration: Literal["none", "rigid", "deformable"]
    mask_files: tuple[tuple[MaskFile, int], ...]
    organs: dict[str, tuple[str, ...]]
    lesions: dict[str, tuple[str, ...]]
    models: tuple[str, ...]
    single_time_point: str | None
    population_half_life_h: dict[str, float]
    population_half_life_source: str | None
    dose_method: Literal["dvk", "ldm"]
    voxel_tia: Literal["fit", "voi-scaled"]
    density: Literal["ct", "constant"]
    tissues: dict[str, TissueParameters]
    limits: Limits
    planning_estimate: str

    @property
    def input_paths(self) -> list[tuple[Path, str]]:
        """(path, role) of every input file."""
        out = [(self.file, "cycle")]
        for i, tp in enumerate(self.timepoints, 1):
            out.append((tp.spect, f"spect_{i}"))
            if tp.ct is not None:
                out.append((tp.ct, f"ct_{i}"))
        for mf, _ in self.mask_files:
            out.append((mf.path, "masks"))
            if isinstance(mf.labels, Path):
                out.append((mf.labels, "mask_labels"))
        return out

    @property
    def times_h(self) -> tuple[float, ...]:
        """Scan times, hours after injection."""
        return tuple((tp.acquired - self.injection).total_seconds() / S_PER_H
                     for tp in self.timepoints)


def _names_table(t: Table | None) -> dict[str, tuple[str, ...]]:
    if t is None:
        return {}
    out = {k: tuple(t.strings(k, required=True) or ()) for k in list(t.data)}
    t.finish()
    return out


def _tissues(root: Table) -> dict[str, TissueParameters]:
    t = root.table("radiobiology")
    out = dict(TISSUES)
    if t is None:
        return out
    for cls in list(t.data):
        sub = t.table(cls, required=True)
        assert sub is not None
        ab = sub.number("alpha_beta_gy", unit="Gy", required=True, minimum=0.0,
                        strict_minimum=True)
        rep = sub.number("repair_half_time_h", unit="h", required=True, minimum=0.0,
                         strict_minimum=True)
        src = sub.string("source", required=True)
        sub.finish()
        out[cls] = TissueParameters(ab or 0.0, rep or 0.0, src or "", name=cls)
    t.finish()
    return out


def _limits(root: Table) -> Limits:
    t = root.table("limits")
    if t is None:
        return Limits.default()
    raw = {k: t.any(k) for k in list(t.data)}
    t.finish()
    try:
        return Limits.from_overrides(raw)
    except InputError as exc:
        raise root.error("limits", str(exc)) from None


def load_cycle(path: str | Path) -> CycleSpec:
    """Read and validate a PRRT cycle file (TOML).

    Raises
    ------
    InputError
        Naming the file, the key and the fix.
    """
    root = load_toml(path, kind="PRRT cycle")
    fmt = root.string("format", required=True)
    if fmt != CYCLE_FORMAT:
        raise root.error("format", f"is {fmt!r}; this command reads {CYCLE_FORMAT!r} files.")
    if root.number("version", unit="", required=True) != FORMAT_VERSION:
        raise root.error("version", f"is not supported; netdose reads version {FORMAT_VERSION}.")
    pt = root.table("patient", required=True)
    assert pt is not None
    pid = pt.string("id", required=True) or ""
    sex = pt.string("sex", required=True, choices=("F", "M", "O")) or ""
    rf_names = pt.strings("risk_factors", required=True) or []
    pt.finish()
    try:
        risk = RiskFactors.from_names(rf_names)
    except InputError as exc:
        raise root.error("patient.risk_factors", str(exc)) from None

    cy = root.table("cycle", required=True)
    assert cy is not None
    number = cy.number("number", unit="", required=True, minimum=1)
    nuclide = cy.string("nuclide", default="Lu-177") or "Lu-177"
    injected = cy.number("injected_mbq", unit="MBq", required=True, minimum=0.0,
                         strict_minimum=True)
    injection = cy.datetime("injection_datetime", required=True)
    total = cy.number("planned_cycles", unit="", default=4, minimum=1)
    std = cy.number("standard_activity_gbq", unit="GBq", default=7.4, minimum=0.0,
                    strict_minimum=True)
    max_a = cy.number("max_activity_gbq", unit="GBq", minimum=0.0, strict_minimum=True)
    cy.finish()
    assert number is not None and injected is not None and injection is not None
    if number != int(number) or total != int(total or 0):
        raise root.error("cycle.number", "cycle numbers are whole numbers.")
    if injected > 5e4:
        raise root.error("cycle.injected_mbq", f"{injected:g} MBq is implausible for one cycle; "
                         "give the activity in MBq (7400 for 7.4 GBq).")
    try:
        get_nuclide(nuclide)
    except InputError as exc:
        raise root.error("cycle.nuclide", str(exc)) from None

    tps: list[TimePointSpec] = []
    for t in root.tables("timepoints"):
        spect = t.path("spect", required=True)
        series = t.string("series_uid")
        ct = t.path("ct")
        acquired = t.datetime("datetime", required=True)
        units = t.string("units", required=True, choices=("bq_ml", "counts"))
        calib = t.number("calibration_cps_per_mbq", unit="cps/MBq")
        frame = t.number("frame_duration_s", unit="s")
        neg = t.string("negative_voxels", default="refuse", choices=("refuse", "clip"))
        t.finish()
        assert spect is not None and acquired is not None
        if units == "counts":
            if calib is None or calib <= 0:
                raise t.error("calibration_cps_per_mbq", "a counts image needs its system "
                              f"calibration factor (cps/MBq) > 0; got {calib!r}.")
            if frame is None or frame <= 0:
                raise t.error("frame_duration_s", "a counts image needs the total acquisition "
                              f"time (s) > 0; got {frame!r}.")
        elif calib is not None or frame is not None:
            raise t.error("units", "calibration_cps_per_mbq and frame_duration_s are for "
                          "units = \"counts\"; a Bq/mL image is already calibrated.")
        if acquired <= injection:
            raise t.error("datetime", f"{acquired.isoformat()} is not after the injection "
                          f"({injection.isoformat()}); check the date, time and time zone.")
        tps.append(TimePointSpec(spect, series, ct, acquired, units,  # type: ignore[arg-type]
                                 calib, frame, neg))  # type: ignore[arg-type]
    if not tps:
        raise root.error("timepoints", "at least one [[timepoints]] table is required.")
    times = [tp.acquired for tp in tps]
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise root.error("timepoints", "time points must be in increasing time order, each "
                         "with its own acquisition date-time.")

    reg = root.table("registration")
    reference, method = 1, "none"
    if reg is not None:
        reference = int(reg.number("reference", unit="(time point, 1-based)", default=1,
                                   minimum=1) or 1)
        method = reg.string("method", default="rigid",
                            choices=("none", "rigid", "deformable")) or "rigid"
        reg.finish()
    if reference > len(tps):
        raise root.error("registration.reference", f"is {reference}, but there are "
                         f"{len(tps)} time points.")
    if method != "none" and any(tp.ct is None for tp in tps):
        raise root.error("registration.method", f"{method!r} registers the CTs: give ct = for "
                         "every time point, or method = \"none\" for co-registered SPECTs.")

    mfs = []
    for mf, extra in mask_files(root, extra_keys=("timepoint",)):
        tpi = extra.get("timepoint")
        tpi = reference if tpi is None else tpi
        if not isinstance(tpi, int) or not 1 <= tpi <= len(tps):
            raise root.error("masks.timepoint", f"{tpi!r} is not a time point number "
                             f"(1..{len(tps)}).")
        mfs.append((mf, tpi))
    organs = _names_table(root.table("organs", required=True))
    lesions = _names_table(root.table("lesions"))
    if not organs:
        raise root.error("organs", "name at least one organ, e.g. kidneys = [\"kidney_left\", "
                         "\"kidney_right\"].")
    dup = set(organs) & set(lesions)
    if dup:
        raise root.error("lesions", f"{sorted(dup)} also named under [organs].")

    kin = root.table("kinetics")
    models: tuple[str, ...] = MODELS
    stp = None
    pop: dict[str, float] = {}
    pop_src = None
    if kin is not None:
        ms = kin.strings("models")
        if ms is not None:
            bad = [m for m in ms if m not in MODELS]
            if bad:
                raise kin.error("models", f"{bad} not among {', '.join(MODELS)}.")
            models = tuple(ms)
        stp = kin.string("single_time_point", choices=("haenscheid", "madsen"))
        ph = kin.table("population_half_life_h")
        if ph is not None:
            for k in list(ph.data):
                pop[k] = ph.number(k, unit="h", required=True, minimum=0.0,
                                   strict_minimum=True) or 0.0
            ph.finish()
        pop_src = kin.string("population_half_life_source")
        kin.finish()
    if len(tps) == 1:
        if stp is None:
            raise root.error("kinetics.single_time_point", "there is one time point: choose "
                             "the single-time-point method, \"haenscheid\" or \"madsen\" (with "
                             "population_half_life_h per organ and its source).")
        if stp == "madsen":
            missing = [n for n in (*organs, *lesions) if n not in pop]
            if missing or not pop_src:
                raise root.error("kinetics.population_half_life_h", "Madsen needs a population "
                                 f"effective half-life for every organ and lesion (missing: "
                                 f"{missing}) and population_half_life_source.")

    dose_t = root.table("dose")
    dmethod, vtia, density = "dvk", "voi-scaled", "ct"
    if dose_t is not None:
        dmethod = dose_t.string("method", default="dvk", choices=("dvk", "ldm")) or "dvk"
        vtia = dose_t.string("voxel_tia", default="voi-scaled",
                             choices=("fit", "voi-scaled")) or "voi-scaled"
        density = dose_t.string("density", default="ct", choices=("ct", "constant")) or "ct"
        dose_t.finish()
    if density == "ct" and tps[reference - 1].ct is None:
        raise root.error("dose.density", "'ct' (the default) needs the reference time point's "
                         "CT; give it, or density = \"constant\".")
    tissues = _tissues(root)
    limits = _limits(root)
    plan_t = root.table("planning")
    estimate = "latest"
    if plan_t is not None:
        estimate = plan_t.string("estimate", default="latest", choices=("latest", "mean")) \
            or "latest"
        plan_t.finish()
    root.finish()
    return CycleSpec(
        file=Path(path).resolve(), patient_id=pid, sex=sex, risk_factors=risk,
        cycle_number=int(number), nuclide=get_nuclide(nuclide).name, injected_mbq=injected,
        injection=injection, total_cycles=int(total or 4), standard_activity_gbq=std or 7.4,
        max_activity_gbq=max_a, timepoints=tuple(tps), reference=reference,
        registration=method,  # type: ignore[arg-type]
        mask_files=tuple(mfs), organs=organs, lesions=lesions, models=models,
        single_time_point=stp, population_half_life_h=pop, population_half_life_source=pop_src,
        dose_method=dmethod,  # type: ignore[arg-type]
        voxel_tia=vtia,  # type: ignore[arg-type]
        density=density,  # type: ignore[arg-type]
        tissues=tissues, limits=limits, planning_estimate=estimate,
    )


# =========================================================================== run
def _activity_bq_ml(tp: TimePointSpec, index: int, nuclide: str, notes: list[str]) -> Image:
    img = read_image(tp.spect, series_uid=tp.spect_series_uid)
    name = f"time point {index} SPECT {tp.spect}"
    img.require_finite(name)
    arr = np.asarray(img.array, dtype=np.float64)
    if (arr < 0).any():
        n = int(np.count_nonzero(arr < 0))
        if tp.negative_voxels == "refuse":
            raise InputError(f"{name} has {n} negative voxel(s); set negative_voxels = \"clip\" "
                             "for this time point to set them to 0 (recorded).")
        arr = np.clip(arr, 0.0, None)
        notes.append(f"time point {index}: {n} negative voxel(s) set to 0.")
    if tp.units == "counts":
        assert tp.calibration_cps_per_mbq and tp.frame_duration_s
        lam = math.log(2.0) / (get_nuclide(nuclide).half_life_s)
        lt = lam * tp.frame_duration_s
        # Counts over the frame = cal · A(t0) · (1 − e^{−λT})/λ  →  A(t0) at the frame start.
        decay_in_frame = lt / (-math.expm1(-lt))
        mbq = arr / (tp.calibration_cps_per_mbq * tp.frame_duration_s) * decay_in_frame
        arr = mbq * BQ_PER_MBQ / img.voxel_volume_ml
        notes.append(
            f"time point {index}: counts / ({tp.calibration_cps_per_mbq:g} cps/MBq x "
            f"{tp.frame_duration_s:g} s) x decay-in-frame factor {decay_in_frame:.6f} -> Bq/mL "
            "at the frame start (the datetime of the time point)."
        )
    else:
        units = str(img.meta.get("units") or "").upper()
        if units and units not in ("BQML",):
            raise InputError(f"{name}: the file says Units {units!r}, the cycle file says "
                             "units = \"bq_ml\"; give units = \"counts\" with the calibration, "
                             "or a Bq/mL reconstruction.")
    return img.with_array(arr.astype(np.float32), meta={**img.meta, "quantity": "activity_bq_ml"})


@dataclasses.dataclass(frozen=True)
class CycleReport:
    """Everything one cycle computed.

    Attributes
    ----------
    dose_gy : Image
        Absorbed dose of the cycle on the reference grid, Gy.
    tia_bq_s : Image
        Time-integrated activity per voxel, Bq·s.
    dvhs : dict of str to DVH
    organ_rows : tuple of dict
        Per organ/lesion: mass, TIA, dose, Teff, BED... (for the record).
    summary : dict
        The JSON report (without provenance and without the cumulative part, which depends on
        the record).
    """

    dose_gy: Image
    tia_bq_s: Image
    dvhs: dict[str, DVH]
    organ_rows: tuple[dict[str, Any], ...]
    bed_results: dict[str, BEDResult]
    summary: dict[str, Any]
    reference_dicom: Path | None = None
    #: For reports: the reference SPECT (Bq/mL), the VOIs on its grid and the fit objects.
    reference_spect: Image | None = dataclasses.field(default=None, repr=False, compare=False)
    vois: dict[str, Image] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    fit_objects: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False,
                                                    compare=False)


def _masks_on_reference(spec: CycleSpec, spects: list[Image], regs: list[Registration | None],
                        ref: Image) -> dict[str, Image]:
    out: dict[str, Image] = {}
    groups: dict[int, list[MaskFile]] = {}
    for mf, tpi in spec.mask_files:
        groups.setdefault(tpi, []).append(mf)
    for tpi, files in groups.items():
        grid = spects[tpi - 1]
        ms = load_mask_files(files, grid)
        for name, nm in ms.items():
            mask = nm.mask
            if tpi != spec.reference:
                reg = regs[tpi - 1]
                assert reg is not None
                mask = apply_to_mask(mask, ref, reg)
            if name in out:
                raise InputError(f"{spec.file}: mask {name!r} is given twice.")
            out[name] = mask
    return out


def _named(spec: CycleSpec, masks: Mapping[str, Image], table: Mapping[str, tuple[str, ...]],
           kind: str, ref: Image) -> dict[str, Image]:
    from netdose.io.masks import MaskSet, NamedMask

    ms = MaskSet([NamedMask(k, v, float(v.array.sum()) * v.voxel_volume_ml,
                            float(v.array.sum()) * v.voxel_volume_ml, None, "cycle")
                  for k, v in masks.items()])
    out = {}
    for name, parts in table.items():
        m = union(ms, list(parts), name, f"{spec.file}: {kind}.{name}").mask
        if not m.array.any():
            raise GeometryError(
                f"{spec.file}: {kind}.{name} ({', '.join(parts)}) has no voxel on the reference "
                f"SPECT grid ({ref.describe_grid()}): the masks miss the SPECT. Check that they "
                "belong to this study and time point ([[masks]] timepoint)."
            )
        out[name] = m
    return out


def run_cycle(spec: CycleSpec, previous: Sequence[Mapping[str, Any]] = ()) -> CycleReport:
    """Dosimetry of one cycle (module docstring).

    Parameters
    ----------
    spec : CycleSpec
    previous : sequence of mapping
        Earlier cycles' organ rows (``cycle``, ``organ``, ``dose_gy``, ``bed_gy``,
        ``dose_per_activity_gy_per_gbq``, ``effective_half_life_h``), e.g. from the therapy
        record, for the cumulative limits and the next-cycle activity.
    """
    notes: list[str] = []
    not_checked: list[str] = []
    nuc = get_nuclide(spec.nuclide)
    t_phys_h = nuc.half_life_s / S_PER_H
    times = spec.times_h
    spects = [_activity_bq_ml(tp, i, spec.nuclide, notes)
              for i, tp in enumerate(spec.timepoints, 1)]
    ref = spects[spec.reference - 1]
    regs: list[Registration | None] = [None] * len(spects)
    reg_summary: list[dict[str, Any]] = []
    ref_ct = None
    if spec.timepoints[spec.reference - 1].ct is not None:
        ref_ct = read_image(spec.timepoints[spec.reference - 1].ct)  # type: ignore[arg-type]
    on_ref: list[Image] = []
    for i, (tp, img) in enumerate(zip(spec.timepoints, spects), 1):
        if i == spec.reference:
            on_ref.append(img)
            reg_summary.append({"timepoint": i, "reference": True})
            continue
        if spec.registration == "none":
            if not img.same_grid(ref):
                raise GeometryError(
                    f"time point {i} SPECT ({img.describe_grid()}) is not on the reference grid "
                    f"({ref.describe_grid()}) and registration.method = \"none\"; register "
                    "(method = \"rigid\" with the CTs) or resample the SPECTs first."
                )
            on_ref.append(img)
            reg_summary.append({"timepoint": i, "method": "none"})
            continue
        assert ref_ct is not None and tp.ct is not None
        ct = read_image(tp.ct)
        reg = register_ct(ct, ref_ct, method=spec.registration,
                          moving_name=f"time point {i} CT", fixed_name="reference CT")
        regs[i - 1] = reg
        on_ref.append(apply_to_image(img, ref, reg))
        reg_summary.append({"timepoint": i, **reg.to_dict()})
    masks = _masks_on_reference(spec, spects, regs, ref)
    organs = _named(spec, masks, spec.organs, "organs", ref)
    lesions = _named(spec, masks, spec.lesions, "lesions", ref)
    vois = {**organs, **lesions}
    v_ml = ref.voxel_volume_ml

    # ---- organ/lesion time-activity curves
    tacs: dict[str, Any] = {}
    tia_mbq_h: dict[str, float] = {}
    teff_h: dict[str, float] = {}
    fits: dict[str, Any] = {}
    fit_objects: dict[str, Any] = {}
    for name, m in vois.items():
        act = [float(np.sum(img.array[m.array], dtype=np.float64)) * v_ml / BQ_PER_MBQ
               for img in on_ref]
        tacs[name] = {"times_h": list(times), "activity_mbq": act}
        if len(times) == 1:
            if spec.single_time_point == "haenscheid":
                r = hanscheid_tia(act[0], times[0])
            else:
                r = madsen_tia(act[0], times[0],
                               effective_half_life_h=spec.population_half_life_h[name],
                               physical_half_life_h=t_phys_h,
                               effective_half_life_source=spec.population_half_life_source or "")
            tia_mbq_h[name] = r.tia_mbq_h
            teff_h[name] = r.effective_half_life_h or times[0]
            fits[name] = r.to_dict()
            fit_objects[name] = r
        else:
            sel = fit_tac(times, act, physical_half_life_h=t_phys_h, models=spec.models)
            tia_mbq_h[name] = sel.tia_mbq_h
            teff_h[name] = sel.chosen.effective_half_life_h
            fits[name] = sel.to_dict()
            fit_objects[name] = sel

    # ---- voxel TIA
    if len(times) == 1:
        factor = np.full(ref.shape, 2.0 * times[0] / math.log(2.0), dtype=np.float64)
        if spec.single_time_point == "madsen":
            factor[:] = 0.0
            for name, m in vois.items():
                lam = math.log(2.0) / spec.population_half_life_h[name]
                factor[m.array] = math.exp(lam * times[0]) / lam
            rest = ~np.any([m.array for m in vois.values()], axis=0)
            lam = math.log(2.0) / t_phys_h
            factor[rest] = math.exp(lam * times[0]) / lam
            notes.append("voxel TIA outside the organs and lesions: Madsen with physical decay "
                         "(no population half-life for the remainder).")
        tia_bq_h_ml = on_ref[0].array.astype(np.float64) * factor
        voxel_method = f"single time point ({spec.single_time_point}), per voxel"
        voxel_status: dict[str, Any] = {}
    else:
        vf = fit_voxels(np.stack([img.array for img in on_ref]), times,
                        physical_half_life_h=t_phys_h)
        tia_bq_h_ml = vf.tia_bq_s_ml.astype(np.float64) / S_PER_H
        voxel_method = "per-voxel mono-exponential fit (Numba)"
        voxel_status = dict(vf.status_counts)
        if spec.voxel_tia == "voi-scaled":
            for name, m in vois.items():
                scaled = voi_scaled_tia(on_ref[spec.reference - 1], m, tia_mbq_h[name],
                                        mask_name=name)
                tia_bq_h_ml[m.array] = scaled.array[m.array] / S_PER_H
            voxel_method = ("VOI-shape-scaled (organ/lesion TIA from the TAC fit distributed "
                            "like the reference scan); per-voxel fit elsewhere")
    tia_bq_s = ref.with_array((tia_bq_h_ml * S_PER_H * v_ml).astype(np.float32),
                              meta={"quantity": "tia_bq_s"})

    # ---- dose
    ct_on_ref = None
    if spec.density == "ct":
        assert ref_ct is not None
        from netdose.image import resample

        ct_on_ref = ref_ct if ref_ct.same_grid(ref) else resample(ref_ct, ref, "linear",
                                                                    fill_value=-1000.0)
    if spec.dose_method == "dvk":
        dres = dose_dvk(tia_bq_s, spec.nuclide, ct=ct_on_ref)
    else:
        dres = dose_ldm(tia_bq_s, spec.nuclide, ct=ct_on_ref)
    dose = dres.dose_gy
    dvhs = {name: dvh(dose, m, name=name) for name, m in vois.items()}

    # ---- per organ rows, BED
    rows: list[dict[str, Any]] = []
    beds: dict[str, BEDResult] = {}
    gbq = spec.injected_mbq / 1000.0
    rho = None
    if ct_on_ref is not None:
        from netdose.dosimetry.density import density_from_ct

        rho = density_from_ct(ct_on_ref).array
    for name, m in vois.items():
        d = dvhs[name]
        mass_g = None if rho is None else float(np.sum(rho[m.array], dtype=np.float64) * v_ml)
        row: dict[str, Any] = {
            "organ": name, "kind": "lesion" if name in lesions else "organ",
            "volume_ml": d.volume_ml, "mass_g": mass_g, "tia_mbq_h": tia_mbq_h[name],
            "tia_voxel_map_mbq_h": float(np.sum(tia_bq_s.array[m.array], dtype=np.float64))
            / BQ_PER_MBQ / S_PER_H,
            "mean_dose_gy": d.mean_gy, "max_dose_gy": d.max_gy, "D50_gy": d.d(50.0),
            "D70_gy": d.d(70.0), "D90_gy": d.d(90.0),
            "dose_per_activity_gy_per_gbq": d.mean_gy / gbq,
            "effective_half_life_h": teff_h[name],
        }
        cls = tissue_class(name)
        if cls is not None and cls in spec.tissues:
            te = min(teff_h[name], t_phys_h)
            b = bed(d.mean_gy, te, spec.tissues[cls], physical_half_life_h=t_phys_h)
            beds[name] = b
            row.update(bed_gy=b.bed_gy, eqd2_gy=b.eqd2_gy, alpha_beta_gy=b.alpha_beta_gy,
                       repair_half_time_h=b.repair_half_time_h, tissue=b.tissue)
        else:
            row.update(bed_gy=None, eqd2_gy=None, tissue=None)
        rows.append(row)

    # ---- limits and next cycle
    this = [CycleOrganDose(spec.cycle_number, r["organ"], r["mean_dose_gy"], r["bed_gy"])
            for r in rows if r["kind"] == "organ"]
    earlier = [CycleOrganDose(int(p["cycle"]), str(p["organ"]), float(p["dose_gy"]),
                              None if p.get("bed_gy") is None else float(p["bed_gy"]))
               for p in previous if int(p["cycle"]) != spec.cycle_number]
    check = check_cumulative([*earlier, *this], spec.limits, risk_factors=spec.risk_factors)
    histories = []
    cycles_done = len({c.cycle for c in earlier} | {spec.cycle_number})
    for r in rows:
        if r["kind"] != "organ" or r["bed_gy"] is None and tissue_class(r["organ"]) is None:
            continue
        prev = [p for p in previous if p["organ"] == r["organ"]
                and int(p["cycle"]) != spec.cycle_number]
        histories.append(OrganHistory(
            organ=r["organ"],
            dose_per_activity_gy_per_gbq=tuple(
                [float(p["dose_per_activity_gy_per_gbq"]) for p in prev]
                + [r["dose_per_activity_gy_per_gbq"]]),
            cumulative_dose_gy=sum(float(p["dose_gy"]) for p in prev) + r["mean_dose_gy"],
            cumulative_bed_gy=(sum(float(p.get("bed_gy") or 0.0) for p in prev) + r["bed_gy"])
            if r["bed_gy"] is not None else None,
            effective_half_life_h=tuple(
                [float(p["effective_half_life_h"]) for p in prev]
                + [min(r["effective_half_life_h"], t_phys_h)]),
            tissue=spec.tissues.get(tissue_class(r["organ"]) or ""),
        ))
    next_plan = None
    if histories and cycles_done < spec.total_cycles:
        next_plan = plan_next_cycle(
            histories, cycles_done=cycles_done, limits=spec.limits,
            risk_factors=spec.risk_factors, total_cycles=spec.total_cycles,
            standard_activity_gbq=spec.standard_activity_gbq,
            max_activity_gbq=spec.max_activity_gbq,
            estimate=spec.planning_estimate,  # type: ignore[arg-type]
        )
    elif cycles_done >= spec.total_cycles:
        notes.append(f"cycle {spec.cycle_number} completes the {spec.total_cycles} planned "
                     "cycles: no next-cycle activity.")
    marrow = [n for n in organs if tissue_class(n) == "red_marrow"]
    if not marrow:
        not_checked.append("no bone-marrow VOI: the 2 Gy marrow limit is not checked from the "
                           "images (image-based marrow dosimetry needs e.g. an L2-L4 marrow "
                           "VOI; blood-based marrow dosimetry is outside netdose)")
    kidneys = [n for n in organs if tissue_class(n) == "kidney"]
    if not kidneys:
        not_checked.append("no kidney VOI: the kidney dose and BED limits are not checked")
    summary = jsonable({
        "format": "netdose-prrt-cycle-report", "version": FORMAT_VERSION,
        "patient": {"id": spec.patient_id, "sex": spec.sex,
                    "risk_factors": spec.risk_factors.as_dict()},
        "cycle": {"number": spec.cycle_number, "nuclide": spec.nuclide,
                  "injected_mbq": spec.injected_mbq,
                  "injection_datetime": spec.injection.isoformat(),
                  "planned_cycles": spec.total_cycles},
        "timepoints": [{"index": i, "datetime": tp.acquired.isoformat(), "time_h": t,
                        "units": tp.units, "spect": str(tp.spect)}
                       for i, (tp, t) in enumerate(zip(spec.timepoints, times), 1)],
        "registration": reg_summary,
        "tac": tacs, "fits": fits,
        "voxel_tia": {"method": voxel_method, "status_counts": voxel_status},
        "dose": {"method": spec.dose_method, "density": spec.density,
                 "constants": dres.constants},
        "organs": rows,
        "limits": check.as_dict() if hasattr(check, "as_dict") else jsonable(check),
        "next_cycle": (next_plan.as_dict() if hasattr(next_plan, "as_dict")
                       else jsonable(next_plan)) if next_plan is not None else None,
        "not_checked": not_checked, "notes": notes,
        "radiobiology": {k: jsonable(v) for k, v in spec.tissues.items()},
        "cycle_file": str(spec.file),
    })
    ref_path = spec.timepoints[spec.reference - 1].spect
    return CycleReport(dose, tia_bq_s, dvhs, tuple(rows), beds, summary,
                       ref_path if ref_path.is_dir() else None, ref, vois, fit_objects)


def write_cycle_outputs(report: CycleReport, out_dir: str | Path,
                        provenance: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``cycle.json``, ``dose.nii.gz``, ``dose_rtdose.dcm``, ``tia_bq_s.nii.gz`` and
    ``dvh.csv`` into ``out_dir`` (each atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "dose_nifti": write_volume(report.dose_gy, out / "dose.nii.gz"),
        "dose_rtdose": write_rtdose(report.dose_gy, out / "dose_rtdose.dcm",
                                    source=report.reference_dicom,
                                    dose_summation_type="RECORD",
                                    description="netdose PRRT cycle dose"),
        "tia_nifti": write_volume(report.tia_bq_s, out / "tia_bq_s.nii.gz"),
        "dvh_csv": atomic_write_text(out / "dvh.csv", dvh_csv(report.dvhs)),
    }
    files["report_json"] = write_result_json(out / "cycle.json", report.summary, files,
                                             provenance)
    return files
