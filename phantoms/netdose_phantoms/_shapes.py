"""Analytic solids and their partial-volume rasterisation on axis-aligned grids.

Every solid is a :class:`Shape`: a *conservative signed distance* ``f(x, y, z)`` (mm,
negative inside) and a bounding box. Conservative means ``|f(p)|`` never exceeds the true
distance from ``p`` to the surface: exact for spheres, planes, cylinders and tubes, a lower
bound for ellipsoids (scaled algebraic distance, Lipschitz 1), and preserved by ``min`` /
``max`` (union, intersection, difference). That is what makes the rasterisation cheap and
exact in its classification: a voxel whose centre lies farther than half its diagonal from
every surface is wholly inside or wholly outside, and only the voxels near a surface are
supersampled.

- :func:`layer_fractions`: the covered fraction of each voxel for an ordered list of
  (possibly overlapping) solids, the first listed winning where they overlap; each
  boundary voxel is sampled at ``n^3`` sub-voxel centres (midpoint rule), all solids on the
  same sub-points so that the fractions of one voxel add up to 1 exactly.
- :func:`coverage_2d` and :func:`slab_fraction`: the same for prisms (a cross-section
  extruded along z between two planes), whose covered fraction is exactly the product of the
  in-plane area fraction and the 1-D overlap along z.
- :func:`match_total`: nudge partial fractions so that their sum equals an analytic volume,
  keeping every value in [0, 1].

Coordinates are LPS mm; arrays are (z, y, x); the grid has the identity direction.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from netdose.errors import GeometryError, InputError
from netdose.image import Image

__all__ = [
    "Grid",
    "Shape",
    "arc_tube",
    "auto_supersample",
    "check_spacing",
    "coverage_2d",
    "difference",
    "ellipsoid",
    "elliptic_cylinder_z",
    "halfspace",
    "intersection",
    "layer_fractions",
    "match_total",
    "rotation_matrix",
    "slab_fraction",
    "sphere",
    "top_k_mask",
    "union",
    "volume_preserving_labels",
]

SdfFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

#: Largest number of sub-points handled at once by :func:`layer_fractions` (memory bound).
_CHUNK_POINTS = 1_500_000


# ---------------------------------------------------------------------------- grid
@dataclasses.dataclass(frozen=True)
class Grid:
    """An axis-aligned voxel grid (identity direction).

    Attributes
    ----------
    shape : tuple of 3 int
        Array shape (z, y, x).
    spacing_mm : tuple of 3 float
        Voxel size (x, y, z), mm.
    origin_mm : tuple of 3 float
        LPS position (x, y, z) of the centre of voxel (0, 0, 0), mm.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    @classmethod
    def covering(
        cls,
        lo_mm: Sequence[float],
        hi_mm: Sequence[float],
        spacing_mm: Sequence[float],
        margin_mm: float,
    ) -> Grid:
        """The smallest grid of the given spacing that holds the box ``[lo, hi]`` (x, y, z,
        LPS mm) plus ``margin_mm`` on every side, centred on the box."""
        shape_xyz = []
        origin = []
        for lo, hi, s in zip(lo_mm, hi_mm, spacing_mm):
            n = math.ceil((hi - lo + 2.0 * margin_mm) / s - 1e-9)
            shape_xyz.append(n)
            origin.append(0.5 * (lo + hi) - 0.5 * (n - 1) * s)
        return cls(
            (shape_xyz[2], shape_xyz[1], shape_xyz[0]),
            tuple(float(s) for s in spacing_mm),  # type: ignore[arg-type]
            tuple(origin),  # type: ignore[arg-type]
        )

    def centres(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates (mm) along ``axis`` (0 = x, 1 = y, 2 = z)."""
        n = self.shape[2 - axis]
        return self.origin_mm[axis] + self.spacing_mm[axis] * np.arange(n, dtype=np.float64)

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel, mm^3."""
        return float(np.prod(self.spacing_mm))

    @property
    def half_diagonal_mm(self) -> float:
        """Half the voxel diagonal, mm: the largest distance from a voxel centre to its
        corners."""
        return 0.5 * math.sqrt(sum(s * s for s in self.spacing_mm))

    def index_range(self, axis: int, lo_mm: float, hi_mm: float) -> tuple[int, int]:
        """Half-open index range of the voxels whose centres lie in ``[lo, hi]`` (clipped to
        the grid)."""
        n = self.shape[2 - axis]
        o, s = self.origin_mm[axis], self.spacing_mm[axis]
        i0 = 0 if not math.isfinite(lo_mm) else max(math.ceil((lo_mm - o) / s - 1e-9), 0)
        i1 = n if not math.isfinite(hi_mm) else min(math.floor((hi_mm - o) / s + 1e-9) + 1, n)
        return i0, max(i1, i0)

    def box_slices(
        self, lo_mm: Sequence[float], hi_mm: Sequence[float], pad_mm: float = 0.0
    ) -> tuple[slice, slice, slice]:
        """(z, y, x) slices of the voxels whose centres lie within ``pad_mm`` of the box."""
        rx = self.index_range(0, lo_mm[0] - pad_mm, hi_mm[0] + pad_mm)
        ry = self.index_range(1, lo_mm[1] - pad_mm, hi_mm[1] + pad_mm)
        rz = self.index_range(2, lo_mm[2] - pad_mm, hi_mm[2] + pad_mm)
        return slice(*rz), slice(*ry), slice(*rx)

    def image(self, array: np.ndarray, meta: dict[str, object] | None = None) -> Image:
        """Wrap an array (shape :attr:`shape`) as a read-only :class:`Image` without a copy."""
        arr = np.asarray(array)
        if arr.shape != self.shape:
            raise GeometryError(f"array shape {arr.shape} does not match grid {self.shape}.")
        arr.flags.writeable = False
        return Image(arr, self.spacing_mm, self.origin_mm, meta=meta or {})


def check_spacing(spacing_mm: object, lo: float, hi: float, what: str) -> tuple[float, float, float]:
    """Validate a voxel spacing: a number (cubic voxels) or three numbers (x, y, z) in mm,
    each finite and within ``[lo, hi]``; raise :class:`InputError` otherwise."""
    try:
        if isinstance(spacing_mm, (str, bytes)):
            raise TypeError("text")
        if isinstance(spacing_mm, (int, float, np.integer, np.floating)):
            values = (float(spacing_mm),) * 3
        else:
            values = tuple(float(v) for v in spacing_mm)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{what}: spacing_mm must be one number or three numbers (x, y, z) in mm; "
            f"got {spacing_mm!r}."
        ) from exc
    if len(values) != 3:
        raise InputError(
            f"{what}: spacing_mm needs three values (x, y, z) in mm; got {len(values)}: {values}."
        )
    if not all(math.isfinite(v) for v in values) or min(values) <= 0.0:
        raise InputError(f"{what}: voxel spacing must be positive and finite; got {values} mm.")
    if min(values) < lo or max(values) > hi:
        raise InputError(
            f"{what}: voxel spacing {values} mm is outside the supported range {lo:g}-{hi:g} mm "
            "(finer grids need too much memory, coarser ones cannot represent the geometry)."
        )
    return values  # type: ignore[return-value]


def auto_supersample(spacing_mm: Sequence[float], max_sub_mm: float, cap: int) -> int:
    """Sub-points per axis so that sub-voxels are at most ``max_sub_mm`` (at most ``cap``)."""
    return int(min(max(math.ceil(max(spacing_mm) / max_sub_mm - 1e-9), 1), cap))


# ---------------------------------------------------------------------------- shapes
_INF = float("inf")


@dataclasses.dataclass(frozen=True)
class Shape:
    """A solid: a conservative signed distance (mm, < 0 inside) and its bounding box.

    Attributes
    ----------
    sdf : callable
        ``sdf(x, y, z) -> ndarray``; broadcasts its (LPS, mm) arguments.
    lo_mm, hi_mm : tuple of 3 float
        Bounding box (x, y, z), mm; ``±inf`` where unbounded.
    """

    sdf: SdfFunction
    lo_mm: tuple[float, float, float]
    hi_mm: tuple[float, float, float]

    def __call__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.sdf(x, y, z)


def rotation_matrix(axis: Sequence[float], angle_deg: float) -> np.ndarray:
    """3x3 rotation by ``angle_deg`` (right-handed) about ``axis`` (x, y, z)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    t = math.radians(angle_deg)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(t) * k + (1.0 - math.cos(t)) * (k @ k)


def sphere(centre_mm: Sequence[float], radius_mm: float) -> Shape:
    """Ball of radius ``radius_mm`` (exact signed distance)."""
    cx, cy, cz = (float(v) for v in centre_mm)
    r = float(radius_mm)

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) - r

    return Shape(f, (cx - r, cy - r, cz - r), (cx + r, cy + r, cz + r))


def ellipsoid(
    centre_mm: Sequence[float], semi_axes_mm: Sequence[float], rotation: np.ndarray | None = None
) -> Shape:
    """Ellipsoid with semi-axes (a, b, c) along the columns of ``rotation`` (identity: x, y,
    z). Distance: ``(|q / axes| - 1) * min(axes)`` in the local frame q, which is Lipschitz 1
    and hence conservative."""
    c = np.asarray(centre_mm, dtype=np.float64)
    ax = np.asarray(semi_axes_mm, dtype=np.float64)
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    m = float(ax.min())

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        dx, dy, dz = x - c[0], y - c[1], z - c[2]
        s = 0.0
        for j in range(3):
            q = dx * rot[0, j] + dy * rot[1, j] + dz * rot[2, j]
            s = s + (q / ax[j]) ** 2
        return (np.sqrt(s) - 1.0) * m

    half = np.sqrt(((rot * ax[None, :]) ** 2).sum(axis=1))
    return Shape(f, tuple(c - half), tuple(c + half))  # type: ignore[arg-type]


def elliptic_cylinder_z(
    centre_xy_mm: Sequence[float],
    semi_axes_xy_mm: Sequence[float],
    z_range_mm: tuple[float, float] = (-_INF, _INF),
) -> Shape:
    """Elliptic cylinder along z (conservative in-plane distance), optionally cut by two
    transverse planes."""
    cx, cy = (float(v) for v in centre_xy_mm)
    a, b = (float(v) for v in semi_axes_xy_mm)
    z0, z1 = z_range_mm
    m = min(a, b)
    zc, zh = 0.5 * (z0 + z1), 0.5 * (z1 - z0)

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        g = (np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2) - 1.0) * m
        if math.isfinite(zh):
            g = np.maximum(g, np.abs(z - zc) - zh)
        return g

    return Shape(f, (cx - a, cy - b, z0), (cx + a, cy + b, z1))


def halfspace(normal: Sequence[float], point_mm: Sequence[float]) -> Shape:
    """The half-space ``n . (p - p0) <= 0`` (``n`` normalised here; exact distance)."""
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    off = float(n @ np.asarray(point_mm, dtype=np.float64))

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return x * n[0] + y * n[1] + z * n[2] - off

    return Shape(f, (-_INF,) * 3, (_INF,) * 3)  # type: ignore[arg-type]


def arc_tube(
    centre_mm: Sequence[float],
    u: Sequence[float],
    v: Sequence[float],
    major_radius_mm: float,
    minor_radius_mm: float,
    angle_range_deg: tuple[float, float],
) -> Shape:
    """A tube of radius ``minor_radius_mm`` swept along a circular arc, with round ends.

    The arc has radius ``major_radius_mm`` around ``centre_mm`` in the plane spanned by the
    orthonormal vectors ``u`` and ``v``; it runs from angle ``angle_range_deg[0]`` to
    ``angle_range_deg[1]`` (degrees from ``u`` toward ``v``; the second larger than the first,
    span below 360). Exact signed distance.
    """
    c = np.asarray(centre_mm, dtype=np.float64)
    uu = np.asarray(u, dtype=np.float64)
    vv = np.asarray(v, dtype=np.float64)
    if abs(uu @ vv) > 1e-9 or abs(np.linalg.norm(uu) - 1) > 1e-9 or abs(np.linalg.norm(vv) - 1) > 1e-9:
        raise InputError("arc_tube: u and v must be orthonormal.")
    w = np.cross(uu, vv)
    big, small = float(major_radius_mm), float(minor_radius_mm)
    a0, a1 = (math.radians(t) for t in angle_range_deg)
    if not 0.0 < a1 - a0 < 2.0 * math.pi:
        raise InputError("arc_tube: the angle range must be increasing and span less than 360 deg.")
    ends = [c + big * (math.cos(t) * uu + math.sin(t) * vv) for t in (a0, a1)]

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        dx, dy, dz = x - c[0], y - c[1], z - c[2]
        pa = dx * uu[0] + dy * uu[1] + dz * uu[2]
        pb = dx * vv[0] + dy * vv[1] + dz * vv[2]
        ph = dx * w[0] + dy * w[1] + dz * w[2]
        ang = np.mod(np.arctan2(pb, pa) - a0, 2.0 * math.pi)
        on_arc = ang <= (a1 - a0)
        d_arc = np.sqrt((np.sqrt(pa * pa + pb * pb) - big) ** 2 + ph * ph)
        d_end = np.minimum(
            np.sqrt((x - ends[0][0]) ** 2 + (y - ends[0][1]) ** 2 + (z - ends[0][2]) ** 2),
            np.sqrt((x - ends[1][0]) ** 2 + (y - ends[1][1]) ** 2 + (z - ends[1][2]) ** 2),
        )
        return np.where(on_arc, d_arc, d_end) - small

    half = big * np.sqrt(uu**2 + vv**2) + small
    return Shape(f, tuple(c - half), tuple(c + half))  # type: ignore[arg-type]


def union(*shapes: Shape) -> Shape:
    """Union (``min`` of the distances)."""

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = shapes[0](x, y, z)
        for s in shapes[1:]:
            out = np.minimum(out, s(x, y, z))
        return out

    lo = tuple(min(s.lo_mm[i] for s in shapes) for i in range(3))
    hi = tuple(max(s.hi_mm[i] for s in shapes) for i in range(3))
    return Shape(f, lo, hi)  # type: ignore[arg-type]


def intersection(*shapes: Shape) -> Shape:
    """Intersection (``max`` of the distances)."""

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = shapes[0](x, y, z)
        for s in shapes[1:]:
            out = np.maximum(out, s(x, y, z))
        return out

    lo = tuple(max(s.lo_mm[i] for s in shapes) for i in range(3))
    hi = tuple(min(s.hi_mm[i] for s in shapes) for i in range(3))
    return Shape(f, lo, hi)  # type: ignore[arg-type]


def difference(a: Shape, *cut: Shape) -> Shape:
    """``a`` minus the other shapes (``max(f_a, -f_b)``)."""

    def f(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = a(x, y, z)
        for s in cut:
            out = np.maximum(out, -s(x, y, z))
        return out

    return Shape(f, a.lo_mm, a.hi_mm)


# ---------------------------------------------------------------------------- rasterisation
def _sub_offsets(n: int) -> np.ndarray:
    """Sub-voxel centre offsets in voxel units, (n, ) in (-0.5, 0.5)."""
    return (np.arange(n, dtype=np.float64) + 0.5) / n - 0.5


def layer_fractions(
    grid: Grid,
    shapes: Sequence[Shape],
    n_sub: int,
    region: tuple[slice, slice, slice] | None = None,
) -> np.ndarray:
    """Covered fraction of every voxel by each of an ordered list of solids.

    Where solids overlap, the first in ``shapes`` takes the volume (priority order). Voxels
    within half a voxel diagonal of a surface that matters (one not hidden by a solid of
    higher priority that covers the whole voxel) are sampled at ``n_sub^3`` sub-voxel
    centres; the others are classified by their centre.

    Parameters
    ----------
    grid : Grid
        The voxel grid.
    shapes : sequence of Shape
        Solids in priority order (first wins).
    n_sub : int
        Sub-points per axis for boundary voxels.
    region : tuple of 3 slices, optional
        (z, y, x) sub-block of the grid to rasterise (default: all of it).

    Returns
    -------
    numpy.ndarray, float64, shape (len(shapes) + 1, nz, ny, nx)
        Fractions per solid, then the uncovered rest (last); they sum to 1 per voxel.
    """
    if region is None:
        region = (slice(0, grid.shape[0]), slice(0, grid.shape[1]), slice(0, grid.shape[2]))
    xs = grid.centres(0)[region[2]]
    ys = grid.centres(1)[region[1]]
    zs = grid.centres(2)[region[0]]
    shp = (zs.size, ys.size, xs.size)
    n_layers = len(shapes)
    hd = grid.half_diagonal_mm
    # Distances at the voxel centres, evaluated inside each solid's padded bounding box only.
    dists = []
    for s in shapes:
        f = np.full(shp, np.inf)
        lo = [s.lo_mm[i] - hd for i in range(3)]
        hi = [s.hi_mm[i] + hd for i in range(3)]
        ix = _range_in(xs, lo[0], hi[0])
        iy = _range_in(ys, lo[1], hi[1])
        iz = _range_in(zs, lo[2], hi[2])
        if ix.stop > ix.start and iy.stop > iy.start and iz.stop > iz.start:
            f[iz, iy, ix] = s(
                xs[None, None, ix], ys[None, iy, None], zs[iz, None, None]
            )
        dists.append(f)
    centre_label = np.full(shp, n_layers, dtype=np.int16)
    decided = np.zeros(shp, dtype=bool)
    needs = np.zeros(shp, dtype=bool)
    for k, f in enumerate(dists):
        needs |= (np.abs(f) < hd) & ~decided
        inside = (f <= -hd) & ~decided
        centre_label[inside] = k
        decided |= inside
    out = np.zeros((n_layers + 1,) + shp, dtype=np.float64)
    flat_out = out.reshape(n_layers + 1, -1)
    easy = ~needs
    flat_out[centre_label[easy], np.flatnonzero(easy)] = 1.0
    idx = np.flatnonzero(needs)
    if idx.size:
        off = _sub_offsets(n_sub)
        sx, sy, sz = grid.spacing_mm
        oz, oy, ox = np.meshgrid(off * sz, off * sy, off * sx, indexing="ij")
        oz, oy, ox = oz.ravel(), oy.ravel(), ox.ravel()
        n3 = ox.size
        chunk = max(_CHUNK_POINTS // n3, 1)
        kz, ky, kx = np.unravel_index(idx, shp)
        flat_d = [d.reshape(-1) for d in dists]
        for start in range(0, idx.size, chunk):
            sl = slice(start, start + chunk)
            vox = idx[sl]
            px = xs[kx[sl]][:, None] + ox[None, :]
            py = ys[ky[sl]][:, None] + oy[None, :]
            pz = zs[kz[sl]][:, None] + oz[None, :]
            lab = np.full(px.shape, n_layers, dtype=np.int16)
            undecided = np.ones(px.shape, dtype=bool)
            for k, s in enumerate(shapes):
                dk = flat_d[k][vox]
                full = dk <= -hd
                if np.any(full):
                    sel = undecided & full[:, None]
                    lab[sel] = k
                    undecided &= ~full[:, None]
                part = np.flatnonzero(np.abs(dk) < hd)
                if part.size:
                    inside = s(px[part], py[part], pz[part]) < 0.0
                    sel = inside & undecided[part]
                    sub = lab[part]
                    sub[sel] = k
                    lab[part] = sub
                    und = undecided[part]
                    und &= ~inside
                    undecided[part] = und
            keys = (np.arange(vox.size, dtype=np.int64)[:, None] * (n_layers + 1) + lab).ravel()
            counts = np.bincount(keys, minlength=vox.size * (n_layers + 1))
            flat_out[:, vox] = counts.reshape(vox.size, n_layers + 1).T / n3
    return out


def _range_in(c: np.ndarray, lo: float, hi: float) -> slice:
    """Slice of the sorted coordinates ``c`` lying in ``[lo, hi]``."""
    i0 = int(np.searchsorted(c, lo, side="left"))
    i1 = int(np.searchsorted(c, hi, side="right"))
    return slice(i0, max(i1, i0))


def coverage_2d(
    sdf2d: Callable[[np.ndarray, np.ndarray], np.ndarray],
    xs: np.ndarray,
    ys: np.ndarray,
    pixel_mm: tuple[float, float],
    n_sub: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Covered area fraction of each pixel of a plane by a 2-D region.

    Parameters
    ----------
    sdf2d : callable
        Conservative signed distance ``f(x, y)`` (mm, < 0 inside).
    xs, ys : 1-D arrays
        Pixel-centre coordinates (mm).
    pixel_mm : (float, float)
        Pixel size (x, y), mm.
    n_sub : int
        Sub-points per axis in boundary pixels.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Fractions, float64, shape (ys.size, xs.size), and the signed distance at the pixel
        centres (same shape; used to break ties when ranking pixels).
    """
    px, py = pixel_mm
    hd = 0.5 * math.hypot(px, py)
    f = sdf2d(xs[None, :], ys[:, None])
    frac = (f <= -hd).astype(np.float64)
    iy, ix = np.nonzero(np.abs(f) < hd)
    if iy.size:
        off = _sub_offsets(n_sub)
        oy, ox = np.meshgrid(off * py, off * px, indexing="ij")
        ox, oy = ox.ravel(), oy.ravel()
        chunk = max(_CHUNK_POINTS // ox.size, 1)
        for start in range(0, iy.size, chunk):
            sl = slice(start, start + chunk)
            gx = xs[ix[sl]][:, None] + ox[None, :]
            gy = ys[iy[sl]][:, None] + oy[None, :]
            frac[iy[sl], ix[sl]] = np.mean(sdf2d(gx, gy) < 0.0, axis=1)
    return frac, np.broadcast_to(f, frac.shape)


def slab_fraction(centres: np.ndarray, step_mm: float, lo_mm: float, hi_mm: float) -> np.ndarray:
    """Exact fraction of each 1-D voxel ``[c - step/2, c + step/2]`` inside ``[lo, hi]``."""
    a = np.maximum(centres - 0.5 * step_mm, lo_mm)
    b = np.minimum(centres + 0.5 * step_mm, hi_mm)
    return np.clip((b - a) / step_mm, 0.0, 1.0)


def match_total(fraction: np.ndarray, target: float, what: str) -> tuple[np.ndarray, float]:
    """Adjust the partial values of ``fraction`` so that its sum equals ``target``.

    The correction ``delta = target - sum`` is shared among voxels in proportion to
    ``f (1 - f)``: full and empty voxels keep their values and every value stays in [0, 1]
    (the correction is refused if it is not small compared with the partial volume, which
    would mean a wrong analytic volume rather than sampling error).

    Returns
    -------
    (numpy.ndarray, float)
        The corrected fractions (new array) and the relative size of the correction
        ``delta / target``.
    """
    f = np.asarray(fraction, dtype=np.float64)
    w = f * (1.0 - f)
    sw = float(w.sum())
    delta = float(target) - float(f.sum())
    if delta == 0.0:
        return f.copy(), 0.0
    if sw <= 0.0 or abs(delta) > 0.5 * sw:
        raise GeometryError(
            f"{what}: the voxelised volume ({f.sum():.6g} voxels) differs from the analytic "
            f"volume ({target:.6g} voxels) by more than the supersampling error can explain."
        )
    return f + w * (delta / sw), delta / float(target)


def top_k_mask(fraction: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    """Boolean mask of the ``k`` voxels with the largest covered fraction.

    This is the volume-preserving threshold: with ``k = round(V / v_voxel)`` the mask holds
    the analytic volume to half a voxel, where a fixed threshold of 0.5 can be off by several
    voxels for small or thin objects (lattice effects that do not average out). Ties are
    broken by ``tiebreak`` (smaller first: the signed distance at the voxel centre, i.e. the
    voxel more inside), then by the flat index, so the result is deterministic.
    """
    f = np.asarray(fraction, dtype=np.float64).ravel()
    t = np.broadcast_to(np.asarray(tiebreak, dtype=np.float64), fraction.shape).ravel()
    k = int(min(max(k, 0), f.size))
    order = np.lexsort((np.arange(f.size), t, -f))
    mask = np.zeros(f.size, dtype=bool)
    mask[order[:k]] = True
    return mask.reshape(fraction.shape)


def volume_preserving_labels(
    grid: Grid, shapes: Sequence[Shape], n_sub: int, max_chunk_voxels: int = 2_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Label map of ordered solids whose label volumes equal their covered volumes.

    The covered fractions come from :func:`layer_fractions` (computed slab by slab to bound
    memory). Voxels wholly inside one solid take it. Then, in priority order, each solid
    takes from the still unassigned voxels it partly covers the ones of largest fraction
    (ties: lower flat index) until its voxel count equals ``round(sum of its fractions)``;
    the voxels left over are "none". A majority (argmax) rule would instead shift a flat
    boundary by up to half a voxel over its whole area, a bias that does not average out.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Index per voxel (int16, (nz, ny, nx)): ``k`` for ``shapes[k]``, ``len(shapes)`` for
        none; and the fraction-weighted voxel count of each solid and of "none"
        (float64, ``len(shapes) + 1``).
    """
    n = len(shapes)
    nz, ny, nx = grid.shape
    index = np.full(grid.shape, -1, dtype=np.int16)
    flat = index.reshape(-1)
    frac_sum = np.zeros(n + 1)
    part_idx: list[list[np.ndarray]] = [[] for _ in range(n)]
    part_val: list[list[np.ndarray]] = [[] for _ in range(n)]
    step = max(1, max_chunk_voxels // (ny * nx))
    for z0 in range(0, nz, step):
        z1 = min(z0 + step, nz)
        fr = layer_fractions(grid, shapes, n_sub, (slice(z0, z1), slice(None), slice(None)))
        frac_sum += fr.reshape(n + 1, -1).sum(axis=1)
        offset = z0 * ny * nx
        chunk = index[z0:z1]
        for k in range(n + 1):
            fk = fr[k]
            chunk[fk >= 1.0] = k
            if k < n:
                m = (fk > 0.0) & (fk < 1.0)
                part_idx[k].append(np.flatnonzero(m) + offset)
                part_val[k].append(fk[m])
    for k in range(n):
        need = round(frac_sum[k]) - int(np.count_nonzero(flat == k))
        if need <= 0 or not part_idx[k]:
            continue
        idx = np.concatenate(part_idx[k])
        val = np.concatenate(part_val[k])
        free = flat[idx] == -1
        idx, val = idx[free], val[free]
        order = np.lexsort((idx, -val))
        flat[idx[order[:need]]] = k
    flat[flat == -1] = n
    return index, frac_sum
