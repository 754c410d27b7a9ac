"""Monte Carlo of monoenergetic photons from a point source in an infinite medium (Numba).

The offline engine behind netdose's photon dose point kernels. ``scripts/make_photon_kernels.py``
runs it once per energy with a fixed seed; the run-time library only reads its table. The model
(equations and sources in docs/physics.md (section 4)):

- Interaction coefficients: NIST XCOM for the medium (``netdose/data/xcom_<medium>.csv``):
  photoelectric absorption, incoherent (Compton) scattering and pair production (nuclear +
  electron field). Coherent (Rayleigh) scattering is left out: it deposits no energy and, at
  the energies of interest, deflects photons by small angles (it is 2-8 % of the attenuation
  between 50 and 200 keV in water; leaving it out shifts energy deposition very slightly
  outwards, see the docs).
- Compton scattering: Klein-Nishina angular and energy distribution (Kahn's rejection method)
  with the XCOM incoherent cross section (which includes electron binding) as total rate.
- Kerma approximation: the kinetic energy given to electrons (photoelectron, Compton electron,
  electron-positron pair) is deposited at the interaction point. Fluorescence after
  photoabsorption in H, C, N, O (< 0.6 keV) is local too. Positrons annihilate at rest: two
  back-to-back 511 keV photons start from the interaction point.
- Photons below 1 keV are absorbed on the spot; photons beyond the outer radius of the tally
  (default 100 g/cm2) are counted as escaped.

The tally is energy deposited in spherical shells of mass radius rho*r (g/cm2), so the kernel
of any density follows by scaling r (exact for a homogeneous medium).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numba import njit, prange

from netdose.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from netdose.errors import InputError, PhysicsRangeError
from netdose.kernels._constants import ELECTRON_MASS_MEV
from netdose.kernels._tables import xcom
from netdose.kernels.electron_mc import _rotate, _uniform, seed_streams

__all__ = ["PhotonMCResult", "photon_radial_edges_g_cm2", "simulate_photon_kernel"]

_MC2 = ELECTRON_MASS_MEV
_E_CUT_MEV = 1.0e-3
_STACK = 64


def photon_radial_edges_g_cm2(
    r_max_g_cm2: float = 100.0, n_log: int = 600
) -> np.ndarray:
    """Shell edges of the photon tally: 0, then log-spaced from 1e-3 g/cm2 to ``r_max``."""
    return np.concatenate([[0.0], np.geomspace(1.0e-3, r_max_g_cm2, n_log)])


@njit(**NUMBA_FLAGS)
def _xs(
    tab: np.ndarray, lne: float, lne0: float, inv_dlne: float
) -> tuple[float, float, float]:
    """(incoherent, photoelectric, pair) in cm2/g at ln E, linear in ln E."""
    n = tab.shape[1]
    u = (lne - lne0) * inv_dlne
    u = max(u, 0.0)
    u = min(u, n - 1.000001)
    i = int(u)
    f = u - i
    inc = tab[0, i] * (1.0 - f) + tab[0, i + 1] * f
    pe = tab[1, i] * (1.0 - f) + tab[1, i + 1] * f
    pp = tab[2, i] * (1.0 - f) + tab[2, i + 1] * f
    return inc, pe, pp


@njit(**NUMBA_FLAGS)
def _shell(edges: np.ndarray, r: float) -> int:
    """Index of the shell containing r (len(edges)-1 means beyond the last edge)."""
    n = edges.shape[0]
    if r >= edges[n - 1]:
        return n - 1
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if edges[mid] > r:
            hi = mid
        else:
            lo = mid
    return lo


@njit(**NUMBA_FLAGS)
def _klein_nishina(state: np.ndarray, k: float) -> float:
    """Ratio x = E/E' of a Compton scattering by Kahn's method; k = E / m c^2."""
    while True:
        r1 = _uniform(state)
        r2 = _uniform(state)
        r3 = _uniform(state)
        if r1 <= (1.0 + 2.0 * k) / (9.0 + 2.0 * k):
            x = 1.0 + 2.0 * k * r2
            if r3 <= 4.0 * (1.0 / x - 1.0 / (x * x)):
                return x
        else:
            x = (1.0 + 2.0 * k) / (1.0 + 2.0 * k * r2)
            mu = 1.0 - (x - 1.0) / k
            if r3 <= 0.5 * (mu * mu + 1.0 / x):
                return x


@njit(**NUMBA_FLAGS)
def _photon_chunk(
    state: np.ndarray,
    n_hist: int,
    e0: float,
    tab: np.ndarray,
    lne0: float,
    dlne: float,
    edges: np.ndarray,
    hist: np.ndarray,
) -> None:
    """Serial worker: ``n_hist`` photons; ``hist[len(edges)-1]`` collects escaped energy."""
    inv_dlne = 1.0 / dlne
    r_out = edges[edges.shape[0] - 1]
    sx = np.empty(_STACK)
    sy = np.empty(_STACK)
    sz = np.empty(_STACK)
    su = np.empty(_STACK)
    sv = np.empty(_STACK)
    sw = np.empty(_STACK)
    se = np.empty(_STACK)
    for _h in range(n_hist):
        n_stack = 1
        sx[0] = 0.0
        sy[0] = 0.0
        sz[0] = 0.0
        su[0] = 0.0
        sv[0] = 0.0
        sw[0] = 1.0
        se[0] = e0
        while n_stack > 0:
            n_stack -= 1
            x = sx[n_stack]
            y = sy[n_stack]
            z = sz[n_stack]
            u = su[n_stack]
            v = sv[n_stack]
            w = sw[n_stack]
            e = se[n_stack]
            while True:
                if e <= _E_CUT_MEV:
                    hist[_shell(edges, math.sqrt(x * x + y * y + z * z))] += e
                    break
                inc, pe, pp = _xs(tab, math.log(e), lne0, inv_dlne)
                mu_tot = inc + pe + pp
                d = -math.log(_uniform(state)) / mu_tot
                x += u * d
                y += v * d
                z += w * d
                r = math.sqrt(x * x + y * y + z * z)
                if r >= r_out:
                    hist[edges.shape[0] - 1] += e
                    break
                b = _shell(edges, r)
                xi = _uniform(state) * mu_tot
                if xi < pe:
                    hist[b] += e
                    break
                if xi < pe + pp:
                    # pair production: kinetic energy local, two 511 keV photons back to back
                    hist[b] += e - 2.0 * _MC2
                    cost = 2.0 * _uniform(state) - 1.0
                    phi = 2.0 * math.pi * _uniform(state)
                    sint = math.sqrt(max(0.0, 1.0 - cost * cost))
                    u = sint * math.cos(phi)
                    v = sint * math.sin(phi)
                    w = cost
                    e = _MC2
                    if n_stack < _STACK:
                        sx[n_stack] = x
                        sy[n_stack] = y
                        sz[n_stack] = z
                        su[n_stack] = -u
                        sv[n_stack] = -v
                        sw[n_stack] = -w
                        se[n_stack] = _MC2
                        n_stack += 1
                    else:  # pragma: no cover - cannot happen with one pair per photon
                        hist[b] += _MC2
                    continue
                # Compton (Klein-Nishina)
                k = e / _MC2
                ratio = _klein_nishina(state, k)
                e_new = e / ratio
                hist[b] += e - e_new
                cost = 1.0 - (ratio - 1.0) / k
                u, v, w = _rotate(u, v, w, cost, 2.0 * math.pi * _uniform(state))
                e = e_new


@njit(**NUMBA_PARALLEL_FLAGS)
def _photon_driver(
    states: np.ndarray,
    per_chunk: np.ndarray,
    e0: float,
    tab: np.ndarray,
    lne0: float,
    dlne: float,
    edges: np.ndarray,
) -> np.ndarray:
    n_chunks = states.shape[0]
    hist = np.zeros((n_chunks, edges.shape[0]))
    for c in prange(n_chunks):
        _photon_chunk(states[c], per_chunk[c], e0, tab, lne0, dlne, edges, hist[c])
    out = np.zeros(edges.shape[0])
    for c in range(n_chunks):
        out += hist[c]
    return out


@dataclasses.dataclass(frozen=True)
class PhotonMCResult:
    """Energy deposition around an isotropic point source of monoenergetic photons.

    Attributes
    ----------
    energy_mev : float
    medium : str
    r_edges_g_cm2 : ndarray, shape (n + 1,)
        Shell edges in mass radius rho*r.
    deposited_fraction : ndarray, shape (n,)
        Fraction of the photon energy deposited in each shell.
    escaped_fraction : float
        Fraction carried beyond the last edge.
    n_histories, seed : int
    """

    energy_mev: float
    medium: str
    r_edges_g_cm2: np.ndarray
    deposited_fraction: np.ndarray
    escaped_fraction: float
    n_histories: int
    seed: int

    @property
    def cumulative_fraction(self) -> np.ndarray:
        """Fraction deposited within each edge, shape (n + 1,)."""
        return np.concatenate([[0.0], np.cumsum(self.deposited_fraction)])


def simulate_photon_kernel(
    energy_mev: float,
    n_histories: int,
    seed: int,
    *,
    medium: str = "water",
    r_edges_g_cm2: np.ndarray | None = None,
    n_chunks: int = 64,
) -> PhotonMCResult:
    """Simulate ``n_histories`` photons of ``energy_mev`` from a point in ``medium``.

    Parameters
    ----------
    energy_mev : float
        Photon energy, 2 keV to 10 MeV.
    n_histories : int
        Number of photons (> 0).
    seed : int
        Seed (same seed -> same result, whatever the thread count).
    medium : str
        ``"water"`` or ``"soft_tissue"`` (XCOM table).
    r_edges_g_cm2 : ndarray, optional
        Shell edges (increasing, starting at 0); default :func:`photon_radial_edges_g_cm2`.
    n_chunks : int
        Independent random streams.

    Returns
    -------
    PhotonMCResult
    """
    if not (2.0e-3 <= energy_mev <= 10.0):
        raise PhysicsRangeError(
            f"photon energy {energy_mev} MeV is outside 0.002-10 MeV."
        )
    if n_histories <= 0 or n_chunks <= 0:
        raise InputError("n_histories and n_chunks must be positive integers.")
    edges = (
        photon_radial_edges_g_cm2()
        if r_edges_g_cm2 is None
        else np.asarray(r_edges_g_cm2, float)
    )
    if edges[0] != 0.0 or np.any(np.diff(edges) <= 0):
        raise InputError("r_edges_g_cm2 must start at 0 and increase.")
    tabx = xcom(medium)
    lne = np.log(tabx.energy_mev)
    dlne = float(lne[-1] - lne[0]) / (lne.size - 1)
    if not np.allclose(
        np.diff(lne), dlne, rtol=1e-3
    ):  # pragma: no cover - table layout
        raise InputError("the XCOM table must be on a uniform log-energy grid.")
    tab = np.ascontiguousarray(
        np.vstack([tabx.incoherent_cm2_g, tabx.photoelectric_cm2_g, tabx.pair_cm2_g])
    )
    n_chunks = min(n_chunks, n_histories)
    per = np.full(n_chunks, n_histories // n_chunks, dtype=np.int64)
    per[: n_histories % n_chunks] += 1
    states = seed_streams(seed, n_chunks, salt=round(energy_mev * 1e6) + 7919)
    hist = _photon_driver(
        states, per, float(energy_mev), tab, float(lne[0]), dlne, edges
    )
    total = energy_mev * n_histories
    return PhotonMCResult(
        energy_mev=float(energy_mev),
        medium=medium,
        r_edges_g_cm2=edges,
        deposited_fraction=hist[:-1] / total,
        escaped_fraction=float(hist[-1] / total),
        n_histories=int(n_histories),
        seed=int(seed),
    )
