"""Voxel time-integrated activity maps: a mono-exponential fit per voxel (Numba), and the
VOI-shape-scaled method.

:func:`fit_voxels` — input: activity-concentration maps A_i(z, y, x) in Bq/mL at times t_i
(h after injection), all on one grid. Per voxel, the same model, weights and bound as
:func:`netdose.dosimetry.tac.fit_model` with ``model="mono"``:

- model A(t) = A0·exp(−λt) with λ >= λ_phys (the physical-decay bound, enforced in the fit);
- weighted least squares on the linear-scale residuals (A0 e^{−λ t_i} − A_i)/σ_i with
  σ_i = max(A_i, 0.01·max A) (relative weights, :data:`~netdose.dosimetry.tac.SIGMA_FLOOR_FRACTION`);
- start: log-linear least squares (ln A_i on t_i, equal weights — the relative-weight fit
  to first order), λ raised to λ_phys if slower, A0 solved exactly for that λ;
- then Levenberg–Marquardt steps (2 × 2 damped normal equations) until the relative step is
  below 1e-12 (at most ``max_iterations``); a step that would make λ < λ_phys is projected
  onto the bound and A0 is solved exactly there; at the bound the fit stops when the gradient
  points further below it (the constrained optimum);
- TIA = A0/λ: the fit integrated from injection (extrapolated back to t = 0, as the fitted
  models of :mod:`netdose.dosimetry.tac`) to infinity.

Fallback (documented rule): a voxel with any sample <= 0 (but not all), or whose fit does not
converge, gets the trapezoid TIA of :func:`netdose.dosimetry.tac.trapezoid_tia` with
``start="zero", tail="physical"`` (0 at injection, linear to the first sample, trapezoids,
physical decay after the last sample), negative samples counted as 0. A voxel with every
sample <= 0 has TIA 0.

Output: TIA concentration in **Bq·s/mL** (``tia_bq_s_ml``, float32 — the
``"tia_bq_s_ml"`` quantity of :func:`netdose.dosimetry.absorbed_dose`), the effective
half-life map (h, float32; NaN where TIA is 0), A0 (Bq/mL) and a status map (uint8,
:data:`STATUS`).

:func:`voi_scaled_tia` — the VOI-shape-scaled method: the organ's TIA (e.g. from
:func:`netdose.dosimetry.tac.fit_tac`) distributed over its voxels in proportion to the
activity of one reference scan: TIA_v = TIA_VOI · A_v(t_ref) / Σ_VOI A(t_ref).

Kernels are stumpy-style: :func:`fit_voxels` validates and prepares; ``_fit_all``
(``@njit(parallel=True)``) splits the voxels into chunks over threads; ``_fit_chunk``
(serial ``@njit``) fits one chunk. Threads write disjoint slices of the outputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit, prange

from netdose.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS, thread_count
from netdose.dosimetry.tac import SIGMA_FLOOR_FRACTION, TacFit, TacSelection
from netdose.errors import GeometryError, InputError
from netdose.image import Image
from netdose.units import BQ_PER_MBQ, LN2, S_PER_H

__all__ = [
    "STATUS",
    "STATUS_FIT",
    "STATUS_FIT_PHYSICAL",
    "STATUS_NOT_CONVERGED",
    "STATUS_TRAPEZOID",
    "STATUS_ZERO",
    "VoxelTiaResult",
    "fit_voxels",
    "voi_scaled_tia",
]

#: Mono-exponential fit, λ above the physical-decay bound.
STATUS_FIT: int = 0
#: Mono-exponential fit ending on the bound λ = λ_phys (slower-than-physical samples).
STATUS_FIT_PHYSICAL: int = 1
#: Some sample <= 0: trapezoid from (0, 0) + physical-decay tail.
STATUS_TRAPEZOID: int = 2
#: Every sample <= 0: TIA 0.
STATUS_ZERO: int = 3
#: The fit did not converge in ``max_iterations``: trapezoid + physical tail.
STATUS_NOT_CONVERGED: int = 4
#: Meaning of each status value.
STATUS: dict[int, str] = {
    STATUS_FIT: "mono-exponential fit",
    STATUS_FIT_PHYSICAL: "mono-exponential fit on the physical-decay bound",
    STATUS_TRAPEZOID: "a sample <= 0: trapezoid from (0, 0) + physical tail",
    STATUS_ZERO: "every sample <= 0: TIA 0",
    STATUS_NOT_CONVERGED: "fit did not converge: trapezoid + physical tail",
}

_STEP_RTOL = 1.0e-12
_MU_MAX = 1.0e12


# =========================================================================== kernels
@njit(**NUMBA_FLAGS)
def _amplitude(t, y, w, lam):  # pragma: no cover - compiled (see the .py_func test)
    """Best A0 >= 0 for a fixed λ (weighted linear least squares) and its cost."""
    sey = 0.0
    see = 0.0
    syy = 0.0
    for k in range(t.shape[0]):
        e = math.exp(-lam * t[k])
        sey += w[k] * e * y[k]
        see += w[k] * e * e
        syy += w[k] * y[k] * y[k]
    a0 = sey / see if see > 0.0 else 0.0
    a0 = max(a0, 0.0)
    return a0, syy - 2.0 * a0 * sey + a0 * a0 * see


@njit(**NUMBA_FLAGS)
def _cost(t, y, w, a0, lam):  # pragma: no cover - compiled (see the .py_func test)
    c = 0.0
    for k in range(t.shape[0]):
        r = a0 * math.exp(-lam * t[k]) - y[k]
        c += w[k] * r * r
    return c


@njit(**NUMBA_FLAGS)
def _trapezoid_physical(t, y, lam_p):  # pragma: no cover - compiled (see the .py_func test)
    """TIA (Bq·h/mL) from (0, 0), trapezoids through max(y, 0), physical tail."""
    prev_t = 0.0
    prev_y = 0.0
    total = 0.0
    for k in range(t.shape[0]):
        yk = max(0.0, y[k])
        total += 0.5 * (prev_y + yk) * (t[k] - prev_t)
        prev_t = t[k]
        prev_y = yk
    return total + prev_y / lam_p


@njit(**NUMBA_FLAGS)
def _fit_one(t, y, w, lam_p, max_iter):  # pragma: no cover - compiled (see the .py_func test)
    """Bounded weighted mono-exponential fit of one voxel: (A0, λ, converged, on_bound)."""
    n = t.shape[0]
    # log-linear start (equal weights on ln y)
    st = 0.0
    sl = 0.0
    stt = 0.0
    stl = 0.0
    for k in range(n):
        lk = math.log(y[k])
        st += t[k]
        sl += lk
        stt += t[k] * t[k]
        stl += t[k] * lk
    den = n * stt - st * st
    lam = -(n * stl - st * sl) / den if den > 0.0 else lam_p
    if not (lam > lam_p):
        lam = lam_p
    a0, cost = _amplitude(t, y, w, lam)
    mu = 1.0e-3
    for _ in range(max_iter):
        h00 = 0.0
        h01 = 0.0
        h11 = 0.0
        g0 = 0.0
        g1 = 0.0
        s01 = 0.0
        s11 = 0.0
        for k in range(n):
            e = math.exp(-lam * t[k])
            r = a0 * e - y[k]
            j1 = -t[k] * a0 * e
            h00 += w[k] * e * e
            h01 += w[k] * e * j1
            h11 += w[k] * j1 * j1
            g0 += w[k] * e * r
            g1 += w[k] * j1 * r
            s01 -= w[k] * r * t[k] * e
            s11 += w[k] * r * t[k] * t[k] * a0 * e
        if lam <= lam_p and g1 >= 0.0:
            return a0, lam, True, True  # constrained optimum on the bound
        # Newton (full Hessian, quadratic convergence) where it is positive definite,
        # Gauss-Newton otherwise
        if h11 + s11 > 0.0 and h00 * (h11 + s11) - (h01 + s01) ** 2 > 0.0:
            h01 += s01
            h11 += s11
        while True:
            d00 = h00 * (1.0 + mu)
            d11 = h11 * (1.0 + mu)
            det = d00 * d11 - h01 * h01
            if det <= 0.0:
                mu *= 10.0
                if mu > _MU_MAX:
                    return a0, lam, True, lam <= lam_p
                continue
            da = (-g0 * d11 + g1 * h01) / det
            dl = (-g1 * d00 + g0 * h01) / det
            a_new = a0 + da
            l_new = lam + dl
            if l_new <= lam_p:
                l_new = lam_p
                a_new, c_new = _amplitude(t, y, w, l_new)
            elif a_new < 0.0:
                a_new, c_new = _amplitude(t, y, w, l_new)
            else:
                c_new = _cost(t, y, w, a_new, l_new)
            if c_new <= cost:
                step = abs(l_new - lam) / lam + abs(a_new - a0) / (a0 if a0 > 0.0 else 1.0)
                a0 = a_new
                lam = l_new
                cost = c_new
                mu = max(mu * 0.3, 1.0e-12)
                if step < _STEP_RTOL:
                    return a0, lam, True, lam <= lam_p
                break
            mu *= 10.0
            if mu > _MU_MAX:
                # no descent left at rounding level: the current point is the minimum
                return a0, lam, True, lam <= lam_p
    return a0, lam, False, lam <= lam_p


@njit(**NUMBA_FLAGS)
def _fit_chunk(
    act, t, lam_p, floor_frac, max_iter, v0, v1, tia, thalf, amp, status
):  # pragma: no cover - compiled (see the .py_func test)
    """Fit voxels v0..v1-1 of ``act`` (n_t, n_vox); write TIA (Bq·h/mL), T_eff, A0, status."""
    n = t.shape[0]
    y = np.empty(n)
    w = np.empty(n)
    for v in range(v0, v1):
        ymax = 0.0
        n_pos = 0
        for k in range(n):
            y[k] = act[k, v]
            if y[k] > 0.0:
                n_pos += 1
                ymax = max(ymax, y[k])
        if n_pos == 0:
            tia[v] = 0.0
            thalf[v] = np.nan
            amp[v] = 0.0
            status[v] = 3
            continue
        if n_pos < n:
            tia[v] = _trapezoid_physical(t, y, lam_p)
            thalf[v] = LN2 / lam_p
            amp[v] = np.nan
            status[v] = 2
            continue
        floor = floor_frac * ymax
        for k in range(n):
            s = max(floor, y[k])
            w[k] = 1.0 / (s * s)
        a0, lam, ok, on_bound = _fit_one(t, y, w, lam_p, max_iter)
        if not ok or not (a0 >= 0.0) or not (lam >= lam_p) or not math.isfinite(a0 / lam):
            tia[v] = _trapezoid_physical(t, y, lam_p)
            thalf[v] = LN2 / lam_p
            amp[v] = np.nan
            status[v] = 4
            continue
        tia[v] = a0 / lam
        thalf[v] = LN2 / lam
        amp[v] = a0
        status[v] = 1 if on_bound else 0


@njit(**NUMBA_PARALLEL_FLAGS)
def _fit_all(
    act, t, lam_p, floor_frac, max_iter, edges, tia, thalf, amp, status
):  # pragma: no cover - compiled (see the .py_func test)
    """Split the voxels into ``len(edges) - 1`` chunks over the Numba threads."""
    for c in prange(edges.shape[0] - 1):
        _fit_chunk(act, t, lam_p, floor_frac, max_iter, edges[c], edges[c + 1], tia, thalf, amp,
                   status)


# =========================================================================== public API
@dataclasses.dataclass(frozen=True, eq=False)
class VoxelTiaResult:
    """Per-voxel TIA map from :func:`fit_voxels`.

    Attributes
    ----------
    tia_bq_s_ml : numpy.ndarray, shape (z, y, x), float32
        Time-integrated activity concentration, Bq·s/mL.
    effective_half_life_h : numpy.ndarray, shape (z, y, x), float32
        ln 2 / λ of the fit, h; the physical half-life for trapezoid voxels; NaN where the
        TIA is 0.
    a0_bq_ml : numpy.ndarray, shape (z, y, x), float32
        Fitted activity concentration at injection, Bq/mL (NaN for trapezoid voxels, 0 for
        all-zero voxels).
    status : numpy.ndarray, shape (z, y, x), uint8
        :data:`STATUS` code of each voxel.
    status_counts : dict of str to int
        Number of voxels per status (by meaning).
    times_h : tuple of float
    physical_half_life_h : float
    n_negative_samples : int
        Samples < 0 in the input (counted as 0 in trapezoids).
    reference : Image or None
        Grid of the input images (when images were given): :meth:`images` uses it.
    notes : tuple of str
    """

    tia_bq_s_ml: np.ndarray
    effective_half_life_h: np.ndarray
    a0_bq_ml: np.ndarray
    status: np.ndarray
    status_counts: dict[str, int]
    times_h: tuple[float, ...]
    physical_half_life_h: float
    n_negative_samples: int
    reference: Image | None = None
    notes: tuple[str, ...] = ()

    def images(self, reference: Image | None = None) -> dict[str, Image]:
        """The maps as Images on the input grid (``reference`` if no image grid is stored)."""
        ref = reference if reference is not None else self.reference
        if ref is None:
            raise InputError(
                "no grid known for these maps: pass reference=<an Image on the activity grid>."
            )
        if ref.shape != self.tia_bq_s_ml.shape:
            raise GeometryError(
                f"reference grid {ref.shape} (z, y, x) does not match the maps "
                f"{self.tia_bq_s_ml.shape}."
            )
        return {
            "tia_bq_s_ml": ref.with_array(self.tia_bq_s_ml, meta={"quantity": "tia_bq_s_ml"}),
            "effective_half_life_h": ref.with_array(self.effective_half_life_h, meta={}),
            "a0_bq_ml": ref.with_array(self.a0_bq_ml, meta={}),
            "status": ref.with_array(self.status, meta={}),
        }

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "times_h": list(self.times_h),
            "physical_half_life_h": self.physical_half_life_h,
            "status_counts": dict(self.status_counts),
            "n_negative_samples": self.n_negative_samples,
            "tia_unit": "Bq*s/mL",
            "notes": list(self.notes),
        }


def _stack(
    activity_bq_ml: np.ndarray | Sequence[Image], name: str
) -> tuple[np.ndarray, Image | None]:
    if isinstance(activity_bq_ml, np.ndarray):
        arr = activity_bq_ml
        ref = None
        if arr.ndim != 4:
            raise InputError(
                f"{name} must be a 4-D array (n_time, z, y, x); got shape {arr.shape}. Stack "
                "the maps with np.stack(maps) or pass a list of Images."
            )
    else:
        images = list(activity_bq_ml)
        if not images or not all(isinstance(im, Image) for im in images):
            raise InputError(
                f"{name} must be a 4-D array (n_time, z, y, x) or a sequence of Images."
            )
        ref = images[0]
        for i, im in enumerate(images[1:], start=1):
            ref.require_same_grid(im, f"{name}[0]", f"{name}[{i}]")
        arr = np.stack([np.asarray(im.array) for im in images])
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"{name} must hold real numbers (Bq/mL); got dtype {arr.dtype}.")
    return np.ascontiguousarray(arr, dtype=np.float32), ref


def fit_voxels(
    activity_bq_ml: np.ndarray | Sequence[Image],
    times_h: Sequence[float] | np.ndarray,
    *,
    physical_half_life_h: float,
    max_iterations: int = 50,
    n_chunks: int | None = None,
    name: str = "activity maps",
) -> VoxelTiaResult:
    """Per-voxel mono-exponential TIA map (module docstring for the method).

    Parameters
    ----------
    activity_bq_ml : numpy.ndarray, shape (n_time, z, y, x), or sequence of Image
        Activity concentration maps, Bq/mL, one per time point, on one grid (converted to
        float32). Negative voxels (reconstruction noise) are allowed and handled by the
        fallback rule; NaN or infinite voxels are refused.
    times_h : sequence of float, shape (n_time,)
        Scan times, hours after injection (>= 0, strictly increasing, n_time >= 2).
    physical_half_life_h : float
        Physical half-life of the nuclide, h (``get_nuclide("Lu-177").half_life_h``).
    max_iterations : int
        Levenberg-Marquardt iterations per voxel (>= 1).
    n_chunks : int, optional
        Work chunks (default 16 per thread).
    name : str
        Name of the input in messages.

    Returns
    -------
    VoxelTiaResult

    Raises
    ------
    InputError
        Wrong shapes, non-finite voxels, bad times or half-life.
    GeometryError
        Images on different grids.
    """
    act, ref = _stack(activity_bq_ml, name)
    n_t = act.shape[0]
    try:
        t = np.asarray(times_h, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"times_h must be numbers (h); got {times_h!r}.") from exc
    if t.ndim != 1 or t.size != n_t:
        raise InputError(
            f"times_h has {t.size} values but {name} has {n_t} time points; give one time "
            "per map."
        )
    if n_t < 2:
        raise InputError(f"{name} has {n_t} time point(s); a fit needs at least 2 (for one scan "
                         "use netdose.dosimetry.stp or voi_scaled_tia).")
    if not np.isfinite(t).all() or (t < 0).any():
        raise InputError(f"times_h = {t.tolist()} must be finite hours after injection (>= 0).")
    if (np.diff(t) <= 0).any():
        raise InputError(
            f"times_h = {t.tolist()} must be strictly increasing (no duplicates); sort the maps "
            "by time."
        )
    if isinstance(physical_half_life_h, bool) or not isinstance(physical_half_life_h,
                                                                 (int, float)):
        raise InputError(f"physical_half_life_h = {physical_half_life_h!r} is not a number (h).")
    if not (math.isfinite(physical_half_life_h) and physical_half_life_h > 0):
        raise InputError(f"physical_half_life_h = {physical_half_life_h!r} h must be > 0.")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or \
            max_iterations < 1:
        raise InputError(f"max_iterations = {max_iterations!r} must be an integer >= 1.")
    finite = np.isfinite(act)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise InputError(
            f"{name} has {int(np.count_nonzero(~finite))} NaN or infinite voxel(s) (first: time "
            f"{int(bad[0])}, index (x,y,z) {tuple(int(v) for v in bad[:0:-1])}); set them to 0 "
            "explicitly or fix the reconstruction."
        )
    shape = act.shape[1:]
    n_vox = int(np.prod(shape))
    flat = act.reshape(n_t, n_vox)
    threads = thread_count()
    chunks = n_chunks if n_chunks is not None else 16 * threads
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise InputError(f"n_chunks = {n_chunks!r} must be an integer >= 1.")
    chunks = min(chunks, n_vox)
    edges = np.linspace(0, n_vox, chunks + 1).astype(np.int64)
    tia = np.empty(n_vox, np.float32)
    thalf = np.empty(n_vox, np.float32)
    amp = np.empty(n_vox, np.float32)
    status = np.empty(n_vox, np.uint8)
    lam_p = LN2 / float(physical_half_life_h)
    _fit_all(flat, t, lam_p, SIGMA_FLOOR_FRACTION, max_iterations, edges, tia, thalf, amp,
             status)
    tia *= np.float32(S_PER_H)  # Bq·h/mL → Bq·s/mL
    counts = np.bincount(status, minlength=len(STATUS))
    notes = [
        "TIA integrates the fit from injection (extrapolated to t = 0) to infinity",
        "weights sigma_i = max(A_i, 0.01 max A) (relative), lambda >= lambda_physical",
    ]
    n_neg = int(np.count_nonzero(act < 0))
    if n_neg:
        notes.append(f"{n_neg} negative samples counted as 0 in trapezoid voxels")
    return VoxelTiaResult(
        tia_bq_s_ml=tia.reshape(shape),
        effective_half_life_h=thalf.reshape(shape),
        a0_bq_ml=amp.reshape(shape),
        status=status.reshape(shape),
        status_counts={STATUS[i]: int(counts[i]) for i in STATUS},
        times_h=tuple(float(v) for v in t),
        physical_half_life_h=float(physical_half_life_h),
        n_negative_samples=n_neg,
        reference=ref,
        notes=tuple(notes),
    )


def voi_scaled_tia(
    activity_bq_ml: Image,
    mask: Image,
    organ_tia_mbq_h: float | TacFit | TacSelection,
    *,
    mask_name: str = "VOI",
) -> Image:
    """Distribute an organ's TIA over its voxels with the shape of one scan.

    TIA_v = TIA_VOI · A_v(t_ref) / Σ_VOI A(t_ref), returned as a concentration in Bq·s/mL
    (TIA_v · BQ_PER_MBQ · S_PER_H / V_voxel), 0 outside the mask. The sum over the VOI
    of concentration × voxel volume is TIA_VOI.

    Parameters
    ----------
    activity_bq_ml : Image
        Activity concentration at the reference time, Bq/mL (finite; >= 0 inside the mask).
    mask : Image
        Boolean VOI on the same grid.
    organ_tia_mbq_h : float or TacFit or TacSelection
        TIA of the VOI, MBq·h (e.g. ``fit_tac(...)``).
    mask_name : str
        Name of the VOI in messages.

    Returns
    -------
    Image
        float32, Bq·s/mL, on the activity grid.
    """
    if not isinstance(activity_bq_ml, Image) or not isinstance(mask, Image):
        raise InputError("activity_bq_ml and mask must be netdose Images on the same grid.")
    activity_bq_ml.require_same_grid(mask, "activity_bq_ml", f"mask {mask_name!r}")
    if mask.array.dtype != np.bool_:
        raise InputError(
            f"mask {mask_name!r} has dtype {mask.array.dtype}; a boolean mask is needed (use "
            "netdose.io masks or label_map == label)."
        )
    if isinstance(organ_tia_mbq_h, TacSelection | TacFit):
        tia = float(organ_tia_mbq_h.tia_mbq_h)
    elif isinstance(organ_tia_mbq_h, bool) or not isinstance(organ_tia_mbq_h, int | float):
        raise InputError(f"organ_tia_mbq_h = {organ_tia_mbq_h!r} is not a number (MBq·h).")
    else:
        tia = float(organ_tia_mbq_h)
    if not (math.isfinite(tia) and tia >= 0):
        raise InputError(f"organ_tia_mbq_h = {tia!r} MBq·h must be finite and >= 0.")
    m = np.asarray(mask.array)
    if not m.any():
        raise InputError(f"mask {mask_name!r} is empty; nothing to distribute the TIA over.")
    a = np.asarray(activity_bq_ml.array, dtype=np.float64)
    inside = a[m]
    if not np.isfinite(inside).all():
        raise InputError(
            f"activity_bq_ml has NaN or infinite voxels inside mask {mask_name!r}; fix them "
            "first."
        )
    if (inside < 0).any():
        raise InputError(
            f"activity_bq_ml has {int(np.count_nonzero(inside < 0))} negative voxel(s) inside "
            f"mask {mask_name!r} (minimum {inside.min():.4g} Bq/mL); clip them explicitly "
            "(np.clip(a, 0, None)) if you accept that."
        )
    total = float(inside.sum())
    if total <= 0:
        raise InputError(
            f"the activity inside mask {mask_name!r} is zero at the reference scan; the VOI "
            "shape is undefined. Check the mask and the scan."
        )
    conc = np.zeros(a.shape, np.float64)
    conc[m] = inside / total * tia * BQ_PER_MBQ * S_PER_H / activity_bq_ml.voxel_volume_ml
    return activity_bq_ml.with_array(conc.astype(np.float32), meta={"quantity": "tia_bq_s_ml"})
