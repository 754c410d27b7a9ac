"""Voxel dose prediction for SIRT from the Tc-99m MAA SPECT, and post-treatment Y-90 dose.

Models (docs/physics.md, section "SIRT voxel dose prediction"; text in docs/physics.md (section 10)):

- :func:`scale_maa_to_activity` — patient-relative calibration: the MAA counts inside the
  treated domain (perfused volume or whole liver) stand for the liver activity A·(1 − LSF);
  every voxel is scaled by the same factor k = A·(1 − LSF) / counts_in_mask (GBq per count),
  so that extrahepatic foci are scaled consistently.
- :func:`predicted_dose` — LDM: D = A_voxel · C / (ρ · V) with the plan's energy constant C
  (``SirtConstants.energy_constant_gy_kg_per_gbq``, 49.67 Gy·kg/GBq) and ρ the plan's tissue
  density (1.03 g/mL) or CT densities. DVK: the Y-90 electron kernel (ICRP-107, 0.93311 MeV
  per decay) convolved with the TIA (physical decay only: Ã = A · T½ / ln 2), then multiplied
  by C / C_kernel, C_kernel = E_emitted · T½/ln 2 · 1e9 Bq (49.77 Gy·kg/GBq), so that the
  voxel plan and the MIRD/partition prescription use one energy constant.
- :func:`compartment_metrics`, :func:`voxel_plan` — DVH metrics per compartment and the
  activity window of dose constraints (:func:`~netdose.sirt.prescription.activity_for_constraints`).
- :func:`post_treatment_dose`, :func:`compare_with_plan` — Y-90 PET (or calibrated
  bremsstrahlung SPECT) in Bq/mL at scan time: microspheres stay, so the TIA from implantation
  is A_scan · e^{λ (t_scan − t_implant)} · T½ / ln 2.

Doses are Gy, activities GBq (per voxel or administered), masses kg, volumes mL. Every result
records the constants it used.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from netdose.dosimetry.density import DENSITY_FLOOR_G_CM3, density_from_ct
from netdose.dosimetry.dose import dose_dvk
from netdose.dosimetry.dvh import dvh
from netdose.errors import InputError
from netdose.image import Image
from netdose.io.masks import NamedMask
from netdose.nuclides import get_nuclide
from netdose.sirt import _checks
from netdose.sirt.constants import DEFAULT_CONSTANTS, SirtConstants
from netdose.sirt.prescription import (
    DO_NOT_TREAT,
    ActivityPlan,
    Constraint,
    _metric,
    activity_for_constraints,
)
from netdose.units import BQ_PER_GBQ, J_PER_MEV, KG_PER_G, S_PER_H

__all__ = [
    "DEFAULT_METRICS",
    "NUCLIDE",
    "PostTreatmentDose",
    "PredictedDose",
    "VoxelPlan",
    "compare_with_plan",
    "compartment_metrics",
    "kernel_energy_constant_gy_kg_per_gbq",
    "post_treatment_dose",
    "predicted_dose",
    "scale_maa_to_activity",
    "voxel_plan",
]

#: The therapy nuclide.
NUCLIDE: str = "Y-90"
#: Metrics reported by :func:`compartment_metrics` by default: mean, D50/D70/D90 (Gy),
#: V100/V120 (% of the compartment volume receiving at least 100/120 Gy).
DEFAULT_METRICS: tuple[str, ...] = ("mean", "D50", "D70", "D90", "V100", "V120")
#: The structure name under which the lung dose per GBq (LSF · C / m_lung) is entered.
LUNG_KEY: str = "lung"

Method = Literal["ldm", "dvk"]
MaskLike = Image | NamedMask
_V_METRIC = re.compile(r"^[vV](\d+(?:\.\d+)?)$")


# =========================================================================== helpers
def _mask_image(obj: object, name: str, grid: Image, grid_name: str) -> Image:
    """Boolean Image of a mask (Image or NamedMask) on ``grid``."""
    if isinstance(obj, NamedMask):
        obj = obj.mask
    if not isinstance(obj, Image):
        raise InputError(
            f"mask {name!r} must be a boolean Image or a NamedMask on the {grid_name} grid; got "
            f"{type(obj).__name__}."
        )
    grid.require_same_grid(obj, grid_name, f"mask {name!r}")
    m = np.asarray(obj.array)
    if m.dtype != np.bool_:
        if np.issubdtype(m.dtype, np.integer) and np.isin(np.unique(m), (0, 1)).all():
            m = m.astype(bool)
        else:
            raise InputError(
                f"mask {name!r} must be boolean (or 0/1); got dtype {m.dtype}."
            )
        obj = obj.with_array(m)
    return obj


def _check_counts(image: object, name: str) -> Image:
    if not isinstance(image, Image):
        raise InputError(f"{name} must be an Image; got {type(image).__name__}.")
    image.require_finite(name)
    arr = image.array
    n_neg = int(np.count_nonzero(arr < 0))
    if n_neg:
        raise InputError(
            f"{name} has {n_neg} negative voxel(s) (most negative {float(arr.min()):.6g}). "
            "Counts and activity cannot be negative; reconstructed SPECT/PET often has small "
            "negative values: clip them explicitly (e.g. image.with_array(np.clip(a, 0, None))) "
            "if you accept that."
        )
    return image


def _method(method: object) -> str:
    if method not in ("ldm", "dvk"):
        raise InputError(f"unknown dose method {method!r}; use 'ldm' or 'dvk'.")
    return str(method)


def _constants(constants: object) -> SirtConstants:
    if not isinstance(constants, SirtConstants):
        raise InputError(
            f"constants must be a SirtConstants; got {type(constants).__name__}."
        )
    return constants


def kernel_energy_constant_gy_kg_per_gbq(emitted_energy_mev: float | None = None) -> float:
    """Energy constant (Gy·kg/GBq) that the Y-90 electron kernel's emitted energy implies.

    C_kernel = E · (T½ / ln 2) · 1e9 Bq/GBq · J/MeV, with E the electron energy per decay
    (ICRP-107: 0.93311 MeV; T½ = 64.10 h) -> 49.77 Gy·kg/GBq.

    Parameters
    ----------
    emitted_energy_mev : float, optional
        Energy per decay carried by the kernel's components, MeV; default the ICRP-107
        electron (beta + CE + Auger) energy of Y-90.
    """
    nuc = get_nuclide(NUCLIDE)
    e = nuc.electron_energy_mev if emitted_energy_mev is None else float(emitted_energy_mev)
    return e * J_PER_MEV * nuc.mean_life_s * BQ_PER_GBQ


def _dose_from_gbq(
    gbq_per_voxel: Image, method: str, constants: SirtConstants, ct: Image | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Dose (Gy, float64 array) of a map of activity per voxel (GBq, decaying physically in
    place from the map's time on), and the facts of the calculation."""
    c = constants.energy_constant_gy_kg_per_gbq
    rho_plan = constants.tissue_density_g_ml
    v_ml = gbq_per_voxel.voxel_volume_ml
    a = np.asarray(gbq_per_voxel.array, dtype=np.float64)
    facts: dict[str, Any] = {
        "method": method,
        "nuclide": NUCLIDE,
        "energy_constant_gy_kg_per_gbq": c,
        "voxel_volume_ml": v_ml,
    }
    if ct is not None:
        gbq_per_voxel.require_same_grid(ct, "the activity map", "CT")
    if method == "ldm":
        if ct is None:
            rho: np.ndarray | float = rho_plan
            facts.update(density_g_ml=rho_plan, density_source="SirtConstants.tissue_density_g_ml")
        else:
            raw = np.asarray(density_from_ct(ct).array, dtype=np.float64)
            facts.update(
                density_source="CT, Schneider et al. 2000 HU-density calibration",
                density_floor_g_cm3=DENSITY_FLOOR_G_CM3,
                voxels_at_density_floor=int(np.count_nonzero(raw < DENSITY_FLOOR_G_CM3)),
            )
            rho = np.maximum(raw, DENSITY_FLOOR_G_CM3)
        mass_kg = np.asarray(rho) * v_ml * KG_PER_G
        dose = a * c / mass_kg
        facts.update(kernel_energy_constant_gy_kg_per_gbq=None, dvk_rescale_factor=None)
        return dose, facts

    nuc = get_nuclide(NUCLIDE)
    tia_bq_s = gbq_per_voxel.with_array(a * BQ_PER_GBQ * nuc.mean_life_s)
    res = dose_dvk(tia_bq_s, NUCLIDE, density_g_cm3=rho_plan, ct=ct)
    kernel = res.constants["kernel"]
    emitted = float(sum(kernel["emitted_energy_mev"].values()))
    c_kernel = kernel_energy_constant_gy_kg_per_gbq(emitted)
    factor = c / c_kernel
    dose = np.asarray(res.dose_gy.array, dtype=np.float64) * factor
    facts.update(
        kernel_energy_constant_gy_kg_per_gbq=c_kernel,
        dvk_rescale_factor=factor,
        kernel_emitted_energy_mev=emitted,
        kernel_escaped_fraction=kernel.get("escaped_fraction"),
        kernel_density_g_cm3=rho_plan,
        half_life_h=nuc.half_life_h,
        tia_model="physical decay only: TIA = A · T½ / ln 2",
        dvk_rescale_reason=(
            "the DVK dose is multiplied by C / C_kernel so that the total energy equals the "
            "plan's energy constant C, the one the MIRD/partition prescription uses"
        ),
        density_source=res.constants.get("density_source"),
    )
    return dose, facts


# =========================================================================== results
@dataclasses.dataclass(frozen=True)
class PredictedDose:
    """Voxel dose predicted from the MAA SPECT for one administered activity.

    Attributes
    ----------
    dose_gy : Image
        Absorbed dose, Gy, float32, shape (z, y, x) of the MAA grid.
    gy_per_gbq : Image
        Dose per GBq administered, Gy/GBq, float64 (dose is linear in activity; kept in
        float64 because the activity solver divides limits by its metrics).
    activity_gbq : float
        Activity administered (delivered to the patient), GBq.
    lsf : float
        Lung shunt fraction used.
    method : str
        ``"ldm"`` or ``"dvk"``.
    gbq_per_count : float
        Calibration k = A·(1 − LSF) / counts_in_mask, GBq per count.
    counts_in_mask : float
        MAA counts inside the treated-domain mask.
    activity_in_grid_gbq : float
        Total activity of the scaled map, GBq (≥ A·(1 − LSF): extrahepatic counts included).
    energy_constant_gy_kg_per_gbq : float
        C used (the plan's).
    kernel_energy_constant_gy_kg_per_gbq : float or None
        DVK: C_kernel from the kernel's emitted energy; LDM: None.
    constants : dict
        ``SirtConstants.as_dict()`` plus the dose calculation facts under ``"dose"``.
    """

    dose_gy: Image
    gy_per_gbq: Image
    activity_gbq: float
    lsf: float
    method: str
    gbq_per_count: float
    counts_in_mask: float
    activity_in_grid_gbq: float
    energy_constant_gy_kg_per_gbq: float
    kernel_energy_constant_gy_kg_per_gbq: float | None
    constants: dict[str, Any]

    def at_activity(self, activity_gbq: float) -> PredictedDose:
        """The same prediction for another administered activity (GBq, > 0)."""
        a = _checks.positive("activity_gbq", activity_gbq, "GBq")
        g = np.asarray(self.gy_per_gbq.array, dtype=np.float64)
        ratio = a / self.activity_gbq
        return dataclasses.replace(
            self,
            dose_gy=self.gy_per_gbq.with_array((g * a).astype(np.float32),
                                               meta={"quantity": "dose_gy"}),
            activity_gbq=a,
            gbq_per_count=self.gbq_per_count * ratio,
            activity_in_grid_gbq=self.activity_in_grid_gbq * ratio,
        )


@dataclasses.dataclass(frozen=True)
class VoxelPlan:
    """Activity chosen from voxel-dose constraints, with the dose predicted at it.

    Attributes
    ----------
    plan : ActivityPlan
        The solver's result (window, binding limits, reasons).
    status : str
        ``"treat"`` or ``"do not treat"``.
    reasons : tuple of str
    activity_gbq : float
        The chosen activity, or the largest activity the limits allow when infeasible
        (``plan.evaluated_at_gbq``), GBq.
    dose_per_gbq : dict
        ``"structure:metric"`` -> Gy per GBq, as given to the solver (incl. ``lung:mean``).
    predicted : PredictedDose
        Dose map at ``activity_gbq``.
    metrics : dict
        :func:`compartment_metrics` of ``predicted.dose_gy`` for every mask, plus
        ``"lung"`` -> {"mean": LSF·C·A/m_lung}.
    lung_mass_kg : float
    lung_dose_gy : float
    cumulative_lung_dose_gy : float
    warnings : tuple of str
    constants : dict
    """

    plan: ActivityPlan
    status: str
    reasons: tuple[str, ...]
    activity_gbq: float
    dose_per_gbq: dict[str, float]
    predicted: PredictedDose
    metrics: dict[str, dict[str, float]]
    lung_mass_kg: float
    lung_dose_gy: float
    cumulative_lung_dose_gy: float
    warnings: tuple[str, ...]
    constants: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class PostTreatmentDose:
    """Absorbed dose delivered by the implanted Y-90, from a post-treatment scan.

    Attributes
    ----------
    dose_gy : Image
        Gy, float32, on the scan grid.
    method : str
    activity_at_implant_gbq : float
        Activity of the scan decay-corrected to implantation, summed over the grid, GBq.
    elapsed_h : float
        t_scan − t_implant, h (≥ 0).
    decay_correction : float
        e^{λ (t_scan − t_implant)}.
    metrics : dict
        :func:`compartment_metrics` per mask.
    constants : dict
    masks : dict
        The masks of the metrics (used by :func:`compare_with_plan`).
    """

    dose_gy: Image
    method: str
    activity_at_implant_gbq: float
    elapsed_h: float
    decay_correction: float
    metrics: dict[str, dict[str, float]]
    constants: dict[str, Any]
    masks: dict[str, MaskLike] = dataclasses.field(default_factory=dict, repr=False)


# =========================================================================== calibration
def scale_maa_to_activity(
    maa_counts: Image, liver_mask: MaskLike, activity_gbq: float, lsf: float
) -> Image:
    """Y-90 activity per voxel (GBq, float64) from the MAA SPECT by patient-relative calibration.

    k = A · (1 − LSF) / Σ_mask counts; every voxel (also outside the mask) is multiplied by k.

    Parameters
    ----------
    maa_counts : Image
        MAA SPECT counts (or any quantity proportional to activity), shape (z, y, x), ≥ 0.
    liver_mask : Image or NamedMask
        The treated domain (perfused volume or whole liver) on the SPECT grid.
    activity_gbq : float
        Administered Y-90 activity, GBq (> 0).
    lsf : float
        Lung shunt fraction in [0, 1) (required: netdose does not assume one).

    Raises
    ------
    InputError
        Negative or non-finite counts, empty mask or zero counts in it, bad A or LSF.
    GeometryError
        Mask not on the SPECT grid.
    """
    a = _checks.positive("activity_gbq", activity_gbq, "GBq")
    return _scaled(maa_counts, liver_mask, a, lsf)[0]


def _scaled(
    maa_counts: Image, liver_mask: MaskLike, activity_gbq: float, lsf: float
) -> tuple[Image, float, float]:
    """(GBq per voxel image, k in GBq per count, counts in mask)."""
    shunt = _checks.fraction_below_one("lsf", lsf)
    counts = _check_counts(maa_counts, "the MAA SPECT")
    name = getattr(liver_mask, "name", None) or (
        liver_mask.meta.get("mask_name", "liver mask") if isinstance(liver_mask, Image)
        else "liver mask"
    )
    mask = _mask_image(liver_mask, str(name), counts, "the MAA SPECT")
    arr = np.asarray(counts.array, dtype=np.float64)
    m = np.asarray(mask.array, dtype=bool)
    if not m.any():
        raise InputError(
            f"mask {name!r} is empty on the MAA SPECT grid: it cannot define the liver "
            "activity. Check that the mask belongs to this SPECT."
        )
    in_mask = float(arr[m].sum())
    if not in_mask > 0.0:
        raise InputError(
            f"the MAA SPECT has no counts inside mask {name!r}: the calibration "
            "A·(1 − LSF) / counts is undefined. Check the mask and the image."
        )
    k = activity_gbq * (1.0 - shunt) / in_mask
    out = counts.with_array(arr * k, meta={**counts.meta, "quantity": "y90_activity_gbq_per_voxel"})
    return out, k, in_mask


def tumour_to_normal_ratio(maa_counts: Image, tumour_mask: MaskLike, normal_mask: MaskLike) -> float:
    """Tumour-to-normal ratio for the partition model: the ratio of MAA counts per mL (a
    concentration ratio) in the tumour and in the perfused normal liver.

    Parameters
    ----------
    maa_counts : Image
        MAA SPECT counts, shape (z, y, x), ≥ 0.
    tumour_mask, normal_mask : Image or NamedMask
        Masks on the SPECT grid (several tumours: pass their union).

    Returns
    -------
    float
        TNR = (C_tumour / V_tumour) / (C_normal / V_normal).
    """
    counts = _check_counts(maa_counts, "the MAA SPECT")
    arr = np.asarray(counts.array, dtype=np.float64)
    means = []
    for what, mask_like in (("tumour", tumour_mask), ("normal liver", normal_mask)):
        name = str(getattr(mask_like, "name", None) or what)
        m = np.asarray(_mask_image(mask_like, name, counts, "the MAA SPECT").array, dtype=bool)
        if not m.any():
            raise InputError(f"{what} mask {name!r} is empty on the MAA SPECT grid.")
        means.append(float(arr[m].mean()))
    if not means[1] > 0.0:
        raise InputError(
            "the MAA SPECT has no counts in the normal-liver mask: the tumour-to-normal ratio is "
            "undefined (is the mask the perfused normal liver?)."
        )
    return means[0] / means[1]


# =========================================================================== prediction
def predicted_dose(
    maa_counts: Image,
    liver_mask: MaskLike,
    activity_gbq: float,
    lsf: float,
    *,
    method: Method = "ldm",
    constants: SirtConstants = DEFAULT_CONSTANTS,
    ct: Image | None = None,
) -> PredictedDose:
    """Voxel dose predicted from the MAA SPECT for an administered activity.

    Parameters
    ----------
    maa_counts : Image
        MAA SPECT counts, shape (z, y, x), ≥ 0.
    liver_mask : Image or NamedMask
        Treated domain whose counts represent A·(1 − LSF).
    activity_gbq : float
        Administered activity, GBq (> 0).
    lsf : float
        Lung shunt fraction in [0, 1); required (0.0 must be given explicitly).
    method : {"ldm", "dvk"}
        Local deposition, or Y-90 kernel convolution rescaled to the plan's constant.
    constants : SirtConstants
        Energy constant C and tissue density (recorded).
    ct : Image, optional
        CT (HU) on the SPECT grid for voxel densities (floored at 0.05 g/cm3).

    Returns
    -------
    PredictedDose
    """
    a = _checks.positive("activity_gbq", activity_gbq, "GBq")
    c = _constants(constants)
    meth = _method(method)
    gbq_map, k, in_mask = _scaled(maa_counts, liver_mask, 1.0, lsf)
    per_gbq, facts = _dose_from_gbq(gbq_map, meth, c, ct)
    total_per_gbq = float(np.sum(gbq_map.array))
    return PredictedDose(
        dose_gy=gbq_map.with_array((per_gbq * a).astype(np.float32), meta={"quantity": "dose_gy"}),
        gy_per_gbq=gbq_map.with_array(per_gbq,
                                      meta={"quantity": "dose_gy_per_gbq_administered"}),
        activity_gbq=a,
        lsf=float(lsf),
        method=meth,
        gbq_per_count=k * a,
        counts_in_mask=in_mask,
        activity_in_grid_gbq=total_per_gbq * a,
        energy_constant_gy_kg_per_gbq=c.energy_constant_gy_kg_per_gbq,
        kernel_energy_constant_gy_kg_per_gbq=facts["kernel_energy_constant_gy_kg_per_gbq"],
        constants={**c.as_dict(), "dose": facts},
    )


# =========================================================================== metrics
def _parse_metric(metric: object) -> tuple[str, str, float | None]:
    """(canonical name, kind, parameter): kind mean/max/min/median/D/Dcc/V."""
    if isinstance(metric, str):
        mv = _V_METRIC.match(metric.strip())
        if mv:
            x = float(mv.group(1))
            return f"V{mv.group(1)}", "V", x
    name = _metric(metric)
    if name in ("mean", "max", "min", "median"):
        return name, name, None
    if name.endswith("cc"):
        return name, "Dcc", float(name[1:-2])
    return name, "D", float(name[1:])


def compartment_metrics(
    dose_gy: Image,
    masks: Mapping[str, MaskLike],
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    density_g_ml: float | None = None,
) -> dict[str, dict[str, float]]:
    """DVH metrics of each compartment (exact on the voxels, :func:`netdose.dosimetry.dvh`).

    Parameters
    ----------
    dose_gy : Image
        Dose map, Gy, shape (z, y, x).
    masks : mapping of str to Image or NamedMask
        Compartments on the dose grid (binary masks; partial-volume fractions are not used).
    metrics : sequence of str
        ``mean``, ``max``, ``min``, ``median`` (Gy), ``D<p>`` (minimum dose to the hottest
        p % of the volume, Gy), ``D<v>cc`` (Gy) and ``V<x>`` (% of the volume with ≥ x Gy).
    density_g_ml : float, optional
        Density for the reported ``mass_kg``.

    Returns
    -------
    dict
        ``{name: {metric: value, "volume_ml": ..., "mass_kg": ..., "n_voxels": ...}}``.
    """
    if not isinstance(masks, Mapping) or not masks:
        raise InputError("masks must be a non-empty mapping of name to mask.")
    parsed = [_parse_metric(m) for m in metrics]
    out: dict[str, dict[str, Any]] = {}
    for name, obj in masks.items():
        mask = _mask_image(obj, str(name), dose_gy, "the dose map")
        h = dvh(dose_gy, mask, name=str(name), density_g_cm3=density_g_ml)
        row: dict[str, Any] = {}
        for key, kind, x in parsed:
            if kind == "mean":
                row[key] = h.mean_gy
            elif kind == "max":
                row[key] = h.max_gy
            elif kind == "min":
                row[key] = h.min_gy
            elif kind == "median":
                row[key] = h.d(50.0)
            elif kind == "D":
                row[key] = h.d(float(x or 0.0))
            elif kind == "Dcc":
                row[key] = h.d(min(100.0, 100.0 * float(x or 0.0) / h.volume_ml))
            else:
                row[key] = h.v(float(x or 0.0))
        row["volume_ml"] = h.volume_ml
        row["mass_kg"] = h.mass_kg
        row["n_voxels"] = h.n_voxels
        out[str(name)] = row
    return out


# =========================================================================== voxel plan
def voxel_plan(
    maa_counts: Image,
    masks: Mapping[str, MaskLike],
    treated_mask_name: str,
    lsf: float,
    constraints: Sequence[Constraint],
    *,
    lung_mass_kg: float | None,
    previous_lung_doses_gy: Sequence[float],
    method: Method = "ldm",
    constants: SirtConstants = DEFAULT_CONSTANTS,
    ct: Image | None = None,
) -> VoxelPlan:
    """Activity from voxel-dose constraints on the MAA-predicted dose.

    The dose map for 1 GBq gives, for every compartment and every metric a constraint uses,
    k in D = k · A (dose metrics are linear in A; volume metrics are refused by
    :class:`Constraint`). ``lung:mean`` = LSF · C / m_lung per GBq (the standard lung model,
    not the map). The cumulative lung limit (``constants.cumulative_lung_dose_limit_gy``
    minus the earlier lung doses) is added as the limit ``lung_cumulative mean``.
    :func:`activity_for_constraints` picks the largest activity every limit allows.

    Parameters
    ----------
    maa_counts : Image
        MAA SPECT counts, ≥ 0.
    masks : mapping of str to Image or NamedMask
        Compartments named as in the constraints (``"lung"`` is reserved for the lung model).
    treated_mask_name : str
        The key of ``masks`` whose counts represent A·(1 − LSF).
    lsf : float
        Lung shunt fraction in [0, 1), required.
    constraints : sequence of Constraint
        At least one limit.
    lung_mass_kg : float or None
        Patient lung mass, kg; None: ``constants.lung_mass_kg`` with a warning.
    previous_lung_doses_gy : sequence of float
        Earlier treatments' lung doses, Gy (``[]`` when none).
    method : {"ldm", "dvk"}
    constants : SirtConstants
    ct : Image, optional

    Returns
    -------
    VoxelPlan
        Infeasible: ``status == "do not treat"``, the dose evaluated at the largest activity
        the limits allow.
    """
    c = _constants(constants)
    if not isinstance(masks, Mapping) or treated_mask_name not in masks:
        raise InputError(
            f"treated_mask_name {treated_mask_name!r} is not among the masks "
            f"({', '.join(map(str, masks)) if isinstance(masks, Mapping) else 'none'})."
        )
    shunt = _checks.fraction_below_one("lsf", lsf)
    previous = _checks.dose_list("previous_lung_doses_gy", previous_lung_doses_gy)
    warnings: list[str] = []
    if lung_mass_kg is None:
        m_lung = c.lung_mass_kg
        warnings.append(
            f"lung mass {m_lung:g} kg is the standard value (SirtConstants.lung_mass_kg); give "
            "the patient's CT lung mass as lung_mass_kg"
        )
    else:
        m_lung = _checks.positive("lung_mass_kg", lung_mass_kg, "kg")
    if isinstance(constraints, Constraint) or not isinstance(constraints, Sequence) or not (
        constraints
    ):
        raise InputError("constraints must be a non-empty list of Constraint objects.")
    for con in constraints:
        if not isinstance(con, Constraint):
            raise InputError(f"{con!r} is not a Constraint.")
        if con.structure != LUNG_KEY and con.structure not in masks:
            raise InputError(
                f"constraint '{con}' is on {con.structure!r}, which is not among the masks "
                f"({', '.join(map(str, masks))})."
            )
        if con.structure == LUNG_KEY and con.metric != "mean":
            raise InputError(
                f"constraint '{con}': the lung dose is the mean of the lung model "
                "(LSF · C · A / m_lung); only 'lung mean' constraints are possible."
            )

    base = predicted_dose(maa_counts, masks[treated_mask_name], 1.0, shunt, method=method,
                          constants=c, ct=ct)
    organ_masks = {k: v for k, v in masks.items() if k != LUNG_KEY}
    if LUNG_KEY in masks:
        warnings.append(
            f"mask {LUNG_KEY!r}: its map metrics are not used for the lung constraint; the lung "
            "dose is LSF · C · A / m_lung"
        )
    needed = sorted({con.metric for con in constraints if con.structure != LUNG_KEY})
    per_gbq_metrics = compartment_metrics(
        base.gy_per_gbq, {k: organ_masks[k] for k in
                       {con.structure for con in constraints if con.structure != LUNG_KEY}},
        metrics=needed,
    ) if needed else {}
    cte = c.energy_constant_gy_kg_per_gbq
    lung_per_gbq = shunt * cte / m_lung
    table: dict[str, float] = {f"{LUNG_KEY}:mean": lung_per_gbq}
    for con in constraints:
        if con.structure != LUNG_KEY:
            table[con.key] = float(per_gbq_metrics[con.structure][con.metric])

    all_constraints = list(constraints)
    headroom = c.cumulative_lung_dose_limit_gy - math.fsum(previous)
    extra_reasons: list[str] = []
    if headroom > 0.0:
        table["lung_cumulative:mean"] = lung_per_gbq
        all_constraints.append(Constraint("lung_cumulative", "mean", "<=", headroom))
    else:
        extra_reasons.append(
            f"earlier lung doses {math.fsum(previous):g} Gy use up the "
            f"{c.cumulative_lung_dose_limit_gy:g} Gy cumulative lung limit"
        )
    plan = activity_for_constraints(table, all_constraints)
    if extra_reasons:
        plan = dataclasses.replace(
            plan, status=DO_NOT_TREAT, feasible=False, activity_gbq=None,
            reasons=plan.reasons + tuple(extra_reasons),
        )
    at = plan.activity_gbq if plan.activity_gbq is not None else plan.evaluated_at_gbq
    predicted = base.at_activity(at)
    metrics = compartment_metrics(predicted.dose_gy, organ_masks,
                                  density_g_ml=c.tissue_density_g_ml)
    lung = lung_per_gbq * at
    metrics[LUNG_KEY] = {"mean": lung, "mass_kg": m_lung}
    return VoxelPlan(
        plan=plan,
        status=plan.status,
        reasons=plan.reasons,
        activity_gbq=at,
        dose_per_gbq=table,
        predicted=predicted,
        metrics=metrics,
        lung_mass_kg=m_lung,
        lung_dose_gy=lung,
        cumulative_lung_dose_gy=math.fsum(previous) + lung,
        warnings=tuple(warnings) + plan.warnings,
        constants=predicted.constants,
    )


# =========================================================================== post-treatment
def post_treatment_dose(
    y90_activity_bq_ml: Image,
    *,
    scan_datetime: _dt.datetime,
    implant_datetime: _dt.datetime,
    masks: Mapping[str, MaskLike],
    constants: SirtConstants = DEFAULT_CONSTANTS,
    method: Method = "ldm",
    ct: Image | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> PostTreatmentDose:
    """Dose delivered by the implanted Y-90 from a quantitative post-treatment scan.

    Microspheres do not wash out: Ã = A_scan · e^{λ (t_scan − t_implant)} · T½ / ln 2 from
    implantation on. The dose follows as in :func:`predicted_dose` (same C, density and DVK
    rescaling), so it can be compared with the plan.

    Parameters
    ----------
    y90_activity_bq_ml : Image
        Y-90 PET (or bremsstrahlung SPECT calibrated to Bq/mL), Bq/mL at scan time, ≥ 0.
    scan_datetime, implant_datetime : datetime.datetime
        Timezone-aware; the scan cannot be before the implantation.
    masks : mapping of str to Image or NamedMask
        Compartments for the metrics.
    constants : SirtConstants
    method : {"ldm", "dvk"}
    ct : Image, optional
    metrics : sequence of str
        As in :func:`compartment_metrics`.
    """
    c = _constants(constants)
    meth = _method(method)
    t_scan = _checks.aware_datetime("scan_datetime", scan_datetime)
    t_imp = _checks.aware_datetime("implant_datetime", implant_datetime)
    elapsed_s = (t_scan - t_imp).total_seconds()
    if elapsed_s < 0.0:
        raise InputError(
            f"scan_datetime {t_scan.isoformat()} is before implant_datetime "
            f"{t_imp.isoformat()}: a post-treatment scan is acquired after implantation; check "
            "both dates and time zones."
        )
    img = _check_counts(y90_activity_bq_ml, "the Y-90 activity map")
    nuc = get_nuclide(NUCLIDE)
    corr = 1.0 / float(nuc.decay_factor(elapsed_s))
    gbq = np.asarray(img.array, dtype=np.float64) * img.voxel_volume_ml * corr / BQ_PER_GBQ
    gbq_map = img.with_array(gbq, meta={**img.meta, "quantity": "y90_gbq_per_voxel_at_implant"})
    dose, facts = _dose_from_gbq(gbq_map, meth, c, ct)
    dose_img = img.with_array(dose.astype(np.float32), meta={"quantity": "dose_gy"})
    facts.update(decay_correction_to_implant=corr, elapsed_h=elapsed_s / S_PER_H,
                 scan_datetime=t_scan.isoformat(), implant_datetime=t_imp.isoformat())
    return PostTreatmentDose(
        dose_gy=dose_img,
        method=meth,
        activity_at_implant_gbq=float(gbq.sum()),
        elapsed_h=elapsed_s / S_PER_H,
        decay_correction=corr,
        metrics=compartment_metrics(dose_img, masks, metrics=metrics,
                                    density_g_ml=c.tissue_density_g_ml),
        constants={**c.as_dict(), "dose": facts},
        masks=dict(masks),
    )


_NON_METRIC_KEYS = ("volume_ml", "mass_kg", "n_voxels")


def compare_with_plan(
    post: PostTreatmentDose,
    planned: PredictedDose | VoxelPlan | Mapping[str, Mapping[str, float]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Planned vs delivered metrics per compartment.

    Parameters
    ----------
    post : PostTreatmentDose
    planned : PredictedDose, VoxelPlan or mapping
        A predicted dose map (its metrics are computed on the masks of ``post``, which must
        then be on the same grid) or ``{compartment: {metric: value}}``.

    Returns
    -------
    dict
        ``{compartment: {metric: {"planned", "delivered", "difference", "difference_pct",
        "unit"}}}`` for every compartment and metric present in both; ``difference`` =
        delivered − planned (Gy, or percentage points for V metrics), ``difference_pct`` =
        100 · difference / planned (None when planned is 0).
    """
    if not isinstance(post, PostTreatmentDose):
        raise InputError(f"post must be a PostTreatmentDose; got {type(post).__name__}.")
    if isinstance(planned, VoxelPlan):
        planned = planned.predicted
    if isinstance(planned, PredictedDose):
        masks = post.masks
        metric_names = [k for k in next(iter(post.metrics.values())) if k not in _NON_METRIC_KEYS]
        planned = compartment_metrics(planned.dose_gy, masks, metrics=metric_names)
    if not isinstance(planned, Mapping):
        raise InputError(
            "planned must be a PredictedDose, a VoxelPlan or a mapping compartment -> metrics."
        )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for comp, delivered in post.metrics.items():
        if comp not in planned:
            continue
        rows = {}
        for key, d in delivered.items():
            if key in _NON_METRIC_KEYS or key not in planned[comp]:
                continue
            p = float(planned[comp][key])
            diff = float(d) - p
            rows[key] = {
                "planned": p,
                "delivered": float(d),
                "difference": diff,
                "difference_pct": 100.0 * diff / p if p != 0.0 else None,
                "unit": "% of volume (difference in percentage points)"
                if key.startswith("V") else "Gy",
            }
        out[comp] = rows
    return out
