"""Dose-volume histograms (DVH) of a region of a dose map, exact on the voxels.

A DVH here is the **cumulative** DVH of the voxels of one mask, each voxel counting with its
volume (optionally weighted by its partial-volume coverage fraction). The metrics are computed
exactly from the sorted voxel doses, not from a binned histogram:

- ``V(x)`` = percentage of the region's volume whose dose is **≥ x** Gy (inclusive). It is a
  step function of x: no interpolation between voxels. ``V(x) = 100`` for x ≤ min dose and
  ``V(x) = 0`` for x > max dose.
- ``D(p)`` = the **minimum dose to the hottest p % of the volume**: sort the voxels from the
  hottest down, take the smallest set of hottest voxels whose volume reaches p % of the
  region, and report the lowest dose in that set. Equivalently, D(p) is the largest dose x
  with V(x) ≥ p, so ``V(D(p)) ≥ p`` always holds. D70 is the dose that (at least) 70 % of the
  volume receives. ``D(0)`` = max, ``D(100)`` = min. No interpolation between voxels: D(p) is
  always the dose of an actual voxel: for a linear dose ramp sampled at voxel centres it is
  the centre dose of the voxel layer that holds the analytic p-quantile, so it differs from
  the continuous (analytic) value by at most half the dose step between neighbouring voxel
  layers (tested).
- A relative tolerance of :data:`VOLUME_RTOL` is allowed when comparing cumulative volumes
  with p % of the total, so that e.g. 7 voxels of 10 count as reaching 70 % despite rounding.

The binned curve (:meth:`DVH.curve`) is for plots and CSV: it is V(x) evaluated **exactly**
at regularly spaced doses 0, w, 2w, ... (w = ``bin_width_gy``), so it agrees with the
metrics at every point it lists.

Grid mismatches raise :class:`~netdose.errors.GeometryError`; an empty mask, NaN doses or
bad fractions raise :class:`~netdose.errors.InputError` naming the mask.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netdose.errors import InputError
from netdose.image import Image
from netdose.io.atomic import atomic_write_text
from netdose.units import KG_PER_G

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_D_PERCENTS",
    "DEFAULT_V_DOSES_GY",
    "DVH",
    "MAX_CURVE_POINTS",
    "VOLUME_RTOL",
    "dvh",
    "dvh_table",
]

#: Dx reported by :meth:`DVH.summary` by default (percent of volume): D2 (near-maximum,
#: ICRU Report 83), D50 (median), D70, D90, D95.
DEFAULT_D_PERCENTS: tuple[float, ...] = (2.0, 50.0, 70.0, 90.0, 95.0)
#: Vx reported by :meth:`DVH.summary` by default (Gy): V100, V120, V150 -- the dose levels
#: used for SIRT tumour and normal-liver coverage; pass others to ``summary``.
DEFAULT_V_DOSES_GY: tuple[float, ...] = (100.0, 120.0, 150.0)
#: Default number of bins of :meth:`DVH.curve` when no bin width is given (the width is the
#: smallest "nice" number 1, 2 or 5 x 10^k giving at most this many bins up to the maximum).
MAX_CURVE_POINTS: int = 1000
#: Relative tolerance on cumulative volume when finding Dx (rounding of sums of weights).
VOLUME_RTOL: float = 1.0e-12
#: Columns of :meth:`DVH.to_csv_rows` / :meth:`DVH.write_csv`.
CSV_COLUMNS: tuple[str, str, str] = ("dose_gy", "volume_pct", "volume_ml")

_D_CONVENTION = (
    "D(p): minimum dose to the hottest p % of the volume = dose of the voxel at which the "
    "cumulative volume of the voxels sorted hottest-first first reaches p % (relative "
    f"tolerance {VOLUME_RTOL:g}); no interpolation"
)
_V_CONVENTION = "V(x): percentage of volume with dose >= x Gy (inclusive); no interpolation"


#: Below this maximum dose (Gy) the curve uses the default 1 Gy bins (see _nice_width).
_MIN_BINNED_DOSE_GY: float = 1.0e-12


def _nice_width(max_dose: float, n: int = MAX_CURVE_POINTS) -> float:
    """Smallest width 1, 2 or 5 x 10^k with max_dose / width <= n (1 Gy if max <= 0).

    Maxima below :data:`_MIN_BINNED_DOSE_GY` (no physical meaning; 1e-300 would underflow
    the width) get the 1 Gy default too: only the plotted curve is binned, Dx/Vx are exact.
    """
    if not max_dose > _MIN_BINNED_DOSE_GY:
        return 1.0
    raw = max_dose / n
    k = math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        w = m * 10.0**k
        if w >= raw * (1.0 - 1e-12):
            return w
    return 10.0 ** (k + 1)  # pragma: no cover - the loop always returns


@dataclasses.dataclass(frozen=True, eq=False)
class DVH:
    """Cumulative dose-volume histogram of one region, exact on its voxels.

    Build it with :func:`dvh`. Doses are in Gy, volumes in mL, percentages of the region's
    volume in %.

    Attributes
    ----------
    name : str
        The region (mask) name.
    doses_gy : numpy.ndarray, shape (n,)
        Voxel doses sorted from the hottest down (float64, read-only).
    weights : numpy.ndarray, shape (n,)
        Each voxel's weight (1, or its coverage fraction in (0, 1]) in the same order.
    voxel_volume_ml : float
        Volume of one voxel, mL.
    volume_ml : float
        Region volume: sum of weights x voxel volume, mL.
    mass_kg : float or None
        Region mass when a density was given (sum of weight x voxel volume x density), kg.
    mean_gy, min_gy, max_gy : float
        Weighted mean, minimum and maximum voxel dose, Gy.
    bin_width_gy : float
        Spacing of the doses of :meth:`curve`, Gy.
    constants : dict
        Conventions and parameters used (recorded in reports).
    """

    name: str
    doses_gy: np.ndarray
    weights: np.ndarray
    voxel_volume_ml: float
    volume_ml: float
    mass_kg: float | None
    mean_gy: float
    min_gy: float
    max_gy: float
    bin_width_gy: float
    constants: dict[str, Any]
    _cum_weight: np.ndarray = dataclasses.field(repr=False)

    # ------------------------------------------------------------------ metrics
    @property
    def n_voxels(self) -> int:
        """Number of voxels in the region (weight > 0)."""
        return int(self.doses_gy.size)

    def d(self, percent: float) -> float:
        """Dx: minimum dose (Gy) to the hottest ``percent`` % of the volume.

        Parameters
        ----------
        percent : float
            In [0, 100]. ``d(0)`` is the maximum dose, ``d(100)`` the minimum.

        Returns
        -------
        float
            The dose of an actual voxel (no interpolation); ``v(d(p)) >= p``.
        """
        p = float(percent)
        if not (math.isfinite(p) and 0.0 <= p <= 100.0):
            raise InputError(f"DVH {self.name!r}: Dx needs a percentage in [0, 100]; got {percent!r}.")
        total = float(self._cum_weight[-1])
        target = p / 100.0 * total * (1.0 - VOLUME_RTOL)
        k = int(np.searchsorted(self._cum_weight, target, side="left"))
        k = min(max(k, 0), self.n_voxels - 1)
        return float(self.doses_gy[k])

    def v(self, dose_gy: float) -> float:
        """Vx: percentage (0-100) of the region's volume receiving at least ``dose_gy`` Gy."""
        x = float(dose_gy)
        if math.isnan(x):
            raise InputError(f"DVH {self.name!r}: Vx needs a dose in Gy; got NaN.")
        # doses_gy is descending: count voxels with dose >= x.
        n = int(np.searchsorted(-self.doses_gy, -x, side="right"))
        if n == 0:
            return 0.0
        return float(100.0 * self._cum_weight[n - 1] / self._cum_weight[-1])

    def v_ml(self, dose_gy: float) -> float:
        """Volume (mL) receiving at least ``dose_gy`` Gy."""
        return self.v(dose_gy) / 100.0 * self.volume_ml

    # ------------------------------------------------------------------ curve
    def curve(self, bin_width_gy: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The cumulative DVH at regularly spaced doses, for plots and CSV.

        Parameters
        ----------
        bin_width_gy : float, optional
            Dose spacing in Gy (> 0); default :attr:`bin_width_gy`.

        Returns
        -------
        dose_gy : numpy.ndarray, shape (m,)
            0, w, 2w, ... up to the first multiple of w above the maximum dose.
        volume_pct : numpy.ndarray, shape (m,)
            V(dose) in %, exact at each listed dose (non-increasing, 100 at 0 Gy when all
            doses are >= 0, 0 at the last point).
        """
        w = self.bin_width_gy if bin_width_gy is None else float(bin_width_gy)
        if not (math.isfinite(w) and w > 0.0):
            raise InputError(f"DVH {self.name!r}: bin_width_gy must be > 0; got {bin_width_gy!r}.")
        top = max(self.max_gy, 0.0)
        start = min(0.0, math.floor(self.min_gy / w) * w)
        m = math.floor((top - start) / w) + 2
        if m > 10_000_000:
            raise InputError(
                f"DVH {self.name!r}: bin width {w:g} Gy gives {m} points from {start:g} to "
                f"{top:g} Gy; use a larger bin_width_gy."
            )
        dose = start + w * np.arange(m, dtype=np.float64)
        n = np.searchsorted(-self.doses_gy, -dose, side="right")
        cum = np.concatenate([[0.0], self._cum_weight])
        vol = 100.0 * cum[n] / self._cum_weight[-1]
        return dose, vol

    # ------------------------------------------------------------------ reporting
    def summary(
        self,
        d_percents: Iterable[float] = DEFAULT_D_PERCENTS,
        v_doses_gy: Iterable[float] = DEFAULT_V_DOSES_GY,
    ) -> dict[str, Any]:
        """JSON-ready summary: volume, mass, mean/min/max and the requested Dx and Vx.

        Keys: ``name``, ``n_voxels``, ``volume_ml``, ``mass_kg``, ``mean_gy``, ``min_gy``,
        ``max_gy``, ``D{p}_gy`` for each p (e.g. ``D70_gy``, ``D2_gy``), ``V{x}_pct`` for each
        x (e.g. ``V100_pct``), and ``constants`` (the conventions).
        """
        out: dict[str, Any] = {
            "name": self.name,
            "n_voxels": self.n_voxels,
            "volume_ml": self.volume_ml,
            "mass_kg": self.mass_kg,
            "mean_gy": self.mean_gy,
            "min_gy": self.min_gy,
            "max_gy": self.max_gy,
        }
        for p in d_percents:
            out[f"D{_fmt_key(p)}_gy"] = self.d(p)
        for x in v_doses_gy:
            out[f"V{_fmt_key(x)}_pct"] = self.v(x)
        out["constants"] = dict(self.constants)
        return out

    def to_csv_rows(self, bin_width_gy: float | None = None) -> list[tuple[str, str, str]]:
        """The binned curve as CSV rows (strings), header first: :data:`CSV_COLUMNS`.

        Numbers are written with 10 significant digits (``format(x, '.10g')``), so the same
        DVH always gives the same bytes.
        """
        dose, pct = self.curve(bin_width_gy)
        rows: list[tuple[str, str, str]] = [CSV_COLUMNS]
        for x, p in zip(dose, pct):
            rows.append((format(float(x), ".10g"), format(float(p), ".10g"),
                         format(float(p) / 100.0 * self.volume_ml, ".10g")))
        return rows

    def write_csv(self, path: str | os.PathLike[str], bin_width_gy: float | None = None) -> Path:
        """Write :meth:`to_csv_rows` to ``path`` atomically (netdose.io.atomic); return it."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerows(self.to_csv_rows(bin_width_gy))
        return atomic_write_text(path, buf.getvalue())


def _fmt_key(x: float) -> str:
    """'70' for 70.0, '99.5' for 99.5 (dictionary keys of the summary)."""
    xf = float(x)
    return str(int(xf)) if xf.is_integer() else format(xf, "g")


def _region_weights(
    mask: Image, fraction: Image | None, dose_gy: Image, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the region's voxels and their weights."""
    dose_gy.require_same_grid(mask, "the dose map", f"mask {name!r}")
    m = np.asarray(mask.array)
    if m.dtype != np.bool_:
        if np.issubdtype(m.dtype, np.integer) and np.isin(np.unique(m), (0, 1)).all():
            m = m.astype(bool)
        else:
            raise InputError(
                f"mask {name!r} must be boolean (or 0/1); got dtype {m.dtype}. Threshold a "
                "fraction map explicitly and pass it as fraction=."
            )
    if fraction is None:
        idx = np.flatnonzero(m)
        if idx.size == 0:
            raise InputError(
                f"mask {name!r} is empty (0 voxels on the dose grid): no DVH. Check that the "
                "mask belongs to this dose map and was carried onto its grid."
            )
        return idx, np.ones(idx.size, dtype=np.float64)
    dose_gy.require_same_grid(fraction, "the dose map", f"the fraction map of {name!r}")
    f = np.asarray(fraction.array, dtype=np.float64)
    if not np.all(np.isfinite(f)) or f.min() < 0.0 or f.max() > 1.0 + 1e-6:
        raise InputError(
            f"the fraction map of {name!r} must hold finite coverage fractions in [0, 1]; got "
            f"values from {np.nanmin(f):.6g} to {np.nanmax(f):.6g}."
        )
    if np.any(m & (f <= 0.0)):
        n_bad = int(np.count_nonzero(m & (f <= 0.0)))
        raise InputError(
            f"mask {name!r} has {n_bad} voxel(s) with coverage fraction 0: the mask and the "
            "fraction map do not belong together (use NamedMask.mask with NamedMask.fraction)."
        )
    idx = np.flatnonzero(f > 0.0)
    if idx.size == 0:
        raise InputError(f"the fraction map of {name!r} is 0 everywhere: no DVH.")
    return idx, np.minimum(f.ravel()[idx], 1.0)


def dvh(
    dose_gy: Image,
    mask: Image,
    *,
    fraction: Image | None = None,
    bin_width_gy: float | None = None,
    density_g_cm3: float | Image | None = None,
    name: str | None = None,
) -> DVH:
    """Cumulative DVH of the voxels of a mask, exact on the voxels.

    Parameters
    ----------
    dose_gy : Image
        Absorbed dose in Gy, shape (z, y, x). Any NaN or infinite voxel raises InputError.
    mask : Image
        Boolean (or 0/1) mask on the dose grid, shape (z, y, x).
    fraction : Image, optional
        Partial-volume coverage fractions (0..1) on the dose grid, e.g.
        :attr:`netdose.io.masks.NamedMask.fraction`. When given, the region is every voxel
        with fraction > 0, each weighted by its fraction (so that ``volume_ml`` is the native
        mask volume); every voxel of ``mask`` must have fraction > 0.
    bin_width_gy : float, optional
        Dose spacing of :meth:`DVH.curve` (Gy, > 0). Default: the smallest 1/2/5 x 10^k
        giving at most :data:`MAX_CURVE_POINTS` points up to the maximum dose.
    density_g_cm3 : float or Image, optional
        Mass density (g/cm3; a number or a map on the dose grid) to report ``mass_kg``. The
        DVH itself is volume-based either way.
    name : str, optional
        Region name for messages and reports; default ``mask.meta["mask_name"]`` or "mask".

    Returns
    -------
    DVH

    Raises
    ------
    GeometryError
        ``mask``, ``fraction`` or a density map not on the dose grid.
    InputError
        Empty mask, NaN/infinite dose, non-boolean mask, fractions outside [0, 1] or
        inconsistent with the mask, bad density or bin width.
    """
    label = name if name is not None else str(mask.meta.get("mask_name", "mask"))
    dose_gy.require_finite(f"the dose map (DVH of {label!r})")
    idx, w = _region_weights(mask, fraction, dose_gy, label)
    d = np.asarray(dose_gy.array, dtype=np.float64).ravel()[idx]
    order = np.argsort(-d, kind="stable")
    d_sorted = np.ascontiguousarray(d[order])
    w_sorted = np.ascontiguousarray(w[order])
    cum = np.cumsum(w_sorted)
    total_w = float(cum[-1])
    v_ml = dose_gy.voxel_volume_ml
    mass_kg: float | None = None
    if density_g_cm3 is not None:
        if isinstance(density_g_cm3, Image):
            dose_gy.require_same_grid(density_g_cm3, "the dose map", "the density map")
            rho = np.asarray(density_g_cm3.array, dtype=np.float64).ravel()[idx]
        else:
            rho = np.full(idx.size, float(density_g_cm3))
        if not np.all(np.isfinite(rho)) or np.any(rho <= 0.0):
            raise InputError(
                f"density for the DVH of {label!r} must be finite and > 0 g/cm3 in the region."
            )
        mass_kg = float(np.sum(w * rho) * v_ml * KG_PER_G)
    max_gy = float(d_sorted[0])
    width = _nice_width(max_gy) if bin_width_gy is None else float(bin_width_gy)
    if not (math.isfinite(width) and width > 0.0):
        raise InputError(f"DVH {label!r}: bin_width_gy must be > 0; got {bin_width_gy!r}.")
    for arr in (d_sorted, w_sorted, cum):
        arr.flags.writeable = False
    return DVH(
        name=label,
        doses_gy=d_sorted,
        weights=w_sorted,
        voxel_volume_ml=v_ml,
        volume_ml=total_w * v_ml,
        mass_kg=mass_kg,
        mean_gy=float(np.dot(w_sorted, d_sorted) / total_w),
        min_gy=float(d_sorted[-1]),
        max_gy=max_gy,
        bin_width_gy=width,
        constants={
            "dx_convention": _D_CONVENTION,
            "vx_convention": _V_CONVENTION,
            "volume_rtol": VOLUME_RTOL,
            "weighting": "coverage fraction" if fraction is not None else "whole voxels",
            "bin_width_gy": width,
        },
        _cum_weight=cum,
    )


def dvh_table(dvhs: Sequence[DVH], **summary_kwargs: Any) -> list[dict[str, Any]]:
    """Summaries of several DVHs (one dict per region, same keys), for reports."""
    return [h.summary(**summary_kwargs) for h in dvhs]
