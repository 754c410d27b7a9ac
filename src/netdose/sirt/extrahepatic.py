"""Extrahepatic (gastro-intestinal) MAA deposition on the Tc-99m MAA SPECT before SIRT.

Microspheres that reach the stomach, duodenum, bowel or pancreas through hepatico-enteric
arteries (gastroduodenal, right gastric, accessory left gastric, falciform...) cause
ulceration, pancreatitis or cholecystitis. A focal MAA deposit in a GI organ is therefore a
contraindication to treat **unless** the culprit vessel is embolised or the catheter is
repositioned distal to it and the MAA study confirms it is gone. This module finds focal
uptake outside the liver, says where it is and how much, and which rule fired.

Algorithm (docs/physics.md (section 9); every constant is recorded in the report):

1. **Smoothing**: Gaussian, sigma :data:`SMOOTHING_SIGMA_VOXELS` voxel along each axis
   ("nearest" boundary), to reject single-voxel noise. Raw counts are used for all sums.
2. **Reference**: R = mean smoothed counts in the liver mask. MAA concentration relative to
   the liver is predicted Y-90 dose relative to the liver (same microsphere surrogate), so a
   relative threshold is a dose threshold. With a lobar or segmental injection R is diluted
   by the non-perfused liver, which makes the detector *more* sensitive (safe direction).
3. **Where**: outside the liver and outside a margin of :data:`LIVER_MARGIN_MM` around it
   (liver spill-out, SPECT/CT misregistration) -- except that organ masks given by the
   caller (GI, gallbladder, ...) are searched inside the margin and inside the liver mask
   too, so that a deposit next to the liver is not hidden.
4. **Foci**: 26-connected components of the voxels with smoothed counts >=
   :data:`FOCAL_THRESHOLD_REL_LIVER` x R. Each focus's *extent* holds the voxels >=
   :data:`EXTENT_FRACTION_OF_THRESHOLD` x that threshold within :data:`EXTENT_GROWTH_MM` of
   it, each voxel given to its nearest focus; a focus is kept when its extent is at least
   :data:`MIN_FOCUS_VOLUME_ML` (and :data:`MIN_FOCUS_VOXELS` voxels). Per focus: raw counts
   over the extent, fraction of all counts in the field of view (and of the injected
   activity when known), volume of its core (voxels >= :data:`CORE_FRACTION` of its smoothed
   peak: the usual 50 % isocontour), count-weighted centroid (LPS mm), distance to the
   liver, overlap with each organ mask, predicted Y-90 dose when asked.
5. **Liver spill-out test**: the focus's peak relative to the hottest liver voxel within
   :data:`LIVER_SPILL_SEARCH_MM` is compared with the level blurring of the liver can give
   at the peak's distance from the liver (:func:`expected_liver_spill`).
6. **Assignment and severity** by the organ its core (else its extent) overlaps, the most
   severe role winning (:func:`organ_role`):

   ===========================  ========================================================  ========
   rule                         when                                                      severity
   ===========================  ========================================================  ========
   GI_FOCUS                     GI tract or pancreas, beyond the margin, not spill-out    block
   GALLBLADDER_FOCUS            gallbladder (not spill-out, not only in the margin)       warning
   OTHER_ORGAN_FOCUS            another named organ (spleen, unknown name)                warning
   ORGAN_FOCUS_AT_LIVER_EDGE    a GI/gallbladder/other organ, only within the margin, or  warning
                                beyond it but at the spill-out level
   ORGAN_UPTAKE_LIVER_SPILL     ... only within the margin *and* at the spill-out level   info
   UNASSIGNED_FOCUS             no organ mask, above the spill-out level                  warning
   LIVER_EDGE_SPILL             no organ mask, at or below the spill-out level            info
   LUNG_UPTAKE                  lungs (lung shunt: quantified by the LSF check)           info
   PERTECHNETATE_ORGAN_FOCUS    thyroid, salivary glands, kidneys, bladder                info
   DIFFUSE_GASTRIC              stomach mean >= :data:`GASTRIC_DIFFUSE_REL` x R, no focus  info
   PERTECHNETATE_ORGAN_DIFFUSE  thyroid/salivary/kidney/bladder mean >=                   info
                                :data:`PERTECHNETATE_UPTAKE_REL` x R
   ===========================  ========================================================  ========

   The two diffuse rules say "possible free pertechnetate" (not deposition: check the
   labelling efficiency).

GI organs without a mask cannot be checked by organ: the report lists them in
``not_checked`` and every focus there is "unassigned". Visual review of the fused SPECT/CT
remains required: this is a second reader, not a replacement.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import scipy.ndimage

from netdose.dosimetry.density import SOFT_TISSUE_DENSITY_G_CM3
from netdose.errors import InputError, LimitExceeded
from netdose.image import Image
from netdose.io.masks import NamedMask
from netdose.io.totalsegmentator_classes import GI
from netdose.sirt.constants import ENERGY_CONSTANT_GY_KG_PER_GBQ, ENERGY_CONSTANT_SOURCE
from netdose.units import KG_PER_G

__all__ = [
    "CORE_FRACTION",
    "EXTENT_FRACTION_OF_THRESHOLD",
    "EXTENT_GROWTH_MM",
    "FOCAL_THRESHOLD_REL_LIVER",
    "GASTRIC_DIFFUSE_REL",
    "HEPATIC_OVERLAP_FRACTION",
    "LIVER_MARGIN_MM",
    "LIVER_MISREGISTRATION_MM",
    "LIVER_SPILL_FWHM_MM",
    "LIVER_SPILL_SEARCH_MM",
    "MIN_FOCUS_VOLUME_ML",
    "MIN_FOCUS_VOXELS",
    "PERTECHNETATE_UPTAKE_REL",
    "ROLES",
    "SMOOTHING_SIGMA_VOXELS",
    "ExtrahepaticReport",
    "Finding",
    "check_extrahepatic",
    "expected_liver_spill",
    "organ_role",
]

# ---------------------------------------------------------------------- constants
#: Gaussian smoothing before detection, in voxels along each axis (sigma). One voxel of a
#: 4-5 mm MAA SPECT: divides the noise variance of independent voxels by (4 pi)^1.5 = 45
#: (standard deviation / 6.7) while widening a 12-15 mm FWHM system response by 20-30 %.
SMOOTHING_SIGMA_VOXELS: float = 1.0
#: Focal threshold: smoothed counts >= this x mean liver counts. MAA concentration relative to
#: the liver is predicted Y-90 dose relative to the liver; half the mean liver level means
#: tens of Gy to a GI wall at usual prescriptions (GI ulceration has followed far less).
#: Below it lie the diffuse MAA backgrounds: on the public MAA sample kidneys reach 0.29-0.39
#: x the liver mean and body noise (99.9th percentile of raw voxels) 0.32 x; lungs at an LSF
#: of 30 % are 0.15 x on the SIRT phantom (docs/physics.md (section 9)).
FOCAL_THRESHOLD_REL_LIVER: float = 0.5
#: Extent of a focus, for its counts and the minimum-volume test: the voxels with smoothed
#: counts >= this fraction of the focal threshold (0.25 x liver mean by default) within
#: :data:`EXTENT_GROWTH_MM` of the voxels above the focal threshold (hysteresis, as in Canny
#: edge detection). A focus blurred by the SPECT spreads its counts beyond its
#: half-maximum: summing over this extent recovers most of them, and a faint but real focus
#: (peak just above the threshold) is not lost to the minimum volume.
EXTENT_FRACTION_OF_THRESHOLD: float = 0.5
#: How far (mm) the extent may grow beyond the voxels above the focal threshold: about 2/3
#: of the 12-15 mm FWHM of MAA SPECT, so that the extent holds most of the counts of a
#: blurred focus without running along the whole spill-out rim of the liver.
EXTENT_GROWTH_MM: float = 10.0
#: Margin around the liver (mm) where unassigned uptake is not searched: liver spill-out of
#: a 12-15 mm FWHM SPECT and the misregistration of a free-breathing SPECT with its CT (about
#: 5-10 mm). 9 mm = 2 voxels of a 4.4 mm SPECT. Organ masks are still searched there (with
#: at most a warning).
LIVER_MARGIN_MM: float = 9.0
#: Liver spill-out test. The highest level that blurring of the liver can put at a distance
#: d (mm) outside the liver mask, relative to the hottest liver voxel nearby, is taken as
#: Phi(-(d - LIVER_MISREGISTRATION_MM) / sigma), sigma = LIVER_SPILL_FWHM_MM / 2.3548
#: (Gaussian edge response). A focus whose smoothed peak is at or below that level is
#: explained by liver (tumour) activity: rules LIVER_EDGE_SPILL / ORGAN_UPTAKE_LIVER_SPILL.
#: Effective FWHM: a 15 mm Tc-99m SPECT (LEHR collimator, clinical reconstruction) combined
#: with the 1-voxel smoothing of a 4.4 mm grid, sqrt(15^2 + (2.3548 x 4.4)^2) = 18 mm.
LIVER_SPILL_FWHM_MM: float = 18.0
#: SPECT/CT misregistration allowed for in the spill-out test (mm): free-breathing SPECT
#: against a breath-hold or free-breathing CT shifts the liver dome and edges by about
#: 5-10 mm. At the edge of the 9 mm margin the test then accepts up to
#: Phi(-(9 - 6) / 7.6) = 35 % of the nearby liver maximum. On the public MAA sample four
#: liver-edge tails next to its hot tumours have ratios 0.11-0.16 (spill-out), one 0.30 at
#: 10 mm where 0.29 is expected (kept as a warning), the focus at the hilum 0.74.
LIVER_MISREGISTRATION_MM: float = 6.0
#: Radius (mm) searched for the hottest liver voxel of the spill-out test (margin + ~1 FWHM).
LIVER_SPILL_SEARCH_MM: float = 20.0
#: Smallest focus kept (mL of its extent, see EXTENT_*). 0.5 mL is ~6 voxels of a
#: 4.4 mm SPECT and less than the resolution volume of MAA SPECT (a sphere of one FWHM,
#: 12-15 mm: 0.9-1.8 mL), so any focus bright enough to matter is larger, while smoothed
#: single-voxel noise is not.
MIN_FOCUS_VOLUME_ML: float = 0.5
#: ... and at least this many voxels (for fine grids).
MIN_FOCUS_VOXELS: int = 2
#: Core of a focus: voxels >= this fraction of its smoothed peak (50 % isocontour); gives the
#: reported volume and centroid.
CORE_FRACTION: float = 0.5
#: Diffuse gastric uptake (mean smoothed counts in the stomach mask >= this x liver mean,
#: with no focus in the stomach) -> "possible free pertechnetate" (info). Free Tc-99m
#: pertechnetate concentrates in the gastric mucosa; 0.1 x is well above the scatter
#: background far from the liver (< 0.02 x on the public sample) and below the focal level.
GASTRIC_DIFFUSE_REL: float = 0.10
#: Uptake of thyroid, salivary glands, kidneys or bladder (mean smoothed counts >= this x
#: liver mean) -> "possible free pertechnetate / renal clearance" (info). These organs trap
#: no MAA; any uptake clearly above the far background (< 0.02 x) points to free
#: pertechnetate or small MAA fragments.
PERTECHNETATE_UPTAKE_REL: float = 0.05
#: An organ mask of unknown name that lies at least this fraction inside the liver mask is
#: part of the liver (tumour, perfused volume...) and is not checked.
HEPATIC_OVERLAP_FRACTION: float = 0.5

Severity = Literal["block", "warning", "info"]
#: Organ roles: what uptake there means.
ROLES: dict[str, str] = {
    "gi": "GI tract or pancreas: focal deposition blocks (ulceration, pancreatitis)",
    "gallbladder": "gallbladder: warning (radiation cholecystitis; consider cystic artery "
    "embolisation or a catheter position distal to it)",
    "other": "other non-liver organ (spleen, unknown name): warning",
    "pertechnetate": "thyroid, salivary glands, kidneys, bladder: free pertechnetate or renal "
    "clearance, info (not deposition)",
    "lung": "lungs: lung shunt, info here (quantified by the LSF check)",
    "hepatic": "part of the liver (tumour, perfused volume): not checked",
}
_SEVERITY_OF_RULE: dict[str, Severity] = {
    "GI_FOCUS": "block", "GALLBLADDER_FOCUS": "warning", "OTHER_ORGAN_FOCUS": "warning",
    "ORGAN_FOCUS_AT_LIVER_EDGE": "warning", "ORGAN_UPTAKE_LIVER_SPILL": "info",
    "UNASSIGNED_FOCUS": "warning", "LIVER_EDGE_SPILL": "info", "LUNG_UPTAKE": "info",
    "PERTECHNETATE_ORGAN_FOCUS": "info", "DIFFUSE_GASTRIC": "info",
    "PERTECHNETATE_ORGAN_DIFFUSE": "info",
}
_ROLE_PRIORITY = ("gi", "gallbladder", "other", "pertechnetate", "lung")
_GI_TOKENS = frozenset({
    "stomach", "gastric", "duodenum", "duodenal", "bowel", "intestine", "jejunum", "ileum",
    "colon", "caecum", "cecum", "rectum", "sigmoid", "esophagus", "oesophagus", "pancreas",
    "pancreatic",
})
_PERTECHNETATE_TOKENS = frozenset({
    "thyroid", "parotid", "submandibular", "salivary", "kidney", "kidneys", "renal", "bladder",
})
_LUNG_TOKENS = frozenset({"lung", "lungs"})
_HEPATIC_TOKENS = frozenset({"liver", "hepatic", "perfused", "tumor", "tumour", "lesion"})
_STOMACH_TOKENS = frozenset({"stomach", "gastric"})

_RULES: dict[str, str] = {
    "GI_FOCUS": "focal uptake >= {thr:g} x liver mean in a GI organ beyond the liver margin",
    "GALLBLADDER_FOCUS": "focal uptake >= {thr:g} x liver mean in the gallbladder",
    "OTHER_ORGAN_FOCUS": "focal uptake >= {thr:g} x liver mean in a named non-liver organ",
    "ORGAN_FOCUS_AT_LIVER_EDGE": "uptake >= {thr:g} x liver mean in an organ mask that is "
    "either only within {margin:g} mm of the liver or low enough to be liver spill-out",
    "ORGAN_UPTAKE_LIVER_SPILL": "uptake >= {thr:g} x liver mean in an organ mask only within "
    "{margin:g} mm of the liver and at or below the liver spill-out level",
    "LIVER_EDGE_SPILL": "focus outside the liver margin at or below the liver spill-out level "
    "(edge response FWHM {fwhm:g} mm, misregistration {misreg:g} mm)",
    "UNASSIGNED_FOCUS": "focal uptake >= {thr:g} x liver mean outside the liver and its "
    "{margin:g} mm margin, in no organ mask",
    "LUNG_UPTAKE": "uptake >= {thr:g} x liver mean in the lungs (lung shunt)",
    "PERTECHNETATE_ORGAN_FOCUS": "uptake >= {thr:g} x liver mean in thyroid, salivary "
    "glands, kidneys or bladder",
    "DIFFUSE_GASTRIC": "stomach mean >= {gastric:g} x liver mean without a focus",
    "PERTECHNETATE_ORGAN_DIFFUSE": "thyroid / salivary / kidney / bladder mean >= "
    "{pert:g} x liver mean",
}

MaskLike = Image | NamedMask


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[\s_\-./]+", name.casefold()) if t]


def organ_role(name: str) -> str | None:
    """The role of an organ mask from its name, or None when the name is not recognised.

    Names are split into words (spaces, ``_``, ``-``); TotalSegmentator names work as they
    are (``stomach``, ``small_bowel``, ``lung_upper_lobe_left``, ``thyroid_gland``,
    ``kidney_left``, ``urinary_bladder``...).

    ====================  ====================================================================
    role                  words
    ====================  ====================================================================
    ``"gallbladder"``     gallbladder, gall bladder
    ``"gi"``              stomach, gastric, duodenum, bowel, intestine, jejunum, ileum, colon,
                          caecum/cecum, rectum, sigmoid, esophagus/oesophagus, pancreas
    ``"lung"``            lung, lungs
    ``"pertechnetate"``   thyroid, parotid, submandibular, salivary, kidney(s), renal, bladder
    ``"hepatic"``         liver, hepatic, perfused, tumor/tumour, lesion (only when the mask
                          lies mostly inside the liver; decided by :func:`check_extrahepatic`)
    ====================  ====================================================================
    """
    folded = name.casefold()
    toks = _tokens(name)
    if "gallbladder" in folded.replace(" ", "").replace("_", "").replace("-", ""):
        return "gallbladder"
    if any(t in _GI_TOKENS for t in toks):
        return "gi"
    if any(t in _LUNG_TOKENS for t in toks):
        return "lung"
    if any(t in _PERTECHNETATE_TOKENS for t in toks):
        return "pertechnetate"
    if any(t in _HEPATIC_TOKENS for t in toks):
        return "hepatic"
    return None


# ---------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class Finding:
    """One extrahepatic finding: a focus, or diffuse uptake of an organ.

    Attributes
    ----------
    location : str
        Organ mask name, or ``"unassigned extrahepatic"``.
    role : str
        Role of that organ (:data:`ROLES`) or ``"unassigned"``.
    severity : {"block", "warning", "info"}
    blocks : bool
        True when this finding blocks the plan (GI deposition).
    rule : str
        Identifier of the rule that fired (e.g. ``"GI_FOCUS"``); ``rule_text`` says it in
        words with the thresholds used.
    rule_text : str
    message : str
        What was found and what to do.
    centroid_lps_mm : tuple of 3 float
        Count-weighted centroid of the focus core (or of the organ for diffuse findings), LPS.
    peak_lps_mm : tuple of 3 float
        Position of the smoothed maximum, LPS mm.
    volume_ml : float
        Focus core volume (voxels >= ``CORE_FRACTION`` x its smoothed peak), or the organ
        volume for diffuse findings, mL.
    extent_ml : float
        Volume of the connected voxels above the focal threshold (diffuse: organ volume), mL.
    counts : float
        Raw counts summed over the extent (or the organ).
    fraction_of_counts : float
        ``counts`` / all counts in the SPECT field of view.
    fraction_of_injected : float or None
        Fraction of the injected MAA activity, when ``injected_mbq`` was given (see the
        report's ``assumptions`` for how it was derived).
    activity_mbq : float or None
        ``counts`` x ``mbq_per_count`` when a calibration was given.
    peak_to_liver, mean_to_liver : float
        Smoothed peak and mean over the core, relative to the liver mean.
    distance_to_liver_mm : float
        Smallest distance from the extent to the liver mask, mm.
    peak_distance_to_liver_mm : float or None
        Distance from the smoothed maximum to the liver mask, mm (foci only).
    liver_spill_ratio : float or None
        Smoothed peak / hottest smoothed liver voxel within :data:`LIVER_SPILL_SEARCH_MM` of
        it (None when no liver voxel is that close); at or below
        :func:`expected_liver_spill` of ``peak_distance_to_liver_mm`` the focus is taken as
        liver spill-out.
    overlaps_ml : dict
        Organ name -> volume of the core inside that organ mask, mL (extent if the core
        overlaps nothing).
    mean_dose_gy, max_dose_gy : float or None
        Predicted Y-90 dose: mean over the core and maximum voxel over the extent, Gy, when a
        dose map, a dose-per-count factor or a planned activity was given.
    """

    location: str
    role: str
    severity: Severity
    blocks: bool
    rule: str
    rule_text: str
    message: str
    centroid_lps_mm: tuple[float, float, float]
    peak_lps_mm: tuple[float, float, float]
    volume_ml: float
    extent_ml: float
    counts: float
    fraction_of_counts: float
    fraction_of_injected: float | None
    activity_mbq: float | None
    peak_to_liver: float
    mean_to_liver: float
    distance_to_liver_mm: float
    overlaps_ml: dict[str, float]
    peak_distance_to_liver_mm: float | None = None
    liver_spill_ratio: float | None = None
    mean_dose_gy: float | None = None
    max_dose_gy: float | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        out["centroid_lps_mm"] = list(self.centroid_lps_mm)
        out["peak_lps_mm"] = list(self.peak_lps_mm)
        return out


@dataclasses.dataclass(frozen=True)
class ExtrahepaticReport:
    """Result of :func:`check_extrahepatic`.

    Attributes
    ----------
    findings : tuple of Finding
        Most severe first, then by counts.
    organ_uptake : dict
        Per organ mask: ``role``, ``volume_ml``, ``counts``, ``fraction_of_counts``,
        ``mean_to_liver``, ``max_to_liver`` (smoothed).
    not_checked : tuple of str
        What could not be checked and why (e.g. GI organs without masks).
    warnings : tuple of str
    assumptions : tuple of str
        How derived numbers (fraction of injected, doses) were obtained.
    liver_mean_counts : float
        The reference R: mean smoothed counts in the liver mask.
    total_counts : float
        All counts in the SPECT field of view.
    n_small_rejected : int
        Components above the threshold but smaller than the minimum volume.
    constants : dict
        Every threshold, margin and constant used.
    """

    findings: tuple[Finding, ...]
    organ_uptake: dict[str, dict[str, Any]]
    not_checked: tuple[str, ...]
    warnings: tuple[str, ...]
    assumptions: tuple[str, ...]
    liver_mean_counts: float
    total_counts: float
    n_small_rejected: int
    constants: dict[str, Any]

    @property
    def blocks(self) -> bool:
        """True when any finding blocks the plan."""
        return any(f.blocks for f in self.findings)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The findings that block."""
        return tuple(f for f in self.findings if f.blocks)

    @property
    def possible_free_pertechnetate(self) -> bool:
        """True when a diffuse-uptake rule for free pertechnetate fired."""
        return any(f.rule in ("DIFFUSE_GASTRIC", "PERTECHNETATE_ORGAN_DIFFUSE") for f in self.findings)

    def raise_if_blocked(self) -> None:
        """Raise :class:`~netdose.errors.LimitExceeded` listing the blocking findings."""
        if self.blocks:
            lines = "; ".join(f.message for f in self.blocking)
            raise LimitExceeded(f"extrahepatic MAA deposition blocks the SIRT plan: {lines}")

    def summary(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "blocks": self.blocks,
            "possible_free_pertechnetate": self.possible_free_pertechnetate,
            "findings": [f.summary() for f in self.findings],
            "organ_uptake": {k: dict(v) for k, v in self.organ_uptake.items()},
            "not_checked": list(self.not_checked),
            "warnings": list(self.warnings),
            "assumptions": list(self.assumptions),
            "liver_mean_counts": self.liver_mean_counts,
            "total_counts": self.total_counts,
            "n_small_rejected": self.n_small_rejected,
            "constants": dict(self.constants),
        }


# ---------------------------------------------------------------------- helpers
def _mask_array(obj: MaskLike, maa: Image, name: str, maa_name: str) -> np.ndarray:
    if isinstance(obj, NamedMask):
        maa.require_same_grid(obj.mask, maa_name, f"mask {name!r}")
        return obj.mask.array
    if isinstance(obj, Image):
        maa.require_same_grid(obj, maa_name, f"mask {name!r}")
        arr = np.asarray(obj.array)
        if arr.dtype == np.bool_:
            return arr
        if np.issubdtype(arr.dtype, np.integer) and np.isin(np.unique(arr), (0, 1)).all():
            return arr.astype(bool)
        raise InputError(f"mask {name!r} must be boolean (or 0/1); got dtype {arr.dtype}.")
    raise InputError(
        f"mask {name!r} must be a boolean Image or a NamedMask on the grid of {maa_name}; got "
        f"{type(obj).__name__}."
    )


def _optional_positive(name: str, value: float | None, unit: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{name} = {value!r} is not a number.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number ({unit}).") from None
    if not (math.isfinite(v) and v > 0.0):
        raise InputError(f"{name} = {value!r}: it must be a finite number > 0 {unit}.")
    return v


def _lps(image: Image, zyx: np.ndarray) -> tuple[float, float, float]:
    p = image.physical_points(np.asarray(zyx, dtype=np.float64)[::-1][None, :])[0]
    return (float(p[0]), float(p[1]), float(p[2]))


# ---------------------------------------------------------------------- main
def check_extrahepatic(
    maa: Image,
    liver: MaskLike,
    organs: Mapping[str, MaskLike] | None,
    *,
    injected_mbq: float | None = None,
    mbq_per_count: float | None = None,
    planned_y90_gbq: float | None = None,
    gy_per_count: float | None = None,
    y90_dose_gy: Image | None = None,
    focal_threshold: float = FOCAL_THRESHOLD_REL_LIVER,
    liver_margin_mm: float = LIVER_MARGIN_MM,
    min_volume_ml: float = MIN_FOCUS_VOLUME_ML,
    smoothing_sigma_voxels: float = SMOOTHING_SIGMA_VOXELS,
    organ_roles: Mapping[str, str] | None = None,
    maa_name: str = "MAA SPECT",
) -> ExtrahepaticReport:
    """Find extrahepatic (GI) MAA deposition on the MAA SPECT and say whether it blocks.

    Parameters
    ----------
    maa : Image
        Tc-99m MAA SPECT, shape (z, y, x): counts per voxel or anything proportional to
        activity per voxel (Bq/mL on a uniform grid works too).
    liver : Image or NamedMask
        Whole-liver mask on the SPECT grid.
    organs : mapping name -> Image or NamedMask, or None
        Non-liver organ masks on the SPECT grid: stomach, duodenum, small_bowel, colon,
        pancreas, gallbladder, lungs, thyroid_gland, kidneys... (TotalSegmentator names work;
        roles from :func:`organ_role`, overridable with ``organ_roles``). Masks of parts of
        the liver (tumours, perfused volume) may be included; they are recognised and
        skipped. None: no organ masks (every focus is "unassigned"). Required: state None.
    injected_mbq : float, optional
        Injected MAA activity, MBq: gives ``fraction_of_injected``. Without ``mbq_per_count``
        the fraction of injected is taken equal to the fraction of counts in the field of
        view (assumes all the injected activity is inside it; an overestimate otherwise --
        the safe direction); the report's ``assumptions`` says so.
    mbq_per_count : float, optional
        Calibration of ``maa`` values to MBq (at the same time reference as
        ``injected_mbq``); gives ``activity_mbq``.
    planned_y90_gbq, gy_per_count, y90_dose_gy : optional, at most one
        Predicted Y-90 dose of the findings. ``y90_dose_gy``: a dose map (Gy) on the SPECT
        grid. ``gy_per_count``: Gy per count per voxel. ``planned_y90_gbq``: the planned
        Y-90 activity distributed like the MAA counts in the field of view, local energy
        deposition: Gy per count = A · C / (total counts · voxel mass), C =
        :data:`netdose.sirt.constants.ENERGY_CONSTANT_GY_KG_PER_GBQ`, soft-tissue density
        :data:`netdose.dosimetry.density.SOFT_TISSUE_DENSITY_G_CM3`.
    focal_threshold : float
        Focal threshold relative to the liver mean (default
        :data:`FOCAL_THRESHOLD_REL_LIVER`).
    liver_margin_mm : float
        Margin around the liver, mm (default :data:`LIVER_MARGIN_MM`).
    min_volume_ml : float
        Smallest focus, mL (default :data:`MIN_FOCUS_VOLUME_ML`).
    smoothing_sigma_voxels : float
        Gaussian sigma in voxels (default :data:`SMOOTHING_SIGMA_VOXELS`; 0: none).
    organ_roles : mapping name -> role, optional
        Override the role of named masks (keys of :data:`ROLES`).
    maa_name : str
        Name of the SPECT in messages.

    Returns
    -------
    ExtrahepaticReport

    Raises
    ------
    GeometryError
        A mask or the dose map not on the SPECT grid.
    InputError
        NaN voxels, empty liver mask, no counts in the liver, bad parameters.
    """
    maa.require_finite(maa_name)
    thr = _optional_positive("focal_threshold", focal_threshold, "(x liver mean)")
    assert thr is not None
    margin = float(liver_margin_mm)
    if not (math.isfinite(margin) and margin >= 0.0):
        raise InputError(f"liver_margin_mm must be a finite number >= 0 mm; got {liver_margin_mm!r}.")
    min_ml = float(min_volume_ml)
    if not (math.isfinite(min_ml) and min_ml >= 0.0):
        raise InputError(f"min_volume_ml must be a finite number >= 0 mL; got {min_volume_ml!r}.")
    sigma = float(smoothing_sigma_voxels)
    if not (math.isfinite(sigma) and sigma >= 0.0):
        raise InputError(
            f"smoothing_sigma_voxels must be a finite number >= 0; got {smoothing_sigma_voxels!r}."
        )
    injected = _optional_positive("injected_mbq", injected_mbq, "MBq")
    calib = _optional_positive("mbq_per_count", mbq_per_count, "MBq per count")
    given = [n for n, v in (("planned_y90_gbq", planned_y90_gbq), ("gy_per_count", gy_per_count),
                            ("y90_dose_gy", y90_dose_gy)) if v is not None]
    if len(given) > 1:
        raise InputError(
            f"give at most one of planned_y90_gbq, gy_per_count and y90_dose_gy; got {given}."
        )

    counts = np.asarray(maa.array, dtype=np.float64)
    total = float(counts.sum())
    if not total > 0.0:
        raise InputError(f"{maa_name} has no counts (sum {total:g}); wrong image?")
    v_ml = maa.voxel_volume_ml
    liver_name = liver.name if isinstance(liver, NamedMask) else str(liver.meta.get("mask_name", "liver"))
    liver_arr = _mask_array(liver, maa, liver_name, maa_name)
    if not liver_arr.any():
        raise InputError(
            f"the liver mask {liver_name!r} is empty on the grid of {maa_name}; check that it "
            "belongs to this study."
        )
    smooth = scipy.ndimage.gaussian_filter(counts, sigma=sigma, mode="nearest") if sigma > 0 else counts
    ref = float(smooth[liver_arr].mean())
    if not ref > 0.0:
        raise InputError(
            f"the liver mask {liver_name!r} has no counts on {maa_name} (mean {ref:g}): wrong "
            "image or mask."
        )

    # Organs and their roles.
    warnings_: list[str] = []
    assumptions: list[str] = []
    overrides = dict(organ_roles or {})
    for k, r in overrides.items():
        if r not in ROLES:
            raise InputError(
                f"organ_roles[{k!r}] = {r!r} is not a role; use one of {', '.join(ROLES)}."
            )
    organ_arrays: dict[str, np.ndarray] = {}
    roles: dict[str, str] = {}
    for name, obj in (organs or {}).items():
        arr = _mask_array(obj, maa, str(name), maa_name)
        name = str(name)
        role = overrides.get(name, organ_role(name))
        n_vox = int(arr.sum())
        inside_liver = float((arr & liver_arr).sum()) / n_vox if n_vox else 0.0
        if name not in overrides and role in (None, "hepatic"):
            role = "hepatic" if inside_liver >= HEPATIC_OVERLAP_FRACTION else "other"
        assert role is not None
        if n_vox == 0:
            warnings_.append(f"organ mask {name!r} is empty on the grid of {maa_name}: not checked.")
            continue
        organ_arrays[name] = arr
        roles[name] = role
    unknown = sorted(set(overrides) - set(organ_arrays) - {n for n in (organs or {})})
    if unknown:
        raise InputError(
            f"organ_roles names {unknown} are not among the organ masks "
            f"({', '.join(map(repr, organ_arrays)) or 'none'})."
        )

    hepatic = liver_arr.copy()
    for name, arr in organ_arrays.items():
        if roles[name] == "hepatic":
            hepatic |= arr
    sampling = tuple(maa.spacing_mm[::-1])
    dist = scipy.ndimage.distance_transform_edt(~hepatic, sampling=sampling)
    near = dist <= margin  # the liver itself (distance 0) and its margin
    checked_names = [n for n in organ_arrays if roles[n] in ("gi", "gallbladder", "other", "pertechnetate")]
    organ_union = np.zeros(counts.shape, dtype=bool)
    for n in checked_names:
        organ_union |= organ_arrays[n]
    allowed = ~near | (near & organ_union)
    seeds = (smooth >= thr * ref) & allowed
    seed_labels, n_comp = scipy.ndimage.label(seeds, structure=np.ones((3, 3, 3), bool))
    extent_thr = EXTENT_FRACTION_OF_THRESHOLD * thr
    if n_comp:
        # Extent: voxels >= the extent threshold within EXTENT_GROWTH_MM of a focus, each
        # given to its nearest focus (a partition: no voxel counts twice).
        d_seed, nearest_idx = scipy.ndimage.distance_transform_edt(
            seed_labels == 0, sampling=sampling, return_indices=True
        )
        nearest = seed_labels[tuple(nearest_idx)]
        grown = (smooth >= extent_thr * ref) & allowed & (d_seed <= EXTENT_GROWTH_MM)
        labels = np.where(grown | seeds, nearest, 0)
        del d_seed, nearest_idx, nearest
    else:
        labels = seed_labels

    # Dose per count.
    dose_model = None
    gpc: float | None = None
    if y90_dose_gy is not None:
        maa.require_same_grid(y90_dose_gy, maa_name, "the Y-90 dose map")
        y90_dose_gy.require_finite("the Y-90 dose map")
        dose_model = "predicted Y-90 dose map given by the caller (Gy)"
    elif gy_per_count is not None:
        gpc = _optional_positive("gy_per_count", gy_per_count, "Gy per count")
        dose_model = f"Gy per count given by the caller: {gpc:.6g}"
    elif planned_y90_gbq is not None:
        a_gbq = _optional_positive("planned_y90_gbq", planned_y90_gbq, "GBq")
        assert a_gbq is not None
        voxel_mass_kg = v_ml * SOFT_TISSUE_DENSITY_G_CM3 * KG_PER_G
        gpc = a_gbq * ENERGY_CONSTANT_GY_KG_PER_GBQ / (total * voxel_mass_kg)
        dose_model = (
            f"planned {a_gbq:g} GBq of Y-90 distributed like the MAA counts in the field of view, "
            f"local deposition, {ENERGY_CONSTANT_GY_KG_PER_GBQ:g} Gy·kg/GBq, "
            f"{SOFT_TISSUE_DENSITY_G_CM3:g} g/cm3: {gpc:.6g} Gy per count"
        )
    if dose_model:
        assumptions.append("predicted Y-90 dose: " + dose_model)
    if injected is not None:
        if calib is not None:
            assumptions.append(
                f"fraction of injected = counts x {calib:.6g} MBq/count / {injected:g} MBq"
            )
        else:
            assumptions.append(
                "fraction of injected taken equal to the fraction of counts in the SPECT field "
                "of view (no calibration given: assumes all injected MAA is inside the field of "
                "view; otherwise an overestimate)"
            )

    def frac_injected(c: float) -> float | None:
        if injected is None:
            return None
        if calib is not None:
            return c * calib / injected
        return c / total

    rule_kw = {"thr": thr, "margin": margin, "gastric": GASTRIC_DIFFUSE_REL,
               "pert": PERTECHNETATE_UPTAKE_REL, "fwhm": LIVER_SPILL_FWHM_MM,
               "misreg": LIVER_MISREGISTRATION_MM}
    findings: list[Finding] = []
    n_small = 0
    if n_comp:
        slices = scipy.ndimage.find_objects(labels)
        for i, sl in enumerate(slices, start=1):
            if sl is None:
                continue
            comp = labels[sl] == i
            comp_seeds = seed_labels[sl] == i
            n_vox = int(comp.sum())
            at_edge_only = not (comp_seeds & ~near[sl]).any()
            if n_vox * v_ml < min_ml or n_vox < MIN_FOCUS_VOXELS:
                n_small += 1
                continue
            s_loc = smooth[sl]
            peak = float(s_loc[comp].max())
            core = comp & (s_loc >= CORE_FRACTION * peak)
            overl_core = {n: float((organ_arrays[n][sl] & core).sum()) * v_ml for n in organ_arrays
                          if roles[n] != "hepatic"}
            overl_core = {n: v for n, v in overl_core.items() if v > 0}
            overl = overl_core
            if not overl:
                overl = {n: float((organ_arrays[n][sl] & comp).sum()) * v_ml for n in organ_arrays
                         if roles[n] != "hepatic"}
                overl = {n: v for n, v in overl.items() if v > 0}
            location, role = "unassigned extrahepatic", "unassigned"
            for r in _ROLE_PRIORITY:
                cands = [n for n in overl if roles[n] == r]
                if cands:
                    location = max(cands, key=lambda n: overl[n])
                    role = r
                    break
            c_sum = float(counts[sl][comp].sum())
            w = s_loc[core]
            idx = np.argwhere(core)
            centroid = (idx * w[:, None]).sum(axis=0) / w.sum()
            offset = np.array([s.start for s in sl])
            centroid_lps = _lps(maa, centroid + offset)
            pk = np.unravel_index(int(np.argmax(np.where(comp, s_loc, -np.inf))), comp.shape)
            peak_lps = _lps(maa, np.asarray(pk) + offset)
            d_liver = float(dist[sl][comp].min())
            mean_dose = max_dose = None
            if y90_dose_gy is not None:
                dmap = np.asarray(y90_dose_gy.array, dtype=np.float64)[sl]
                mean_dose, max_dose = float(dmap[core].mean()), float(dmap[comp].max())
            elif gpc is not None:
                raw = counts[sl]
                mean_dose, max_dose = float(raw[core].mean() * gpc), float(raw[comp].max() * gpc)
            # Liver spill-out test (see LIVER_SPILL_FWHM_MM).
            pk_arr = np.asarray(pk) + offset
            pk_global = (int(pk_arr[0]), int(pk_arr[1]), int(pk_arr[2]))
            peak_dist = float(dist[pk_global])
            spill_ratio = _spill_ratio(smooth, liver_arr, pk_global, sampling, peak)
            spill_like = spill_ratio is not None and spill_ratio <= expected_liver_spill(peak_dist)
            if role == "unassigned":
                rule = "LIVER_EDGE_SPILL" if spill_like else "UNASSIGNED_FOCUS"
            elif role in ("gi", "gallbladder", "other") and at_edge_only and spill_like:
                rule = "ORGAN_UPTAKE_LIVER_SPILL"
            elif role in ("gi", "gallbladder", "other") and (at_edge_only or spill_like):
                rule = "ORGAN_FOCUS_AT_LIVER_EDGE"
            else:
                rule = {"gi": "GI_FOCUS", "gallbladder": "GALLBLADDER_FOCUS",
                        "other": "OTHER_ORGAN_FOCUS", "pertechnetate": "PERTECHNETATE_ORGAN_FOCUS",
                        "lung": "LUNG_UPTAKE"}[role]
            severity = _SEVERITY_OF_RULE[rule]
            finding = Finding(
                location=location, role=role, severity=severity, blocks=severity == "block",
                rule=rule, rule_text=_RULES[rule].format(**rule_kw), message="",
                centroid_lps_mm=centroid_lps, peak_lps_mm=peak_lps,
                volume_ml=float(core.sum()) * v_ml, extent_ml=n_vox * v_ml, counts=c_sum,
                fraction_of_counts=c_sum / total, fraction_of_injected=frac_injected(c_sum),
                activity_mbq=None if calib is None else c_sum * calib,
                peak_to_liver=peak / ref, mean_to_liver=float(w.mean()) / ref,
                distance_to_liver_mm=d_liver, peak_distance_to_liver_mm=peak_dist,
                liver_spill_ratio=spill_ratio, overlaps_ml=overl,
                mean_dose_gy=mean_dose, max_dose_gy=max_dose,
            )
            findings.append(dataclasses.replace(finding, message=_message(finding, margin)))

    # Per-organ uptake and diffuse rules.
    organ_uptake: dict[str, dict[str, Any]] = {}
    focal_locations = {f.location for f in findings}
    for name, arr in organ_arrays.items():
        role = roles[name]
        c_org = float(counts[arr].sum())
        mean_rel = float(smooth[arr].mean()) / ref
        organ_uptake[name] = {
            "role": role,
            "volume_ml": float(arr.sum()) * v_ml,
            "counts": c_org,
            "fraction_of_counts": c_org / total,
            "mean_to_liver": mean_rel,
            "max_to_liver": float(smooth[arr].max()) / ref,
        }
        if role == "hepatic" or name in focal_locations:
            continue
        is_stomach = role == "gi" and any(t in _STOMACH_TOKENS for t in _tokens(name))
        diffuse_rule: str | None = None
        if is_stomach and mean_rel >= GASTRIC_DIFFUSE_REL:
            diffuse_rule = "DIFFUSE_GASTRIC"
            text = (f"diffuse gastric uptake ({mean_rel:.2f} x liver mean, no focus): possible "
                    "free pertechnetate, not deposition. Check the labelling efficiency of the "
                    "MAA and look for thyroid and salivary uptake; a focal deposit in the "
                    "stomach wall would have fired the focal rule.")
        elif role == "pertechnetate" and mean_rel >= PERTECHNETATE_UPTAKE_REL:
            diffuse_rule = "PERTECHNETATE_ORGAN_DIFFUSE"
            text = (f"uptake in {name} ({mean_rel:.2f} x liver mean): possible free "
                    "pertechnetate (thyroid, salivary glands) or renal clearance of free "
                    "pertechnetate and small MAA fragments (kidneys, bladder); not deposition.")
        if diffuse_rule is None:
            continue
        idx = np.argwhere(arr)
        w = smooth[arr]
        wsum = float(w.sum())
        centroid = (idx * w[:, None]).sum(axis=0) / wsum if wsum > 0 else idx.mean(axis=0)
        pk = idx[int(np.argmax(w))]
        findings.append(Finding(
            location=name, role=role, severity="info", blocks=False, rule=diffuse_rule,
            rule_text=_RULES[diffuse_rule].format(**rule_kw), message=f"{name}: {text}",
            centroid_lps_mm=_lps(maa, centroid), peak_lps_mm=_lps(maa, pk),
            volume_ml=float(arr.sum()) * v_ml, extent_ml=float(arr.sum()) * v_ml, counts=c_org,
            fraction_of_counts=c_org / total, fraction_of_injected=frac_injected(c_org),
            activity_mbq=None if calib is None else c_org * calib,
            peak_to_liver=float(w.max()) / ref, mean_to_liver=mean_rel,
            distance_to_liver_mm=float(dist[arr].min()), overlaps_ml={name: float(arr.sum()) * v_ml},
        ))

    order = {"block": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: (order[f.severity], -f.counts))

    # What could not be checked.
    not_checked: list[str] = []
    have_roles = {roles[n] for n in organ_arrays}
    missing_gi = [g for g in GI if not any(_same_organ(g, n) for n in organ_arrays)]
    if "gi" not in have_roles and "gallbladder" not in have_roles:
        not_checked.append(
            "GI organs: not checked by organ (no stomach, duodenum, bowel, pancreas or "
            "gallbladder mask); every focus outside the liver is reported as unassigned and "
            "must be located on the CT. Give TotalSegmentator masks of the MAA SPECT/CT to "
            "check them."
        )
    elif missing_gi:
        not_checked.append(
            "GI organs without a mask (foci there are reported as unassigned): "
            + ", ".join(missing_gi) + "."
        )
    if not any(roles[n] == "pertechnetate" for n in organ_arrays):
        not_checked.append(
            "free pertechnetate: thyroid and salivary glands not checked (no masks; usually "
            "outside the SPECT field of view); gastric rule only if a stomach mask is given."
        )
    if near.all():
        warnings_.append(
            f"the whole field of view lies within {margin:g} mm of the liver: nothing outside "
            "the liver margin could be checked."
        )

    constants = {
        "smoothing_sigma_voxels": sigma,
        "focal_threshold_rel_liver": thr,
        "liver_margin_mm": margin,
        "min_focus_volume_ml": min_ml,
        "min_focus_voxels": MIN_FOCUS_VOXELS,
        "core_fraction": CORE_FRACTION,
        "extent_threshold_rel_liver": EXTENT_FRACTION_OF_THRESHOLD * thr,
        "extent_growth_mm": EXTENT_GROWTH_MM,
        "gastric_diffuse_rel": GASTRIC_DIFFUSE_REL,
        "pertechnetate_uptake_rel": PERTECHNETATE_UPTAKE_REL,
        "hepatic_overlap_fraction": HEPATIC_OVERLAP_FRACTION,
        "liver_spill_fwhm_mm": LIVER_SPILL_FWHM_MM,
        "liver_misregistration_mm": LIVER_MISREGISTRATION_MM,
        "liver_spill_search_mm": LIVER_SPILL_SEARCH_MM,
        "connectivity": 26,
        "reference": "mean smoothed counts in the liver mask",
        "roles": {n: roles[n] for n in organ_arrays},
    }
    if dose_model is not None and y90_dose_gy is None:
        constants["energy_constant_gy_kg_per_gbq"] = ENERGY_CONSTANT_GY_KG_PER_GBQ
        constants["energy_constant_source"] = ENERGY_CONSTANT_SOURCE
        constants["soft_tissue_density_g_cm3"] = SOFT_TISSUE_DENSITY_G_CM3
        constants["gy_per_count"] = gpc
    return ExtrahepaticReport(
        findings=tuple(findings),
        organ_uptake=organ_uptake,
        not_checked=tuple(not_checked),
        warnings=tuple(warnings_),
        assumptions=tuple(assumptions),
        liver_mean_counts=ref,
        total_counts=total,
        n_small_rejected=n_small,
        constants=constants,
    )


def expected_liver_spill(distance_mm: float) -> float:
    """Largest smoothed level, relative to the hottest liver voxel nearby, that liver
    spill-out can produce at ``distance_mm`` from the liver mask:
    Phi(-(d - LIVER_MISREGISTRATION_MM) / sigma), sigma = LIVER_SPILL_FWHM_MM / 2.3548."""
    sigma = LIVER_SPILL_FWHM_MM / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    z = (float(distance_mm) - LIVER_MISREGISTRATION_MM) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _spill_ratio(
    smooth: np.ndarray,
    liver: np.ndarray,
    peak_zyx: tuple[int, int, int],
    sampling: tuple[float, ...],
    peak: float,
) -> float | None:
    """Peak / hottest smoothed liver voxel within LIVER_SPILL_SEARCH_MM of the peak."""
    r = [math.ceil(LIVER_SPILL_SEARCH_MM / sp) for sp in sampling]
    sl = tuple(slice(max(c - k, 0), min(c + k + 1, n)) for c, k, n in zip(peak_zyx, r, smooth.shape))
    grids = np.meshgrid(*[(np.arange(s.start, s.stop) - c) * sp
                          for s, c, sp in zip(sl, peak_zyx, sampling)], indexing="ij")
    ball = (grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2) <= LIVER_SPILL_SEARCH_MM**2
    sel = ball & liver[sl]
    if not sel.any():
        return None
    top = float(smooth[sl][sel].max())
    return peak / top if top > 0 else None


def _same_organ(ts_name: str, name: str) -> bool:
    """True when mask ``name`` stands for the TotalSegmentator GI class ``ts_name``."""
    a = set(_tokens(ts_name))
    b = set(_tokens(name))
    if ts_name == "gallbladder":
        return organ_role(name) == "gallbladder"
    if ts_name == "small_bowel":
        return bool(b & {"small", "jejunum", "ileum"}) and bool(b & {"bowel", "intestine", "jejunum", "ileum"})
    if ts_name == "esophagus":
        return bool(b & {"esophagus", "oesophagus"})
    if ts_name == "stomach":
        return bool(b & _STOMACH_TOKENS)
    return bool(a & b)


def _message(f: Finding, margin: float) -> str:
    where = f.location
    pct = 100.0 * f.fraction_of_counts
    base = (f"{f.volume_ml:.1f} mL focus (extent {f.extent_ml:.1f} mL), "
            f"{pct:.2f} % of the counts, peak {f.peak_to_liver:.2f} x liver mean, "
            f"{f.distance_to_liver_mm:.0f} mm from the liver")
    if f.mean_dose_gy is not None:
        base += (f", predicted Y-90 dose mean {f.mean_dose_gy:.0f} Gy / max "
                 f"{f.max_dose_gy:.0f} Gy")
    rule = f.rule
    if rule == "GI_FOCUS":
        return (f"{where}: {base}. GI deposition: contraindication to treat unless the culprit "
                "vessel is embolised or the catheter is repositioned distal to it, and a repeat "
                "MAA study confirms it.")
    if rule == "GALLBLADDER_FOCUS":
        return (f"{where}: {base}. Risk of radiation cholecystitis: consider cystic artery "
                "embolisation or a catheter position distal to it.")
    if rule == "OTHER_ORGAN_FOCUS":
        return f"{where}: {base}. Uptake in a non-liver organ: check on CT and angiography."
    if rule == "ORGAN_FOCUS_AT_LIVER_EDGE":
        return (f"{where}: {base}, next to the liver (within the {margin:g} mm margin, or low "
                "enough to be liver spill-out): cannot be told from liver spill-out or SPECT/CT "
                "misregistration. Check on the fused SPECT/CT; a real deposit here would "
                "block.")
    if rule == "ORGAN_UPTAKE_LIVER_SPILL":
        return (f"{where}: {base}, only within {margin:g} mm of the liver and at "
                f"{f.liver_spill_ratio:.2f} x the hottest liver voxel nearby: consistent "
                "with liver spill-out (the organ touches the liver).")
    if rule == "LIVER_EDGE_SPILL":
        return (f"liver-edge spill-out: {base}; its maximum is at "
                f"{f.liver_spill_ratio:.2f} x the hottest liver voxel nearby, within what "
                "blurring of the liver can give at that distance (tail of liver/tumour "
                "activity, not a deposit).")
    if rule == "LUNG_UPTAKE":
        return f"{where}: {base}. Lung shunt: quantified by the lung shunt fraction, not here."
    if rule == "PERTECHNETATE_ORGAN_FOCUS":
        return (f"{where}: {base}. Free pertechnetate or renal clearance, not deposition.")
    return (f"unassigned extrahepatic focus: check on CT. {base}. Locate it on the fused "
            "SPECT/CT (GI tract, gallbladder, falciform artery territory, kidney, or liver "
            "outside a misregistered contour); a GI location blocks.")
