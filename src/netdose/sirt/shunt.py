"""Lung shunt fraction (LSF) from Tc-99m MAA: planar geometric mean and SPECT/CT.

LSF = lung activity / (lung activity + liver activity), a fraction in [0, 1] (``lsf_pct`` in
%). Two methods (docs/physics.md, section "SIRT safety checks"):

- **Planar** (:func:`lsf_planar`, :func:`lsf_planar_images`): ROI counts on the anterior and
  posterior views, geometric mean per organ, LSF = GM_lung / (GM_lung + GM_liver). Known to
  **overestimate** the LSF against SPECT/CT (lung counts are far less attenuated than liver
  counts, and liver scatter and the liver dome overlap spill into the lung ROI): report it
  as such, never correct it silently.
- **SPECT/CT** (:func:`lsf_spect`): counts summed in the CT-derived lung and liver masks on
  the SPECT grid, LSF = C_lung / (C_lung + C_liver). Reported twice: ``lsf`` with the masks
  as given (the conventional definition; the liver-dome spill into the lung bases makes it
  conservative, i.e. high), and ``lsf_spill_corrected``, where lung voxels within
  :data:`LUNG_MARGIN_MM` of the liver are left out and the mean count density of the rest of
  the lungs is applied to the whole lung volume.

Checks that make the number trustworthy are part of the result, not left to the caller:

- **no lung mask** -> ``lsf=None`` and ``not_checked`` says so (never a silent 0);
- **truncated lungs** (lung mask on the edge slices of the SPECT field of view, lung volume
  on the SPECT grid more than :data:`LUNG_TRUNCATION_TOLERANCE` below its native volume, or
  a lung end cut flat, as when the CT field of view stopped inside the lungs) ->
  ``lung_truncated=True``, the visible fraction when it is known, and a warning saying what
  to do. The LSF is then **underestimated**; netdose does not extrapolate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import scipy.ndimage

from netdose.errors import GeometryError, InputError
from netdose.image import Image
from netdose.io.masks import NamedMask

__all__ = [
    "LUNG_END_AREA_RATIO",
    "LUNG_MARGIN_MM",
    "LUNG_TRUNCATION_TOLERANCE",
    "LsfResult",
    "lsf_planar",
    "lsf_planar_images",
    "lsf_spect",
    "planar_rois",
    "project_ap",
]

#: Lung voxels within this distance (mm) of the liver mask are left out of the
#: spill-corrected SPECT LSF; their count density is replaced by the mean of the rest of the
#: lungs. 20 mm: a Tc-99m SPECT edge blurred with 10-15 mm FWHM (sigma 4-6.4 mm) spills less
#: than 0.1 % of the liver level beyond 20 mm (Phi(-20/6.4) = 0.09 %), i.e. a few % of a lung
#: level that is 10-50x lower than the liver's; respiratory misregistration of the liver dome
#: between free-breathing SPECT and CT is of the order of 1 cm. Clinical studies excluded a
#: similar band (3 cm from the inferior border of the right lung, see docs).
LUNG_MARGIN_MM: float = 20.0
#: The lungs count as truncated when their volume inside the SPECT field of view is more than
#: this fraction below their native (CT) volume: 2 % is above the volume change of carrying a
#: mask to the SPECT grid (< 1 % for organs, docs/physics.md section 3).
LUNG_TRUNCATION_TOLERANCE: float = 0.02
#: A lung end (most superior or inferior slice of the lung mask) whose cross-section is more
#: than this fraction of the largest cross-section is taken as cut flat by a field of view:
#: a real apex or base tapers over several centimetres (first slice < 10 % of the maximum at
#: 2.5-5 mm slices).
LUNG_END_AREA_RATIO: float = 0.25

MaskLike = Image | NamedMask
LungInput = MaskLike | Sequence[MaskLike] | Mapping[str, MaskLike] | None

_TRUNCATION_ADVICE = (
    "The LSF is underestimated (lung counts outside the field of view are missing). Re-acquire "
    "or reconstruct the SPECT with both lungs in the field of view, or plan with the planar "
    "LSF (which overestimates), or, if the CT covers the whole lungs, extrapolate the lung "
    "count density to the whole CT lung volume by hand and record it in the plan."
)


@dataclasses.dataclass(frozen=True)
class LsfResult:
    """A lung shunt fraction with the counts behind it and what could not be checked.

    Attributes
    ----------
    lsf : float or None
        Lung shunt fraction in [0, 1]; None when it could not be determined (no lung mask).
    method : {"planar", "spect"}
    counts : dict
        The numbers behind it. Planar: ``lung_anterior``, ``lung_posterior``,
        ``liver_anterior``, ``liver_posterior``, ``gm_lung``, ``gm_liver``. SPECT: ``liver``,
        ``lung``, ``lung_beyond_margin``, ``total_fov`` (counts), ``liver_ml``, ``lung_ml``,
        ``lung_beyond_margin_ml``.
    lsf_spill_corrected : float or None
        SPECT only: LSF with the lung count density taken from the lung more than
        ``lung_margin_mm`` from the liver, applied to the whole lung volume.
    lung_margin_mm : float or None
        The margin used for ``lsf_spill_corrected``.
    lung_truncated : bool or None
        SPECT only: True when the lungs look cut by a field of view (see module doc); None
        when there is no lung mask.
    lung_visible_fraction : float or None
        Fraction of the native lung volume inside the SPECT field of view, when the native
        volume is known (masks given as NamedMask).
    truncation : tuple of str
        Which truncation tests fired, in words.
    warnings : tuple of str
        Everything the physicist must read before using the number.
    not_checked : tuple of str
        Checks that could not be done, with the reason (e.g. "no lung mask").
    constants : dict
        Constants and conventions used.
    """

    lsf: float | None
    method: Literal["planar", "spect"]
    counts: dict[str, float]
    lsf_spill_corrected: float | None = None
    lung_margin_mm: float | None = None
    lung_truncated: bool | None = None
    lung_visible_fraction: float | None = None
    truncation: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    not_checked: tuple[str, ...] = ()
    constants: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def lsf_pct(self) -> float | None:
        """LSF in percent (None when not determined)."""
        return None if self.lsf is None else 100.0 * self.lsf

    @property
    def checked(self) -> bool:
        """True when an LSF was determined."""
        return self.lsf is not None

    def summary(self) -> dict[str, Any]:
        """JSON-ready dictionary of the result."""
        return {
            "method": self.method,
            "lsf": self.lsf,
            "lsf_pct": self.lsf_pct,
            "lsf_spill_corrected": self.lsf_spill_corrected,
            "lung_margin_mm": self.lung_margin_mm,
            "lung_truncated": self.lung_truncated,
            "lung_visible_fraction": self.lung_visible_fraction,
            "truncation": list(self.truncation),
            "counts": dict(self.counts),
            "warnings": list(self.warnings),
            "not_checked": list(self.not_checked),
            "constants": dict(self.constants),
        }


# ---------------------------------------------------------------------- planar
def _count(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise InputError(f"{name} = {value!r} is not a count.")
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number of counts.") from None
    if not math.isfinite(out) or out < 0.0:
        raise InputError(
            f"{name} = {value!r}: ROI counts must be finite and >= 0 (background-subtracted "
            "counts that went negative mean the background ROI is wrong)."
        )
    return out


_PLANAR_BIAS_WARNING = (
    "planar geometric-mean LSF: known to overestimate the LSF against SPECT/CT (lung counts "
    "are less attenuated than liver counts; liver scatter and the liver dome spill into the "
    "lung ROI). Use the SPECT/CT LSF where available."
)
_NO_LUNG_MASK = (
    "lung shunt fraction: not checked: no lung mask. Segment the lungs on the CT of the MAA "
    "SPECT/CT (e.g. TotalSegmentator lung lobes) or use the planar LSF."
)

_PLANAR_CONSTANTS = {
    "formula": "LSF = GM_lung / (GM_lung + GM_liver), GM = sqrt(anterior x posterior)",
    "attenuation_correction": "none (geometric mean only)",
    "background_subtraction": "none (by netdose; give background-subtracted counts if wanted)",
    "known_bias": "overestimates the LSF against SPECT/CT (docs/physics.md)",
}


def lsf_planar(
    lung_anterior: float, lung_posterior: float, liver_anterior: float, liver_posterior: float
) -> LsfResult:
    """Planar LSF from ROI counts of the anterior and posterior views (geometric mean).

    Parameters
    ----------
    lung_anterior, lung_posterior : float
        Counts in the lung ROI (both lungs) of the anterior and posterior views (>= 0).
    liver_anterior, liver_posterior : float
        Counts in the liver ROI of the two views (>= 0).

    Returns
    -------
    LsfResult
        ``method="planar"``; LSF = GM_lung / (GM_lung + GM_liver) with GM = sqrt(ant x post).
        Example: lung 12000/10000, liver 150000/120000 counts -> 7.549 %.

    Notes
    -----
    The planar geometric-mean LSF overestimates the LSF against attenuation- and
    scatter-corrected SPECT/CT (docs/physics.md); the result carries a warning saying so.
    """
    la = _count("lung_anterior", lung_anterior)
    lp = _count("lung_posterior", lung_posterior)
    va = _count("liver_anterior", liver_anterior)
    vp = _count("liver_posterior", liver_posterior)
    gm_lung = math.sqrt(la * lp)
    gm_liver = math.sqrt(va * vp)
    if gm_lung + gm_liver <= 0.0:
        raise InputError(
            "planar LSF: the geometric means of the lung and liver ROIs are both 0 counts "
            f"(lung {la:g}/{lp:g}, liver {va:g}/{vp:g}); check the ROIs and the images."
        )
    if gm_liver <= 0.0:
        raise InputError(
            f"planar LSF: the liver ROI has no counts in one view (anterior {va:g}, posterior "
            f"{vp:g}); check the liver ROI and the view orientation."
        )
    lsf = gm_lung / (gm_lung + gm_liver)
    return LsfResult(
        lsf=lsf,
        method="planar",
        counts={
            "lung_anterior": la,
            "lung_posterior": lp,
            "liver_anterior": va,
            "liver_posterior": vp,
            "gm_lung": gm_lung,
            "gm_liver": gm_liver,
        },
        warnings=(_PLANAR_BIAS_WARNING,),
        constants=dict(_PLANAR_CONSTANTS),
    )


def _bool_array(image: Image, name: str) -> np.ndarray:
    arr = np.asarray(image.array)
    if arr.dtype == np.bool_:
        return arr
    if np.issubdtype(arr.dtype, np.integer) and np.isin(np.unique(arr), (0, 1)).all():
        return arr.astype(bool)
    raise InputError(f"{name} must be a boolean (or 0/1) mask; got dtype {arr.dtype}.")


def lsf_planar_images(
    anterior: Image,
    posterior: Image,
    lung_roi: Image,
    liver_roi: Image,
    *,
    posterior_orientation: Literal["patient", "mirrored"],
) -> LsfResult:
    """Planar LSF from anterior/posterior images and lung/liver ROIs drawn on the anterior view.

    Parameters
    ----------
    anterior, posterior : Image
        Planar views in counts (or anything proportional), e.g. shape (nz, 1, nx) as the
        SIRT phantom's ``extras["planar_anterior"]``; same grid.
    lung_roi, liver_roi : Image
        Boolean (or 0/1) ROIs on that grid, in the anterior (patient) orientation. They must
        not overlap (a pixel cannot count for both organs).
    posterior_orientation : {"patient", "mirrored"}
        ``"patient"``: the posterior image is in the same left-right orientation as the
        anterior one (as the phantom's). ``"mirrored"``: as seen from behind (the camera's
        raw posterior view): it is flipped along x before the ROIs are applied. No default:
        a wrong guess puts the ROIs on the wrong side.

    Returns
    -------
    LsfResult
        As :func:`lsf_planar`, with ``counts["roi_lung_pixels"]``/``["roi_liver_pixels"]``.
    """
    if posterior_orientation not in ("patient", "mirrored"):
        raise InputError(
            f"posterior_orientation must be 'patient' or 'mirrored'; got {posterior_orientation!r}."
        )
    anterior.require_same_grid(posterior, "the anterior view", "the posterior view")
    anterior.require_same_grid(lung_roi, "the anterior view", "the lung ROI")
    anterior.require_same_grid(liver_roi, "the anterior view", "the liver ROI")
    anterior.require_finite("the anterior view")
    posterior.require_finite("the posterior view")
    lung = _bool_array(lung_roi, "the lung ROI")
    liver = _bool_array(liver_roi, "the liver ROI")
    overlap = int(np.count_nonzero(lung & liver))
    if overlap:
        raise InputError(
            f"the lung and liver ROIs overlap in {overlap} pixel(s); a pixel cannot count for "
            "both organs. Draw the lung ROI without the liver (e.g. lung ROI minus liver ROI)."
        )
    if not lung.any() or not liver.any():
        which = "lung" if not lung.any() else "liver"
        raise InputError(f"the {which} ROI is empty; draw it on the anterior view.")
    ant = np.asarray(anterior.array, dtype=np.float64)
    post = np.asarray(posterior.array, dtype=np.float64)
    if posterior_orientation == "mirrored":
        post = post[:, :, ::-1]
    res = lsf_planar(ant[lung].sum(), post[lung].sum(), ant[liver].sum(), post[liver].sum())
    counts = dict(res.counts)
    counts["roi_lung_pixels"] = float(lung.sum())
    counts["roi_liver_pixels"] = float(liver.sum())
    constants = dict(res.constants)
    constants["posterior_orientation"] = posterior_orientation
    return dataclasses.replace(res, counts=counts, constants=constants)


def project_ap(mask: Image) -> Image:
    """Project a 3-D mask along the anterior-posterior axis onto a planar grid.

    The result has shape (nz, 1, nx) with spacing (sx, ny·sy, sz) and its origin at the
    centre of the y extent: the layout of the SIRT phantom's planar images. A pixel is in
    the projection when any voxel along y is in the mask.

    Raises
    ------
    GeometryError
        The image's y index axis does not run along the patient's anterior-posterior axis
        (oblique or permuted orientation).
    """
    dmat = mask.direction_matrix
    if not (abs(abs(dmat[1, 1]) - 1.0) < 1e-6 and abs(dmat[1, 0]) < 1e-6 and abs(dmat[1, 2]) < 1e-6):
        raise GeometryError(
            f"cannot project along anterior-posterior: the y index axis of the mask is not "
            f"the LPS y axis ({mask.describe_grid()}). Resample the mask onto an axial grid."
        )
    arr = _bool_array(mask, "the mask to project")
    proj = np.asarray(arr.any(axis=1))[:, None, :]
    sx, sy, sz = mask.spacing_mm
    ny = mask.shape[1]
    centre = mask.physical_points(np.array([[0.0, 0.5 * (ny - 1), 0.0]]))[0]
    return Image(proj, (sx, ny * sy, sz), tuple(centre), mask.direction, {"quantity": "mask"})


def planar_rois(liver: Image, lungs: Image) -> tuple[Image, Image]:
    """Planar (lung ROI, liver ROI) from 3-D masks: liver ROI = projection of the liver;
    lung ROI = projection of the lungs minus the liver ROI (the lung bases over the liver
    dome count as liver), the convention of the SIRT phantom."""
    liver.require_same_grid(lungs, "the liver mask", "the lung mask")
    roi_liver = project_ap(liver)
    roi_lung = project_ap(lungs)
    return roi_lung.with_array(roi_lung.array & ~roi_liver.array), roi_liver


# ---------------------------------------------------------------------- SPECT
@dataclasses.dataclass
class _Region:
    name: str
    weights: np.ndarray  # float64 (z, y, x), 0..1
    native_ml: float | None
    inside_ml: float | None


def _region(obj: MaskLike, maa: Image, name: str, maa_name: str, use_fraction: bool) -> _Region:
    if isinstance(obj, NamedMask):
        label = obj.name
        maa.require_same_grid(obj.mask, maa_name, f"mask {label!r}")
        mask = obj.mask.array
        if use_fraction and obj.fraction is not None:
            w = np.asarray(obj.fraction.array, dtype=np.float64)
        else:
            w = mask.astype(np.float64)
        if obj.fraction is not None:
            inside = float(np.asarray(obj.fraction.array, dtype=np.float64).sum()) * maa.voxel_volume_ml
        else:
            inside = obj.volume_target_ml
        return _Region(label, w, obj.volume_native_ml, inside)
    if isinstance(obj, Image):
        label = str(obj.meta.get("mask_name", name))
        maa.require_same_grid(obj, maa_name, f"mask {label!r}")
        return _Region(label, _bool_array(obj, f"mask {label!r}").astype(np.float64), None, None)
    raise InputError(
        f"{name} must be a boolean Image or a NamedMask on the SPECT grid; got "
        f"{type(obj).__name__}."
    )


def _lung_parts(lung: LungInput) -> list[tuple[str, MaskLike]]:
    if lung is None:
        return []
    if isinstance(lung, (Image, NamedMask)):
        return [("lung", lung)]
    if isinstance(lung, Mapping):
        return [(str(k), v) for k, v in lung.items()]
    if isinstance(lung, Sequence) and not isinstance(lung, (str, bytes)):
        return [(f"lung part {i + 1}", v) for i, v in enumerate(lung)]
    raise InputError(
        "lung must be a mask (Image or NamedMask), a list or mapping of masks (e.g. the five "
        f"TotalSegmentator lobes), or None; got {type(lung).__name__}."
    )


def _axis_words(image: Image) -> list[tuple[str, str]]:
    """For each numpy axis (z, y, x): the anatomical words for its first and last index."""
    words = {0: ("right", "left"), 1: ("anterior", "posterior"), 2: ("inferior", "superior")}
    out = []
    dmat = image.direction_matrix
    for np_axis in range(3):
        col = dmat[:, 2 - np_axis]  # LPS direction of increasing index
        lps = int(np.argmax(np.abs(col)))
        lo, hi = words[lps]
        if col[lps] < 0:
            lo, hi = hi, lo
        out.append((lo, hi))
    return out


def _truncation_checks(
    lung: np.ndarray, maa: Image, visible: float | None
) -> list[str]:
    found: list[str] = []
    words = _axis_words(maa)
    names = ("z", "y", "x")
    for ax in range(3):
        n = lung.shape[ax]
        first = np.take(lung, 0, axis=ax)
        last = np.take(lung, n - 1, axis=ax)
        for plane, idx, word in ((first, 0, words[ax][0]), (last, n - 1, words[ax][1])):
            if plane.any():
                found.append(
                    f"the lung mask reaches the {word} edge of the SPECT field of view "
                    f"({int(plane.sum())} voxels on index {idx} along {names[ax]})"
                )
    if visible is not None and visible < 1.0 - LUNG_TRUNCATION_TOLERANCE:
        found.append(
            f"only {100.0 * visible:.1f} % of the native lung volume lies inside the SPECT "
            "field of view"
        )
    # Flat ends along the index axis closest to the patient's superior-inferior axis.
    dmat = maa.direction_matrix
    si_np_axis = 2 - int(np.argmax(np.abs(dmat[2, :])))
    other = tuple(a for a in range(3) if a != si_np_axis)
    area = lung.sum(axis=other)
    present = np.flatnonzero(area)
    if present.size >= 3:
        amax = float(area.max())
        for idx in (int(present[0]), int(present[-1])):
            ratio = float(area[idx]) / amax
            at_fov_edge = idx in (0, lung.shape[si_np_axis] - 1)
            if ratio > LUNG_END_AREA_RATIO and not at_fov_edge:
                word = words[si_np_axis][0] if idx == present[0] else words[si_np_axis][1]
                found.append(
                    f"the {word} end of the lung mask is cut flat (its last slice, index {idx}, "
                    f"has {100.0 * ratio:.0f} % of the largest lung cross-section): the CT "
                    "field of view probably stopped inside the lungs"
                )
    return found


def lsf_spect(
    maa: Image,
    liver: MaskLike,
    lung: LungInput,
    *,
    lung_margin_mm: float = LUNG_MARGIN_MM,
    use_fraction: bool = False,
    maa_name: str = "MAA SPECT",
) -> LsfResult:
    """SPECT/CT lung shunt fraction from counts in the lung and liver masks.

    Parameters
    ----------
    maa : Image
        Tc-99m MAA SPECT, shape (z, y, x): counts per voxel, or anything proportional to
        activity per voxel (Bq/mL works too: every voxel has the same volume).
    liver : Image or NamedMask
        Whole-liver mask on the SPECT grid (tumours included).
    lung : Image, NamedMask, sequence or mapping of them, or None
        Lung mask(s) on the SPECT grid; several masks (e.g. the five TotalSegmentator lobes,
        :data:`netdose.io.totalsegmentator_classes.LUNG`) are united. None: no lung mask --
        the result has ``lsf=None`` and says it was not checked. Required: state None
        explicitly.
    lung_margin_mm : float
        Margin (mm, >= 0) for ``lsf_spill_corrected`` (default :data:`LUNG_MARGIN_MM`).
    use_fraction : bool
        With NamedMasks that carry coverage fractions, weight voxels by them (partial
        volume) instead of counting the thresholded masks.
    maa_name : str
        Name of the SPECT in messages.

    Returns
    -------
    LsfResult
        ``lsf`` = C_lung / (C_lung + C_liver) with the masks as given; voxels in both the
        lung and the liver mask count as lung (conservative; warned). ``lsf_spill_corrected``
        uses the lung count density beyond ``lung_margin_mm`` from the liver for the whole
        lung volume. Truncation checks as in the module doc.

    Raises
    ------
    GeometryError
        A mask not on the SPECT grid.
    InputError
        NaN voxels, an empty liver mask, no counts in liver and lungs, bad margin.
    """
    maa.require_finite(maa_name)
    margin = float(lung_margin_mm)
    if not (math.isfinite(margin) and margin >= 0.0):
        raise InputError(f"lung_margin_mm must be a finite number >= 0 mm; got {lung_margin_mm!r}.")
    counts_img = np.asarray(maa.array, dtype=np.float64)
    v_ml = maa.voxel_volume_ml
    liv = _region(liver, maa, "liver", maa_name, use_fraction)
    if not np.any(liv.weights > 0):
        raise InputError(
            f"the liver mask {liv.name!r} is empty on the grid of {maa_name}; check that it "
            "belongs to this study."
        )
    constants: dict[str, Any] = {
        "formula": "LSF = C_lung / (C_lung + C_liver), counts summed in the masks",
        "lung_margin_mm": margin,
        "spill_correction": "lung counts = mean count density of lung voxels more than "
        "lung_margin_mm from the liver x whole lung volume",
        "lung_truncation_tolerance": LUNG_TRUNCATION_TOLERANCE,
        "lung_end_area_ratio": LUNG_END_AREA_RATIO,
        "weighting": "coverage fractions" if use_fraction else "masks (thresholded)",
        "overlap_rule": "voxels in both lung and liver masks count as lung",
    }
    c_liver_all = float(np.sum(liv.weights * counts_img))
    total = float(counts_img.sum())
    parts = _lung_parts(lung)
    if not parts:
        return LsfResult(
            lsf=None,
            method="spect",
            counts={"liver": c_liver_all, "total_fov": total, "liver_ml": float(liv.weights.sum() * v_ml)},
            lung_margin_mm=margin,
            not_checked=(_NO_LUNG_MASK,),
            warnings=("no lung mask: the lung shunt fraction and the lung dose are unknown.",),
            constants=constants,
        )
    warnings_: list[str] = []
    regions = [_region(obj, maa, name, maa_name, use_fraction) for name, obj in parts]
    lung_w = np.clip(np.sum([r.weights for r in regions], axis=0), 0.0, 1.0)
    lung_bool = lung_w > 0
    names = ", ".join(repr(r.name) for r in regions)
    if not lung_bool.any():
        raise InputError(
            f"the lung mask(s) {names} are empty on the grid of {maa_name}: the SPECT field of "
            "view does not include the lungs. The LSF cannot be measured on this SPECT; use the "
            "planar LSF or acquire a SPECT that covers the lungs."
        )
    liver_w = liv.weights.copy()
    both = (liver_w > 0) & lung_bool
    if both.any():
        warnings_.append(
            f"{int(both.sum())} voxel(s) are in both the liver mask {liv.name!r} and the lung "
            f"mask(s) {names}; they count as lung (conservative). Check the segmentation."
        )
        liver_w = np.minimum(liver_w, 1.0 - lung_w)
    c_liver = float(np.sum(liver_w * counts_img))
    c_lung = float(np.sum(lung_w * counts_img))
    if c_liver <= 0.0:
        raise InputError(
            f"no counts in the liver mask {liv.name!r} of {maa_name}: wrong image or mask."
        )
    if c_lung < 0.0:
        warnings_.append(
            f"the lung counts sum to {c_lung:.6g} (< 0: reconstruction noise around zero); "
            "the LSF is taken as 0."
        )
    lsf = max(c_lung, 0.0) / (max(c_lung, 0.0) + c_liver)

    # Spill-corrected: lung count density beyond the margin from the liver.
    sampling = tuple(maa.spacing_mm[::-1])
    liver_bool = liv.weights > 0
    dist = scipy.ndimage.distance_transform_edt(~liver_bool, sampling=sampling)
    far = lung_bool & (dist > margin)
    lung_ml = float(lung_w.sum() * v_ml)
    far_ml = float(lung_w[far].sum() * v_ml)
    c_far = float(np.sum(lung_w[far] * counts_img[far]))
    lsf_corr: float | None
    if far_ml > 0.0:
        c_lung_corr = max(c_far / far_ml * lung_ml, 0.0)
        lsf_corr = c_lung_corr / (c_lung_corr + c_liver)
    else:
        lsf_corr = None
        warnings_.append(
            f"no lung voxel lies more than {margin:g} mm from the liver: no spill-corrected LSF."
        )

    natives = [r.native_ml for r in regions]
    visible: float | None = None
    if all(n is not None for n in natives):
        native_total = float(sum(natives))  # type: ignore[arg-type]
        inside_total = float(sum(r.inside_ml for r in regions))  # type: ignore[misc]
        visible = inside_total / native_total if native_total > 0 else None
    truncation = _truncation_checks(lung_bool, maa, visible)
    truncated = bool(truncation)
    if truncated:
        vis = f" ({100.0 * visible:.1f} % of the lung volume visible)" if visible is not None else (
            " (visible fraction unknown: give the lungs as NamedMask from load_masks to know it)"
        )
        warnings_.append("lungs truncated" + vis + ": " + "; ".join(truncation) + ". "
                         + _TRUNCATION_ADVICE)
    return LsfResult(
        lsf=lsf,
        method="spect",
        counts={
            "liver": c_liver,
            "lung": c_lung,
            "lung_beyond_margin": c_far,
            "total_fov": total,
            "liver_ml": float(liver_w.sum() * v_ml),
            "lung_ml": lung_ml,
            "lung_beyond_margin_ml": far_ml,
        },
        lsf_spill_corrected=lsf_corr,
        lung_margin_mm=margin,
        lung_truncated=truncated,
        lung_visible_fraction=visible,
        truncation=tuple(truncation),
        warnings=tuple(warnings_),
        constants=constants,
    )
