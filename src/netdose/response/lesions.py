"""Lesion metrics on SUV (or SUL) PET images: SUVmax, SUVmean, SUVpeak, volume, total lesion
uptake, liver / spleen / blood-pool references, tumour-to-reference ratios and a Krenning-type
score per lesion.

The PET image must already be in SUV units (``netdose.response.suv`` makes one from DICOM);
this module never converts units, it only records the label the caller gives (``unit``:
``"SUVbw"``, ``"SUVlbm"``/``"SUL"``, ``"SUVbsa"``, ``"SUVibw"``). All ``suv_*`` fields are in
that unit.

Definitions (docs/physics.md, section "Lesion metrics", gives equations and sources):

- **SUVpeak**: the highest mean of the image in a sphere of 1 mL (radius
  :data:`PEAK_RADIUS_MM` = 6.2035 mm) whose centre is at a voxel centre *inside* the lesion
  mask. The sphere itself may extend beyond the mask (PERCIST's SULpeak is "the highest mean in
  a 1 cm³ sphere positioned anywhere in the tumour"). Voxels are weighted by the fraction of
  their volume inside the sphere, computed once per voxel spacing by supersampling every voxel
  cut by the sphere surface with a regular grid of sub-points of about
  :data:`PEAK_SUBVOXEL_MM` = 0.1 mm (:func:`peak_kernel`: ceil(spacing / 0.1 mm) per axis,
  5 to 50); the weights are normalised, so a uniform image has
  SUVpeak equal to its value exactly. Near the edge of the field of view only the weight inside
  the image counts (and a warning says so).
- **Liver reference**: mean and SD of the voxels whose centres lie within a sphere of 30 mm
  diameter. Placed automatically (:func:`place_liver_sphere`): admissible centres are voxel
  centres whose distance to the nearest non-liver voxel centre exceeds the sphere radius plus
  ``liver_edge_margin_mm`` (so the sphere lies wholly in the liver mask eroded by that margin)
  and whose distance to every lesion voxel exceeds the radius plus ``liver_lesion_margin_mm``;
  among them, those in the patient's right half of the liver (LPS x at most the median x of
  the liver voxels: LPS x grows toward the patient's LEFT) are preferred, and the deepest one
  (largest distance to the liver edge) is chosen, ties to the smallest x (most to the right),
  then the first in (z, y, x) order. Or the caller gives the centre in LPS mm.
- **Spleen reference**: mean of the spleen mask, optionally eroded by ``spleen_erosion_mm``.
- **Blood pool**: mean of a given mask (e.g. the aorta) or of a sphere given by centre and
  diameter.
- **Krenning-type score** (:class:`KrenningScale`): the planar Krenning scale adapted to PET:
  0 no uptake above background (<= blood-pool mean), 1 very low (<= ``very_low_fraction_of_liver``
  x liver), 2 <= liver, 3 > liver and <= spleen, 4 > spleen; the lesion statistic (SUVmax by
  default) is compared with the reference statistic (mean by default). When a reference is
  missing the score is a range (``krenning_score_range``) and ``krenning_score`` is None.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import scipy.ndimage
from numba import njit, prange

from netdose.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS, thread_count
from netdose.errors import InputError, NetdoseWarning, UnitsError
from netdose.image import Image
from netdose.io.masks import NamedMask
from netdose.units import MM3_PER_ML

__all__ = [
    "KRENNING_STATISTICS",
    "LIVER_EDGE_MARGIN_MM",
    "LIVER_LESION_MARGIN_MM",
    "LIVER_SPHERE_DIAMETER_MM",
    "PEAK_RADIUS_MM",
    "PEAK_SUBVOXEL_MM",
    "PEAK_SUPERSAMPLE_RANGE",
    "PEAK_VOLUME_ML",
    "SUV_UNITS",
    "VERY_LOW_LIVER_FRACTION",
    "KrenningScale",
    "LesionMetrics",
    "LesionReport",
    "LiverPlacement",
    "Peak",
    "ReferenceRegion",
    "measure_lesions",
    "normalise_unit",
    "peak_kernel",
    "place_liver_sphere",
    "sphere_means",
    "suv_peak",
]

# =========================================================================== constants
#: Volume of the SUVpeak sphere, mL (PERCIST 1.0, Wahl et al. 2009: "1 cm³ spherical VOI";
#: as commonly quoted, not verified against the original here).
PEAK_VOLUME_ML: float = 1.0
#: Radius of a sphere of PEAK_VOLUME_ML: (3 V / 4 pi)^(1/3) = 6.2035 mm.
PEAK_RADIUS_MM: float = (3.0 * PEAK_VOLUME_ML * MM3_PER_ML / (4.0 * math.pi)) ** (1.0 / 3.0)
#: Target sub-voxel size for the SUVpeak voxel weights, mm: a voxel cut by the sphere surface
#: is sampled with ceil(spacing / PEAK_SUBVOXEL_MM) sub-points per axis (clipped to
#: PEAK_SUPERSAMPLE_RANGE). netdose choice: the weights then sum to 1 mL within 0.1 %.
PEAK_SUBVOXEL_MM: float = 0.1
#: Allowed sub-points per axis.
PEAK_SUPERSAMPLE_RANGE: tuple[int, int] = (5, 50)
#: Diameter of the liver reference sphere, mm (PERCIST 1.0: "3 cm diameter spherical ROI in
#: the normal right lobe of the liver"; as commonly quoted, not verified here).
LIVER_SPHERE_DIAMETER_MM: float = 30.0
#: The liver sphere lies wholly inside the liver mask eroded by this margin, mm (netdose
#: choice: keeps the sphere off the partial-volume rim of the liver outline).
LIVER_EDGE_MARGIN_MM: float = 5.0
#: Minimum gap between the liver sphere and any lesion voxel, mm (netdose choice).
LIVER_LESION_MARGIN_MM: float = 10.0
#: Score 1 ("very low") versus 2 ("<= liver") split: lesion statistic <= this fraction of the
#: liver reference gives 1. netdose convention; the literature gives no number.
VERY_LOW_LIVER_FRACTION: float = 0.5

#: Accepted unit labels (normalised spelling -> what it is). All are "SUV-like": activity
#: concentration divided by injected activity per normaliser.
SUV_UNITS: dict[str, str] = {
    "SUVbw": "SUV normalised to body weight, g/mL",
    "SUVlbm": "SUV normalised to lean body mass, g/mL",
    "SUL": "SUV normalised to lean body mass (PERCIST SUL), g/mL",
    "SUVbsa": "SUV normalised to body surface area, cm²/mL",
    "SUVibw": "SUV normalised to ideal body weight, g/mL",
}

#: Lesion statistics the Krenning-type score can use.
KRENNING_STATISTICS: tuple[str, ...] = ("suv_max", "suv_peak", "suv_mean")
_REFERENCE_STATISTICS: tuple[str, ...] = ("mean", "max")

MaskLike = Image | NamedMask
LesionMasks = Mapping[str, MaskLike] | Sequence[NamedMask]


def _warn(collected: list[str], message: str) -> None:
    collected.append(message)


# =========================================================================== small checks
def _finite(name: str, value: object, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} = {value!r} is not a number; give it in {unit}.")
    out = float(value)
    if not math.isfinite(out):
        raise InputError(f"{name} = {out!r} is not finite; give a finite value in {unit}.")
    return out


def _non_negative(name: str, value: object, unit: str) -> float:
    out = _finite(name, value, unit)
    if out < 0.0:
        raise InputError(f"{name} = {out!r} {unit}: it cannot be negative.")
    return out


def _positive(name: str, value: object, unit: str) -> float:
    out = _finite(name, value, unit)
    if out <= 0.0:
        raise InputError(f"{name} = {out!r} {unit}: it must be greater than 0.")
    return out


def _point(name: str, value: object) -> np.ndarray:
    try:
        pt = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be three numbers (x, y, z) in LPS mm; got {value!r}.") from exc
    if pt.shape != (3,) or not np.all(np.isfinite(pt)):
        raise InputError(f"{name} must be three finite numbers (x, y, z) in LPS mm; got {value!r}.")
    return pt


def _check_supersample(
    value: object, spacing_xyz: Sequence[float]
) -> tuple[int, int, int]:
    """Sub-points per axis (x, y, z): automatic (None) or one integer / three integers."""
    lo, hi = PEAK_SUPERSAMPLE_RANGE
    if value is None:
        return tuple(  # type: ignore[return-value]
            min(max(math.ceil(s / PEAK_SUBVOXEL_MM - 1.0e-9), lo), hi) for s in spacing_xyz
        )
    vals = value if isinstance(value, (tuple, list)) else (value,) * 3
    ok = len(vals) == 3 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and 1 <= v <= hi for v in vals
    )
    if not ok:
        raise InputError(
            f"peak_supersample = {value!r}: give None (automatic: sub-voxels of about "
            f"{PEAK_SUBVOXEL_MM:g} mm), an integer from 1 to {hi} or three of them (x, y, z): "
            "sub-points per axis in the voxels cut by the SUVpeak sphere."
        )
    return tuple(int(v) for v in vals)  # type: ignore[return-value]


def normalise_unit(unit: object) -> str:
    """The canonical spelling of an SUV unit label (case, '_' and '-' ignored).

    Raises
    ------
    UnitsError
        Not an SUV-type unit (e.g. Bq/mL, which must be converted first).
    """
    if isinstance(unit, str):
        key = unit.replace("_", "").replace("-", "").replace(" ", "").casefold()
        for canon in SUV_UNITS:
            if canon.casefold() == key:
                return canon
    raise UnitsError(
        f"unit = {unit!r} is not an SUV unit netdose can measure lesions in; give one of "
        f"{', '.join(SUV_UNITS)}. An activity-concentration image (Bq/mL) must be converted to "
        "SUV first (netdose suv / netdose.response.suv)."
    )


def _check_pet(pet: object) -> Image:
    if not isinstance(pet, Image):
        raise InputError(
            f"the PET image must be a netdose Image; got {type(pet).__name__}. Read it with "
            "netdose.io (e.g. read_volume) or netdose.response.suv."
        )
    if pet.array.dtype == np.bool_ or not np.issubdtype(pet.array.dtype, np.number):
        raise InputError(
            f"the PET image holds {pet.array.dtype} values, not SUVs; did you pass a mask as the "
            "image?"
        )
    pet.require_finite("the PET image")
    return pet


def _mask_array(pet: Image, mask: object, what: str) -> np.ndarray:
    """The boolean array of ``mask`` (Image or NamedMask), checked against the PET grid."""
    if isinstance(mask, NamedMask):
        img = mask.mask
    elif isinstance(mask, Image):
        img = mask
    else:
        raise InputError(
            f"{what} must be a boolean netdose Image or a NamedMask (netdose.io.masks); got "
            f"{type(mask).__name__}."
        )
    pet.require_same_grid(img, "the PET image", what)
    arr = img.array
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.integer) or not np.all((arr == 0) | (arr == 1)):
            raise InputError(
                f"{what} holds values other than 0 and 1 ({arr.dtype}); a mask must be boolean. "
                "If it is a label map, select one label (label_map == value) or load it with "
                "netdose.io.masks.load_masks."
            )
        arr = arr.astype(bool)
    if not arr.any():
        raise InputError(
            f"{what} is empty (0 voxels on the PET grid). Check the segmentation, or leave "
            "this mask out."
        )
    return np.asarray(arr, dtype=bool)


def _named_lesions(pet: Image, lesion_masks: object) -> list[tuple[str, np.ndarray]]:
    if isinstance(lesion_masks, Mapping):
        items = list(lesion_masks.items())
    elif isinstance(lesion_masks, (list, tuple)):
        items = []
        for m in lesion_masks:
            if not isinstance(m, NamedMask):
                raise InputError(
                    "lesion_masks as a list must hold NamedMask objects (their names are the "
                    f"lesion ids); got {type(m).__name__}. Or give a mapping id -> mask."
                )
            items.append((m.name, m))
    else:
        raise InputError(
            "lesion_masks must be a MaskSet, a mapping lesion id -> mask, or a list of "
            f"NamedMask; got {type(lesion_masks).__name__}."
        )
    out: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()
    for key, m in items:
        if not isinstance(key, str) or not key.strip():
            raise InputError(f"lesion ids must be non-empty strings; got {key!r}.")
        if key in seen:
            raise InputError(f"lesion id {key!r} appears twice; give every lesion a unique id.")
        seen.add(key)
        out.append((key, _mask_array(pet, m, f"lesion mask {key!r}")))
    return out


def _mask_name(mask: object, default: str) -> str:
    """The name of a NamedMask, or of an Image mask from its meta, else ``default``."""
    if isinstance(mask, NamedMask):
        return mask.name
    if isinstance(mask, Image):
        return str(mask.meta.get("mask_name", default))
    return default


def _index_to_lps(pet: Image, index_zyx: Sequence[int]) -> tuple[float, float, float]:
    z, y, x = (float(v) for v in index_zyx)
    p = pet.physical_points(np.array([[x, y, z]]))[0]
    return (float(p[0]), float(p[1]), float(p[2]))


def _inside_distance_mm(mask: np.ndarray, spacing_xyz: Sequence[float]) -> np.ndarray:
    """Distance (mm) from each voxel centre to the nearest voxel centre *outside* ``mask``
    (0 outside). Voxels beyond the array border count as outside."""
    sx, sy, sz = spacing_xyz
    padded = np.pad(mask, 1, constant_values=False)
    dist = scipy.ndimage.distance_transform_edt(padded, sampling=(sz, sy, sx))
    return np.asarray(dist[1:-1, 1:-1, 1:-1], dtype=np.float64)


# =========================================================================== SUVpeak kernel
def peak_kernel(
    spacing_mm: Sequence[float],
    *,
    radius_mm: float = PEAK_RADIUS_MM,
    supersample: int | Sequence[int] | None = None,
) -> np.ndarray:
    """Fraction of each voxel inside a sphere centred on the centre voxel.

    Voxel (dz, dy, dx) of the kernel is the image voxel at that index offset from the sphere
    centre. Voxels entirely inside the sphere (farthest corner within the radius) get 1,
    voxels entirely outside (nearest point beyond the radius) 0, and the others the fraction of
    their sub-points (centres of a regular ``nx x ny x nz`` sub-grid) within the radius.
    Distances use the voxel spacing only: for the orthonormal direction matrices netdose
    accepts, index offsets times spacing are physical distances.

    Parameters
    ----------
    spacing_mm : 3 floats
        Voxel size (x, y, z), mm.
    radius_mm : float
        Sphere radius, mm (default: the 1 mL sphere, 6.2035 mm).
    supersample : None, int or 3 ints
        Sub-points per axis (x, y, z) in voxels cut by the surface. None (default):
        ``ceil(spacing / PEAK_SUBVOXEL_MM)`` per axis, clipped to 5-50.

    Returns
    -------
    numpy.ndarray, shape (kz, ky, kx), float64
        Odd sizes, centre voxel = sphere centre; values in [0, 1]. Not normalised: the sum
        times the voxel volume approximates the sphere volume.
    """
    spacing = [_positive("spacing_mm", s, "mm") for s in spacing_mm]
    if len(spacing) != 3:
        raise InputError(f"spacing_mm must be three numbers (x, y, z); got {spacing_mm!r}.")
    sx, sy, sz = spacing
    r = _positive("radius_mm", radius_mm, "mm")
    nx, ny, nz = _check_supersample(supersample, spacing)
    half = [math.ceil(r / s + 0.5) for s in (sz, sy, sx)]
    offs = [np.arange(-h, h + 1, dtype=np.float64) * s for h, s in zip(half, (sz, sy, sx))]
    dz, dy, dx = np.meshgrid(*offs, indexing="ij")
    spacing_zyx = np.array([sz, sy, sx])
    centre = np.stack([dz, dy, dx], axis=-1)
    near = np.maximum(np.abs(centre) - 0.5 * spacing_zyx, 0.0)
    far = np.abs(centre) + 0.5 * spacing_zyx
    near_d = np.sqrt(np.sum(near**2, axis=-1))
    far_d = np.sqrt(np.sum(far**2, axis=-1))
    kernel = np.where(far_d <= r, 1.0, 0.0)
    cut = (near_d < r) & (far_d > r)

    def sub(n: int, s: float) -> np.ndarray:  # sub-point offsets from the voxel centre, mm
        return ((np.arange(n, dtype=np.float64) + 0.5) / n - 0.5) * s

    sub_z, sub_y, sub_x = np.meshgrid(sub(nz, sz), sub(ny, sy), sub(nx, sx), indexing="ij")
    sub_pts = np.stack([sub_z.ravel(), sub_y.ravel(), sub_x.ravel()], axis=1)  # (n, 3)
    r2 = r * r
    for idx in np.argwhere(cut):
        pts = sub_pts + centre[tuple(idx)]
        kernel[tuple(idx)] = np.count_nonzero(np.sum(pts * pts, axis=1) <= r2) / sub_pts.shape[0]
    return kernel


@njit(**NUMBA_FLAGS)
def _sphere_means_chunk(img, dz, dy, dx, w, cz, cy, cx, i0, i1, means, fov):  # pragma: no cover
    """Serial worker: weighted means for centres ``i0:i1`` (writes ``means``/``fov`` there)."""
    nz, ny, nx = img.shape
    w_total = 0.0
    for k in range(w.shape[0]):
        w_total += w[k]
    for i in range(i0, i1):
        acc = 0.0
        w_in = 0.0
        for k in range(w.shape[0]):
            z = cz[i] + dz[k]
            y = cy[i] + dy[k]
            x = cx[i] + dx[k]
            if 0 <= z < nz and 0 <= y < ny and 0 <= x < nx:
                acc += w[k] * img[z, y, x]
                w_in += w[k]
        means[i] = acc / w_in
        fov[i] = w_in / w_total


@njit(**NUMBA_PARALLEL_FLAGS)
def _sphere_means(img, dz, dy, dx, w, cz, cy, cx, n_chunks):  # pragma: no cover - compiled
    """Parallel driver: split the centres into ``n_chunks`` contiguous chunks."""
    n = cz.shape[0]
    means = np.empty(n, np.float64)
    fov = np.empty(n, np.float64)
    for t in prange(n_chunks):
        _sphere_means_chunk(
            img, dz, dy, dx, w, cz, cy, cx, (n * t) // n_chunks, (n * (t + 1)) // n_chunks,
            means, fov,
        )
    return means, fov


def sphere_means(
    array: np.ndarray, kernel: np.ndarray, centres_zyx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel-weighted means of ``array`` around each centre voxel.

    mean_i = sum_k w_k a(c_i + o_k) / sum_k w_k, the sums over kernel voxels inside the array.

    Parameters
    ----------
    array : numpy.ndarray, shape (z, y, x)
        Finite image values.
    kernel : numpy.ndarray, shape (kz, ky, kx)
        Non-negative weights, odd sizes, centre voxel = sphere centre, centre weight > 0
        (e.g. :func:`peak_kernel`).
    centres_zyx : numpy.ndarray, shape (n, 3), int
        Centre voxel indices (z, y, x), inside the array.

    Returns
    -------
    means : numpy.ndarray, shape (n,), float64
    fov_fraction : numpy.ndarray, shape (n,), float64
        Fraction of the kernel weight that lay inside the array (1 away from the border).
    """
    img = np.ascontiguousarray(array, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 3 or any(s % 2 == 0 for s in k.shape):
        raise InputError(f"kernel must be 3-D with odd sizes; got shape {k.shape}.")
    if np.any(k < 0) or k[tuple(s // 2 for s in k.shape)] <= 0.0:
        raise InputError("kernel weights must be >= 0 with a positive centre weight.")
    c = np.asarray(centres_zyx, dtype=np.int64).reshape(-1, 3)
    if c.size and (np.any(c < 0) or np.any(c >= np.asarray(img.shape))):
        raise InputError(f"centres must be voxel indices inside the array of shape {img.shape}.")
    nz_idx = np.argwhere(k > 0)
    w = k[k > 0].astype(np.float64)
    off = nz_idx - np.asarray([s // 2 for s in k.shape])
    n_chunks = max(1, min(c.shape[0], 4 * thread_count()))
    if c.shape[0] == 0:
        return np.empty(0), np.empty(0)
    return _sphere_means(
        img,
        np.ascontiguousarray(off[:, 0]),
        np.ascontiguousarray(off[:, 1]),
        np.ascontiguousarray(off[:, 2]),
        w,
        np.ascontiguousarray(c[:, 0]),
        np.ascontiguousarray(c[:, 1]),
        np.ascontiguousarray(c[:, 2]),
        n_chunks,
    )


@dataclasses.dataclass(frozen=True)
class Peak:
    """The SUVpeak of one region.

    Attributes
    ----------
    value : float
        Highest sphere mean (image unit).
    centre_index_zyx : tuple of 3 int
        Voxel at the sphere centre.
    centre_lps_mm : tuple of 3 float
        Its LPS position, mm.
    fov_fraction : float
        Fraction of the sphere weight inside the field of view (1.0 unless the sphere was cut
        by the image border).
    """

    value: float
    centre_index_zyx: tuple[int, int, int]
    centre_lps_mm: tuple[float, float, float]
    fov_fraction: float


def suv_peak(
    pet: Image,
    mask: MaskLike,
    *,
    supersample: int | Sequence[int] | None = None,
    radius_mm: float = PEAK_RADIUS_MM,
    kernel: np.ndarray | None = None,
) -> Peak:
    """SUVpeak: the highest partial-volume-weighted mean in a 1 mL sphere whose centre is at a
    voxel centre inside ``mask`` (the sphere may extend beyond the mask).

    Parameters
    ----------
    pet : Image
        SUV image, shape (z, y, x).
    mask : Image or NamedMask
        Boolean mask on the PET grid (non-empty).
    supersample, radius_mm
        See :func:`peak_kernel`.
    kernel : numpy.ndarray, optional
        A precomputed :func:`peak_kernel` for this spacing (saves recomputing it).

    Returns
    -------
    Peak
        Ties go to the first centre in (z, y, x) order.
    """
    pet = _check_pet(pet)
    arr = _mask_array(pet, mask, f"mask {_mask_name(mask, 'mask')!r}")
    k = kernel if kernel is not None else peak_kernel(
        pet.spacing_mm, radius_mm=radius_mm, supersample=supersample
    )
    return _peak(pet, arr, k)


def _peak(pet: Image, mask: np.ndarray, kernel: np.ndarray) -> Peak:
    centres = np.argwhere(mask)
    means, fov = sphere_means(pet.array, kernel, centres)
    best = int(np.argmax(means))
    idx = tuple(int(v) for v in centres[best])
    return Peak(float(means[best]), idx, _index_to_lps(pet, idx), float(fov[best]))  # type: ignore[arg-type]


# =========================================================================== references
@dataclasses.dataclass(frozen=True)
class ReferenceRegion:
    """A reference region (liver, spleen, blood pool) and its statistics.

    Attributes
    ----------
    name : str
        ``"liver"``, ``"spleen"`` or ``"blood_pool"``.
    kind : str
        ``"sphere"`` (voxels whose centres lie within the sphere) or ``"mask"``.
    mean, sd, max : float
        Mean, sample standard deviation (ddof = 1; None for one voxel) and maximum, in the
        image unit.
    n_voxels : int
    volume_ml : float
        n_voxels x voxel volume, mL.
    centre_lps_mm : tuple of 3 float or None
        Sphere centre (spheres only), LPS mm.
    diameter_mm : float or None
        Sphere diameter (spheres only), mm.
    definition : str
        How the region was made, in words.
    """

    name: str
    kind: str
    mean: float
    sd: float | None
    max: float
    n_voxels: int
    volume_ml: float
    centre_lps_mm: tuple[float, float, float] | None
    diameter_mm: float | None
    definition: str

    def statistic(self, which: str) -> float:
        """``"mean"`` or ``"max"``."""
        return self.mean if which == "mean" else self.max

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        if self.centre_lps_mm is not None:
            out["centre_lps_mm"] = list(self.centre_lps_mm)
        return out


def _region(
    pet: Image,
    sel: np.ndarray,
    name: str,
    kind: str,
    definition: str,
    centre: tuple[float, float, float] | None = None,
    diameter_mm: float | None = None,
) -> ReferenceRegion:
    vals = np.asarray(pet.array[sel], dtype=np.float64)
    n = int(vals.size)
    return ReferenceRegion(
        name=name,
        kind=kind,
        mean=float(vals.mean()),
        sd=float(vals.std(ddof=1)) if n > 1 else None,
        max=float(vals.max()),
        n_voxels=n,
        volume_ml=n * pet.voxel_volume_ml,
        centre_lps_mm=centre,
        diameter_mm=diameter_mm,
        definition=definition,
    )


def _sphere_selection(pet: Image, centre_lps: np.ndarray, radius_mm: float, what: str) -> np.ndarray:
    """Voxels whose centres lie within ``radius_mm`` of ``centre_lps``; the sphere must lie
    wholly inside the field of view."""
    c_idx = pet.continuous_index(centre_lps[None, :])[0]  # (x, y, z)
    sp = np.asarray(pet.spacing_mm)
    size = np.asarray(pet.size_xyz)
    lo = c_idx - radius_mm / sp
    hi = c_idx + radius_mm / sp
    if np.any(lo < -0.5) or np.any(hi > size - 0.5):
        raise InputError(
            f"the {what} sphere (centre {tuple(round(float(v), 2) for v in centre_lps)} LPS mm, "
            f"radius {radius_mm:g} mm) does not lie wholly inside the PET field of view "
            f"({pet.describe_grid()}). Check the centre (LPS, mm: x grows to the patient's "
            "left, y posterior, z toward the head)."
        )
    axes = []
    for a in range(3):
        i0 = max(math.floor(lo[a]), 0)
        i1 = min(math.ceil(hi[a]), int(size[a]) - 1)
        axes.append(np.arange(i0, i1 + 1))
    ix, iy, iz = axes
    d2 = (
        ((iz[:, None, None] - c_idx[2]) * sp[2]) ** 2
        + ((iy[None, :, None] - c_idx[1]) * sp[1]) ** 2
        + ((ix[None, None, :] - c_idx[0]) * sp[0]) ** 2
    )
    sel = np.zeros(pet.shape, dtype=bool)
    sel[np.ix_(iz, iy, ix)] = d2 <= radius_mm * radius_mm
    if not sel.any():
        raise InputError(
            f"the {what} sphere (radius {radius_mm:g} mm) contains no voxel centre; use a "
            "larger diameter for this voxel size."
        )
    return sel


@dataclasses.dataclass(frozen=True)
class LiverPlacement:
    """Where :func:`place_liver_sphere` put the liver reference sphere, and why.

    Attributes
    ----------
    centre_index_zyx : tuple of 3 int
    centre_lps_mm : tuple of 3 float
    depth_mm : float
        Distance from the centre to the nearest non-liver voxel centre, mm.
    right_part : bool
        True when the centre is in the patient's right half of the liver (the preferred part).
    n_admissible : int
        Number of admissible centres (before the right-half preference).
    rule : str
        The placement rule in words.
    """

    centre_index_zyx: tuple[int, int, int]
    centre_lps_mm: tuple[float, float, float]
    depth_mm: float
    right_part: bool
    n_admissible: int
    rule: str


def place_liver_sphere(
    pet: Image,
    liver_mask: MaskLike,
    *,
    diameter_mm: float = LIVER_SPHERE_DIAMETER_MM,
    edge_margin_mm: float = LIVER_EDGE_MARGIN_MM,
    avoid_masks: Sequence[np.ndarray | MaskLike] = (),
    lesion_margin_mm: float = LIVER_LESION_MARGIN_MM,
) -> LiverPlacement:
    """Choose the centre of the liver reference sphere automatically.

    Rule (all distances between voxel centres, in mm; ``R`` = diameter / 2):

    1. admissible centres: liver voxels whose distance to the nearest non-liver voxel (voxels
       beyond the image border count as non-liver) is greater than ``R + edge_margin_mm``, so
       that every voxel of the sphere lies in the liver mask eroded by ``edge_margin_mm``;
    2. and whose distance to every voxel of ``avoid_masks`` (the lesions) is greater than
       ``R + lesion_margin_mm``;
    3. prefer those in the patient's right half of the liver: LPS x <= the median LPS x of all
       liver voxels (LPS x increases toward the patient's left); if there are none, use all
       admissible centres (the placement says ``right_part=False``);
    4. choose the deepest (largest distance to the liver edge), ties to the smallest LPS x,
       then to the first voxel in (z, y, x) order.

    Parameters
    ----------
    pet : Image
        The PET image (gives the grid).
    liver_mask : Image or NamedMask
        Boolean liver mask on the PET grid.
    diameter_mm, edge_margin_mm, lesion_margin_mm : float
        Sphere diameter (default 30 mm) and the two margins (defaults 5 and 10 mm).
    avoid_masks : sequence of Image, NamedMask or boolean arrays (z, y, x)
        Regions to keep away from (the lesions), on the PET grid.

    Returns
    -------
    LiverPlacement

    Raises
    ------
    InputError
        No admissible centre (liver too small or too thin, or lesions everywhere): the message
        gives the deepest point found and says to give ``liver_centre_lps_mm``.
    """
    pet = _check_pet(pet)
    liver_name = _mask_name(liver_mask, "liver")
    liver = _mask_array(pet, liver_mask, f"liver mask {liver_name!r}")
    d = _positive("liver_sphere_diameter_mm", diameter_mm, "mm")
    margin = _non_negative("liver_edge_margin_mm", edge_margin_mm, "mm")
    les_margin = _non_negative("liver_lesion_margin_mm", lesion_margin_mm, "mm")
    r = 0.5 * d
    depth = _inside_distance_mm(liver, pet.spacing_mm)
    admissible = depth > r + margin
    max_depth = float(depth.max())
    if not admissible.any():
        raise InputError(
            f"liver mask {liver_name!r} is too small or too thin for the automatic "
            f"{d:g} mm reference sphere: it needs a point more than {r + margin:g} mm "
            f"(radius {r:g} + edge margin {margin:g}) from the liver edge, and the deepest "
            f"point is {max_depth:.1f} mm. Give liver_centre_lps_mm=(x, y, z) (CLI: "
            "--liver-centre X,Y,Z) to place the sphere yourself, or lower the edge margin or "
            "the sphere diameter."
        )
    avoid = np.zeros(pet.shape, dtype=bool)
    for i, m in enumerate(avoid_masks):
        if isinstance(m, np.ndarray):
            if m.shape != pet.shape or m.dtype != np.bool_:
                raise InputError(
                    f"avoid mask #{i} must be a boolean array of the PET shape {pet.shape}; got "
                    f"{m.dtype} {m.shape}."
                )
            avoid |= m
        else:
            avoid |= _mask_array(pet, m, f"avoid mask #{i}")
    if avoid.any():
        sx, sy, sz = pet.spacing_mm
        gap = scipy.ndimage.distance_transform_edt(~avoid, sampling=(sz, sy, sx))
        n_before = int(np.count_nonzero(admissible))
        admissible &= gap > r + les_margin
        if not admissible.any():
            raise InputError(
                f"liver mask {liver_name!r}: all {n_before} positions where the {d:g} mm "
                f"reference sphere fits lie within {les_margin:g} mm of a lesion. Give "
                "liver_centre_lps_mm=(x, y, z) (CLI: --liver-centre X,Y,Z) in normal liver, "
                "or lower liver_lesion_margin_mm."
            )
    cand = np.argwhere(admissible)  # (n, 3) z, y, x
    n_adm = int(cand.shape[0])
    liver_idx = np.argwhere(liver)
    liver_x = pet.physical_points(liver_idx[:, ::-1].astype(np.float64))[:, 0]
    median_x = float(np.median(liver_x))
    cand_x = pet.physical_points(cand[:, ::-1].astype(np.float64))[:, 0]
    right = cand_x <= median_x + 1.0e-9
    right_part = bool(right.any())
    if right_part:
        cand, cand_x = cand[right], cand_x[right]
    cand_depth = depth[cand[:, 0], cand[:, 1], cand[:, 2]]
    order = np.lexsort((np.arange(cand.shape[0]), cand_x, -cand_depth))
    best = tuple(int(v) for v in cand[order[0]])
    rule = (
        f"automatic: deepest voxel centre of liver mask {liver_name!r} "
        + ("in the patient's right half (LPS x <= median liver x "
           f"{median_x:.1f} mm)" if right_part else "(no admissible position in the right half)")
        + f" whose {d:g} mm sphere lies in the liver eroded by {margin:g} mm"
        + (f" and stays {les_margin:g} mm from the lesions" if avoid.any() else "")
        + "; ties to the smallest LPS x"
    )
    return LiverPlacement(
        centre_index_zyx=best,  # type: ignore[arg-type]
        centre_lps_mm=_index_to_lps(pet, best),
        depth_mm=float(depth[best]),
        right_part=right_part,
        n_admissible=n_adm,
        rule=rule,
    )


# =========================================================================== Krenning scale
@dataclasses.dataclass(frozen=True)
class KrenningScale:
    """The Krenning-type score on PET: how lesions are compared with the references.

    Score of a lesion with statistic v (``statistic``), against the reference statistic
    (``reference_statistic``) of blood pool B, liver L and spleen S:

    ====  ============================================================
    0     v <= B (no uptake above background; needs a blood-pool reference)
    1     B < v <= f·L (very low; f = ``very_low_fraction_of_liver``)
    2     f·L < v <= L
    3     L < v <= S
    4     v > L and v > S
    ====  ============================================================

    A missing reference makes the score a range: without B, 0 and 1 are not told apart;
    without S, 3 and 4; without L, only score 0 (v <= B) can be decided.

    Attributes
    ----------
    statistic : {"suv_max", "suv_peak", "suv_mean"}
        Lesion statistic (default SUVmax).
    reference_statistic : {"mean", "max"}
        Reference-region statistic (default mean).
    very_low_fraction_of_liver : float
        f in (0, 1), default 0.5 (netdose convention, see :data:`VERY_LOW_LIVER_FRACTION`).
    """

    statistic: Literal["suv_max", "suv_peak", "suv_mean"] = "suv_max"
    reference_statistic: Literal["mean", "max"] = "mean"
    very_low_fraction_of_liver: float = VERY_LOW_LIVER_FRACTION

    def __post_init__(self) -> None:
        if self.statistic not in KRENNING_STATISTICS:
            raise InputError(
                f"Krenning statistic {self.statistic!r} is unknown; use one of "
                f"{', '.join(KRENNING_STATISTICS)}."
            )
        if self.reference_statistic not in _REFERENCE_STATISTICS:
            raise InputError(
                f"Krenning reference statistic {self.reference_statistic!r} is unknown; use "
                "'mean' or 'max'."
            )
        f = _finite("very_low_fraction_of_liver", self.very_low_fraction_of_liver, "(fraction)")
        if not 0.0 < f < 1.0:
            raise InputError(
                f"very_low_fraction_of_liver = {f!r} must be between 0 and 1 (exclusive)."
            )

    def score_range(
        self,
        value: float,
        *,
        liver: float | None,
        spleen: float | None,
        background: float | None,
    ) -> tuple[int, int]:
        """Lowest and highest score consistent with the references available."""
        if background is not None and value <= background:
            return (0, 0)
        low = 1 if background is not None else 0
        if liver is None:
            return (low, 4)
        if value > liver:
            if spleen is None:
                return (3, 4)
            return (4, 4) if value > spleen else (3, 3)
        if value > self.very_low_fraction_of_liver * liver:
            return (2, 2)
        return (low, 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary, with the rule in words."""
        return {
            **dataclasses.asdict(self),
            "rule": (
                f"lesion {self.statistic} vs reference {self.reference_statistic}: "
                "0 <= blood pool; 1 <= "
                f"{self.very_low_fraction_of_liver:g} x liver; 2 <= liver; 3 > liver and "
                "<= spleen; 4 > spleen (PET adaptation of the planar Krenning scale)"
            ),
        }


# =========================================================================== results
@dataclasses.dataclass(frozen=True)
class LesionMetrics:
    """Metrics of one lesion. ``suv_*`` values are in the report's ``unit``.

    Attributes
    ----------
    id : str
        Lesion id (the mask name).
    unit : str
        Unit of the ``suv_*`` fields (e.g. ``"SUVbw"``, g/mL).
    n_voxels : int
    volume_ml : float
        Voxel count x voxel volume, mL.
    suv_max, suv_mean : float
        Maximum and mean over the mask voxels.
    suv_sd : float or None
        Sample SD (ddof = 1) over the mask voxels; None for one voxel.
    suv_peak : float
        See :func:`suv_peak`.
    total_lesion_uptake_suv_ml : float
        suv_mean x volume_ml ("total lesion SSTR expression" on SSTR PET, TLG on FDG PET), in
        unit·mL (g for SUVbw).
    max_location_lps_mm, peak_location_lps_mm : tuple of 3 float
        Centre of the hottest voxel and of the SUVpeak sphere, LPS mm.
    peak_fov_fraction : float
        Fraction of the SUVpeak sphere weight inside the field of view.
    tumour_to_liver, tumour_to_spleen, tumour_to_blood_pool : float or None
        suv_max / reference mean (None without that reference).
    krenning_statistic : str
        Which lesion statistic the score used.
    krenning_score : int or None
        Krenning-type score 0-4; None when the references leave it undecided.
    krenning_score_range : tuple of 2 int
        Lowest and highest score consistent with the available references.
    """

    id: str
    unit: str
    n_voxels: int
    volume_ml: float
    suv_max: float
    suv_mean: float
    suv_sd: float | None
    suv_peak: float
    total_lesion_uptake_suv_ml: float
    max_location_lps_mm: tuple[float, float, float]
    peak_location_lps_mm: tuple[float, float, float]
    peak_fov_fraction: float
    tumour_to_liver: float | None
    tumour_to_spleen: float | None
    tumour_to_blood_pool: float | None
    krenning_statistic: str
    krenning_score: int | None
    krenning_score_range: tuple[int, int]

    def statistic(self, which: str) -> float:
        """The value of ``"suv_max"``, ``"suv_peak"`` or ``"suv_mean"``."""
        if which not in KRENNING_STATISTICS:
            raise InputError(
                f"lesion statistic {which!r} is unknown; use one of {', '.join(KRENNING_STATISTICS)}."
            )
        return float(getattr(self, which))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field (tuples as lists)."""
        out = dataclasses.asdict(self)
        for key in ("max_location_lps_mm", "peak_location_lps_mm", "krenning_score_range"):
            out[key] = list(out[key])
        return out


@dataclasses.dataclass(frozen=True)
class LesionReport:
    """Lesion metrics of one PET scan with the references and settings used.

    Attributes
    ----------
    unit : str
        Unit of every ``suv_*`` value and reference statistic.
    lesions : tuple of LesionMetrics
        In input order.
    liver, spleen, blood_pool : ReferenceRegion or None
    krenning : KrenningScale
    settings : dict
        Peak sphere, supersampling, liver-sphere and erosion settings actually used.
    warnings : tuple of str
        Assumptions and problems the user should know about.
    """

    unit: str
    lesions: tuple[LesionMetrics, ...]
    liver: ReferenceRegion | None
    spleen: ReferenceRegion | None
    blood_pool: ReferenceRegion | None
    krenning: KrenningScale
    settings: dict[str, Any]
    warnings: tuple[str, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        """Lesion ids in order."""
        return tuple(m.id for m in self.lesions)

    def lesion(self, lesion_id: str) -> LesionMetrics:
        """The metrics of one lesion by id (exact match)."""
        for m in self.lesions:
            if m.id == lesion_id:
                return m
        raise InputError(
            f"no lesion {lesion_id!r} in this report; its lesions are "
            f"{', '.join(map(repr, self.ids)) or '(none)'}."
        )

    def reference_value(self, name: str) -> float | None:
        """The Krenning reference statistic of ``"liver"``, ``"spleen"`` or ``"blood_pool"``."""
        region = getattr(self, name)
        return None if region is None else region.statistic(self.krenning.reference_statistic)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "unit": self.unit,
            "lesions": [m.to_dict() for m in self.lesions],
            "liver": None if self.liver is None else self.liver.to_dict(),
            "spleen": None if self.spleen is None else self.spleen.to_dict(),
            "blood_pool": None if self.blood_pool is None else self.blood_pool.to_dict(),
            "krenning": self.krenning.to_dict(),
            "settings": dict(self.settings),
            "warnings": list(self.warnings),
        }


# =========================================================================== main entry
def measure_lesions(
    pet: Image,
    lesion_masks: LesionMasks,
    *,
    unit: str,
    liver_mask: MaskLike | None = None,
    spleen_mask: MaskLike | None = None,
    liver_centre_lps_mm: Sequence[float] | None = None,
    blood_pool_mask: MaskLike | None = None,
    blood_pool_centre_lps_mm: Sequence[float] | None = None,
    blood_pool_diameter_mm: float | None = None,
    liver_sphere_diameter_mm: float = LIVER_SPHERE_DIAMETER_MM,
    liver_edge_margin_mm: float = LIVER_EDGE_MARGIN_MM,
    liver_lesion_margin_mm: float = LIVER_LESION_MARGIN_MM,
    spleen_erosion_mm: float = 0.0,
    peak_supersample: int | Sequence[int] | None = None,
    krenning: KrenningScale | None = None,
) -> LesionReport:
    """Measure every lesion of a SUV PET image and score it against the references.

    Parameters
    ----------
    pet : Image
        PET in SUV-type units, shape (z, y, x), finite.
    lesion_masks : MaskSet, mapping id -> (Image or NamedMask), or list of NamedMask
        Boolean lesion masks on the PET grid; the mapping keys (or mask names) are the lesion
        ids. May be empty (no lesions).
    unit : str
        What the PET voxels are: one of :data:`SUV_UNITS` (``"SUVbw"``, ``"SUL"``, ...).
    liver_mask : Image or NamedMask, optional
        Liver mask for the automatic reference sphere (see :func:`place_liver_sphere`).
    spleen_mask : Image or NamedMask, optional
        Spleen mask (whole-organ mean, eroded by ``spleen_erosion_mm``).
    liver_centre_lps_mm : 3 floats, optional
        Centre of the liver sphere in LPS mm; overrides the automatic placement.
    blood_pool_mask : Image or NamedMask, optional
        Blood-pool region (e.g. aorta); or give ``blood_pool_centre_lps_mm`` and
        ``blood_pool_diameter_mm`` for a sphere.
    liver_sphere_diameter_mm : float
        Default 30 mm.
    liver_edge_margin_mm, liver_lesion_margin_mm : float
        Automatic placement margins, mm (defaults 5 and 10).
    spleen_erosion_mm : float
        Spleen voxels closer than this to the spleen edge are left out, mm (default 0).
    peak_supersample : None, int or 3 ints
        Sub-points per axis for the SUVpeak voxel weights (default: automatic, sub-voxels of
        about 0.1 mm; see :func:`peak_kernel`).
    krenning : KrenningScale, optional
        Score definition (default: SUVmax vs reference mean).

    Returns
    -------
    LesionReport

    Raises
    ------
    InputError
        NaN voxels, a non-boolean or empty mask, bad settings, a liver too small for the
        automatic sphere, a sphere outside the field of view.
    GeometryError
        A mask not on the PET grid (the message names it).
    UnitsError
        ``unit`` is not an SUV unit.
    """
    unit_name = normalise_unit(unit)
    pet = _check_pet(pet)
    scale = KrenningScale() if krenning is None else krenning
    if not isinstance(scale, KrenningScale):
        raise InputError(f"krenning must be a KrenningScale; got {type(scale).__name__}.")
    n_sub = _check_supersample(peak_supersample, pet.spacing_mm)
    lesions = _named_lesions(pet, lesion_masks)
    notes: list[str] = []
    if max(pet.spacing_mm) > 2.0 * PEAK_RADIUS_MM:
        _warn(
            notes,
            f"voxels ({', '.join(f'{s:g}' for s in pet.spacing_mm)} mm) are larger than the "
            f"{2 * PEAK_RADIUS_MM:.1f} mm SUVpeak sphere: SUVpeak is close to a single-voxel "
            "value at this resolution.",
        )

    # ---------------------------------------------------------------- references
    liver_ref: ReferenceRegion | None = None
    lesion_union = np.zeros(pet.shape, dtype=bool)
    for _, arr in lesions:
        lesion_union |= arr
    liver_arr = None
    liver_name = "liver"
    if liver_mask is not None:
        liver_name = _mask_name(liver_mask, "liver")
        liver_arr = _mask_array(pet, liver_mask, f"liver mask {liver_name!r}")
    d_liver = _positive("liver_sphere_diameter_mm", liver_sphere_diameter_mm, "mm")
    edge_margin = _non_negative("liver_edge_margin_mm", liver_edge_margin_mm, "mm")
    lesion_margin = _non_negative("liver_lesion_margin_mm", liver_lesion_margin_mm, "mm")
    if liver_centre_lps_mm is not None:
        centre = _point("liver_centre_lps_mm", liver_centre_lps_mm)
        sel = _sphere_selection(pet, centre, 0.5 * d_liver, "liver reference")
        if liver_arr is not None:
            outside = int(np.count_nonzero(sel & ~liver_arr))
            if outside:
                _warn(
                    notes,
                    f"{outside} of {int(sel.sum())} voxels of the liver reference sphere at "
                    f"{tuple(round(float(v), 1) for v in centre)} LPS mm lie outside liver mask "
                    f"{liver_name!r}; check liver_centre_lps_mm.",
                )
        if np.any(sel & lesion_union):
            _warn(notes, "the liver reference sphere overlaps a lesion mask; check its centre.")
        liver_ref = _region(
            pet, sel, "liver", "sphere",
            f"{d_liver:g} mm sphere at the given centre (voxel centres within the radius)",
            tuple(float(v) for v in centre), d_liver,  # type: ignore[arg-type]
        )
    elif liver_arr is not None:
        placement = place_liver_sphere(
            pet,
            liver_mask,
            diameter_mm=d_liver,
            edge_margin_mm=edge_margin,
            avoid_masks=[lesion_union] if lesion_union.any() else [],
            lesion_margin_mm=lesion_margin,
        )
        if not placement.right_part:
            _warn(
                notes,
                "no admissible liver sphere position in the patient's right half of the "
                f"liver; it was placed at {tuple(round(v, 1) for v in placement.centre_lps_mm)} "
                "LPS mm. Check it, or give liver_centre_lps_mm.",
            )
        sel = _sphere_selection(
            pet, np.asarray(placement.centre_lps_mm), 0.5 * d_liver, "liver reference"
        )
        liver_ref = _region(
            pet, sel, "liver", "sphere", placement.rule + " (voxel centres within the radius)",
            placement.centre_lps_mm, d_liver,
        )

    spleen_ref: ReferenceRegion | None = None
    erosion = _non_negative("spleen_erosion_mm", spleen_erosion_mm, "mm")
    if spleen_mask is not None:
        sp_name = _mask_name(spleen_mask, "spleen")
        sp = _mask_array(pet, spleen_mask, f"spleen mask {sp_name!r}")
        if erosion > 0.0:
            sp = _inside_distance_mm(sp, pet.spacing_mm) > erosion
            if not sp.any():
                raise InputError(
                    f"spleen mask {sp_name!r} is empty after eroding by {erosion:g} mm; use a "
                    "smaller spleen_erosion_mm."
                )
        if np.any(sp & lesion_union):
            _warn(notes, f"spleen mask {sp_name!r} overlaps a lesion mask; the lesion voxels "
                  "are included in the spleen reference.")
        spleen_ref = _region(
            pet, sp, "spleen", "mask",
            f"mask {sp_name!r}" + (f" eroded by {erosion:g} mm" if erosion > 0 else ""),
        )

    blood_ref: ReferenceRegion | None = None
    if blood_pool_mask is not None and blood_pool_centre_lps_mm is not None:
        raise InputError(
            "give either blood_pool_mask or blood_pool_centre_lps_mm (with "
            "blood_pool_diameter_mm), not both."
        )
    if blood_pool_mask is not None:
        bp_name = _mask_name(blood_pool_mask, "blood_pool")
        bp = _mask_array(pet, blood_pool_mask, f"blood-pool mask {bp_name!r}")
        blood_ref = _region(pet, bp, "blood_pool", "mask", f"mask {bp_name!r}")
    elif blood_pool_centre_lps_mm is not None:
        if blood_pool_diameter_mm is None:
            raise InputError(
                "blood_pool_centre_lps_mm needs blood_pool_diameter_mm (the sphere diameter in "
                "mm, small enough to stay inside the vessel lumen)."
            )
        d_bp = _positive("blood_pool_diameter_mm", blood_pool_diameter_mm, "mm")
        c_bp = _point("blood_pool_centre_lps_mm", blood_pool_centre_lps_mm)
        bp = _sphere_selection(pet, c_bp, 0.5 * d_bp, "blood-pool")
        blood_ref = _region(
            pet, bp, "blood_pool", "sphere", f"{d_bp:g} mm sphere at the given centre",
            tuple(float(v) for v in c_bp), d_bp,  # type: ignore[arg-type]
        )
    elif blood_pool_diameter_mm is not None:
        raise InputError("blood_pool_diameter_mm was given without blood_pool_centre_lps_mm.")

    rs = scale.reference_statistic
    liver_v = None if liver_ref is None else liver_ref.statistic(rs)
    spleen_v = None if spleen_ref is None else spleen_ref.statistic(rs)
    blood_v = None if blood_ref is None else blood_ref.statistic(rs)
    if liver_v is not None and spleen_v is not None and spleen_v <= liver_v:
        _warn(
            notes,
            f"spleen reference ({spleen_v:.3g}) is not above the liver reference "
            f"({liver_v:.3g}); Krenning scores 3 and 4 cannot separate as intended (splenectomy, "
            "wrong mask?).",
        )
    if lesions and liver_ref is None:
        _warn(notes, "no liver reference (liver_mask or liver_centre_lps_mm): Krenning-type "
              "scores are undecided.")
    if lesions and spleen_ref is None:
        _warn(notes, "no spleen reference: Krenning-type scores 3 and 4 are not told apart.")
    if lesions and blood_ref is None:
        _warn(notes, "no blood-pool reference: Krenning-type scores 0 and 1 are not told apart.")

    # ---------------------------------------------------------------- lesions
    kernel = peak_kernel(pet.spacing_mm, supersample=n_sub)
    overlap = np.zeros(pet.shape, dtype=np.int16)
    metrics: list[LesionMetrics] = []
    for lid, arr in lesions:
        overlap += arr
        vals = np.asarray(pet.array[arr], dtype=np.float64)
        idx = np.argwhere(arr)
        n = int(vals.size)
        i_max = int(np.argmax(vals))
        peak = _peak(pet, arr, kernel)
        if peak.fov_fraction < 1.0 - 1.0e-12:
            _warn(
                notes,
                f"the SUVpeak sphere of lesion {lid!r} is cut by the edge of the field of view "
                f"({100 * peak.fov_fraction:.1f} % of it inside); its mean uses the part inside.",
            )
        volume = n * pet.voxel_volume_ml
        mean = float(vals.mean())
        smax = float(vals[i_max])
        partial = {"suv_max": smax, "suv_peak": peak.value, "suv_mean": mean}
        value = partial[scale.statistic]
        rng = scale.score_range(value, liver=liver_v, spleen=spleen_v, background=blood_v)
        metrics.append(
            LesionMetrics(
                id=lid,
                unit=unit_name,
                n_voxels=n,
                volume_ml=volume,
                suv_max=smax,
                suv_mean=mean,
                suv_sd=float(vals.std(ddof=1)) if n > 1 else None,
                suv_peak=peak.value,
                total_lesion_uptake_suv_ml=mean * volume,
                max_location_lps_mm=_index_to_lps(pet, idx[i_max]),
                peak_location_lps_mm=peak.centre_lps_mm,
                peak_fov_fraction=peak.fov_fraction,
                tumour_to_liver=None if liver_ref is None else smax / liver_ref.mean,
                tumour_to_spleen=None if spleen_ref is None else smax / spleen_ref.mean,
                tumour_to_blood_pool=None if blood_ref is None else smax / blood_ref.mean,
                krenning_statistic=scale.statistic,
                krenning_score=rng[0] if rng[0] == rng[1] else None,
                krenning_score_range=rng,
            )
        )
    if np.any(overlap > 1):
        _warn(notes, "some lesion masks overlap; shared voxels count in each lesion.")

    for msg in notes:
        warnings.warn(msg, NetdoseWarning, stacklevel=2)
    settings = {
        "peak_volume_ml": PEAK_VOLUME_ML,
        "peak_radius_mm": PEAK_RADIUS_MM,
        "peak_supersample_xyz": list(n_sub),
        "peak_definition": "max over centres at voxel centres inside the lesion of the "
        "partial-volume-weighted mean in the sphere (sphere may extend beyond the mask)",
        "liver_sphere_diameter_mm": d_liver,
        "liver_edge_margin_mm": edge_margin,
        "liver_lesion_margin_mm": lesion_margin,
        "spleen_erosion_mm": erosion,
        "sd": "sample standard deviation (ddof = 1)",
    }
    return LesionReport(
        unit=unit_name,
        lesions=tuple(metrics),
        liver=liver_ref,
        spleen=spleen_ref,
        blood_pool=blood_ref,
        krenning=scale,
        settings=settings,
        warnings=tuple(notes),
    )
