"""Dose voxel kernels (voxel S values) for any nuclide and any voxel spacing, with a disk cache.

For a kernel offset n = (i, j, k) (in voxels) and spacing a = (a_x, a_y, a_z), the voxel S
value is the mean absorbed dose in the target voxel at offset n per decay uniformly
distributed in the source voxel at the origin:

    S(n) = (1 / (rho V)) * int K(|d|) h_n(d) d^3 d,
    h_n(d) = prod_i tri(d_i / a_i - n_i),   tri(u) = max(0, 1 - |u|),

with K the point kernel (energy per unit volume at distance |d|, per decay) and h_n the
overlap (autocorrelation) of the two boxes divided by V. Writing K d^3 d in spherical
coordinates, K(r) 4 pi r^2 dr = dE(r) (the energy absorbed in the shell), so

    S(n) = (1 / (rho V)) * int <h_n>_{|d| = r} dE(r),

where <h_n> is the average of h_n over the sphere of radius r. This form has no 1/r^2
singularity: <h_0>(0) = 1, so the energy absorbed at and near the source goes to the source
voxel, exactly in the limit. netdose evaluates it in two parts (docs/physics.md (section 4)):

Near field (all electrons, photons up to a few voxels): for each thin shell of the point
    kernel (width <= min(a)/16), points spread over the shell by a rotated R3 low-discrepancy
    sequence carry the shell's energy; each point adds energy * h_n(d) to the (at most 8)
    offsets n whose tents cover it. Because the tents form a partition of unity, the kernel
    sums to the absorbed energy exactly (to rounding), whatever the number of points.
Far field (photons only): S(n) = V * E_u[K(|a (n + u)|)] / (rho V) with u drawn from the
    product of triangular densities, evaluated with the 27-point product Gauss rule for the
    triangular weight (exact for polynomials of degree 5 per axis). The photon point kernel is
    split smoothly (C2 ramp over 4 voxels) between the two parts, and the far part is
    renormalised to the energy it must carry (the factor is reported, ~1 +- 1e-3).

Units: S in mGy/(MBq s) per voxel: energy (MeV) x J_PER_MEV x BQ_PER_MBQ / mass (kg) x
MGY_PER_GY, mass = rho V.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numba import njit, prange

from netdose.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS, cache_dir
from netdose.errors import GeometryError, InputError, NetdoseWarning
from netdose.io.atomic import atomic_path, atomic_write_text
from netdose.kernels.point import (
    DEFAULT_DENSITY_G_CM3,
    DEFAULT_PHOTON_RADIUS_MM,
    PointKernel,
    point_kernel,
)
from netdose.units import BQ_PER_MBQ, J_PER_MEV, KG_PER_G, MGY_PER_GY, ML_PER_MM3

__all__ = [
    "VOXEL_ALGORITHM_VERSION",
    "VoxelKernel",
    "voxel_kernel",
    "voxel_s_values_from_point_kernel",
]

#: Version of the voxel integration (part of the cache key).
VOXEL_ALGORITHM_VERSION = "voxel-v1"
#: Sample points per voxel volume in the near field (accuracy ~1e-3 on the main S values).
_POINTS_PER_VOXEL = 2000
_MIN_POINTS_PER_SHELL = 32
_SHELL_WIDTH_VOXELS = 1.0 / 16.0
_RAMP_START_VOXELS = 3.0
_RAMP_WIDTH_VOXELS = 4.0

# R3 low-discrepancy sequence (Roberts 2018): alpha_i = 1 / g^i, g^4 = g + 1.
_G3 = 1.2207440846057594753
_ALPHA = (1.0 / _G3, 1.0 / _G3**2, 1.0 / _G3**3)
# Cranley-Patterson rotation per shell (fixed, so results are deterministic).
_SHIFT = (math.sqrt(2.0) - 1.0, math.sqrt(3.0) - 1.0, math.sqrt(5.0) - 2.0)


# ----------------------------------------------------------------------------- near field
@njit(**NUMBA_FLAGS)
def _splat_shells(
    k0: int,
    k1: int,
    r_edges: np.ndarray,
    shell_e: np.ndarray,
    n_pts: np.ndarray,
    ax: float,
    ay: float,
    az: float,
    out: np.ndarray,
) -> None:
    """Serial worker: spread the energy of shells k0..k1-1 over the positive octant.

    ``out`` has shape (hz + 2, hy + 2, hx + 2); entry [k, j, i] collects the energy that
    points of the positive octant give to offset (i, j, k) through the tents.
    """
    half_pi = 0.5 * math.pi
    for k in range(k0, k1):
        e = shell_e[k]
        if e == 0.0:
            continue
        n = n_pts[k]
        w = e / (8.0 * n)
        ra = r_edges[k]
        dr = r_edges[k + 1] - ra
        s1 = (0.5 + k * _SHIFT[0]) % 1.0
        s2 = (0.5 + k * _SHIFT[1]) % 1.0
        s3 = (0.5 + k * _SHIFT[2]) % 1.0
        for i in range(n):
            u1 = (s1 + i * _ALPHA[0]) % 1.0
            u2 = (s2 + i * _ALPHA[1]) % 1.0
            u3 = (s3 + i * _ALPHA[2]) % 1.0
            r = ra + u1 * dr
            cz = u2
            sz = math.sqrt(max(0.0, 1.0 - cz * cz))
            phi = half_pi * u3
            dx = r * sz * math.cos(phi) / ax
            dy = r * sz * math.sin(phi) / ay
            dz = r * cz / az
            ix = int(dx)
            iy = int(dy)
            iz = int(dz)
            fx = dx - ix
            fy = dy - iy
            fz = dz - iz
            for bz in range(2):
                tz = fz if bz == 1 else 1.0 - fz
                for by in range(2):
                    ty = fy if by == 1 else 1.0 - fy
                    wzy = w * tz * ty
                    out[iz + bz, iy + by, ix] += wzy * (1.0 - fx)
                    out[iz + bz, iy + by, ix + 1] += wzy * fx


@njit(**NUMBA_PARALLEL_FLAGS)
def _splat(
    bounds: np.ndarray,
    r_edges: np.ndarray,
    shell_e: np.ndarray,
    n_pts: np.ndarray,
    ax: float,
    ay: float,
    az: float,
    shape: np.ndarray,
) -> np.ndarray:
    """Parallel driver: chunk c handles shells bounds[c]..bounds[c+1]-1 into its own buffer."""
    n_chunks = bounds.shape[0] - 1
    buf = np.zeros((n_chunks, shape[0], shape[1], shape[2]))
    for c in prange(n_chunks):
        _splat_shells(
            bounds[c], bounds[c + 1], r_edges, shell_e, n_pts, ax, ay, az, buf[c]
        )
    out = np.zeros((shape[0], shape[1], shape[2]))
    for c in range(n_chunks):
        out += buf[c]
    return out


# ----------------------------------------------------------------------------- far field
@njit(**NUMBA_FLAGS)
def _tent_gauss_row(
    iz: int,
    hx: int,
    hy: int,
    ax: float,
    ay: float,
    az: float,
    r_step: float,
    k_tab: np.ndarray,
    out: np.ndarray,
) -> None:
    """Serial worker: one z-plane of the far-field S values (energy per decay in the target)."""
    c = math.sqrt(0.4)
    nodes = (-c, 0.0, c)
    weights = (5.0 / 24.0, 7.0 / 12.0, 5.0 / 24.0)
    vol = ax * ay * az
    n_tab = k_tab.shape[0]
    for iy in range(hy + 1):
        for ix in range(hx + 1):
            s = 0.0
            for a in range(3):
                z = az * (iz + nodes[a])
                for b in range(3):
                    y = ay * (iy + nodes[b])
                    wab = weights[a] * weights[b]
                    for g in range(3):
                        x = ax * (ix + nodes[g])
                        u = math.sqrt(x * x + y * y + z * z) / r_step
                        j = int(u)
                        if j >= n_tab - 1:
                            continue
                        f = u - j
                        s += (
                            wab * weights[g] * (k_tab[j] * (1.0 - f) + k_tab[j + 1] * f)
                        )
            out[iy, ix] = s * vol


@njit(**NUMBA_PARALLEL_FLAGS)
def _tent_gauss(
    hx: int,
    hy: int,
    hz: int,
    ax: float,
    ay: float,
    az: float,
    r_step: float,
    k_tab: np.ndarray,
) -> np.ndarray:
    """Parallel driver over z-planes of the positive octant; returns (hz+1, hy+1, hx+1)."""
    out = np.zeros((hz + 1, hy + 1, hx + 1))
    for iz in prange(hz + 1):
        _tent_gauss_row(iz, hx, hy, ax, ay, az, r_step, k_tab, out[iz])
    return out


# ----------------------------------------------------------------------------- assembly
def _ramp(r: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """C2 smooth step: 0 for r <= r1, 1 for r >= r2."""
    t = np.clip((r - r1) / (r2 - r1), 0.0, 1.0)
    return t**3 * (t * (6.0 * t - 15.0) + 10.0)


def _balanced_bounds(cost: np.ndarray, n_chunks: int) -> np.ndarray:
    """Contiguous ranges of shells with about equal total cost (stumpy's _get_array_ranges)."""
    cum = np.concatenate([[0], np.cumsum(cost)])
    targets = np.linspace(0, cum[-1], n_chunks + 1)
    bounds = np.searchsorted(cum, targets, side="left")
    bounds[0] = 0
    bounds[-1] = cost.size
    return np.unique(bounds).astype(np.int64)


def _parity_multiplicity(shape: tuple[int, int, int]) -> np.ndarray:
    """2 ** (number of zero indices), shape ``shape`` (positive octant incl. the axes)."""
    mz = np.where(np.arange(shape[0]) == 0, 2.0, 1.0)
    my = np.where(np.arange(shape[1]) == 0, 2.0, 1.0)
    mx = np.where(np.arange(shape[2]) == 0, 2.0, 1.0)
    return mz[:, None, None] * my[None, :, None] * mx[None, None, :]


def _symmetrise(octant: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Average the octant over the permutations of axes with equal spacing (exact symmetry
    of the problem; removes the sampling pattern of the near field)."""
    ax, ay, az = spacing
    same = lambda a, b: abs(a - b) <= 1e-9 * max(a, b)
    # octant axes are (z, y, x) = (0, 1, 2)
    if same(ax, ay) and same(ay, az):
        perms = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    elif same(ax, ay):
        perms = [(0, 1, 2), (0, 2, 1)]
    elif same(ax, az):
        perms = [(0, 1, 2), (2, 1, 0)]
    elif same(ay, az):
        perms = [(0, 1, 2), (1, 0, 2)]
    else:
        return octant
    return np.mean([np.transpose(octant, p) for p in perms], axis=0)


def _mirror(octant: np.ndarray) -> np.ndarray:
    """Full kernel (2hz+1, 2hy+1, 2hx+1) from the positive octant (hz+1, hy+1, hx+1)."""
    z = np.concatenate([octant[:0:-1], octant], axis=0)
    y = np.concatenate([z[:, :0:-1], z], axis=1)
    return np.ascontiguousarray(np.concatenate([y[:, :, :0:-1], y], axis=2))


def voxel_s_values_from_point_kernel(
    pk: PointKernel,
    spacing_mm: Sequence[float],
    points_per_voxel: int = _POINTS_PER_VOXEL,
) -> tuple[np.ndarray, dict[str, float]]:
    """Energy absorbed per decay in each target voxel (MeV), from a point kernel.

    Parameters
    ----------
    pk : PointKernel
    spacing_mm : (3,) floats
        Voxel spacing (x, y, z) in mm, positive.
    points_per_voxel : int
        Near-field sample density (points per voxel volume).

    Returns
    -------
    energy_mev : ndarray, shape (2hz+1, 2hy+1, 2hx+1)
        Mean energy absorbed in the target voxel at each offset, per decay uniformly
        distributed in the central voxel; (z, y, x) order.
    info : dict
        ``near_radius_mm``, ``far_normalisation`` (1.0 without far field), ``points``.
    """
    ax, ay, az = (float(v) for v in spacing_mm)
    a_min, a_max = min(ax, ay, az), max(ax, ay, az)
    vol = ax * ay * az
    r = pk.r_mm
    c_el = np.zeros_like(r)
    for comp in pk.components:
        if comp != "photons":
            c_el = c_el + pk.cumulative_mev[comp]
    c_ph = (
        pk.cumulative_mev["photons"] if "photons" in pk.components else np.zeros_like(r)
    )
    r_e = pk.electron_range_mm
    r_ph = pk.photon_radius_mm
    far = False
    if r_ph > 0.0:
        r1 = max(r_e, _RAMP_START_VOXELS * a_max)
        r2 = r1 + _RAMP_WIDTH_VOXELS * a_max
        far = r2 < r_ph
    r_near = r2 if far else max(r_e, r_ph)
    r_near = max(r_near, 1e-9)
    r_max = max(r_near, r_ph)
    # near-field shells: the point-kernel grid, refined to width <= a_min/16
    nodes = np.unique(np.concatenate([r[r < r_near], [r_near]]))
    width = _SHELL_WIDTH_VOXELS * a_min
    pieces = [nodes[:1]]
    for lo, hi in itertools.pairwise(nodes):
        m = max(1, math.ceil((hi - lo) / width))
        pieces.append(np.linspace(lo, hi, m + 1)[1:])
    edges = np.concatenate(pieces)
    e_el = np.interp(edges, r, c_el)
    e_ph = np.interp(edges, r, c_ph)
    shell_el = np.diff(e_el)
    shell_ph = np.diff(e_ph)
    if far:
        mid = 0.5 * (edges[1:] + edges[:-1])
        shell_ph = shell_ph * (1.0 - _ramp(mid, r1, r2))
    shell_e = np.ascontiguousarray(np.maximum(shell_el + shell_ph, 0.0))
    shell_vol = 4.0 / 3.0 * math.pi * (edges[1:] ** 3 - edges[:-1] ** 3) / 8.0
    n_pts = np.maximum(
        _MIN_POINTS_PER_SHELL, np.ceil(points_per_voxel * shell_vol / vol)
    ).astype(np.int64)
    n_pts[shell_e == 0.0] = 1
    h = [math.floor(r_max / s) + 1 for s in (ax, ay, az)]
    hn = [math.floor(r_near / s) + 2 for s in (ax, ay, az)]
    bounds = _balanced_bounds(n_pts.astype(np.float64), 8)
    near = _splat(
        bounds,
        np.ascontiguousarray(edges),
        shell_e,
        n_pts,
        ax,
        ay,
        az,
        np.array([hn[2] + 1, hn[1] + 1, hn[0] + 1], dtype=np.int64),
    )
    near *= _parity_multiplicity(near.shape)
    octant = np.zeros((h[2] + 1, h[1] + 1, h[0] + 1))
    nz, ny, nx = (min(near.shape[i], octant.shape[i]) for i in range(3))
    octant[:nz, :ny, :nx] += near[:nz, :ny, :nx]
    # energy at the point of emission: the source voxel
    octant[0, 0, 0] += float(c_el[0] + c_ph[0])
    far_norm = 1.0
    if far:
        r_step = a_min / 20.0
        rf = np.arange(0.0, r_ph + 2.0 * r_step, r_step)
        mid = 0.5 * (r[1:] + r[:-1])
        dedr = np.diff(c_ph) / np.diff(r)  # MeV/mm
        dens = np.interp(rf, mid, dedr, left=0.0, right=0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(rf > 0, dens / (4.0 * math.pi * rf**2), 0.0)
        k *= _ramp(rf, r1, r2)
        k[rf > r_ph] = 0.0
        far_oct = _tent_gauss(
            h[0], h[1], h[2], ax, ay, az, r_step, np.ascontiguousarray(k)
        )
        mult = 8.0 / _parity_multiplicity(
            far_oct.shape
        )  # sign variants of each octant entry
        got = float(np.sum(far_oct * mult))
        rr = np.linspace(0.0, r_ph, 20001)
        cc = np.interp(rr, r, c_ph)
        expected = float(np.sum(np.diff(cc) * _ramp(0.5 * (rr[1:] + rr[:-1]), r1, r2)))
        if got > 0.0 and expected > 0.0:
            far_norm = expected / got
            octant += far_oct * far_norm
    info = {
        "near_radius_mm": float(r_near),
        "far_normalisation": float(far_norm),
        "points": float(n_pts.sum()),
    }
    return _mirror(_symmetrise(octant, (ax, ay, az))), info


# ----------------------------------------------------------------------------- public API
@dataclasses.dataclass(frozen=True, eq=False)
class VoxelKernel:
    """Dose voxel kernel: voxel S values of one nuclide for one voxel spacing and density.

    Attributes
    ----------
    values_mgy_per_mbq_s : ndarray, float64, shape (nz, ny, nx), all odd
        Mean dose rate in the target voxel per unit activity uniformly distributed in the
        source voxel, mGy/(MBq s); (z, y, x) order, source voxel at the centre.
    spacing_mm : tuple[float, float, float]
        Voxel spacing (x, y, z), mm.
    density_g_cm3 : float
    medium : str
        Composition of the medium (``"soft_tissue"`` or ``"water"``).
    nuclide : str
        ICRP name.
    components : tuple[str, ...]
        Canonical components included (subset of ("beta", "ce", "auger", "photons")).
    emitted_energy_mev, absorbed_energy_mev, escaped_energy_mev : dict[str, float]
        Per decay and component: emitted; absorbed within the kernel (point kernel); not
        absorbed in the kernel (bremsstrahlung, photons beyond ``photon_radius_mm``).
    electron_range_mm, photon_radius_mm, max_range_mm : float
        Radii the kernel extends to.
    netdose_version, table_versions : str, tuple[str, ...]
    info : dict[str, float]
        Integration diagnostics (near-field radius, far-field normalisation, timings).
    """

    values_mgy_per_mbq_s: np.ndarray
    spacing_mm: tuple[float, float, float]
    density_g_cm3: float
    medium: str
    nuclide: str
    components: tuple[str, ...]
    emitted_energy_mev: dict[str, float]
    absorbed_energy_mev: dict[str, float]
    escaped_energy_mev: dict[str, float]
    electron_range_mm: float
    photon_radius_mm: float
    netdose_version: str
    table_versions: tuple[str, ...]
    info: dict[str, float]

    @property
    def max_range_mm(self) -> float:
        """Radius beyond which the kernel is zero."""
        return max(self.electron_range_mm, self.photon_radius_mm)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (z, y, x)."""
        return tuple(int(v) for v in self.values_mgy_per_mbq_s.shape)  # type: ignore[return-value]

    @property
    def center_index(self) -> tuple[int, int, int]:
        """(z, y, x) index of the source voxel."""
        return tuple(s // 2 for s in self.shape)  # type: ignore[return-value]

    @property
    def voxel_volume_mm3(self) -> float:
        """Voxel volume, mm3."""
        return float(np.prod(self.spacing_mm))

    @property
    def voxel_mass_kg(self) -> float:
        """Mass of one voxel, kg."""
        return self.density_g_cm3 * self.voxel_volume_mm3 * ML_PER_MM3 * KG_PER_G

    def kernel_energy_mev(self) -> float:
        """Energy absorbed per decay in all kernel voxels (MeV): sum(S) x voxel mass."""
        return (
            float(self.values_mgy_per_mbq_s.sum())
            * self.voxel_mass_kg
            / _MGY_KG_PER_MEV_MBQ_S
        )

    @property
    def absorbed_in_kernel_fraction(self) -> float:
        """Absorbed within the kernel / emitted (components included)."""
        return sum(self.absorbed_energy_mev.values()) / sum(
            self.emitted_energy_mev.values()
        )

    @property
    def escaped_fraction(self) -> float:
        """Not absorbed within the kernel / emitted (1 - absorbed_in_kernel_fraction)."""
        return sum(self.escaped_energy_mev.values()) / sum(
            self.emitted_energy_mev.values()
        )

    def summary(self) -> dict[str, object]:
        """JSON-friendly description (no array)."""
        return {
            "nuclide": self.nuclide,
            "spacing_mm": list(self.spacing_mm),
            "shape_zyx": list(self.shape),
            "density_g_cm3": self.density_g_cm3,
            "medium": self.medium,
            "components": list(self.components),
            "units": "mGy/(MBq s) per voxel",
            "self_voxel_mgy_per_mbq_s": float(
                self.values_mgy_per_mbq_s[self.center_index]
            ),
            "emitted_energy_mev": dict(self.emitted_energy_mev),
            "absorbed_energy_mev": dict(self.absorbed_energy_mev),
            "escaped_energy_mev": dict(self.escaped_energy_mev),
            "kernel_energy_mev": self.kernel_energy_mev(),
            "absorbed_in_kernel_fraction": self.absorbed_in_kernel_fraction,
            "escaped_fraction": self.escaped_fraction,
            "electron_range_mm": self.electron_range_mm,
            "photon_radius_mm": self.photon_radius_mm,
            "max_range_mm": self.max_range_mm,
            "netdose_version": self.netdose_version,
            "table_versions": list(self.table_versions),
            "voxel_algorithm": VOXEL_ALGORITHM_VERSION,
            "info": dict(self.info),
        }


#: mGy kg per (MeV per decay x MBq s): one MeV per decay at 1 MBq for 1 s in 1 kg.
_MGY_KG_PER_MEV_MBQ_S = J_PER_MEV * BQ_PER_MBQ * MGY_PER_GY


def _check_spacing(spacing_mm: Sequence[float] | float) -> tuple[float, float, float]:
    if np.isscalar(spacing_mm):
        spacing_mm = (float(spacing_mm),) * 3  # type: ignore[arg-type]
    try:
        vals = tuple(float(v) for v in spacing_mm)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise GeometryError(
            f"spacing_mm must be three numbers (x, y, z) in mm, got {spacing_mm!r}."
        ) from None
    if len(vals) != 3:
        raise GeometryError(
            f"spacing_mm must have 3 values (x, y, z) in mm, got {len(vals)}."
        )
    if not all(math.isfinite(v) and v > 0.0 for v in vals):
        raise GeometryError(
            f"spacing_mm must be positive and finite, got {vals}; give the voxel size in mm, "
            "e.g. (4.42, 4.42, 4.42)."
        )
    if min(vals) < 0.01 or max(vals) > 100.0:
        raise GeometryError(
            f"spacing_mm {vals} is outside 0.01-100 mm; check the units (mm)."
        )
    return vals  # type: ignore[return-value]


def _netdose_version() -> str:
    from netdose import __version__

    return str(__version__)


def _cache_key(params: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]


def _cache_files(nuclide: str, key: str) -> tuple[Path, Path]:
    """(values .npy, metadata .json) of one cached kernel."""
    base = cache_dir() / "kernels" / f"{nuclide}_{key}"
    return base.with_suffix(".npy"), base.with_suffix(".json")


def _load_cached(values_path: Path, meta_path: Path, key: str) -> VoxelKernel | None:
    if not (values_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") != key:
            raise ValueError("cache key mismatch")
        # memory-mapped, read-only: loading costs no copy (a few ms for any size)
        values = np.load(values_path, mmap_mode="r", allow_pickle=False)
        if values.dtype != np.float64 or list(values.shape) != list(meta["shape"]):
            raise ValueError("array shape or type differs from its metadata")
        return VoxelKernel(
            values_mgy_per_mbq_s=values,
            spacing_mm=tuple(meta["spacing_mm"]),
            density_g_cm3=float(meta["density_g_cm3"]),
            medium=str(meta["medium"]),
            nuclide=str(meta["nuclide"]),
            components=tuple(meta["components"]),
            emitted_energy_mev=dict(meta["emitted_energy_mev"]),
            absorbed_energy_mev=dict(meta["absorbed_energy_mev"]),
            escaped_energy_mev=dict(meta["escaped_energy_mev"]),
            electron_range_mm=float(meta["electron_range_mm"]),
            photon_radius_mm=float(meta["photon_radius_mm"]),
            netdose_version=str(meta["netdose_version"]),
            table_versions=tuple(meta["table_versions"]),
            info={**meta["info"], "from_cache": 1.0},
        )
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        warnings.warn(
            f"dose kernel cache file {values_path} is unreadable ({exc}); regenerating it.",
            NetdoseWarning,
            stacklevel=3,
        )
        return None


def _save_cached(values_path: Path, meta_path: Path, key: str, vk: VoxelKernel) -> None:
    meta = {
        "key": key,
        "shape": list(vk.shape),
        "spacing_mm": list(vk.spacing_mm),
        "density_g_cm3": vk.density_g_cm3,
        "medium": vk.medium,
        "nuclide": vk.nuclide,
        "components": list(vk.components),
        "emitted_energy_mev": vk.emitted_energy_mev,
        "absorbed_energy_mev": vk.absorbed_energy_mev,
        "escaped_energy_mev": vk.escaped_energy_mev,
        "electron_range_mm": vk.electron_range_mm,
        "photon_radius_mm": vk.photon_radius_mm,
        "netdose_version": vk.netdose_version,
        "table_versions": list(vk.table_versions),
        "info": {k: v for k, v in vk.info.items() if k != "from_cache"},
    }
    try:
        # values first, metadata last: a kernel is only found once both are complete
        with atomic_path(values_path) as tmp:
            np.save(
                tmp, np.ascontiguousarray(vk.values_mgy_per_mbq_s), allow_pickle=False
            )
        atomic_write_text(meta_path, json.dumps(meta, indent=1))
    except (OSError, InputError) as exc:
        warnings.warn(
            f"could not write the dose kernel cache {values_path} ({exc}); the kernel is still "
            "returned. Set NETDOSE_CACHE_DIR to a writable folder to cache kernels.",
            NetdoseWarning,
            stacklevel=3,
        )


def voxel_kernel(
    nuclide: str,
    spacing_mm: Sequence[float] | float,
    density_g_cm3: float = DEFAULT_DENSITY_G_CM3,
    components: Sequence[str] | str | None = None,
    *,
    medium: str = "soft_tissue",
    photon_radius_mm: float = DEFAULT_PHOTON_RADIUS_MM,
    use_cache: bool = True,
) -> VoxelKernel:
    """Dose voxel kernel of ``nuclide`` for voxels of ``spacing_mm`` in a homogeneous medium.

    Parameters
    ----------
    nuclide : str
        Any ICRP-107 nuclide (``"Y-90"``, ``"Lu-177"``, ``"177Lu"``...).
    spacing_mm : (x, y, z) floats or one float
        Voxel size in mm (cubic or not), each 0.01-100 mm.
    density_g_cm3 : float
        Density of the medium, g/cm3 (default 1.04, soft tissue).
    components : sequence of str, optional
        ``"electrons"`` (beta + ce + auger), ``"photons"``, or any of ``"beta"``, ``"ce"``,
        ``"auger"``; default: electrons, plus photons when they carry >= 1 % of the electron
        energy per decay (Lu-177 yes, Y-90 no).
    medium : str
        ``"soft_tissue"`` (ICRP soft tissue composition, default) or ``"water"``.
    photon_radius_mm : float
        Photon kernel truncation radius, mm (default 100). Energy absorbed beyond it is
        reported in ``escaped_energy_mev["photons"]``.
    use_cache : bool
        Read/write ``netdose.config.cache_dir()/kernels`` (``<nuclide>_<key>.npy`` + ``.json``,
        the key a hash of nuclide, spacing to 1e-6 mm, density, medium, components, photon
        radius, netdose version and table versions); a corrupt file is regenerated. A cached
        kernel's array is a read-only memory map.

    Returns
    -------
    VoxelKernel

    Raises
    ------
    InputError
        Unknown nuclide/component/medium, non-positive density or photon radius.
    GeometryError
        Spacing not three positive numbers in 0.01-100 mm.
    PhysicsRangeError
        Emissions beyond the shipped tables.
    """
    spacing = _check_spacing(spacing_mm)
    t0 = time.perf_counter()
    pk = point_kernel(
        nuclide,
        density_g_cm3,
        components,
        medium=medium,
        photon_radius_mm=photon_radius_mm,
    )
    params = {
        "nuclide": pk.nuclide,
        "spacing_mm": [round(v, 6) for v in spacing],
        "density_g_cm3": round(pk.density_g_cm3, 9),
        "medium": pk.medium,
        "components": list(pk.components),
        "photon_radius_mm": round(pk.photon_radius_mm, 6),
        "netdose_version": _netdose_version(),
        "table_versions": list(pk.table_versions),
        "algorithm": VOXEL_ALGORITHM_VERSION,
    }
    key = _cache_key(params)
    values_path, meta_path = _cache_files(pk.nuclide, key)
    if use_cache:
        cached = _load_cached(values_path, meta_path, key)
        if cached is not None:
            return cached
    energy, info = voxel_s_values_from_point_kernel(pk, spacing)
    mass_kg = pk.density_g_cm3 * float(np.prod(spacing)) * ML_PER_MM3 * KG_PER_G
    values = energy * (_MGY_KG_PER_MEV_MBQ_S / mass_kg)
    values.flags.writeable = False
    absorbed = {c: float(pk.cumulative_mev[c][-1]) for c in pk.components}
    info = {**info, "generation_s": time.perf_counter() - t0}
    vk = VoxelKernel(
        values_mgy_per_mbq_s=values,
        spacing_mm=spacing,
        density_g_cm3=pk.density_g_cm3,
        medium=pk.medium,
        nuclide=pk.nuclide,
        components=pk.components,
        emitted_energy_mev=dict(pk.emitted_mev),
        absorbed_energy_mev=absorbed,
        escaped_energy_mev=dict(pk.escaped_mev),
        electron_range_mm=pk.electron_range_mm,
        photon_radius_mm=pk.photon_radius_mm,
        netdose_version=params["netdose_version"],  # type: ignore[arg-type]
        table_versions=pk.table_versions,
        info=info,
    )
    if use_cache:
        _save_cached(values_path, meta_path, key, vk)
    return vk
