"""Report figures as PNG bytes: image slices with dose overlays and contours, MIPs, DVHs,
time-activity curves, waterfall and spider plots.

Every function builds a :class:`matplotlib.figure.Figure` and renders it with the Agg canvas
directly: nothing here touches pyplot or changes matplotlib's global state (backend, rcParams),
so importing this module is safe in any program. The PNG is written without the "Software"
metadata, so **the same input gives the same bytes**.

Orientation of image panels: the array is re-ordered (axes permuted and flipped, no
resampling) to the patient LPS axes nearest to its direction matrix, then shown in the
radiological convention: axial slices with the patient's right on the left of the picture and
anterior at the top, coronal slices with the patient's right on the left and superior at the
top. Letters at the edges (R, L, A, P, S, I) say so on the figure. Pixels have their physical
aspect ratio (from the voxel spacing).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from netdose.dosimetry.dvh import DVH
from netdose.errors import InputError
from netdose.image import Image

__all__ = [
    "DPI",
    "dvh_plot",
    "mip_panel",
    "slice_panel",
    "spider_plot",
    "tac_plot",
    "waterfall_plot",
]

#: Resolution of every figure, dots per inch.
DPI = 100
#: Colours of mask contours / curves, in order (matplotlib "tab10").
PALETTE: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                            "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
#: Overlay voxels below this fraction of the overlay maximum are transparent.
OVERLAY_MIN_FRACTION = 0.01
#: Upper percentile of the background image used as the top of its grey scale.
BACKGROUND_PERCENTILE = 99.5
_OVERLAY_CMAP = "turbo"
_OVERLAY_ALPHA = 0.55

SliceKind = Literal["axial", "coronal", "sagittal"]


# =========================================================================== helpers
def _png(fig: Figure) -> bytes:
    """Render with the Agg canvas; no 'Software' tag, so the bytes depend on the input only."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _figure(width_in: float, height_in: float) -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


def _lps_order(direction: Sequence[float]) -> tuple[list[int], list[bool]]:
    """For each LPS axis (x=L, y=P, z=S): which index axis (x, y, z) points nearest to it
    and whether it points the opposite way."""
    dmat = np.asarray(direction, dtype=np.float64).reshape(3, 3)  # columns = index axes
    axis_of = [-1, -1, -1]
    flip = [False, False, False]
    free = [0, 1, 2]
    # greedy on the largest components: well defined for any orthonormal matrix
    order = np.argsort(-np.abs(dmat), axis=None)
    for flat in order:
        lps, idx = divmod(int(flat), 3)
        if axis_of[lps] == -1 and idx in free:
            axis_of[lps] = idx
            flip[lps] = bool(dmat[lps, idx] < 0)
            free.remove(idx)
    return axis_of, flip


def _to_lps(image: Image, array: np.ndarray | None = None) -> tuple[np.ndarray, tuple[float, ...]]:
    """The array (z, y, x) re-ordered so that its axes run S, P, L (z, y, x in LPS), and the
    spacing (x, y, z) in that order. Display only: no interpolation."""
    arr = np.asarray(image.array if array is None else array)
    axis_of, flip = _lps_order(image.direction)
    # array axis of index axis i (x=0, y=1, z=2) is 2 - i
    perm = [2 - axis_of[2], 2 - axis_of[1], 2 - axis_of[0]]
    out = np.transpose(arr, perm)
    for out_axis, lps in ((0, 2), (1, 1), (2, 0)):
        if flip[lps]:
            out = np.flip(out, axis=out_axis)
    spacing = tuple(float(image.spacing_mm[axis_of[k]]) for k in range(3))
    return out, spacing


def _lps_array_index(image: Image, point_lps_mm: Sequence[float], what: str) -> list[int]:
    """Index (axis 0, 1, 2) in the LPS-ordered array (:func:`_to_lps`) of the voxel holding
    a patient (LPS) point."""
    pt = _finite(point_lps_mm, what)
    if pt.shape != (3,):
        raise InputError(f"{what} must be 3 numbers (L, P, S mm); got {point_lps_mm!r}.")
    idx_xyz = np.rint(image.continuous_index(pt)).astype(int)
    size = image.size_xyz
    if np.any(idx_xyz < 0) or np.any(idx_xyz >= np.asarray(size)):
        raise InputError(f"{what}: the point {tuple(float(v) for v in pt)} mm (LPS) is outside "
                         f"the image ({image.describe_grid()}).")
    axis_of, flip = _lps_order(image.direction)
    out = []
    for array_axis in range(3):
        lps = 2 - array_axis  # LPS axis along this axis of the re-ordered array
        i = int(idx_xyz[axis_of[lps]])
        out.append(size[axis_of[lps]] - 1 - i if flip[lps] else i)
    return out


def _crop_box(shape: tuple[int, ...], regions: Sequence[np.ndarray], spacing: Sequence[float],
              margin_mm: float | None, keep_axis: int) -> tuple[slice, ...]:
    """Slices of the LPS-ordered array around the union of ``regions`` plus a margin (mm),
    on every axis but ``keep_axis``; the whole array without regions or margin."""
    full = (slice(None),) * 3
    if margin_mm is None or not regions:
        return full
    if not (math.isfinite(margin_mm) and margin_mm >= 0):
        raise InputError(f"crop_margin_mm must be >= 0 mm; got {margin_mm!r}.")
    union = np.zeros(shape, dtype=bool)
    for r in regions:
        union |= r
    if not union.any():
        return full
    sp_of_axis = {2: spacing[0], 1: spacing[1], 0: spacing[2]}
    box = []
    for a in range(3):
        if a == keep_axis:
            box.append(slice(None))
            continue
        nz = np.nonzero(union.any(axis=tuple(b for b in range(3) if b != a)))[0]
        pad = math.ceil(margin_mm / sp_of_axis[a])
        box.append(slice(max(int(nz[0]) - pad, 0), min(int(nz[-1]) + pad + 1, shape[a])))
    return tuple(box)


def _check_grid(image: Image, other: Image, what: str) -> None:
    image.require_same_grid(other, "the background image", what)


def _mask_array(mask: Image, name: str) -> np.ndarray:
    arr = np.asarray(mask.array)
    if arr.dtype != np.bool_:
        if np.issubdtype(arr.dtype, np.integer) and np.isin(np.unique(arr), (0, 1)).all():
            return arr.astype(bool)
        raise InputError(f"mask {name!r} must be boolean (or 0/1); got dtype {arr.dtype}.")
    return arr


def _finite(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what}: NaN or infinite values cannot be plotted; remove them first.")
    return arr


_SLICE_AXES = {
    # kind: (array axis sliced, (horizontal array axis, vertical array axis), labels
    #        (left, right, top, bottom), vertical axis runs downward?)
    "axial": (0, (2, 1), ("R", "L", "A", "P"), True),
    "coronal": (1, (2, 0), ("R", "L", "S", "I"), False),
    "sagittal": (2, (1, 0), ("A", "P", "S", "I"), False),
}


def _slice2d(vol: np.ndarray, kind: str, index: int) -> np.ndarray:
    axis = _SLICE_AXES[kind][0]
    sl = np.take(vol, index, axis=axis)
    # rows = vertical axis, columns = horizontal axis
    v_axis = _SLICE_AXES[kind][1][1]
    remaining = [a for a in range(3) if a != axis]
    if remaining.index(v_axis) != 0:
        sl = sl.T
    return sl


def _extent(kind: str, shape2d: tuple[int, ...],
            spacing: Sequence[float]) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) in mm for imshow; spacing (x, y, z) of the LPS array."""
    h_axis, v_axis = _SLICE_AXES[kind][1]
    sp_of_axis = {2: spacing[0], 1: spacing[1], 0: spacing[2]}
    width = shape2d[1] * sp_of_axis[h_axis]
    height = shape2d[0] * sp_of_axis[v_axis]
    if _SLICE_AXES[kind][3]:  # row 0 at the top
        return (0.0, width, height, 0.0)
    return (0.0, width, 0.0, height)


def _centres(kind: str, shape2d: tuple[int, int],
             spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    h_axis, v_axis = _SLICE_AXES[kind][1]
    sp_of_axis = {2: spacing[0], 1: spacing[1], 0: spacing[2]}
    xs = (np.arange(shape2d[1]) + 0.5) * sp_of_axis[h_axis]
    ys = (np.arange(shape2d[0]) + 0.5) * sp_of_axis[v_axis]
    return xs, ys


def _orientation_letters(ax: Any, kind: str) -> None:
    left, right, top, bottom = _SLICE_AXES[kind][2]
    style = {"color": "white", "fontsize": 11, "fontweight": "bold",
             "transform": ax.transAxes}
    ax.text(0.01, 0.5, left, ha="left", va="center", **style)
    ax.text(0.99, 0.5, right, ha="right", va="center", **style)
    ax.text(0.5, 0.99, top, ha="center", va="top", **style)
    ax.text(0.5, 0.01, bottom, ha="center", va="bottom", **style)


def _grey_limits(vol: np.ndarray) -> tuple[float, float]:
    finite = vol[np.isfinite(vol)]
    if finite.size == 0:
        return 0.0, 1.0
    lo = float(finite.min())
    hi = float(np.percentile(finite, BACKGROUND_PERCENTILE))
    if not hi > lo:
        hi = float(finite.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def _contours(ax: Any, kind: str, masks2d: Sequence[tuple[str, np.ndarray]],
              spacing: Sequence[float],
              colours: Mapping[str, str] | None = None) -> list[Line2D]:
    handles = []
    for n, (name, m2) in enumerate(masks2d):
        colour = (colours or {}).get(name) or PALETTE[n % len(PALETTE)]
        handles.append(Line2D([0], [0], color=colour, lw=1.5, label=name))
        if m2.any() and not m2.all():
            xs, ys = _centres(kind, m2.shape, spacing)
            ax.contour(xs, ys, m2.astype(np.float32), levels=[0.5], colors=[colour],
                       linewidths=1.2)
    return handles


def _legend(fig: Figure, handles: list[Line2D]) -> None:
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
                   fontsize=8, frameon=False)


def _panel_height(width_in: float, aspect_hw: float, n_legend: int) -> float:
    """Figure height giving the image about 70 % of the width, plus title, labels, legend."""
    rows = math.ceil(n_legend / 4) if n_legend else 0
    return min(max(width_in * 0.7 * aspect_hw + 1.0 + 0.25 * rows, 3.0), 12.0)


def _prepare_masks(image: Image, masks: Mapping[str, Image] | None) -> list[tuple[str, np.ndarray]]:
    out = []
    for name, m in (masks or {}).items():
        _check_grid(image, m, f"mask {name!r}")
        out.append((str(name), _to_lps(image, _mask_array(m, name))[0]))
    return out


# =========================================================================== panels
def slice_panel(
    image: Image,
    overlay: Image | None = None,
    masks: Mapping[str, Image] | None = None,
    *,
    kind: SliceKind = "axial",
    index: int | None = None,
    through_lps_mm: Sequence[float] | None = None,
    overlay_label: str = "Gy",
    overlay_max: float | None = None,
    title: str | None = None,
    colours: Mapping[str, str] | None = None,
    crop_margin_mm: float | None = None,
    mark_lps_mm: Sequence[float] | None = None,
    width_in: float = 7.0,
) -> bytes:
    """One slice of an image in grey, with an optional colour overlay and mask contours.

    Parameters
    ----------
    image : Image
        Background (e.g. MAA SPECT counts or CT), shape (z, y, x).
    overlay : Image, optional
        On the same grid (e.g. the dose in Gy): colour map with transparency; voxels below
        :data:`OVERLAY_MIN_FRACTION` of ``overlay_max`` are not coloured. A colour bar is drawn,
        labelled ``overlay_label``.
    masks : mapping of str to Image, optional
        Boolean masks on the same grid; each gets a contour and a legend entry.
    kind : {"axial", "coronal", "sagittal"}
    index : int, optional
        Slice index along the slice axis of the LPS-ordered array (the array index when the
        direction is the identity). Default: through the overlay's maximum; without overlay
        the centroid of the masks; else the middle.
    through_lps_mm : 3 floats, optional
        Instead of ``index``: the slice through this patient (LPS) point, mm (e.g. a
        finding's peak). A point outside the field of view raises InputError.
    overlay_label : str
        Colour-bar label (unit).
    overlay_max : float, optional
        Top of the colour scale; default the overlay's maximum over the whole volume (so that
        panels of one report share a scale).
    title : str, optional
        Default ``"<Kind> slice i / n"``.
    colours : mapping of str to colour, optional
        Contour colour per mask name (so that several figures agree); default
        :data:`PALETTE` in order.
    crop_margin_mm : float, optional
        Show only the region around the masks and the coloured overlay voxels (over the
        whole volume, so that panels of one report agree), plus this margin in mm; default
        the whole field of view.
    mark_lps_mm : 3 floats, optional
        A patient (LPS) point marked with a circle when it lies in the slice (e.g. a
        finding's peak).
    width_in : float
        Figure width in inches (at :data:`DPI`).

    Returns
    -------
    bytes
        PNG.

    Raises
    ------
    GeometryError
        Overlay or a mask not on the image grid.
    InputError
        Unknown ``kind``, index out of range, a non-boolean mask.
    """
    if kind not in _SLICE_AXES:
        raise InputError(f"slice kind {kind!r} is not one of {', '.join(_SLICE_AXES)}.")
    vol, spacing = _to_lps(image)
    vol = vol.astype(np.float64)
    ov = None
    if overlay is not None:
        _check_grid(image, overlay, "the overlay")
        ov = _to_lps(image, np.asarray(overlay.array, dtype=np.float64))[0]
        if not np.all(np.isfinite(ov)):
            raise InputError("the overlay has NaN or infinite voxels; it cannot be shown.")
    mvols = _prepare_masks(image, masks)
    axis = _SLICE_AXES[kind][0]
    n = vol.shape[axis]
    if through_lps_mm is not None:
        if index is not None:
            raise InputError("give index or through_lps_mm, not both.")
        index = _lps_array_index(image, through_lps_mm, "through_lps_mm")[axis]
    if index is None:
        if ov is not None and float(ov.max()) > float(ov.min()):
            index = int(np.unravel_index(int(np.argmax(ov)), ov.shape)[axis])
        elif mvols:
            union = np.any([m for _, m in mvols], axis=0)
            coords = np.nonzero(union)[axis]
            index = round(float(coords.mean())) if coords.size else n // 2
        else:
            index = n // 2
    if not (0 <= int(index) < n):
        raise InputError(f"{kind} slice index {index} is outside 0..{n - 1}.")
    index = int(index)
    top = 1.0
    if ov is not None:
        top = float(ov.max()) if overlay_max is None else float(overlay_max)
        top = top if top > 0 else 1.0
    regions = [m for _, m in mvols]
    if ov is not None:
        regions.append(ov >= OVERLAY_MIN_FRACTION * top)
    box = _crop_box(vol.shape, regions, spacing, crop_margin_mm, axis)
    vol_c = vol[box]
    bg = _slice2d(vol_c, kind, index)
    ext = _extent(kind, bg.shape, spacing)
    aspect_hw = abs(ext[2] - ext[3]) / max(abs(ext[1] - ext[0]), 1e-9)
    fig = _figure(width_in, _panel_height(width_in, aspect_hw, len(mvols)))
    ax = fig.add_subplot()
    lo, hi = _grey_limits(vol)
    origin: Literal["upper", "lower"] = "upper" if _SLICE_AXES[kind][3] else "lower"
    ax.imshow(bg, cmap="gray", vmin=lo, vmax=hi, extent=ext, origin=origin,
              interpolation="nearest", aspect="equal")
    if ov is not None:
        o2 = _slice2d(ov[box], kind, index)
        shown = np.ma.masked_less(o2, OVERLAY_MIN_FRACTION * top)
        im = ax.imshow(shown, cmap=_OVERLAY_CMAP, vmin=0.0, vmax=top, alpha=_OVERLAY_ALPHA,
                       extent=ext, origin=origin, interpolation="nearest", aspect="equal")
        cb = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, fraction=0.05)
        cb.set_label(overlay_label)
    handles = _contours(ax, kind, [(name, _slice2d(m[box], kind, index)) for name, m in mvols],
                        spacing, colours)
    if mark_lps_mm is not None:
        mark = _lps_array_index(image, mark_lps_mm, "mark_lps_mm")
        if mark[axis] == index:
            h_axis, v_axis = _SLICE_AXES[kind][1]
            sp_of_axis = {2: spacing[0], 1: spacing[1], 0: spacing[2]}
            xy = [(mark[a] - (box[a].start or 0) + 0.5) * sp_of_axis[a] for a in (h_axis, v_axis)]
            ax.plot([xy[0]], [xy[1]], "o", ms=16, mfc="none", mec="white", mew=1.5)
            handles.append(Line2D([0], [0], ls="none", marker="o", mfc="none", mec="black",
                                  label="marked point"))
    _legend(fig, handles)
    _orientation_letters(ax, kind)
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    ax.set_title(title or f"{kind.capitalize()} slice {index} / {n - 1}")
    return _png(fig)


def mip_panel(
    image: Image,
    masks: Mapping[str, Image] | None = None,
    axis: SliceKind = "coronal",
    *,
    label: str = "",
    title: str | None = None,
    colours: Mapping[str, str] | None = None,
    crop_margin_mm: float | None = None,
    width_in: float = 6.0,
) -> bytes:
    """Maximum-intensity projection of an image along one patient axis, with the outlines of
    the masks' projections.

    Parameters
    ----------
    image : Image
        Shape (z, y, x).
    masks : mapping of str to Image, optional
        Boolean masks on the image grid; the contour of each mask's projection is drawn.
    axis : {"coronal", "axial", "sagittal"}
        The view: ``"coronal"`` projects along anterior-posterior.
    label : str
        Colour-bar label (unit of the image), e.g. ``"counts"``.
    title : str, optional
    colours : mapping of str to colour, optional
        Contour colour per mask name; default :data:`PALETTE` in order.
    crop_margin_mm : float, optional
        Show only the region around the masks plus this margin (mm); default everything.

    Returns
    -------
    bytes
        PNG.
    """
    if axis not in _SLICE_AXES:
        raise InputError(f"MIP axis {axis!r} is not one of {', '.join(_SLICE_AXES)}.")
    vol, spacing = _to_lps(image)
    vol = vol.astype(np.float64)
    if not np.all(np.isfinite(vol)):
        raise InputError("the image has NaN or infinite voxels; no MIP.")
    mvols = _prepare_masks(image, masks)
    a = _SLICE_AXES[axis][0]
    box = _crop_box(vol.shape, [m for _, m in mvols], spacing, crop_margin_mm, a)
    vol = vol[box]
    mvols = [(name, m[box]) for name, m in mvols]
    proj = np.expand_dims(vol.max(axis=a), a)
    p2 = _slice2d(proj, axis, 0)
    ext = _extent(axis, p2.shape, spacing)
    aspect_hw = abs(ext[2] - ext[3]) / max(abs(ext[1] - ext[0]), 1e-9)
    fig = _figure(width_in, _panel_height(width_in, aspect_hw, len(mvols)))
    ax = fig.add_subplot()
    origin: Literal["upper", "lower"] = "upper" if _SLICE_AXES[axis][3] else "lower"
    lo = float(p2.min())
    hi = float(np.percentile(p2, BACKGROUND_PERCENTILE))
    hi = hi if hi > lo else lo + 1.0
    im = ax.imshow(p2, cmap="gray_r", vmin=lo, vmax=hi, extent=ext, origin=origin,
                   interpolation="nearest", aspect="equal")
    cb = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, fraction=0.05)
    if label:
        cb.set_label(label)
    masks2d = [(name, _slice2d(np.expand_dims(m.any(axis=a), a), axis, 0)) for name, m in mvols]
    _legend(fig, _contours(ax, axis, masks2d, spacing, colours))
    left, right, top, bottom = _SLICE_AXES[axis][2]
    for x, y, t, ha, va in ((0.01, 0.5, left, "left", "center"), (0.99, 0.5, right, "right",
                            "center"), (0.5, 0.99, top, "center", "top"),
                           (0.5, 0.01, bottom, "center", "bottom")):
        ax.text(x, y, t, ha=ha, va=va, color="black", fontsize=11, fontweight="bold",
                transform=ax.transAxes)
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    ax.set_title(title or f"{axis.capitalize()} maximum-intensity projection")
    return _png(fig)


# =========================================================================== plots
def _ref_lines(refs: Sequence[float | tuple[float, str]]) -> list[tuple[float, str]]:
    out = []
    for r in refs:
        if isinstance(r, (tuple, list)):
            value, text = float(r[0]), str(r[1])
        else:
            value, text = float(r), f"{float(r):g} Gy"
        if not math.isfinite(value):
            raise InputError(f"reference line {r!r} is not a finite dose.")
        out.append((value, text))
    return out


def dvh_plot(
    dvhs: Mapping[str, DVH],
    reference_lines_gy: Sequence[float | tuple[float, str]] = (),
    *,
    title: str = "Cumulative dose-volume histograms",
    width_in: float = 8.0,
    height_in: float = 5.0,
) -> bytes:
    """Cumulative DVHs (volume % receiving at least the dose) of several regions.

    Parameters
    ----------
    dvhs : mapping of str to DVH
        Legend name -> DVH (:func:`netdose.dosimetry.dvh.dvh`); each curve is
        :meth:`DVH.curve` (exact V(x) at regular doses).
    reference_lines_gy : sequence of float or (float, str)
        Vertical dashed lines (e.g. constraints), a dose in Gy or ``(dose, label)``.

    Returns
    -------
    bytes
        PNG.
    """
    if not dvhs:
        raise InputError("dvh_plot needs at least one DVH.")
    refs = _ref_lines(reference_lines_gy)
    fig = _figure(width_in, height_in)
    ax = fig.add_subplot()
    xmax = 0.0
    for n, (name, h) in enumerate(dvhs.items()):
        if not isinstance(h, DVH):
            raise InputError(f"dvh_plot: {name!r} is not a DVH (netdose.dosimetry.dvh.dvh).")
        dose, vol = h.curve()
        ax.plot(dose, vol, color=PALETTE[n % len(PALETTE)], lw=1.6, label=str(name))
        xmax = max(xmax, float(dose[-1]))
    for value, text in refs:
        ax.axvline(value, color="black", ls=(0, (4, 3)), lw=1.0)
        # along the line, on its left, from the bottom: labels of nearby lines do not overlap
        ax.text(value, 1.0, f"{text} ", rotation=90, fontsize=7.5, ha="right", va="bottom",
                color="black", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7,
                                     "pad": 1.0})
        xmax = max(xmax, value * 1.05)
    ax.set_xlim(0.0, xmax if xmax > 0 else 1.0)
    ax.set_ylim(0.0, 102.0)
    ax.set_xlabel("Dose (Gy)")
    ax.set_ylabel("Volume receiving at least the dose (%)")
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title)
    return _png(fig)


def tac_plot(
    series: Sequence[Mapping[str, Any]],
    *,
    ylabel: str = "Activity (MBq)",
    xlabel: str = "Time after administration (h)",
    title: str = "Time-activity curves",
    log_y: bool = False,
    width_in: float = 8.0,
    height_in: float = 5.0,
) -> bytes:
    """Measured time-activity points with fitted curves and the shaded integration area.

    Parameters
    ----------
    series : sequence of mappings
        One per region, with keys ``name`` (str), ``times_h`` and ``values`` (the measured
        points, same length), optional ``fit_t`` (times, h) and ``fit_values`` (an array of
        the same length, or a callable of ``fit_t``), and optional ``shade`` (bool: fill the
        area under the fitted curve, i.e. the integral that gives the time-integrated
        activity).
    ylabel, xlabel, title : str
    log_y : bool
        Logarithmic activity axis.

    Returns
    -------
    bytes
        PNG.
    """
    if not series:
        raise InputError("tac_plot needs at least one series.")
    fig = _figure(width_in, height_in)
    ax = fig.add_subplot()
    for n, s in enumerate(series):
        try:
            name = str(s["name"])
            t = _finite(s["times_h"], f"tac_plot series {s['name']!r} times_h")
            v = _finite(s["values"], f"tac_plot series {s['name']!r} values")
        except KeyError as exc:
            raise InputError(f"tac_plot series {n} needs the key {exc}.") from None
        if t.shape != v.shape or t.ndim != 1:
            raise InputError(f"tac_plot series {name!r}: times_h and values must be 1-D of the "
                             f"same length; got {t.shape} and {v.shape}.")
        colour = PALETTE[n % len(PALETTE)]
        ax.plot(t, v, "o", color=colour, label=f"{name} (measured)")
        if s.get("fit_t") is not None:
            ft = _finite(s["fit_t"], f"tac_plot series {name!r} fit_t")
            raw = s.get("fit_values")
            if raw is None:
                raise InputError(f"tac_plot series {name!r}: fit_t given without fit_values.")
            fv = _finite(raw(ft) if callable(raw) else raw, f"tac_plot series {name!r} fit")
            if fv.shape != ft.shape:
                raise InputError(f"tac_plot series {name!r}: fit_values has shape {fv.shape}, "
                                 f"fit_t {ft.shape}.")
            ax.plot(ft, fv, "-", color=colour, lw=1.4, label=f"{name} (fit)")
            if s.get("shade"):
                ax.fill_between(ft, 0.0, fv, color=to_rgba(colour, 0.18), lw=0)
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0.0)
    ax.set_xlim(left=0.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title)
    return _png(fig)


def _thresholds(thresholds: Sequence[float]) -> tuple[float, float]:
    th = tuple(float(x) for x in thresholds)
    if len(th) != 2 or not (th[0] < 0 < th[1]):
        raise InputError("thresholds must be (decrease < 0, increase > 0) in %; got "
                         f"{thresholds!r}.")
    return th  # type: ignore[return-value]


def waterfall_plot(
    lesion_changes_pct: Mapping[str, float],
    thresholds: Sequence[float] = (-30.0, 20.0),
    *,
    title: str = "Best change from baseline per lesion",
    ylabel: str = "Change from baseline (%)",
    width_in: float = 8.0,
    height_in: float = 4.5,
) -> bytes:
    """Waterfall plot: one bar per lesion (or patient), sorted from the largest increase to
    the largest decrease, coloured by the thresholds (default RECIST 1.1: -30 % response,
    +20 % progression), with the thresholds as dashed lines.

    Returns
    -------
    bytes
        PNG.
    """
    if not lesion_changes_pct:
        raise InputError("waterfall_plot needs at least one lesion.")
    lo, hi = _thresholds(thresholds)
    items = [(str(k), float(v)) for k, v in lesion_changes_pct.items()]
    _finite([v for _, v in items], "waterfall_plot changes")
    items.sort(key=lambda kv: (-kv[1], kv[0]))
    values = [v for _, v in items]
    colours = ["#d62728" if v >= hi else "#2ca02c" if v <= lo else "#7f7f7f" for v in values]
    fig = _figure(width_in, height_in)
    ax = fig.add_subplot()
    x = np.arange(len(items))
    ax.bar(x, values, color=colours, edgecolor="black", lw=0.5)
    ax.axhline(0.0, color="black", lw=0.8)
    for t in (lo, hi):
        ax.axhline(t, color="black", ls=(0, (4, 3)), lw=0.9)
        ax.text(len(items) - 0.5, t, f" {t:+g} %", va="center", ha="left", fontsize=8)
    ax.set_xticks(x, [k for k, _ in items], rotation=60 if len(items) > 8 else 0, fontsize=8)
    ax.set_xlim(-0.6, len(items) - 0.4)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", color="#dddddd", lw=0.6)
    return _png(fig)


def spider_plot(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    thresholds: Sequence[float] = (-30.0, 20.0),
    xlabel: str = "Time from baseline (weeks)",
    ylabel: str = "Change from baseline (%)",
    title: str = "Change over time",
    width_in: float = 8.0,
    height_in: float = 4.5,
) -> bytes:
    """Spider plot: the change from baseline of each lesion (or patient) over time, with
    the response/progression thresholds as dashed lines.

    Parameters
    ----------
    series : mapping of str to (times, values)
        Name -> the times (x) and the changes in % (y), same length.

    Returns
    -------
    bytes
        PNG.
    """
    if not series:
        raise InputError("spider_plot needs at least one series.")
    lo, hi = _thresholds(thresholds)
    fig = _figure(width_in, height_in)
    ax = fig.add_subplot()
    for n, (name, pair) in enumerate(series.items()):
        try:
            times, values = pair
        except (TypeError, ValueError):
            raise InputError(f"spider_plot series {name!r} must be (times, values).") from None
        t = _finite(times, f"spider_plot series {name!r} times")
        v = _finite(values, f"spider_plot series {name!r} values")
        if t.shape != v.shape or t.ndim != 1:
            raise InputError(f"spider_plot series {name!r}: times and values must be 1-D of "
                             f"the same length; got {t.shape} and {v.shape}.")
        ax.plot(t, v, "-o", color=PALETTE[n % len(PALETTE)], lw=1.4, ms=4, label=str(name))
    ax.axhline(0.0, color="black", lw=0.8)
    for t_ in (lo, hi):
        ax.axhline(t_, color="black", ls=(0, (4, 3)), lw=0.9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return _png(fig)


#: Type of a fitted curve accepted by :func:`tac_plot`.
FitCurve = Callable[[np.ndarray], np.ndarray]
