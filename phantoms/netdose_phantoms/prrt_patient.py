"""Lu-177 DOTATATE PRRT patient phantom: real anatomy, analytic kinetics, exact truth.

Anatomy: the public Lu-177 DOTATATE patient phantom of Auer & Pells (The Christie NHS
Foundation Trust; BenAuer2021/Phantoms-For-Nuclear-Medicine-Imaging-Simulation, MIT licence),
shipped in this package as ``data/patient_LuDOTATATE_phantoms.zip`` and read from the package
with :mod:`importlib.resources`: a 108 x 70 x 90 Interfile "source" map with organ codes
(liver 15000, spleen 16000, left kidney 17000, right kidney 18000, tumours 19000/20000/21000)
and an "attenuation" map with CT numbers + 1000 from the patient's low-dose CT.

Kinetics: every compartment (organs, tumours, remainder of body) follows

    A_c(t) = A_inj * [ f_c (exp(-ln2 t / T_eff) - exp(-ln2 t / T_up)) + g_c exp(-ln2 t / T_fast) ]

(effective half-lives, i.e. including physical decay; T_up = 0 means instantaneous uptake,
f_c exp(-ln2 t / T_eff)), spread uniformly over the organ (Bq/mL constant) or, in the
remainder, in proportion to the CT-derived mass density (uniform Bq/g, the MIRD
remainder-of-body convention). The time-integrated activity is the analytic integral from 0
to infinity, so the truth is exact. The default parameters and their sources are in
:data:`DEFAULT_KINETICS` and docs/phantoms.md.

Images: quantitative SPECT as activity concentration (Bq/mL) at each time point, optionally
blurred with a Gaussian of given FWHM (mirror boundaries at the cut ends of the body, so the
total is conserved) and with Poisson noise at a given system sensitivity and acquisition time.

Truth: organ activities at each time (MBq), TIA (MBq h), the per-voxel TIA map (Bq s), organ
volumes and masses, the excreted fraction, and reference organ doses by DVK and LDM on the
exact TIA map (recorded with the method string and the kernel summary).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from netdose.dosimetry import (
    SOFT_TISSUE_DENSITY_G_CM3,
    density_from_ct,
    dose_dvk,
    dose_ldm,
)
from netdose.errors import InputError, PhysicsRangeError
from netdose.image import Image, resample
from netdose.nuclides import get_nuclide
from netdose.units import BQ_PER_MBQ, LN2, MBQ_PER_GBQ, S_PER_H
from netdose_phantoms.base import Phantom, TimePoint
from netdose_phantoms.interfile import InterfileVolume, read_interfile_zip

__all__ = [
    "ATTN_MEMBER",
    "COMPARTMENTS",
    "DATA_ARCHIVE",
    "DEFAULT_KINETICS",
    "DIRECTION_LPS",
    "EXAMPLE_SENSITIVITY_CPS_PER_MBQ",
    "LABEL_GROUPS",
    "LABEL_VALUES",
    "NUCLIDE",
    "ORGANS",
    "SOURCE_CODES",
    "SRC_MEMBER",
    "OrganKinetics",
    "prrt_cycles",
    "prrt_patient",
]

NUCLIDE: str = "Lu-177"

#: Package resource (netdose_phantoms/data) and the Interfile headers inside it.
DATA_ARCHIVE: str = "patient_LuDOTATATE_phantoms.zip"
SRC_MEMBER: str = "patient15_LuDOTATATE_src.h33"
ATTN_MEMBER: str = "patient15_LuDOTATATE_attn.h33"

#: Organ codes of the source map (data README, section 9.1).
SOURCE_CODES: Mapping[str, int] = {
    "liver": 15000,
    "spleen": 16000,
    "kidney_left": 17000,
    "kidney_right": 18000,
    "tumour_1": 19000,
    "tumour_2": 20000,
    "tumour_3": 21000,
}
#: Value of the manually segmented patient couch in both maps (the data README assigns it
#: the material "CarbonFiber"; it is a material tag, not a CT number).
COUCH_CODE: int = 3000

ORGANS: tuple[str, ...] = tuple(SOURCE_CODES)
#: Compartments with activity: the organs and the remainder of the body.
COMPARTMENTS: tuple[str, ...] = ORGANS + ("remainder",)

#: Label values of the phantom's label map.
LABEL_VALUES: Mapping[str, int] = {
    "liver": 1,
    "spleen": 2,
    "kidney_left": 3,
    "kidney_right": 4,
    "tumour_1": 5,
    "tumour_2": 6,
    "tumour_3": 7,
    "remainder": 8,
    "couch": 9,
}
#: Named unions of labels (``Phantom.mask("kidneys")``).
LABEL_GROUPS: Mapping[str, tuple[str, ...]] = {
    "body": COMPARTMENTS,
    "kidneys": ("kidney_left", "kidney_right"),
    "tumours": ("tumour_1", "tumour_2", "tumour_3"),
}

#: HU = attenuation-map value + CT_OFFSET_HU (the map stores CT number + 1000: air outside the
#: body reads 0-50, lung 150-450, fat ~900-950, soft tissue 1000-1100, bone up to ~2150).
CT_OFFSET_HU: float = -1000.0
#: HU given to the couch voxels in ``ct_hu`` (air: the couch keeps its own label instead of
#: an invented CT number; the data only tag it as a material).
COUCH_HU: float = -1000.0
#: Body outline: the largest connected region above this HU, holes filled slice by slice.
BODY_THRESHOLD_HU: float = -500.0

#: Direction matrix (row-major, columns = x, y, z index axes in LPS) found from the anatomy:
#: x towards patient left, y towards anterior, z towards the feet (docs/phantoms.md).
DIRECTION_LPS: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0)

#: A measured Lu-177 SPECT/CT sensitivity for the noise model (counts per second per MBq):
#: 5.67 +/- 0.08 cps/MBq, EJNMMI Res 2018, doi:10.1186/s13550-018-0459-4 (abstract).
EXAMPLE_SENSITIVITY_CPS_PER_MBQ: float = 5.67


# ----------------------------------------------------------------------------- kinetics
@dataclasses.dataclass(frozen=True)
class OrganKinetics:
    """Time-activity model of one compartment, as fractions of the injected activity.

    ``a(t) = f (exp(-λ_eff t) - exp(-λ_up t)) + g exp(-λ_fast t)`` with λ = ln 2 / T; with
    ``uptake_half_life_h == 0`` the first term is ``f exp(-λ_eff t)`` (instantaneous uptake).
    All half-lives are *effective* (biological and physical together), in hours.

    Attributes
    ----------
    uptake_fraction : float
        f, fraction (0-1) of the injected activity: the amplitude of the uptake-washout term
        (the activity the organ would hold at t = 0 if uptake were instantaneous).
    effective_half_life_h : float
        Washout half-life T_eff, h; 0 < T_eff <= physical half-life.
    uptake_half_life_h : float
        Uptake half-life T_up, h; 0 (instantaneous) or 0 < T_up < T_eff.
    fast_fraction : float
        g, amplitude of an extra instantaneous, fast-clearing component (blood pool and
        extracellular fluid of the remainder), fraction of the injected activity.
    fast_half_life_h : float
        T_fast, h (needed when ``fast_fraction > 0``).
    source : str
        Where the numbers come from, and whether they could be verified.
    """

    uptake_fraction: float
    effective_half_life_h: float
    uptake_half_life_h: float = 0.0
    fast_fraction: float = 0.0
    fast_half_life_h: float = 0.0
    source: str = ""

    def check(self, name: str, physical_half_life_h: float) -> None:
        """Raise :class:`PhysicsRangeError` unless the parameters describe a valid curve."""
        where = f"kinetics of {name!r}"
        for key in ("uptake_fraction", "fast_fraction"):
            v = getattr(self, key)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise PhysicsRangeError(
                    f"{where}: {key} = {v!r} must be a fraction of the injected activity in "
                    "[0, 1] (1 % is 0.01)."
                )
        te, tu = self.effective_half_life_h, self.uptake_half_life_h
        if not (math.isfinite(te) and 0.0 < te <= physical_half_life_h * (1 + 1e-12)):
            raise PhysicsRangeError(
                f"{where}: effective_half_life_h = {te!r} must be in "
                f"(0, {physical_half_life_h:.2f}] h: an effective half-life includes physical "
                "decay and cannot exceed it."
            )
        if not (math.isfinite(tu) and (tu == 0.0 or 0.0 < tu < te)):
            raise PhysicsRangeError(
                f"{where}: uptake_half_life_h = {tu!r} must be 0 (instantaneous) or between 0 "
                f"and the effective half-life {te} h."
            )
        if self.fast_fraction > 0.0:
            tf = self.fast_half_life_h
            if not (math.isfinite(tf) and 0.0 < tf <= physical_half_life_h * (1 + 1e-12)):
                raise PhysicsRangeError(
                    f"{where}: fast_half_life_h = {tf!r} must be in (0, "
                    f"{physical_half_life_h:.2f}] h when fast_fraction > 0."
                )

    def fraction(self, t_h: float | np.ndarray) -> np.ndarray:
        """Fraction of the injected activity in the compartment at ``t_h`` hours (>= 0)."""
        t = np.asarray(t_h, dtype=np.float64)
        out = self.uptake_fraction * np.exp(-LN2 * t / self.effective_half_life_h)
        if self.uptake_half_life_h > 0.0:
            out = out - self.uptake_fraction * np.exp(-LN2 * t / self.uptake_half_life_h)
        if self.fast_fraction > 0.0:
            out = out + self.fast_fraction * np.exp(-LN2 * t / self.fast_half_life_h)
        return out

    def integral_h(self) -> float:
        """∫₀^∞ fraction(t) dt in hours: f (T_eff - T_up) / ln 2 + g T_fast / ln 2."""
        out = self.uptake_fraction * (self.effective_half_life_h - self.uptake_half_life_h) / LN2
        if self.fast_fraction > 0.0:
            out += self.fast_fraction * self.fast_half_life_h / LN2
        return out

    def peak_time_h(self) -> float:
        """Time of the maximum of the uptake-washout term, h (0 for instantaneous uptake)."""
        if self.uptake_half_life_h == 0.0:
            return 0.0
        le, lu = LN2 / self.effective_half_life_h, LN2 / self.uptake_half_life_h
        return math.log(lu / le) / (lu - le)

    def scaled(self, factor: float) -> OrganKinetics:
        """The same curve with the uptake amplitude ``f`` multiplied by ``factor``."""
        return dataclasses.replace(self, uptake_fraction=self.uptake_fraction * factor)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (fractions also as %IA)."""
        return {
            "uptake_fraction": self.uptake_fraction,
            "uptake_percent_ia": 100.0 * self.uptake_fraction,
            "effective_half_life_h": self.effective_half_life_h,
            "uptake_half_life_h": self.uptake_half_life_h,
            "fast_fraction": self.fast_fraction,
            "fast_half_life_h": self.fast_half_life_h,
            "peak_time_h": self.peak_time_h(),
            "source": self.source,
        }


_REPRESENTATIVE = (
    "representative value chosen for this phantom; the effective half-life is in the range "
    "usually quoted for Lu-177 DOTATATE but could not be checked against a readable source "
    "(docs/phantoms.md, 'Kinetics')"
)

#: Default Lu-177 DOTATATE kinetics (amplitudes as fractions of the injected activity,
#: effective half-lives in h). Uptake amplitudes are tuned so that the reference self doses
#: fall inside published ranges that could be verified (docs/phantoms.md); the
#: half-lives are representative values.
DEFAULT_KINETICS: Mapping[str, OrganKinetics] = {
    "kidney_left": OrganKinetics(
        0.0135, 50.0, 1.0,
        source="uptake tuned to ~0.6 Gy/GBq (verified ranges: 0.38-0.57 Gy/GBq mean kidney "
        "doses in 4 studies); kidneys take the same %IA per mL; T_eff " + _REPRESENTATIVE,
    ),
    "kidney_right": OrganKinetics(
        0.0165, 50.0, 1.0,
        source="as kidney_left (same %IA per mL; the right kidney is 21 % larger)",
    ),
    "liver": OrganKinetics(
        0.040, 75.0, 2.0,
        source="uptake tuned to ~0.3 Gy/GBq (verified: 0.27 +/- 0.05 Gy/GBq, Clin Nucl Med "
        "2013;38(3), 61 patients); T_eff " + _REPRESENTATIVE,
    ),
    "spleen": OrganKinetics(
        0.012, 70.0, 2.0,
        source="uptake tuned to ~1 Gy/GBq (verified: 1.17 +/- 0.14 Gy/GBq, Clin Nucl Med "
        "2013;38(3)); T_eff " + _REPRESENTATIVE,
    ),
    "tumour_1": OrganKinetics(
        0.0020, 90.0, 6.0,
        source="uptake tuned to ~3.4 Gy/GBq (verified: NETs 3.41 +/- 0.68 Gy/GBq, Clin Nucl "
        "Med 2013;38(3)); T_eff and T_up " + _REPRESENTATIVE,
    ),
    "tumour_2": OrganKinetics(
        0.0006, 90.0, 6.0,
        source="a low-uptake lesion (about half the tumour_1 concentration); T_eff "
        + _REPRESENTATIVE,
    ),
    "tumour_3": OrganKinetics(
        0.0030, 90.0, 6.0,
        source="a high-uptake lesion (about 1.5x the tumour_1 concentration); T_eff "
        + _REPRESENTATIVE,
    ),
    "remainder": OrganKinetics(
        0.12, 60.0, 0.0, fast_fraction=0.88, fast_half_life_h=2.0,
        source="representative: 88 % of the injected activity in a fast blood/extracellular "
        "component cleared by the kidneys (T_eff 2 h) and 12 % retained in the rest of the "
        "body inside the field of view (T_eff 60 h); not verified against a readable source",
    ),
}


def _check_kinetics(kinetics: Mapping[str, OrganKinetics], t_phys_h: float) -> None:
    for name, kin in kinetics.items():
        if not isinstance(kin, OrganKinetics):
            raise InputError(
                f"kinetics[{name!r}] must be an OrganKinetics; got {type(kin).__name__}."
            )
        kin.check(name, t_phys_h)
    # Mass balance: the activity in the body, corrected for decay, may never exceed the
    # injected activity (what is missing has been excreted).
    t = np.concatenate([np.linspace(0.0, 48.0, 4801), np.linspace(48.0, 20 * t_phys_h, 4001)])
    retained = sum(k.fraction(t) for k in kinetics.values()) * np.exp(LN2 * t / t_phys_h)
    worst = int(np.argmax(retained))
    if retained[worst] > 1.0 + 1e-9:
        raise PhysicsRangeError(
            f"the kinetics put {100 * retained[worst]:.2f} % of the injected activity "
            f"(decay-corrected) in the body at t = {t[worst]:.2f} h; the sum over "
            "compartments must stay <= 100 %. Lower the uptake fractions or speed up the "
            "uptake of the organs relative to the clearance of the remainder."
        )


def _resolve_kinetics(
    kinetics: Mapping[str, OrganKinetics] | None,
    uptake_variation: float,
    seed: int,
    cycle: int,
) -> tuple[dict[str, OrganKinetics], dict[str, float]]:
    merged = dict(DEFAULT_KINETICS)
    if kinetics is not None:
        unknown = sorted(set(kinetics) - set(COMPARTMENTS))
        if unknown:
            raise InputError(
                f"kinetics has unknown compartment(s) {unknown}; use {list(COMPARTMENTS)}."
            )
        merged.update(kinetics)
    factors = {name: 1.0 for name in COMPARTMENTS}
    if uptake_variation:
        if not (math.isfinite(uptake_variation) and 0.0 <= uptake_variation < 1.0):
            raise InputError(
                f"uptake_variation must be a fraction in [0, 1) (0.1 for +/-10 %); got "
                f"{uptake_variation!r}."
            )
        rng = np.random.default_rng(np.random.SeedSequence([seed, cycle, 1]))
        draws = rng.uniform(-1.0, 1.0, size=len(ORGANS))
        for name, u in zip(ORGANS, draws):
            factors[name] = 1.0 + uptake_variation * float(u)
            merged[name] = merged[name].scaled(factors[name])
    return merged, factors


# ----------------------------------------------------------------------------- anatomy
@dataclasses.dataclass(frozen=True, eq=False)
class _Anatomy:
    labels: Image  # int16
    ct_hu: Image  # float32
    density: Image  # float32, g/cm3
    unit_weights: np.ndarray  # float64, per voxel: share of its compartment's activity
    interfile: dict[str, Any]
    native_spacing_mm: tuple[float, float, float]


def _load_volumes() -> tuple[InterfileVolume, InterfileVolume]:
    resource = importlib.resources.files("netdose_phantoms.data").joinpath(DATA_ARCHIVE)
    if not resource.is_file():
        raise InputError(
            f"the package data file netdose_phantoms/data/{DATA_ARCHIVE} is missing; "
            "reinstall netdose (pip install .) so that the phantom data ship with it."
        )
    name = f"netdose_phantoms/data/{DATA_ARCHIVE}"
    # The headers say "slice thickness (pixels) := 4.4196", but the value is in mm (the
    # data README gives 4.4196 mm slices, GATE's source offset is 45 x 4.4196 mm, and organ
    # volumes are only plausible in mm): docs/phantoms.md, "Slice thickness".
    with resource.open("rb") as fh:
        src = read_interfile_zip(fh, SRC_MEMBER, slice_thickness_unit="mm", name=name)
    with resource.open("rb") as fh:
        attn = read_interfile_zip(fh, ATTN_MEMBER, slice_thickness_unit="mm", name=name)
    if src.array.shape != attn.array.shape or src.spacing_mm != attn.spacing_mm:
        raise InputError(
            f"{name}: the source and attenuation maps have different grids "
            f"({src.array.shape} vs {attn.array.shape}); the package data are damaged."
        )
    return src, attn


def _body_mask(attn: np.ndarray, couch: np.ndarray) -> np.ndarray:
    """Largest connected region above BODY_THRESHOLD_HU, holes filled per axial slice."""
    tissue = (attn.astype(np.float32) + CT_OFFSET_HU > BODY_THRESHOLD_HU) & ~couch
    lab, n = ndimage.label(tissue)
    if n == 0:
        raise InputError("the PRRT phantom CT has no voxel above -500 HU: data damaged.")
    sizes = np.bincount(lab.ravel())[1:]
    body = lab == int(np.argmax(sizes)) + 1
    return np.stack([ndimage.binary_fill_holes(sl) for sl in body])


@functools.lru_cache(maxsize=4)
def _anatomy(spacing_mm: tuple[float, float, float] | None) -> _Anatomy:
    src, attn = _load_volumes()
    s, a = src.array, attn.array
    couch = a == COUCH_CODE
    if not np.array_equal(couch, s == COUCH_CODE):
        raise InputError("the couch (value 3000) differs between the source and attenuation maps.")
    labels = np.zeros(s.shape, dtype=np.int16)
    for name, code in SOURCE_CODES.items():
        labels[s == code] = LABEL_VALUES[name]
    body = _body_mask(a, couch) | (labels > 0)
    if np.any(body & couch):
        raise InputError("the body outline overlaps the couch: data damaged.")
    labels[body & (labels == 0)] = LABEL_VALUES["remainder"]
    labels[couch] = LABEL_VALUES["couch"]
    hu = a.astype(np.float32) + np.float32(CT_OFFSET_HU)
    hu[couch] = np.float32(COUCH_HU)

    ref = src.to_image(direction=DIRECTION_LPS)
    label_img = ref.with_array(labels, meta={"quantity": "labels"})
    ct = ref.with_array(hu, meta={"quantity": "ct_hu"})
    if spacing_mm is not None:
        target = _target_grid(ref, spacing_mm)
        label_img = resample(label_img, target, mode="nearest")
        ct = resample(ct, target, mode="linear", fill_value=-1000.0)
    density = density_from_ct(ct, name=f"PRRT phantom CT ({DATA_ARCHIVE})")

    lab = label_img.array
    rho = density.array.astype(np.float64)
    weights = np.zeros(lab.shape, dtype=np.float64)
    for name in COMPARTMENTS:
        m = lab == LABEL_VALUES[name]
        n = int(np.count_nonzero(m))
        if n == 0:
            raise InputError(
                f"compartment {name!r} has no voxel on the {label_img.describe_grid()} grid; "
                "use a finer spacing_mm."
            )
        if name == "remainder":  # uniform per gram: weights proportional to density
            weights[m] = rho[m] / float(np.sum(rho[m]))
        else:  # uniform per mL
            weights[m] = 1.0 / n
    weights.flags.writeable = False
    return _Anatomy(
        labels=label_img,
        ct_hu=ct,
        density=density,
        unit_weights=weights,
        interfile={"source_map": src.header.facts(), "attenuation_map": attn.header.facts()},
        native_spacing_mm=src.spacing_mm,
    )


def _target_grid(ref: Image, spacing_mm: float | Sequence[float]) -> Image:
    sp = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,)).copy()
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0) or np.any(sp > 50.0):
        raise InputError(
            f"spacing_mm must be one or three positive numbers up to 50 mm; got {spacing_mm!r}."
        )
    n_old = np.asarray(ref.size_xyz, dtype=np.float64)
    extent = n_old * np.asarray(ref.spacing_mm)
    n_new = np.maximum(np.rint(extent / sp), 1).astype(int)
    dmat = ref.direction_matrix
    centre = np.asarray(ref.origin_mm) + dmat @ (np.asarray(ref.spacing_mm) * (n_old - 1) / 2)
    origin = centre - dmat @ (sp * (n_new - 1) / 2)
    shape_zyx = (int(n_new[2]), int(n_new[1]), int(n_new[0]))
    return Image(np.zeros(shape_zyx, dtype=np.uint8), tuple(sp), tuple(origin), ref.direction)


# ----------------------------------------------------------------------------- imaging
def _blur(conc: np.ndarray, spacing_mm: tuple[float, float, float], fwhm_mm: float) -> np.ndarray:
    """Gaussian blur (FWHM in mm on each axis) that keeps the total exactly.

    Mirror boundaries: the body continues beyond the single-bed field of view (it is cut at
    the first and last slice), so what a real camera loses through the end slices is replaced
    by what is blurred in from outside; the mirror image of the inside stands for the
    outside. With a symmetric, normalised (scipy truncates at 4 sigma and renormalises)
    kernel this conserves the sum to rounding. In x and y the body does not reach the edge.
    """
    sigma_xyz = np.asarray([fwhm_mm / math.sqrt(8.0 * LN2) / s for s in spacing_mm])
    return ndimage.gaussian_filter(conc, sigma=sigma_xyz[::-1], mode="reflect", truncate=4.0)


def _kernel_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The kernel summary without run-dependent entries (timings, cache hits)."""
    out = dict(summary)
    info = dict(out.pop("info", {}))
    out["info"] = {k: v for k, v in info.items() if k not in ("generation_s", "from_cache")}
    return out


def _organ_means(dose: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in COMPARTMENTS:
        out[name] = float(np.mean(dose[labels == LABEL_VALUES[name]], dtype=np.float64))
    for group, members in LABEL_GROUPS.items():
        m = np.isin(labels, [LABEL_VALUES[n] for n in members])
        out[group] = float(np.mean(dose[m], dtype=np.float64))
    return out


# ----------------------------------------------------------------------------- public API
def prrt_patient(
    *,
    injected_mbq: float = 7400.0,
    times_h: Sequence[float] = (4.0, 24.0, 96.0, 168.0),
    fwhm_mm: float | None = None,
    counts_per_mbq_s: float | None = None,
    acquisition_s: float = 1800.0,
    seed: int = 0,
    kinetics: Mapping[str, OrganKinetics] | None = None,
    spacing_mm: float | tuple[float, float, float] | None = None,
    cycle: int = 1,
    uptake_variation: float = 0.0,
) -> Phantom:
    """The Lu-177 DOTATATE PRRT patient phantom for one therapy cycle.

    Parameters
    ----------
    injected_mbq : float
        Administered activity, MBq (default 7400, the standard Lu-177 DOTATATE cycle).
    times_h : sequence of float
        Scan times after injection, h (>= 0, distinct to the hour: labels are ``t004h``...).
    fwhm_mm : float, optional
        Gaussian blur of the SPECT images (isotropic FWHM, mm). None or 0: no blur.
    counts_per_mbq_s : float, optional
        System sensitivity for Poisson noise, counts per second per MBq (e.g.
        :data:`EXAMPLE_SENSITIVITY_CPS_PER_MBQ` = 5.67). None: noise-free.
    acquisition_s : float
        Acquisition time of each scan, s (noise only): expected counts in a voxel =
        activity (MBq) x ``counts_per_mbq_s`` x ``acquisition_s``.
    seed : int
        Seed of the noise and of the uptake variation (same seed, same images).
    kinetics : mapping, optional
        :class:`OrganKinetics` per compartment (``liver``, ``spleen``, ``kidney_left``,
        ``kidney_right``, ``tumour_1``..``tumour_3``, ``remainder``) replacing the defaults
        of :data:`DEFAULT_KINETICS` for the names given.
    spacing_mm : float or 3 floats, optional
        Voxel spacing (x, y, z) of the phantom; None keeps the native 3.9063 x 3.9063 x
        4.4196 mm grid. Labels are resampled nearest-neighbour and the CT linearly onto a
        grid with the same field of view; all truth is computed on that grid.
    cycle : int
        Therapy cycle number (>= 1), recorded in the truth and used in the uptake seed.
    uptake_variation : float
        Relative variation of the organ and tumour uptake amplitudes, drawn uniformly in
        ``[1 - v, 1 + v]`` from ``(seed, cycle)`` (0.1 for +/-10 %; 0 = defaults).

    Returns
    -------
    Phantom
        ``labels`` (int16; names in ``label_names``), ``ct_hu``, ``density_g_cm3``, one
        :class:`TimePoint` per scan (``activity_bq_ml``, float32, shape (90, 70, 108) at
        native spacing), extras ``tia_bq_s`` (exact TIA per voxel, float64),
        ``mask_body``, ``reference_dose_dvk_gy``, ``reference_dose_ldm_gy`` and, when
        blurred or noisy, the exact images ``<label>_activity_bq_ml_true``; ``truth`` as
        described in docs/phantoms.md.
    """
    nuc = get_nuclide(NUCLIDE)
    t_phys_h = nuc.half_life_h
    if not (isinstance(cycle, (int, np.integer)) and cycle >= 1):
        raise InputError(f"cycle must be a whole number >= 1; got {cycle!r}.")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise InputError(f"seed must be a whole number >= 0; got {seed!r}.")
    if not (math.isfinite(injected_mbq) and injected_mbq > 0):
        raise InputError(f"injected_mbq must be a positive number of MBq; got {injected_mbq!r}.")
    times = [float(t) for t in times_h]
    if not times or any(not math.isfinite(t) or t < 0 for t in times):
        raise InputError(f"times_h must be one or more times >= 0 h; got {list(times_h)!r}.")
    labels_tp = [f"t{t:03.0f}h" for t in times]
    if len(set(labels_tp)) != len(labels_tp):
        raise InputError(
            f"times_h {times} give duplicate labels {labels_tp}; use times at least 1 h apart."
        )
    if fwhm_mm is not None and not (math.isfinite(fwhm_mm) and fwhm_mm >= 0):
        raise InputError(f"fwhm_mm must be >= 0 mm or None; got {fwhm_mm!r}.")
    if counts_per_mbq_s is not None and not (
        math.isfinite(counts_per_mbq_s) and counts_per_mbq_s > 0
    ):
        raise InputError(
            f"counts_per_mbq_s must be a positive sensitivity (cps/MBq) or None; got "
            f"{counts_per_mbq_s!r}."
        )
    if not (math.isfinite(acquisition_s) and acquisition_s > 0):
        raise InputError(f"acquisition_s must be a positive time in s; got {acquisition_s!r}.")

    kin, factors = _resolve_kinetics(kinetics, uptake_variation, seed, int(cycle))
    _check_kinetics(kin, t_phys_h)

    key = None if spacing_mm is None else tuple(
        float(v) for v in np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,))
    )
    anat = _anatomy(key)  # type: ignore[arg-type]
    grid = anat.labels
    lab = grid.array
    voxel_ml = grid.voxel_volume_ml
    inj_bq = injected_mbq * BQ_PER_MBQ

    # Per-voxel activity per Bq in the compartment; a(t) per compartment; TIA.
    lut_index = np.zeros(max(LABEL_VALUES.values()) + 1, dtype=np.float64)

    def per_voxel(values_by_name: Mapping[str, float]) -> np.ndarray:
        lut = lut_index.copy()
        for name, v in values_by_name.items():
            lut[LABEL_VALUES[name]] = v
        return lut[lab] * anat.unit_weights

    act_bq = {n: [float(kin[n].fraction(t)) * inj_bq for t in times] for n in COMPARTMENTS}
    tia_bq_s = {n: kin[n].integral_h() * S_PER_H * inj_bq for n in COMPARTMENTS}
    tia_map = grid.with_array(per_voxel(tia_bq_s), meta={"quantity": "tia_bq_s"})

    # Images.
    blur = fwhm_mm is not None and fwhm_mm > 0
    noise = counts_per_mbq_s is not None
    seeds = np.random.SeedSequence([seed, int(cycle), 2]).spawn(len(times))
    time_points: list[TimePoint] = []
    extras: dict[str, Image] = {}
    imaging: list[dict[str, Any]] = []
    for i, (t, label) in enumerate(zip(times, labels_tp)):
        true_conc = per_voxel({n: act_bq[n][i] for n in COMPARTMENTS}) / voxel_ml
        conc = true_conc
        facts: dict[str, Any] = {"label": label, "time_h": t,
                                 "true_total_mbq": float(true_conc.sum() * voxel_ml / BQ_PER_MBQ)}
        if blur:
            conc = _blur(conc, grid.spacing_mm, float(fwhm_mm))  # type: ignore[arg-type]
            blurred_total = float(conc.sum() * voxel_ml / BQ_PER_MBQ)
            facts["blurred_total_mbq"] = blurred_total
            facts["blur_lost_fraction"] = 1.0 - blurred_total / facts["true_total_mbq"]
        if noise:
            scale = counts_per_mbq_s * acquisition_s * voxel_ml / BQ_PER_MBQ  # counts per Bq/mL
            expected = np.clip(conc, 0.0, None) * scale
            counts = np.random.default_rng(seeds[i]).poisson(expected)
            conc = counts / scale
            facts["expected_counts"] = float(expected.sum())
            facts["counts"] = int(counts.sum())
        meta = {"quantity": "activity_bq_ml", "time_h": t, "nuclide": NUCLIDE,
                "injected_mbq": injected_mbq, "cycle": int(cycle)}
        image = grid.with_array(conc.astype(np.float32), meta=meta)
        time_points.append(TimePoint(label=label, time_h=t, image=image, quantity="activity_bq_ml"))
        if blur or noise:
            extras[f"{label}_activity_bq_ml_true"] = grid.with_array(
                true_conc.astype(np.float32), meta={**meta, "truth": True})
        imaging.append(facts)

    # Reference doses on the exact TIA map.
    dvk = dose_dvk(tia_map, NUCLIDE)
    ldm = dose_ldm(tia_map, NUCLIDE)
    dvk_means = _organ_means(np.asarray(dvk.dose_gy.array), lab)
    ldm_means = _organ_means(np.asarray(ldm.dose_gy.array), lab)
    inj_gbq = injected_mbq / MBQ_PER_GBQ
    kernel = _kernel_summary(dvk.constants["kernel"])
    comps = "+".join(kernel["components"])
    reference_dose = {
        "dvk": {
            "method": (
                f"netdose.dosimetry.dose_dvk on the exact TIA map (extras['tia_bq_s']): "
                f"{NUCLIDE} voxel S-value kernel ({comps}) for {kernel['medium']} "
                f"{SOFT_TISSUE_DENSITY_G_CM3} g/cm3, uniform density, no CT density "
                "correction; organ dose = mean over the organ's voxels"
            ),
            "kernel": kernel,
            "organ_mean_gy": dvk_means,
            "organ_mean_gy_per_gbq": {k: v / inj_gbq for k, v in dvk_means.items()},
        },
        "ldm": {
            "method": (
                "netdose.dosimetry.dose_ldm on the exact TIA map: local deposition of the "
                f"{NUCLIDE} electron energy per decay, uniform {SOFT_TISSUE_DENSITY_G_CM3} g/cm3, "
                "photons not deposited; organ dose = mean over the organ's voxels"
            ),
            "constants": ldm.constants,
            "organ_mean_gy": ldm_means,
            "organ_mean_gy_per_gbq": {k: v / inj_gbq for k, v in ldm_means.items()},
        },
    }

    # Organ facts.
    rho = anat.density.array.astype(np.float64)
    organs: dict[str, Any] = {}
    for name in COMPARTMENTS:
        m = lab == LABEL_VALUES[name]
        n_vox = int(np.count_nonzero(m))
        organs[name] = {
            "label": LABEL_VALUES[name],
            "source_code": SOURCE_CODES.get(name),
            "voxels": n_vox,
            "volume_ml": n_vox * voxel_ml,
            "mass_g": float(rho[m].sum() * voxel_ml),
            "mass_g_at_soft_tissue_density": n_vox * voxel_ml * SOFT_TISSUE_DENSITY_G_CM3,
            "mean_density_g_cm3": float(rho[m].mean()),
            "activity_mbq": [a / BQ_PER_MBQ for a in act_bq[name]],
            "percent_ia": [100.0 * a / inj_bq for a in act_bq[name]],
            "tia_mbq_h": tia_bq_s[name] / (BQ_PER_MBQ * S_PER_H),
            "tia_bq_s": tia_bq_s[name],
            "time_integrated_fraction_h": kin[name].integral_h(),
            "uptake_factor": factors[name],
        }
    decay = [math.exp(-LN2 * t / t_phys_h) for t in times]
    total = [sum(act_bq[n][i] for n in COMPARTMENTS) / BQ_PER_MBQ for i in range(len(times))]
    retained = [total[i] / (injected_mbq * decay[i]) for i in range(len(times))]
    couch_m = lab == LABEL_VALUES["couch"]
    body_m = np.isin(lab, [LABEL_VALUES[n] for n in COMPARTMENTS])

    truth: dict[str, Any] = {
        "phantom": "prrt-patient",
        "nuclide": NUCLIDE,
        "physical_half_life_h": t_phys_h,
        "injected_mbq": injected_mbq,
        "cycle": int(cycle),
        "times_h": times,
        "time_point_labels": labels_tp,
        "seed": seed,
        "uptake_variation": uptake_variation,
        "model": (
            "A_c(t) = A_inj [f (exp(-ln2 t/T_eff) - exp(-ln2 t/T_up)) + g exp(-ln2 t/T_fast)]; "
            "effective half-lives; organ activity uniform per mL, remainder uniform per gram "
            "(weights = CT density); TIA = A_inj [f (T_eff - T_up) + g T_fast] / ln2"
        ),
        "kinetics": {n: kin[n].as_dict() for n in COMPARTMENTS},
        "organs": organs,
        "total_activity_mbq": total,
        "retained_fraction_decay_corrected": retained,
        "excreted_fraction": [1.0 - r for r in retained],
        "total_tia_mbq_h": sum(tia_bq_s.values()) / (BQ_PER_MBQ * S_PER_H),
        "label_values": dict(LABEL_VALUES),
        "label_groups": {k: list(v) for k, v in LABEL_GROUPS.items()},
        "body": {
            "voxels": int(body_m.sum()),
            "volume_ml": float(body_m.sum() * voxel_ml),
            "mass_g": float(rho[body_m].sum() * voxel_ml),
        },
        "couch_voxels": int(couch_m.sum()),
        "imaging": {
            "quantity": "activity_bq_ml",
            "fwhm_mm": fwhm_mm if blur else None,
            "counts_per_mbq_s": counts_per_mbq_s,
            "acquisition_s": acquisition_s if noise else None,
            "noise_model": (
                "independent Poisson counts per voxel, expected = activity (MBq) x "
                "counts_per_mbq_s x acquisition_s, converted back to Bq/mL; no decay during "
                "the acquisition" if noise else None
            ),
            "time_points": imaging,
        },
        "reference_dose": reference_dose,
        "geometry": {
            "shape_zyx": list(lab.shape),
            "spacing_mm": list(grid.spacing_mm),
            "origin_mm": list(grid.origin_mm),
            "direction": list(grid.direction),
            "native_spacing_mm": list(anat.native_spacing_mm),
            "orientation": (
                "index x -> patient left, y -> anterior, z -> feet (LPS direction "
                "diag(1, -1, -1)); from the anatomy: liver and right kidney at low x, spleen "
                "and left kidney at high x; couch and spine at low y; lungs at low z, pelvis "
                "at high z, right kidney lower than the left (docs/phantoms.md)"
            ),
            "ct_conversion": "HU = attenuation-map value - 1000; couch (value 3000) set to "
            f"{COUCH_HU:g} HU and labelled 'couch'",
            "density": "netdose.dosimetry.density_from_ct (Schneider et al. 2000)",
        },
        "source": {
            "data": f"netdose_phantoms/data/{DATA_ARCHIVE}",
            "origin": "BenAuer2021/Phantoms-For-Nuclear-Medicine-Imaging-Simulation "
            "(patient_LuDOTATATE_phantoms.zip), low-dose CT of a female patient, The Christie "
            "NHS Foundation Trust; organs segmented by Dr Emma Page",
            "licence": "MIT (netdose_phantoms/data/LICENSE-lu-dotatate-phantom)",
            "interfile": anat.interfile,
        },
    }
    extras["tia_bq_s"] = tia_map
    extras["mask_body"] = grid.with_array(body_m, meta={"quantity": "mask"})
    extras["reference_dose_dvk_gy"] = dvk.dose_gy
    extras["reference_dose_ldm_gy"] = ldm.dose_gy

    description = (
        f"Lu-177 DOTATATE PRRT patient phantom, cycle {int(cycle)}: {injected_mbq:g} MBq, "
        f"quantitative SPECT (Bq/mL) at {', '.join(f'{t:g}' for t in times)} h"
        + (f", Gaussian blur FWHM {fwhm_mm:g} mm" if blur else "")
        + (f", Poisson noise ({counts_per_mbq_s:g} cps/MBq x {acquisition_s:g} s)" if noise else "")
        + f"; grid {grid.describe_grid()}. Anatomy from a real low-dose CT (Auer & Pells, The "
        "Christie; MIT): liver, spleen, kidneys, three tumours, remainder of body; analytic "
        "uptake-washout kinetics, exact TIA and reference DVK/LDM organ doses in the truth."
    )
    return Phantom(
        name="prrt-patient",
        description=description,
        labels=grid,
        label_names={v: k for k, v in LABEL_VALUES.items()},
        label_groups=LABEL_GROUPS,
        ct_hu=anat.ct_hu,
        density_g_cm3=anat.density,
        time_points=tuple(time_points),
        extras=extras,
        truth=truth,
    )


def prrt_cycles(
    n_cycles: int = 4,
    *,
    injected_mbq: float | Sequence[float] = 7400.0,
    uptake_variation: float = 0.10,
    seed: int = 0,
    **kwargs: Any,
) -> tuple[Phantom, ...]:
    """Several therapy cycles on the same anatomy (e.g. the standard 4 x 7.4 GBq).

    Parameters
    ----------
    n_cycles : int
        Number of cycles (>= 1).
    injected_mbq : float or sequence of float
        One activity for all cycles, or one per cycle (MBq).
    uptake_variation : float
        Relative cycle-to-cycle variation of organ and tumour uptake (uniform, +/-), drawn
        from ``(seed, cycle)``; 0 gives identical kinetics every cycle.
    seed : int
        Seed of the uptake variation and of the noise.
    **kwargs
        Passed to :func:`prrt_patient` (``times_h``, ``fwhm_mm``, ``counts_per_mbq_s``...).

    Returns
    -------
    tuple of Phantom
        Cycle 1, 2, ... Residual activity of the previous cycle is not added (after the usual
        8-10 weeks less than 0.3 % of it is left).
    """
    if not (isinstance(n_cycles, (int, np.integer)) and n_cycles >= 1):
        raise InputError(f"n_cycles must be a whole number >= 1; got {n_cycles!r}.")
    if isinstance(injected_mbq, (int, float, np.number)):
        activities = [float(injected_mbq)] * int(n_cycles)
    else:
        activities = [float(a) for a in injected_mbq]
        if len(activities) != n_cycles:
            raise InputError(
                f"injected_mbq has {len(activities)} values for {n_cycles} cycles; give one "
                "value or one per cycle."
            )
    return tuple(
        prrt_patient(injected_mbq=a, cycle=c, uptake_variation=uptake_variation, seed=seed,
                     **kwargs)
        for c, a in enumerate(activities, start=1)
    )
