"""SIRT work-up phantom: Tc-99m MAA in an analytic torso with liver tumours, lungs and GI tract.

An analytic anatomy in patient LPS (x toward the patient's left, y posterior, z superior; mm;
origin on the body axis at the level of the liver centre):

============================  ===================================================================
body                          elliptic cylinder, 350 mm (x) x 250 mm (y), the whole axial field
liver                         right lobe ellipsoid (centre (-65, 0, 10), semi-axes 72, 68, 68)
                              united with a left lobe ellipsoid (centre (20, -25, 25), semi-axes
                              60, 35, 40, tilted 15 deg about y): ~1.67 L
perfused volume               the liver right of the sagittal plane x = -25 mm (right-lobe
                              territory, ~1.22 L with the tumours)
tumours                       tumour_1 sphere r 31 mm at (-90, -15, 25) (125 mL), tumour_2 sphere
                              r 22 mm at (-60, 25, -20) (45 mL), tumour_3 ellipsoid 18 x 15 x 16
                              mm at (-45, -30, 45) (18 mL); all inside the perfused volume
lungs                         ellipsoids at (-+88, 10, 130), semi-axes (65, 88, 120) right and
                              (62, 85, 115) left, below them the liver dome and the gastric
                              fundus (which take precedence): ~2.5 L each
stomach                       fundus ellipsoid (75, 20, 20; 40 x 38 x 45) united with a body
                              ellipsoid (55, -30, -40; 35 x 30 x 55, tilted 35 deg about y),
                              minus the liver: touches the left lobe (~0.5 L)
duodenum                      tube of radius 13 mm along a 260 deg arc of radius 40 mm in the
                              coronal plane around (-15, 10, -90), opening toward the left,
                              under the liver hilum (~0.1 L)
============================  ===================================================================

Where solids overlap the first in this order takes the volume: tumours, GI hot spot,
perfused normal liver, non-perfused normal liver, stomach, duodenum, right lung, left lung,
body. Covered fractions are computed with ``n^3`` sub-points in boundary voxels; the labels
are volume-preserving (each compartment, in that order, takes the voxels it covers most
until its voxel count equals its covered volumes, see
:func:`netdose_phantoms._shapes.volume_preserving_labels`). **The label map is the truth**:
activity, density and CT are constant per label, so sums over the label masks reproduce the
truth exactly (no partial-volume mixing; compare :mod:`netdose_phantoms.nema`, whose truth
is the analytic geometry with fraction-weighted partial voxels).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from netdose.errors import InputError
from netdose.image import Image
from netdose.kernels._tables import xcom
from netdose.nuclides import get_nuclide
from netdose.units import BQ_PER_MBQ, CM_PER_MM, ML_PER_MM3
from netdose_phantoms._shapes import (
    Grid,
    Shape,
    arc_tube,
    auto_supersample,
    check_spacing,
    difference,
    ellipsoid,
    elliptic_cylinder_z,
    halfspace,
    intersection,
    rotation_matrix,
    sphere,
    union,
    volume_preserving_labels,
)
from netdose_phantoms.base import Phantom

__all__ = [
    "GI_HOT_SPOT_SITES",
    "SIRT_LABELS",
    "SIRT_TISSUES",
    "SirtTissue",
    "composite_masks",
    "sirt_liver",
]


@dataclasses.dataclass(frozen=True)
class SirtTissue:
    """Mass density and CT number of one tissue, with their source."""

    name: str
    density_g_cm3: float
    hu: float
    source: str


#: Tissues of the SIRT phantom.
SIRT_TISSUES: dict[str, SirtTissue] = {
    "air": SirtTissue("air", 1.20479e-3, -1000.0,
                      "NIST 'AIR, DRY (NEAR SEA LEVEL)'; -1000 HU by definition"),
    "soft_tissue": SirtTissue("soft_tissue", 1.04, 40.0,
                              "ICRU Report 44 soft tissue 1.04 g/cm3; typical unenhanced CT 40 HU"),
    "liver": SirtTissue("liver", 1.06, 60.0,
                        "ICRU Report 44 liver 1.06 g/cm3; typical unenhanced CT 55-65 HU"),
    "lung": SirtTissue("lung", 0.26, -750.0,
                       "ICRU Report 44 inflated lung 0.26 g/cm3; CT about -750 HU "
                       "(Schneider 2000 calibration: -750 HU -> 0.259 g/cm3)"),
}

#: Every label the phantom may contain (``gi_hot_spot`` only when one is asked for).
SIRT_LABELS: dict[int, str] = {
    1: "body",
    2: "perfused_normal",
    3: "nonperfused_normal",
    4: "tumour_1",
    5: "tumour_2",
    6: "tumour_3",
    7: "lung_right",
    8: "lung_left",
    9: "stomach",
    10: "duodenum",
    11: "gi_hot_spot",
}
_TISSUE_OF = {
    "body": "soft_tissue", "perfused_normal": "liver", "nonperfused_normal": "liver",
    "tumour_1": "liver", "tumour_2": "liver", "tumour_3": "liver", "lung_right": "lung",
    "lung_left": "lung", "stomach": "soft_tissue", "duodenum": "soft_tissue",
    "gi_hot_spot": "soft_tissue",
}
_TUMOURS = ("tumour_1", "tumour_2", "tumour_3")
_LIVER = ("perfused_normal", "nonperfused_normal", *_TUMOURS)
_LUNGS = ("lung_right", "lung_left")
#: Unions of labels: name -> label names.
COMPOSITES: dict[str, tuple[str, ...]] = {
    "liver": _LIVER,
    "perfused_volume": ("perfused_normal", *_TUMOURS),
    "tumours": _TUMOURS,
    "normal_liver": ("perfused_normal", "nonperfused_normal"),
    "lungs": _LUNGS,
}

#: Sites of the optional focal extrahepatic (GI) MAA deposit.
GI_HOT_SPOT_SITES: tuple[str, ...] = ("stomach", "duodenum")
#: Gap between the stomach-site hot spot and the outer surface of the stomach, mm.
_HOT_SPOT_WALL_GAP_MM = 2.0

# ---------------------------------------------------------------------------- anatomy (LPS mm)
_BODY_SEMI_AXES = (175.0, 125.0)
_Z_RANGE = (-160.0, 260.0)
_GRID_MARGIN_MM = 10.0
_STOMACH_BODY_CENTRE = np.array([55.0, -30.0, -40.0])
_STOMACH_BODY_AXES = (35.0, 30.0, 55.0)
_STOMACH_BODY_ROT = rotation_matrix((0.0, 1.0, 0.0), 35.0)
_DUODENUM = {"centre": (-15.0, 10.0, -90.0), "major": 40.0, "minor": 13.0, "arc_deg": (50.0, 310.0)}
_TUMOUR_ANALYTIC_ML = {
    "tumour_1": 4.0 / 3.0 * math.pi * 31.0**3 * ML_PER_MM3,
    "tumour_2": 4.0 / 3.0 * math.pi * 22.0**3 * ML_PER_MM3,
    "tumour_3": 4.0 / 3.0 * math.pi * 18.0 * 15.0 * 16.0 * ML_PER_MM3,
}


def _anatomy() -> dict[str, Shape]:
    """The solids (without the hot spot), keyed by label name, plus helpers."""
    rot_y = rotation_matrix
    liver = union(
        ellipsoid((-65.0, 0.0, 10.0), (72.0, 68.0, 68.0)),
        ellipsoid((20.0, -25.0, 25.0), (60.0, 35.0, 40.0), rot_y((0.0, 1.0, 0.0), -15.0)),
    )
    perfused = intersection(liver, halfspace((1.0, 0.0, 0.0), (-25.0, 0.0, 0.0)))
    stomach = union(
        ellipsoid((75.0, 20.0, 20.0), (40.0, 38.0, 45.0)),
        ellipsoid(_STOMACH_BODY_CENTRE, _STOMACH_BODY_AXES, _STOMACH_BODY_ROT),
    )
    d = _DUODENUM
    duodenum = arc_tube(d["centre"], (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), d["major"], d["minor"],
                        d["arc_deg"])
    return {
        "tumour_1": sphere((-90.0, -15.0, 25.0), 31.0),
        "tumour_2": sphere((-60.0, 25.0, -20.0), 22.0),
        "tumour_3": ellipsoid((-45.0, -30.0, 45.0), (18.0, 15.0, 16.0)),
        "perfused_normal": perfused,
        "nonperfused_normal": liver,
        "stomach": stomach,
        "duodenum": duodenum,
        "lung_right": ellipsoid((-88.0, 10.0, 130.0), (65.0, 88.0, 120.0)),
        "lung_left": ellipsoid((88.0, 10.0, 130.0), (62.0, 85.0, 115.0)),
        "body": elliptic_cylinder_z((0.0, 0.0), _BODY_SEMI_AXES),
    }


def _hot_spot_placement(site: str, radius_mm: float, anatomy: dict[str, Shape]) -> tuple[np.ndarray, float]:
    """Centre (LPS mm) of the hot spot and the largest radius that fits there (mm)."""
    liver = anatomy["nonperfused_normal"]
    if site == "duodenum":
        c = _DUODENUM["centre"]
        centre = np.array([c[0] - _DUODENUM["major"], c[1], c[2]])  # arc midpoint (180 deg)
        room = difference(anatomy["duodenum"], liver, anatomy["stomach"])
    else:
        # Inside the stomach body, against its medial (lesser-curvature) wall.
        a = _STOMACH_BODY_AXES[0]
        centre = _STOMACH_BODY_CENTRE + _STOMACH_BODY_ROT[:, 0] * -(a - radius_mm - _HOT_SPOT_WALL_GAP_MM)
        room = difference(anatomy["stomach"], liver, anatomy["lung_left"], anatomy["lung_right"])
    fits = -float(room(*(np.asarray(v) for v in centre)))
    return centre, fits


# ---------------------------------------------------------------------------- validation
def _number(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"sirt_liver: {name} must be a number; got {value!r}.") from exc
    if not math.isfinite(v):
        raise InputError(f"sirt_liver: {name} must be finite; got {value!r}.")
    return v


def _water_mu_per_cm(energy_mev: float) -> float:
    """Narrow-beam linear attenuation coefficient of water (1 g/cm3) incl. coherent
    scattering, NIST XCOM (netdose/data/xcom_water.csv), log-log interpolation."""
    t = xcom("water")
    total = t.coherent_cm2_g + t.incoherent_cm2_g + t.photoelectric_cm2_g + t.pair_cm2_g
    return float(np.exp(np.interp(np.log(energy_mev), np.log(t.energy_mev), np.log(total))))


# ---------------------------------------------------------------------------- generator
def sirt_liver(
    spacing_mm: float | tuple[float, float, float] = (4.42, 4.42, 4.42),
    *,
    lung_shunt_fraction: float = 0.10,
    tumour_to_normal: float = 3.0,
    injected_mbq: float = 150.0,
    gi_hot_spot: str | None = None,
    hot_spot_fraction: float = 0.02,
    hot_spot_volume_ml: float = 3.0,
    free_pertechnetate_fraction: float = 0.0,
    planar_mu_water_per_cm: float | None = None,
    planar_counts_per_mbq: float | None = None,
    seed: int = 0,
    supersample: int | None = None,
) -> Phantom:
    """Tc-99m MAA work-up phantom for SIRT: liver with tumours, lung shunt, optional GI deposit.

    Parameters
    ----------
    spacing_mm : float or (float, float, float)
        Voxel size (x, y, z), mm, each in 1.5-10 mm (one number: cubic voxels). Default the
        4.42 mm of a typical MAA SPECT.
    lung_shunt_fraction : float
        LSF = A_lung / (A_lung + A_liver), in [0, 1).
    tumour_to_normal : float
        Tumour-to-normal-liver concentration ratio (tumours over perfused normal liver), > 0.
    injected_mbq : float
        Injected Tc-99m MAA activity, MBq (> 0); the activity map holds all of it.
    gi_hot_spot : {None, "stomach", "duodenum"}
        Site of a focal extrahepatic MAA deposit (a sphere): in the stomach, against its
        medial wall, or on the axis of the duodenal loop. None: no deposit.
    hot_spot_fraction : float
        Fraction of the injected activity in the hot spot, in (0, 1); used only with a hot
        spot.
    hot_spot_volume_ml : float
        Hot-spot volume, mL (> 0; at most what fits: ~4.5 mL in the stomach, ~9 mL in the
        duodenum).
    free_pertechnetate_fraction : float
        Fraction of the injected activity as free pertechnetate, spread uniformly over the
        stomach, in [0, 1).
    planar_mu_water_per_cm : float, optional
        Linear attenuation coefficient of water (1/cm) for the planar projections; the voxel
        value is this times the density (g/cm3). Default: narrow-beam XCOM value at
        140.5 keV (0.1536 /cm). Pass ~0.12-0.14 for an effective broad-beam value.
    planar_counts_per_mbq : float, optional
        If given, also Poisson-sampled planar images with this many counts per MBq of
        unattenuated activity (camera sensitivity x acquisition time, e.g. 90 cps/MBq x
        300 s = 27000), seeded by ``seed``.
    seed : int
        Seed of the Poisson sampling (the only random step).
    supersample : int, optional
        Sub-points per axis in boundary voxels (1-16); default: sub-voxels of at most 1 mm.

    Returns
    -------
    Phantom
        ``name="sirt-liver"``; ``labels`` (uint8, :data:`SIRT_LABELS`), ``ct_hu`` and
        ``density_g_cm3`` (float32), ``activity`` (float64, Bq/mL at injection), all
        (z, y, x); ``extras``: ``planar_anterior``, ``planar_posterior`` (attenuated activity
        in Bq per pixel, arrays (nz, 1, nx): one coronal slab on the x, z grid of the volume,
        both in patient orientation), ``planar_roi_lungs``, ``planar_roi_liver`` (uint8) and,
        with ``planar_counts_per_mbq``, ``planar_anterior_counts``/``planar_posterior_counts``;
        ``truth`` (see docs/phantoms.md).

    Raises
    ------
    InputError
        Spacing outside 1.5-10 mm, LSF outside [0, 1), ratio or activity <= 0, unknown
        hot-spot site, fractions outside their range or adding up to 1 or more, a hot spot
        that does not fit its site or is too small for the grid, bad ``supersample``.
    """
    spacing = check_spacing(spacing_mm, 1.5, 10.0, "sirt_liver")
    lsf = _number(lung_shunt_fraction, "lung_shunt_fraction")
    if not 0.0 <= lsf < 1.0:
        raise InputError(
            f"sirt_liver: lung_shunt_fraction must be in [0, 1) (a fraction, not a percentage); "
            f"got {lung_shunt_fraction!r}."
        )
    tnr = _number(tumour_to_normal, "tumour_to_normal")
    if tnr <= 0.0:
        raise InputError(f"sirt_liver: tumour_to_normal must be > 0; got {tumour_to_normal!r}.")
    injected = _number(injected_mbq, "injected_mbq")
    if injected <= 0.0:
        raise InputError(f"sirt_liver: injected_mbq must be > 0 MBq; got {injected_mbq!r}.")
    if gi_hot_spot is not None and gi_hot_spot not in GI_HOT_SPOT_SITES:
        raise InputError(
            f"sirt_liver: unknown gi_hot_spot site {gi_hot_spot!r}; use None, "
            + " or ".join(repr(s) for s in GI_HOT_SPOT_SITES) + "."
        )
    f_hs = _number(hot_spot_fraction, "hot_spot_fraction")
    v_hs = _number(hot_spot_volume_ml, "hot_spot_volume_ml")
    if gi_hot_spot is not None:
        if not 0.0 < f_hs < 1.0:
            raise InputError(f"sirt_liver: hot_spot_fraction must be in (0, 1); got {hot_spot_fraction!r}.")
        if v_hs <= 0.0:
            raise InputError(f"sirt_liver: hot_spot_volume_ml must be > 0 mL; got {hot_spot_volume_ml!r}.")
    else:
        f_hs = 0.0
    f_fp = _number(free_pertechnetate_fraction, "free_pertechnetate_fraction")
    if not 0.0 <= f_fp < 1.0:
        raise InputError(
            f"sirt_liver: free_pertechnetate_fraction must be in [0, 1); got {free_pertechnetate_fraction!r}."
        )
    if f_hs + f_fp >= 1.0:
        raise InputError(
            f"sirt_liver: hot_spot_fraction + free_pertechnetate_fraction = {f_hs + f_fp:g} leaves "
            "no activity for liver and lungs; their sum must be below 1."
        )
    if planar_mu_water_per_cm is not None:
        mu_water = _number(planar_mu_water_per_cm, "planar_mu_water_per_cm")
        if not 0.0 < mu_water < 1.0:
            raise InputError(
                "sirt_liver: planar_mu_water_per_cm must be in (0, 1) per cm (water at 140 keV: "
                f"0.15 narrow beam, ~0.12-0.14 broad beam); got {planar_mu_water_per_cm!r}."
            )
    if planar_counts_per_mbq is not None and not _number(planar_counts_per_mbq, "planar_counts_per_mbq") > 0.0:
        raise InputError(f"sirt_liver: planar_counts_per_mbq must be > 0; got {planar_counts_per_mbq!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"sirt_liver: seed must be an integer; got {seed!r}.")
    if supersample is not None and (
        isinstance(supersample, bool) or not isinstance(supersample, (int, np.integer))
        or not 1 <= supersample <= 16
    ):
        raise InputError(
            f"sirt_liver: supersample must be an integer from 1 to 16 or None; got {supersample!r}."
        )
    n_sub = int(supersample) if supersample is not None else auto_supersample(spacing, 1.0, 16)
    nuc = get_nuclide("Tc-99m")

    # ---------------------------------------------------------------- anatomy and labels
    anatomy = _anatomy()
    hot: dict[str, Any] | None = None
    order = list(_TUMOURS)
    shapes = [anatomy[n] for n in _TUMOURS]
    if gi_hot_spot is not None:
        r_hs = (3.0 * v_hs / (4.0 * math.pi * ML_PER_MM3)) ** (1.0 / 3.0)
        centre, room = _hot_spot_placement(gi_hot_spot, r_hs, anatomy)
        if r_hs > room:
            raise InputError(
                f"sirt_liver: a hot spot of {v_hs:g} mL (radius {r_hs:.1f} mm) does not fit in "
                f"the {gi_hot_spot}; at most {4.0 / 3.0 * math.pi * room**3 * ML_PER_MM3:.2f} mL "
                "fits there."
            )
        hot = {"centre": centre, "radius_mm": r_hs}
        order.append("gi_hot_spot")
        shapes.append(sphere(centre, r_hs))
    for name in ("perfused_normal", "nonperfused_normal", "stomach", "duodenum",
                 "lung_right", "lung_left", "body"):
        order.append(name)
        shapes.append(anatomy[name])
    value_of = {n: v for v, n in SIRT_LABELS.items()}
    codes = np.array([value_of[n] for n in order] + [0], dtype=np.uint8)

    lo = (-_BODY_SEMI_AXES[0], -_BODY_SEMI_AXES[1], _Z_RANGE[0])
    hi = (_BODY_SEMI_AXES[0], _BODY_SEMI_AXES[1], _Z_RANGE[1])
    grid = Grid.covering(lo, hi, spacing, _GRID_MARGIN_MM)
    # The body fills the axial field of view (no margin in z, as in a torso scan).
    nz = math.ceil((_Z_RANGE[1] - _Z_RANGE[0]) / spacing[2] - 1e-9)
    grid = Grid(
        (nz, grid.shape[1], grid.shape[2]),
        grid.spacing_mm,
        (grid.origin_mm[0], grid.origin_mm[1], 0.5 * sum(_Z_RANGE) - 0.5 * (nz - 1) * spacing[2]),
    )
    layer_index, frac_sum = volume_preserving_labels(grid, shapes, n_sub)
    labels = codes[layer_index]
    v_ml = grid.voxel_volume_mm3 * ML_PER_MM3
    counts = np.bincount(labels.ravel(), minlength=len(SIRT_LABELS) + 1)
    vol_ml = {n: float(counts[value_of[n]] * v_ml) for n in order}
    vol_frac_ml = {n: float(frac_sum[i] * v_ml) for i, n in enumerate(order)}
    if hot is not None and vol_ml["gi_hot_spot"] == 0.0:
        raise InputError(
            f"sirt_liver: the {v_hs:g} mL hot spot covers no voxel of {spacing} mm; use a larger "
            "hot_spot_volume_ml or finer spacing."
        )

    # ---------------------------------------------------------------- activity
    injected_bq = injected * BQ_PER_MBQ
    a_hs = f_hs * injected_bq
    a_fp = f_fp * injected_bq
    a_maa = injected_bq - a_hs - a_fp
    a_lung = lsf * a_maa
    a_liver = a_maa - a_lung
    v_lungs = sum(vol_ml[n] for n in _LUNGS)
    v_tum = sum(vol_ml[n] for n in _TUMOURS)
    c_normal = a_liver / (vol_ml["perfused_normal"] + tnr * v_tum)
    conc = {n: 0.0 for n in order}
    conc["perfused_normal"] = c_normal
    for n in _TUMOURS:
        conc[n] = tnr * c_normal
    for n in _LUNGS:
        conc[n] = a_lung / v_lungs
    if hot is not None:
        conc["gi_hot_spot"] = a_hs / vol_ml["gi_hot_spot"]
    if a_fp > 0.0:
        conc["stomach"] = a_fp / vol_ml["stomach"]
    lut = np.zeros(256)
    dens_lut = np.full(256, SIRT_TISSUES["air"].density_g_cm3)
    hu_lut = np.full(256, SIRT_TISSUES["air"].hu)
    for n in order:
        lut[value_of[n]] = conc[n]
        dens_lut[value_of[n]] = SIRT_TISSUES[_TISSUE_OF[n]].density_g_cm3
        hu_lut[value_of[n]] = SIRT_TISSUES[_TISSUE_OF[n]].hu
    activity = lut[labels]
    density = dens_lut[labels].astype(np.float32)
    ct = hu_lut[labels].astype(np.float32)

    # ---------------------------------------------------------------- planar projections
    energy_mev = _tc99m_gamma_mev()
    mu_default = _water_mu_per_cm(energy_mev)
    mu_water = mu_default if planar_mu_water_per_cm is None else float(planar_mu_water_per_cm)
    planar = _planar(activity * v_ml, density, mu_water, grid.spacing_mm[1])
    liver_values = [value_of[n] for n in _LIVER]
    lung_values = [value_of[n] for n in _LUNGS]
    roi_liver = np.isin(labels, liver_values).any(axis=1)
    roi_lung_all = np.isin(labels, lung_values).any(axis=1)
    roi_lung = roi_lung_all & ~roi_liver
    gm = {}
    ant_post = {}
    for name, roi in (("lungs", roi_lung), ("liver", roi_liver)):
        a_sum = float(planar["anterior"][roi].sum())
        p_sum = float(planar["posterior"][roi].sum())
        ant_post[name] = (a_sum, p_sum)
        gm[name] = math.sqrt(a_sum * p_sum)
    lsf_planar = gm["lungs"] / (gm["lungs"] + gm["liver"]) if gm["lungs"] + gm["liver"] > 0 else 0.0

    sx, sy, sz = grid.spacing_mm
    ny = grid.shape[1]
    plane_geom = {
        "spacing_mm": (sx, ny * sy, sz),
        "origin_mm": (grid.origin_mm[0], grid.origin_mm[1] + 0.5 * (ny - 1) * sy, grid.origin_mm[2]),
    }

    def plane_image(arr: np.ndarray, quantity: str) -> Image:
        a = np.ascontiguousarray(arr[:, None, :])
        a.flags.writeable = False
        return Image(a, meta={"phantom": "sirt-liver", "quantity": quantity,
                              "view_note": "patient orientation (posterior not mirrored)"},
                     **plane_geom)  # type: ignore[arg-type]

    extras: dict[str, Image] = {
        "planar_anterior": plane_image(planar["anterior"], "attenuated_activity_bq"),
        "planar_posterior": plane_image(planar["posterior"], "attenuated_activity_bq"),
        "planar_roi_lungs": plane_image(roi_lung.astype(np.uint8), "mask"),
        "planar_roi_liver": plane_image(roi_liver.astype(np.uint8), "mask"),
    }
    if planar_counts_per_mbq is not None:
        rng = np.random.default_rng(int(seed))
        k = float(planar_counts_per_mbq) / BQ_PER_MBQ
        for view in ("anterior", "posterior"):
            extras[f"planar_{view}_counts"] = plane_image(
                rng.poisson(planar[view] * k).astype(np.int32), "counts"
            )

    # ---------------------------------------------------------------- truth
    compartments: dict[str, dict[str, Any]] = {}
    for n in order:
        tissue = SIRT_TISSUES[_TISSUE_OF[n]]
        entry: dict[str, Any] = {
            "label": value_of[n],
            "tissue": tissue.name,
            "volume_ml": vol_ml[n],
            "volume_ml_fractional": vol_frac_ml[n],
            "density_g_cm3": tissue.density_g_cm3,
            "hu": tissue.hu,
            "mass_g": vol_ml[n] * tissue.density_g_cm3,
            "concentration_bq_ml": conc[n],
            "activity_bq": conc[n] * vol_ml[n],
        }
        if n in _TUMOUR_ANALYTIC_ML:
            entry["volume_ml_analytic"] = _TUMOUR_ANALYTIC_ML[n]
        compartments[n] = entry
    groups: dict[str, dict[str, Any]] = {}
    for g, members in COMPOSITES.items():
        vol = sum(vol_ml[m] for m in members)
        act = sum(compartments[m]["activity_bq"] for m in members)
        groups[g] = {
            "labels": list(members),
            "volume_ml": vol,
            "mass_g": sum(compartments[m]["mass_g"] for m in members),
            "activity_bq": act,
            "mean_concentration_bq_ml": act / vol if vol > 0 else 0.0,
        }
    a_lungs_img = groups["lungs"]["activity_bq"]
    a_liver_img = groups["liver"]["activity_bq"]
    a_gi = (compartments["gi_hot_spot"]["activity_bq"] if hot is not None else 0.0) + compartments["stomach"]["activity_bq"]
    hot_truth = None
    if hot is not None:
        hot_truth = {
            "site": gi_hot_spot,
            "centre_lps_mm": hot["centre"].tolist(),
            "radius_mm": hot["radius_mm"],
            "volume_ml_analytic": v_hs,
            "volume_ml": vol_ml["gi_hot_spot"],
            "fraction_of_injected": f_hs,
            "activity_bq": compartments["gi_hot_spot"]["activity_bq"],
        }
    truth: dict[str, Any] = {
        "phantom": "SIRT work-up (Tc-99m MAA) analytic torso",
        "quantity": "activity_bq_ml",
        "nuclide": nuc.name,
        "half_life_h": nuc.half_life_h,
        "activity_reference": "at injection (decay-corrected); no decay applied",
        "time_h": 0.0,
        "injected_bq": injected_bq,
        "total_activity_bq": float(sum(c["activity_bq"] for c in compartments.values())),
        "lung_shunt_fraction": a_lungs_img / (a_lungs_img + a_liver_img),
        "lung_shunt_fraction_gi_in_denominator": a_lungs_img / (a_lungs_img + a_liver_img + a_gi),
        "tumour_to_normal": tnr,
        "activity_bq": {
            "lungs": a_lungs_img,
            "liver": a_liver_img,
            "tumours": groups["tumours"]["activity_bq"],
            "perfused_normal": compartments["perfused_normal"]["activity_bq"],
            "gi_hot_spot": hot_truth["activity_bq"] if hot_truth else 0.0,
            "free_pertechnetate_stomach": compartments["stomach"]["activity_bq"],
        },
        "compartments": compartments,
        "groups": groups,
        "hot_spot": hot_truth,
        "planar": {
            "unit": "attenuated activity, Bq per pixel (counts = sensitivity x time x value)",
            "layout": "array (nz, 1, nx): one coronal slab on the x, z grid of the volume; "
            "posterior view in patient orientation (not mirrored)",
            "photon_energy_kev": energy_mev * 1.0e3,
            "mu_water_per_cm": mu_water,
            "mu_water_narrow_beam_xcom_per_cm": mu_default,
            "mu_model": "mu = mu_water x density (g/cm3); no scatter, no collimator blur, "
            "no distance dependence",
            "anterior_lungs": ant_post["lungs"][0],
            "posterior_lungs": ant_post["lungs"][1],
            "anterior_liver": ant_post["liver"][0],
            "posterior_liver": ant_post["liver"][1],
            "gm_lungs": gm["lungs"],
            "gm_liver": gm["liver"],
            "lung_shunt_fraction_planar": lsf_planar,
            "lung_shunt_fraction_true": a_lungs_img / (a_lungs_img + a_liver_img),
            "roi_liver_pixels": int(roi_liver.sum()),
            "roi_lungs_pixels": int(roi_lung.sum()),
            "roi_lung_liver_overlap_pixels": int((roi_lung_all & roi_liver).sum()),
            "rois": "liver ROI = projection of the liver labels; lung ROI = projection of the "
            "lung labels minus the liver ROI (the lung bases over the liver dome)",
        },
        "tissues": {k: dataclasses.asdict(t) for k, t in SIRT_TISSUES.items()},
        "definitions": {
            "lung_shunt_fraction": "A_lungs / (A_lungs + A_liver); A_liver = activity in "
            "perfused_normal + nonperfused_normal + tumours",
            "lung_shunt_fraction_gi_in_denominator": "A_lungs / (A_lungs + A_liver + A_gi), "
            "A_gi = GI hot spot + free pertechnetate in the stomach",
            "tumour_to_normal": "mean concentration in the tumours / in perfused_normal",
            "volume_ml": "label voxels x voxel volume (the truth of this phantom; volume-"
            "preserving labels: within a voxel of volume_ml_fractional)",
            "volume_ml_fractional": "sum of covered fractions x voxel volume (for reference)",
            "mass_g": "volume_ml x tissue density",
            "time_h": "time of the activity map after injection (0: at injection)",
        },
        "grid": {"shape_zyx": list(grid.shape), "spacing_mm": list(grid.spacing_mm),
                 "origin_mm": list(grid.origin_mm), "supersample_per_axis": n_sub},
        "parameters": {
            "spacing_mm": list(spacing),
            "lung_shunt_fraction": lsf,
            "tumour_to_normal": tnr,
            "injected_mbq": injected,
            "gi_hot_spot": gi_hot_spot,
            "hot_spot_fraction": f_hs,
            "hot_spot_volume_ml": v_hs if gi_hot_spot else None,
            "free_pertechnetate_fraction": f_fp,
            "planar_mu_water_per_cm": planar_mu_water_per_cm,
            "planar_counts_per_mbq": planar_counts_per_mbq,
            "seed": int(seed),
            "supersample": supersample,
        },
        "sources": [
            "anatomy: analytic, netdose (docs/phantoms.md)",
            "tissue densities: ICRU Report 44 (1989); CT numbers: typical unenhanced values",
            ("attenuation: NIST XCOM water (netdose/data/xcom_water.csv); Tc-99m 140.5 keV "
            "from ICRP Publication 107"),
        ],
    }
    description = (
        "SIRT work-up phantom: Tc-99m MAA in an analytic torso (elliptic body 350 x 250 mm), "
        f"liver {groups['liver']['volume_ml']:.0f} mL with three tumours "
        f"({groups['tumours']['volume_ml']:.0f} mL) in a perfused right-lobe territory, lungs, "
        f"stomach and duodenum; LSF {lsf:g}, tumour-to-normal {tnr:g}, {injected:g} MBq"
        + (f", GI hot spot in the {gi_hot_spot} ({f_hs:g} of the activity)" if gi_hot_spot else "")
        + ". Labels define the truth (constant values per label); planar anterior/posterior "
        "projections with narrow-beam attenuation in extras."
    )
    meta = {"phantom": "sirt-liver"}
    return Phantom(
        name="sirt-liver",
        description=description,
        labels=grid.image(labels, {**meta, "quantity": "labels"}),
        label_names={value_of[n]: n for n in order},
        ct_hu=grid.image(ct, {**meta, "quantity": "ct_hu"}),
        density_g_cm3=grid.image(density, {**meta, "quantity": "density_g_cm3"}),
        activity=grid.image(activity, {**meta, "quantity": "activity_bq_ml", "nuclide": nuc.name}),
        activity_quantity="activity_bq_ml",
        extras=extras,
        truth=truth,
    )


def _tc99m_gamma_mev() -> float:
    """Energy of the main Tc-99m gamma line (ICRP-107: 140.511 keV, yield 0.89)."""
    gammas = np.asarray(get_nuclide("Tc-99m").lines["gamma"])
    return float(gammas[int(np.argmax(gammas[:, 1])), 0])


def _planar(
    activity_bq: np.ndarray, density_g_cm3: np.ndarray, mu_water_per_cm: float, step_y_mm: float
) -> dict[str, np.ndarray]:
    """Attenuated sums along y (anterior = toward -y, posterior = toward +y).

    Each voxel's activity is taken as uniform along its y extent, so it is weighted by the
    attenuation of the voxels between it and the body surface times its own mean
    self-attenuation (1 - exp(-tau)) / tau, tau = mu * dy.

    Returns
    -------
    dict with "anterior" and "posterior", float64 arrays (nz, nx), Bq.
    """
    tau = mu_water_per_cm * np.asarray(density_g_cm3, dtype=np.float64) * (step_y_mm * CM_PER_MM)
    self_att = np.where(tau > 1e-12, -np.expm1(-tau) / np.maximum(tau, 1e-300), 1.0)
    cum = np.cumsum(tau, axis=1)
    before = cum - tau
    after = cum[:, -1:, :] - cum
    w = activity_bq * self_att
    return {
        "anterior": (w * np.exp(-before)).sum(axis=1),
        "posterior": (w * np.exp(-after)).sum(axis=1),
    }


def composite_masks(phantom: Phantom) -> dict[str, Image]:
    """Boolean masks of the unions of labels of a SIRT phantom: ``liver`` (normal perfused,
    non-perfused, tumours), ``perfused_volume`` (perfused normal + tumours), ``tumours``,
    ``normal_liver`` and ``lungs``."""
    values = {n: v for v, n in phantom.label_names.items()}
    out = {}
    for name, members in COMPOSITES.items():
        vals = [values[m] for m in members if m in values]
        out[name] = phantom.labels.with_array(np.isin(phantom.labels.array, vals))
    return out
