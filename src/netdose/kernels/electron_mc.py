"""Condensed-history Monte Carlo of monoenergetic electrons in liquid water (Numba).

This is the offline engine behind netdose's electron dose point kernels: for a point source
of electrons of kinetic energy E0 in an infinite homogeneous water medium (unit density) it
tallies the energy deposited in spherical shells of scaled radius x = r / r0(E0), with r0
the NIST ESTAR CSDA range. ``scripts/make_electron_kernels.py`` runs it once for ~40 energies
with a fixed seed; the run-time library only reads the resulting table. The model (details,
equations and sources in docs/physics.md (section 4)):

Inelastic collisions (class II, Berger 1963 / ICRU 35 terminology)
    Collisions that transfer less than ``W_cc`` are grouped: continuous loss with the
    restricted collision stopping power L(T; W_cc) = S_col(ESTAR) - N_e * int_{W_cc}^{T/2}
    W dsigma_Moller, plus Gaussian-moment energy-loss straggling (Gamma distribution with
    Bohr's variance restricted to W < W_cc). Collisions above ``W_cc`` are sampled from the
    Moller cross section; the knock-on electron is transported (binding neglected).
Bremsstrahlung
    Continuous loss with the ESTAR radiative stopping power; the photons are not transported:
    that energy leaves the kernel (tallied as ``radiative_fraction``).
Elastic scattering
    Screened Rutherford cross section per atom (H, O) with Moliere's screening parameter,
    multiplied by the McKinley-Feshbach factor (first-order Mott correction). Mixed
    simulation in the manner of PENELOPE (Baro et al. 1995): hard collisions (polar angle
    above mu_c, mean free path max(lambda_el, C1 * lambda_1)) are simulated one by one; the
    soft ones are applied once per step with a random hinge, with the exact first moment of
    the soft transport cross section.
Steps
    At most ``step_fraction`` x CSDA range of the current energy, ended earlier by a hard
    event. Energies below the tracking cut-off (set so that the residual range is
    ``stop_range_fraction`` x r0(E0), at least 1 keV) are deposited on the spot.

Random numbers: xoshiro256+ streams seeded by splitmix64 from (seed, chunk), so the result is
the same for the same seed whatever the number of threads.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numba import njit, prange

from netdose.config import NUMBA_FLAGS, NUMBA_PARALLEL_FLAGS
from netdose.errors import InputError, PhysicsRangeError
from netdose.kernels._constants import (
    AVOGADRO_PER_MOL,
    BOHR_RADIUS_CM,
    CLASSICAL_ELECTRON_RADIUS_CM,
    ELECTRON_MASS_MEV,
    FINE_STRUCTURE,
    HBAR_C_MEV_CM,
    WATER_ATOMS,
    WATER_MOLAR_MASS_G_MOL,
)
from netdose.kernels._tables import estar

__all__ = [
    "ElectronMCResult",
    "lewis_mean_projected_range_cm",
    "seed_streams",
    "simulate_electron_kernel",
    "transport_mean_free_path_cm",
]

_MC2 = ELECTRON_MASS_MEV
_LOWEST_TRACKING_MEV = 1.0e-3  # first row of the ESTAR table
_N_GRID = 800
_STACK = 256

# Columns of the per-run physics table (rows are log-spaced kinetic energies).
_C_LRES, _C_SRAD, _C_RRES, _C_RCSDA, _C_SIGM, _C_SIGEL, _C_PO, _C_MUC, _C_INVL1S = (
    range(9)
)
_C_ETA_H, _C_ETA_O, _C_RMAX_H, _C_RMAX_O, _C_BETA2, _C_OMEGA2 = range(9, 15)
_N_COLS = 15


# ----------------------------------------------------------------------------- random numbers
_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> tuple[int, int]:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    x = z
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z, x ^ (x >> 31)


def seed_streams(seed: int, n_streams: int, salt: int = 0) -> np.ndarray:
    """Independent xoshiro256+ states, shape (n_streams, 4) uint64, from one integer seed.

    Stream ``i`` depends only on (seed, salt, i), never on the number of threads.
    """
    out = np.empty((n_streams, 4), dtype=np.uint64)
    for i in range(n_streams):
        z = (
            int(seed) * 0x100000001B3 + int(salt) * 0x9E3779B9 + i * 0xD1B54A32D192ED03
        ) & _MASK64
        for j in range(4):
            z, v = _splitmix64(z)
            out[i, j] = v
    return out


@njit(**NUMBA_FLAGS)
def _next_u64(s: np.ndarray) -> np.uint64:
    result = s[0] + s[3]
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = (s[3] << np.uint64(45)) | (s[3] >> np.uint64(19))
    return result


@njit(**NUMBA_FLAGS)
def _uniform(s: np.ndarray) -> float:
    """Uniform in (0, 1]: never 0, so that -log(u) is finite."""
    return ((_next_u64(s) >> np.uint64(11)) + 1.0) * (1.0 / 9007199254740992.0)


@njit(**NUMBA_FLAGS)
def _normal(s: np.ndarray) -> float:
    u1 = _uniform(s)
    u2 = _uniform(s)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(**NUMBA_FLAGS)
def _gamma_mean_var(s: np.ndarray, mean: float, var: float) -> float:
    """Gamma-distributed sample with the given mean and variance (Marsaglia & Tsang 2000)."""
    if var <= 0.0 or mean <= 0.0:
        return mean
    k = mean * mean / var
    theta = var / mean
    if k > 1.0e4:  # the Gamma is normal to 1e-2 in skewness: avoid its cost
        return max(0.0, mean + math.sqrt(var) * _normal(s))
    boost = 1.0
    kk = k
    if kk < 1.0:
        boost = _uniform(s) ** (1.0 / kk)
        kk += 1.0
    d = kk - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = _normal(s)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = _uniform(s)
        if math.log(u) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v * theta * boost


# ----------------------------------------------------------------------------- geometry helpers
@njit(**NUMBA_FLAGS)
def _rotate(
    u: float, v: float, w: float, cost: float, phi: float
) -> tuple[float, float, float]:
    """Direction after a deflection of polar cosine ``cost`` and azimuth ``phi``."""
    if cost > 1.0:
        cost = 1.0
    elif cost < -1.0:
        cost = -1.0
    sint = math.sqrt(max(0.0, 1.0 - cost * cost))
    cphi = math.cos(phi)
    sphi = math.sin(phi)
    if abs(w) > 0.99999999:
        un = sint * cphi
        vn = sint * sphi
        wn = cost if w > 0.0 else -cost
    else:
        tmp = math.sqrt(1.0 - w * w)
        un = u * cost + sint * (u * w * cphi - v * sphi) / tmp
        vn = v * cost + sint * (v * w * cphi + u * sphi) / tmp
        wn = w * cost - sint * cphi * tmp
    norm = 1.0 / math.sqrt(un * un + vn * vn + wn * wn)
    return un * norm, vn * norm, wn * norm


@njit(**NUMBA_FLAGS)
def _interp(
    tab: np.ndarray, col: int, lnt: float, lnt0: float, inv_dlnt: float
) -> float:
    n = tab.shape[1]
    u = (lnt - lnt0) * inv_dlnt
    if u <= 0.0:
        return tab[col, 0]
    if u >= n - 1:
        return tab[col, n - 1]
    i = int(u)
    f = u - i
    return tab[col, i] * (1.0 - f) + tab[col, i + 1] * f


@njit(**NUMBA_FLAGS)
def _inverse_range(tab: np.ndarray, r: float, lnt0: float, dlnt: float) -> float:
    """ln T at which the restricted range equals ``r`` (column _C_RRES is increasing)."""
    n = tab.shape[1]
    if r <= tab[_C_RRES, 0]:
        return lnt0
    lo = 0
    hi = n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tab[_C_RRES, mid] > r:
            hi = mid
        else:
            lo = mid
    f = (r - tab[_C_RRES, lo]) / (tab[_C_RRES, hi] - tab[_C_RRES, lo])
    return lnt0 + (lo + f) * dlnt


@njit(**NUMBA_FLAGS)
def _deposit(
    hist: np.ndarray, x: float, y: float, z: float, e: float, inv_bin_cm: float
) -> None:
    r = math.sqrt(x * x + y * y + z * z)
    b = int(r * inv_bin_cm)
    nb = hist.shape[0] - 1
    b = min(nb, b)
    hist[b] += e


# ----------------------------------------------------------------------------- worker
@njit(**NUMBA_FLAGS)
def _simulate_chunk(
    state: np.ndarray,
    n_hist: int,
    tab: np.ndarray,
    lnt0: float,
    dlnt: float,
    e0: float,
    t_stop: float,
    w_cc: float,
    step_fraction: float,
    straggling: bool,
    moller: bool,
    inv_bin_cm: float,
    hist: np.ndarray,
    scalars: np.ndarray,
) -> None:
    """Serial worker: ``n_hist`` primary histories, tallies added to ``hist`` and ``scalars``.

    ``scalars`` = [radiative energy, sum of primary end z (cm), overflowed secondaries].
    """
    inv_dlnt = 1.0 / dlnt
    r_stop = 0.0
    # restricted range at t_stop (electrons stop there)
    r_stop = _interp(tab, _C_RRES, math.log(t_stop), lnt0, inv_dlnt)
    pi_alpha = math.pi * FINE_STRUCTURE
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
        primary = True
        while n_stack > 0:
            n_stack -= 1
            x = sx[n_stack]
            y = sy[n_stack]
            z = sz[n_stack]
            u = su[n_stack]
            v = sv[n_stack]
            w = sw[n_stack]
            t = se[n_stack]
            is_primary = primary
            primary = False
            while True:
                if t <= t_stop:
                    _deposit(hist, x, y, z, t, inv_bin_cm)
                    if is_primary:
                        scalars[1] += z
                    break
                lnt = math.log(t)
                s_max = step_fraction * _interp(tab, _C_RCSDA, lnt, lnt0, inv_dlnt)
                sig_m = _interp(tab, _C_SIGM, lnt, lnt0, inv_dlnt) if moller else 0.0
                sig_el = _interp(tab, _C_SIGEL, lnt, lnt0, inv_dlnt)
                sig_tot = sig_m + sig_el
                hard = False
                s = s_max
                if sig_tot > 0.0:
                    dist = -math.log(_uniform(state)) / sig_tot
                    if dist < s_max:
                        s = dist
                        hard = True
                # continuous (soft) energy loss over s, from the restricted range table
                r_now = _interp(tab, _C_RRES, lnt, lnt0, inv_dlnt)
                if r_now - s <= r_stop:
                    s = max(r_now - r_stop, 0.0)
                    hard = False
                    t_end = t_stop
                else:
                    t_end = math.exp(_inverse_range(tab, r_now - s, lnt0, dlnt))
                    t_end = min(t_end, t)
                d_t = t - t_end
                lnm = math.log(0.5 * (t + t_end))
                l_m = _interp(tab, _C_LRES, lnm, lnt0, inv_dlnt)
                s_m = _interp(tab, _C_SRAD, lnm, lnt0, inv_dlnt)
                d_rad = d_t * s_m / (l_m + s_m)
                d_col = d_t - d_rad
                if straggling and d_col > 0.0 and t_end > t_stop:
                    var = _interp(tab, _C_OMEGA2, lnm, lnt0, inv_dlnt) * s
                    d_col = _gamma_mean_var(state, d_col, var)
                if d_col + d_rad > t:
                    d_col = max(t - d_rad, 0.0)
                # random hinge: first part of the step
                tau = _uniform(state) * s
                x += u * tau
                y += v * tau
                z += w * tau
                _deposit(hist, x, y, z, d_col, inv_bin_cm)
                scalars[0] += d_rad
                t -= d_col + d_rad
                # soft elastic deflection with the exact first moment
                inv_l1s = _interp(tab, _C_INVL1S, lnt, lnt0, inv_dlnt)
                mean_mu = 0.5 * (1.0 - math.exp(-s * inv_l1s))
                if mean_mu > 0.0:
                    theta = math.sqrt(-4.0 * mean_mu * math.log(_uniform(state)))
                    theta = min(theta, math.pi)
                    u, v, w = _rotate(
                        u, v, w, math.cos(theta), 2.0 * math.pi * _uniform(state)
                    )
                x += u * (s - tau)
                y += v * (s - tau)
                z += w * (s - tau)
                if not hard or t <= t_stop:
                    continue
                lnt = math.log(t)
                if _uniform(state) * sig_tot < sig_m:
                    # hard inelastic (Moller) collision
                    eps_c = w_cc / t
                    if eps_c >= 0.5:
                        continue
                    tau_r = t / _MC2
                    g2 = (tau_r / (tau_r + 1.0)) ** 2
                    g3 = (2.0 * tau_r + 1.0) / (tau_r + 1.0) ** 2
                    while True:
                        eps = eps_c / (1.0 - _uniform(state) * (1.0 - 2.0 * eps_c))
                        r1 = eps / (1.0 - eps)
                        g = 1.0 + r1 * r1 + eps * eps * g2 - g3 * r1
                        if _uniform(state) * 2.25 <= g:
                            break
                    wk = eps * t
                    tp = t - wk
                    cos_s = math.sqrt(
                        min(1.0, wk * (t + 2.0 * _MC2) / (t * (wk + 2.0 * _MC2)))
                    )
                    cos_p = math.sqrt(
                        min(1.0, tp * (t + 2.0 * _MC2) / (t * (tp + 2.0 * _MC2)))
                    )
                    phi = 2.0 * math.pi * _uniform(state)
                    us, vs, ws = _rotate(u, v, w, cos_s, phi + math.pi)
                    u, v, w = _rotate(u, v, w, cos_p, phi)
                    t = tp
                    if wk > t_stop and n_stack < _STACK:
                        sx[n_stack] = x
                        sy[n_stack] = y
                        sz[n_stack] = z
                        su[n_stack] = us
                        sv[n_stack] = vs
                        sw[n_stack] = ws
                        se[n_stack] = wk
                        n_stack += 1
                    else:
                        _deposit(hist, x, y, z, wk, inv_bin_cm)
                        if wk > t_stop:
                            scalars[2] += 1.0
                else:
                    # hard elastic collision: screened Rutherford x McKinley-Feshbach
                    mu_c = _interp(tab, _C_MUC, lnt, lnt0, inv_dlnt)
                    beta = math.sqrt(_interp(tab, _C_BETA2, lnt, lnt0, inv_dlnt))
                    if _uniform(state) < _interp(tab, _C_PO, lnt, lnt0, inv_dlnt):
                        zat = 8.0
                        eta = _interp(tab, _C_ETA_O, lnt, lnt0, inv_dlnt)
                        rmax = _interp(tab, _C_RMAX_O, lnt, lnt0, inv_dlnt)
                    else:
                        zat = 1.0
                        eta = _interp(tab, _C_ETA_H, lnt, lnt0, inv_dlnt)
                        rmax = _interp(tab, _C_RMAX_H, lnt, lnt0, inv_dlnt)
                    a = 1.0 / (mu_c + eta)
                    b = 1.0 / (1.0 + eta)
                    mu = 1.0 / (a - _uniform(state) * (a - b)) - eta
                    mu = min(max(mu, 0.0), 1.0)
                    sq = math.sqrt(mu)
                    rmf = (
                        1.0 - beta * beta * mu + pi_alpha * zat * beta * sq * (1.0 - sq)
                    )
                    if _uniform(state) * rmax <= rmf:
                        u, v, w = _rotate(
                            u, v, w, 1.0 - 2.0 * mu, 2.0 * math.pi * _uniform(state)
                        )


# ----------------------------------------------------------------------------- parallel driver
@njit(**NUMBA_PARALLEL_FLAGS)
def _simulate(
    states: np.ndarray,
    hist_per_chunk: np.ndarray,
    tab: np.ndarray,
    lnt0: float,
    dlnt: float,
    e0: float,
    t_stop: float,
    w_cc: float,
    step_fraction: float,
    straggling: bool,
    moller: bool,
    inv_bin_cm: float,
    n_bins: int,
) -> tuple[np.ndarray, np.ndarray]:
    n_chunks = states.shape[0]
    hist = np.zeros((n_chunks, n_bins + 1))
    scal = np.zeros((n_chunks, 3))
    for c in prange(n_chunks):
        _simulate_chunk(
            states[c],
            hist_per_chunk[c],
            tab,
            lnt0,
            dlnt,
            e0,
            t_stop,
            w_cc,
            step_fraction,
            straggling,
            moller,
            inv_bin_cm,
            hist[c],
            scal[c],
        )
    # serial reduction (no races, order fixed)
    out_h = np.zeros(n_bins + 1)
    out_s = np.zeros(3)
    for c in range(n_chunks):
        out_h += hist[c]
        out_s += scal[c]
    return out_h, out_s


# ----------------------------------------------------------------------------- physics tables
def _beta2(t: np.ndarray) -> np.ndarray:
    tau = t / _MC2
    return tau * (tau + 2.0) / (tau + 1.0) ** 2


def _elastic_per_atom(t: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray]:
    """Screened-Rutherford amplitude K2 (cm2, dsigma/dmu = K2/(mu+eta)^2) and Moliere eta."""
    tau = t / _MC2
    pc = np.sqrt(t * (t + 2.0 * _MC2))
    beta2 = _beta2(t)
    k2 = (
        math.pi
        * z
        * (z + 1)
        * CLASSICAL_ELECTRON_RADIUS_CM**2
        * ((tau + 1.0) / (tau * (tau + 2.0))) ** 2
    )
    a_tf = 0.885 * BOHR_RADIUS_CM * z ** (-1.0 / 3.0)
    eta = (
        0.25
        * (HBAR_C_MEV_CM / (pc * a_tf)) ** 2
        * (1.13 + 3.76 * (FINE_STRUCTURE * z) ** 2 / beta2)
    )
    return k2, eta


def _transport_integral(t: np.ndarray, z: int, mu_hi: np.ndarray) -> np.ndarray:
    """int_0^mu_hi 2 mu R_MF(mu) dsigma/dmu dmu per atom (cm2), McKinley-Feshbach included."""
    k2, eta = _elastic_per_atom(t, z)
    beta = np.sqrt(_beta2(t))
    n = 2001
    umax = np.log1p(np.maximum(mu_hi, 0.0) / eta)
    frac = np.linspace(0.0, 1.0, n)
    uu = umax[:, None] * frac[None, :]
    mu = eta[:, None] * np.expm1(uu)
    sq = np.sqrt(mu)
    rmf = (
        1.0
        - beta[:, None] ** 2 * mu
        + math.pi * FINE_STRUCTURE * z * beta[:, None] * sq * (1 - sq)
    )
    # dmu = (mu + eta) du
    integrand = 2.0 * mu * rmf * k2[:, None] / (mu + eta[:, None])
    return np.trapezoid(integrand, uu, axis=1)


def transport_mean_free_path_cm(energy_mev: np.ndarray | float) -> np.ndarray:
    """First transport mean free path lambda_1 (cm) in water of unit density, from the
    screened-Rutherford x McKinley-Feshbach cross sections used by the Monte Carlo."""
    t = np.atleast_1d(np.asarray(energy_mev, dtype=np.float64))
    n_mol = AVOGADRO_PER_MOL / WATER_MOLAR_MASS_G_MOL
    sig1 = np.zeros_like(t)
    for z, count in WATER_ATOMS:
        sig1 += count * _transport_integral(t, z, np.ones_like(t))
    return 1.0 / (n_mol * sig1)


def lewis_mean_projected_range_cm(energy_mev: float, n: int = 4000) -> float:
    """Mean projection on the initial direction of the end point of a CSDA track (Lewis 1950):
    <z> = int_0^R0 exp(-int_0^s ds'/lambda_1(T(s'))) ds, water of unit density, T(s) from the
    ESTAR total stopping power. The Monte Carlo run without straggling and knock-ons must give
    this value (test)."""
    tab = estar("water")
    t_grid = np.exp(np.linspace(np.log(_LOWEST_TRACKING_MEV), np.log(energy_mev), n))
    inv = 1.0 / (tab.s_col(t_grid) + tab.s_rad(t_grid))  # ds/dT
    g = inv / transport_mean_free_path_cm(t_grid)  # d(optical depth)/dT
    tau_cum = np.concatenate(
        [[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(t_grid))]
    )
    tau_of_t = tau_cum[-1] - tau_cum  # optical depth travelled from E0 down to T
    h = np.exp(-tau_of_t) * inv  # <z> = int exp(-tau) ds = int exp(-tau) dT / S
    return float(np.sum(0.5 * (h[1:] + h[:-1]) * np.diff(t_grid)))


def _moller_integrals(
    t: np.ndarray, w_cc: float, n_e_cm3: float
) -> tuple[np.ndarray, np.ndarray]:
    """Hard Moller collision rate (1/cm) and the energy-loss rate it carries (MeV/cm)."""
    beta2 = _beta2(t)
    tau = t / _MC2
    pref = 2.0 * math.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * _MC2 / beta2  # MeV cm2
    rate = np.zeros_like(t)
    loss = np.zeros_like(t)
    ok = t > 2.0 * w_cc
    if not np.any(ok):
        return rate, loss
    tt = t[ok]
    eps_c = w_cc / tt
    n = 4001
    frac = np.linspace(0.0, 1.0, n)
    # integrate in ln(eps) from eps_c to 1/2
    le = np.log(eps_c)[:, None] + (np.log(0.5) - np.log(eps_c))[:, None] * frac[None, :]
    eps = np.exp(le)
    g2 = ((tau[ok] / (tau[ok] + 1.0)) ** 2)[:, None]
    g3 = ((2.0 * tau[ok] + 1.0) / (tau[ok] + 1.0) ** 2)[:, None]
    f = (
        1.0 / eps**2 + 1.0 / (1.0 - eps) ** 2 + g2 - g3 / (eps * (1.0 - eps))
    )  # dsigma/deps * T/pref
    # dsigma/dW = pref / T^2 * f ; dW = T eps dln(eps)
    rate[ok] = n_e_cm3 * pref[ok] / tt * np.trapezoid(f * eps, le, axis=1)
    loss[ok] = n_e_cm3 * pref[ok] * np.trapezoid(f * eps * eps, le, axis=1)
    return rate, loss


def _build_tables(
    e0: float, t_stop: float, w_cc: float, hard_elastic_c1: float, delta_rays: bool
) -> tuple[np.ndarray, float, float]:
    est = estar("water")
    lnt0 = math.log(_LOWEST_TRACKING_MEV)
    lnt1 = math.log(max(e0 * 1.0001, _LOWEST_TRACKING_MEV * 1.5))
    lnt = np.linspace(lnt0, lnt1, _N_GRID)
    dlnt = float(lnt[1] - lnt[0])
    t = np.exp(lnt)
    n_mol = AVOGADRO_PER_MOL / WATER_MOLAR_MASS_G_MOL  # molecules per cm3 at 1 g/cm3
    n_e = n_mol * sum(z * c for z, c in WATER_ATOMS)
    s_col = est.s_col(t)  # MeV/cm at unit density
    s_rad = est.s_rad(t)
    if delta_rays:
        sig_m, loss_m = _moller_integrals(t, w_cc, n_e)
    else:
        sig_m, loss_m = np.zeros_like(t), np.zeros_like(t)
    l_res = s_col - loss_m
    if np.any(l_res <= 0):  # pragma: no cover - physics guard
        raise PhysicsRangeError(
            "restricted stopping power not positive; lower the knock-on threshold."
        )
    inv = 1.0 / (l_res + s_rad)
    r_res = 0.5 * t[0] * inv[0] + np.concatenate(
        [[0.0], np.cumsum(0.5 * (inv[1:] * t[1:] + inv[:-1] * t[:-1]) * dlnt)]
    )
    beta2 = _beta2(t)
    # elastic
    k2h, etah = _elastic_per_atom(t, 1)
    k2o, etao = _elastic_per_atom(t, 8)
    counts = dict(WATER_ATOMS)
    sig0 = n_mol * (
        counts[1] * k2h / (etah * (1 + etah)) + counts[8] * k2o / (etao * (1 + etao))
    )
    lam1 = transport_mean_free_path_cm(t)
    lam_h = np.maximum(1.0 / sig0, hard_elastic_c1 * lam1)

    def hard_rate(mu_c: np.ndarray) -> np.ndarray:
        return n_mol * (
            counts[1] * k2h * (1 / (mu_c + etah) - 1 / (1 + etah))
            + counts[8] * k2o * (1 / (mu_c + etao) - 1 / (1 + etao))
        )

    target = 1.0 / lam_h
    lo = np.full_like(t, 1e-300)
    hi = np.ones_like(t)
    for _ in range(200):  # bisection in log(mu_c): rate decreases with mu_c
        mid = np.sqrt(lo * hi)
        too_many = hard_rate(mid) > target
        lo = np.where(too_many, mid, lo)
        hi = np.where(too_many, hi, mid)
    mu_c = np.where(1.0 / sig0 >= hard_elastic_c1 * lam1, 0.0, np.sqrt(lo * hi))
    pi_ab = math.pi * FINE_STRUCTURE * np.sqrt(beta2)
    rmax_h = 1.0 + pi_ab * 1.0 / 4.0
    rmax_o = 1.0 + pi_ab * 8.0 / 4.0
    rate_h = n_mol * counts[1] * k2h * (1 / (mu_c + etah) - 1 / (1 + etah)) * rmax_h
    rate_o = n_mol * counts[8] * k2o * (1 / (mu_c + etao) - 1 / (1 + etao)) * rmax_o
    inv_l1s = n_mol * (
        counts[1] * _transport_integral(t, 1, mu_c)
        + counts[8] * _transport_integral(t, 8, mu_c)
    )
    omega2 = (
        n_e
        * 2
        * math.pi
        * CLASSICAL_ELECTRON_RADIUS_CM**2
        * _MC2
        * np.minimum(w_cc, t / 2)
        / beta2
    )
    tab = np.zeros((_N_COLS, _N_GRID))
    tab[_C_LRES] = l_res
    tab[_C_SRAD] = s_rad
    tab[_C_RRES] = r_res
    tab[_C_RCSDA] = est.csda_range(t)
    tab[_C_SIGM] = sig_m
    tab[_C_SIGEL] = rate_h + rate_o
    tab[_C_PO] = rate_o / (rate_h + rate_o)
    tab[_C_MUC] = mu_c
    tab[_C_INVL1S] = inv_l1s
    tab[_C_ETA_H] = etah
    tab[_C_ETA_O] = etao
    tab[_C_RMAX_H] = rmax_h
    tab[_C_RMAX_O] = rmax_o
    tab[_C_BETA2] = beta2
    tab[_C_OMEGA2] = omega2
    return tab, lnt0, dlnt


# ----------------------------------------------------------------------------- public function
@dataclasses.dataclass(frozen=True)
class ElectronMCResult:
    """Energy deposition around an isotropic point source of monoenergetic electrons in water
    (unit density).

    Attributes
    ----------
    energy_mev : float
        Initial kinetic energy E0.
    r0_cm : float
        ESTAR CSDA range of E0 in water at 1 g/cm3 (scaling length).
    x_edges : ndarray, shape (n_bins + 1,)
        Scaled radial bin edges x = r / r0.
    deposited_fraction : ndarray, shape (n_bins,)
        Fraction of E0 deposited in each spherical shell.
    beyond_fraction : float
        Fraction deposited beyond the last edge (should be ~0).
    radiative_fraction : float
        Fraction of E0 lost to bremsstrahlung (not transported; leaves the kernel).
    mean_end_z_cm : float
        Mean projection of the primary electron's end point on its initial direction.
    n_histories, seed : int
    t_stop_mev, w_cc_mev : float
        Tracking cut-off and knock-on threshold used.
    overflowed : int
        Knock-ons deposited on the spot because the particle stack was full (expected 0).
    """

    energy_mev: float
    r0_cm: float
    x_edges: np.ndarray
    deposited_fraction: np.ndarray
    beyond_fraction: float
    radiative_fraction: float
    mean_end_z_cm: float
    n_histories: int
    seed: int
    t_stop_mev: float
    w_cc_mev: float
    overflowed: int

    @property
    def cumulative_fraction(self) -> np.ndarray:
        """Fraction of E0 deposited within each edge, shape (n_bins + 1,), starting at 0."""
        return np.concatenate([[0.0], np.cumsum(self.deposited_fraction)])


def simulate_electron_kernel(
    energy_mev: float,
    n_histories: int,
    seed: int,
    *,
    x_max: float = 1.6,
    n_bins: int = 640,
    step_fraction: float = 0.03,
    hard_elastic_c1: float = 0.05,
    straggling: bool = True,
    delta_rays: bool = True,
    stop_range_fraction: float = 0.002,
    n_chunks: int = 64,
) -> ElectronMCResult:
    """Simulate ``n_histories`` electrons of ``energy_mev`` from a point in water (1 g/cm3).

    Parameters
    ----------
    energy_mev : float
        Initial kinetic energy, 1.5 keV to 10 MeV.
    n_histories : int
        Number of primary electrons (> 0).
    seed : int
        Seed of the random streams (same seed -> same result, whatever the thread count).
    x_max, n_bins : float, int
        Radial tally: ``n_bins`` shells of equal width in x = r / r0 up to ``x_max``.
    step_fraction : float
        Maximum step as a fraction of the CSDA range at the current energy.
    hard_elastic_c1 : float
        Hard elastic mean free path = max(lambda_el, C1 * lambda_1) (PENELOPE's C1).
    straggling, delta_rays : bool
        Switch off energy-loss straggling / knock-on electrons (tests: CSDA transport).
    stop_range_fraction : float
        Tracking cut-off: energy whose CSDA range is this fraction of r0 (at least 1 keV);
        also the knock-on threshold W_cc.
    n_chunks : int
        Independent random streams (work units of the parallel driver).

    Returns
    -------
    ElectronMCResult

    Raises
    ------
    InputError
        Non-positive histories, step or chunk numbers.
    PhysicsRangeError
        Energy outside the tables.
    """
    if not (1.5e-3 <= energy_mev <= 10.0):
        raise PhysicsRangeError(
            f"electron energy {energy_mev} MeV is outside the Monte Carlo range 0.0015-10 MeV."
        )
    if n_histories <= 0 or n_chunks <= 0 or n_bins <= 0:
        raise InputError("n_histories, n_chunks and n_bins must be positive integers.")
    if not (0.0 < step_fraction <= 0.2) or not (0.0 < hard_elastic_c1 <= 0.5):
        raise InputError(
            "step_fraction must be in (0, 0.2] and hard_elastic_c1 in (0, 0.5]."
        )
    est = estar("water")
    r0 = float(est.csda_range(energy_mev))
    # tracking cut-off: residual range stop_range_fraction * r0, at least 1 keV
    grid = np.exp(np.linspace(np.log(_LOWEST_TRACKING_MEV), np.log(energy_mev), 2000))
    rng = est.csda_range(grid)
    t_stop = float(np.interp(stop_range_fraction * r0, rng, grid))
    t_stop = max(t_stop, _LOWEST_TRACKING_MEV)
    w_cc = t_stop if delta_rays else math.inf
    tab, lnt0, dlnt = _build_tables(
        energy_mev, t_stop, w_cc, hard_elastic_c1, delta_rays
    )
    n_chunks = min(n_chunks, n_histories)
    per = np.full(n_chunks, n_histories // n_chunks, dtype=np.int64)
    per[: n_histories % n_chunks] += 1
    states = seed_streams(seed, n_chunks, salt=round(energy_mev * 1e6))
    bin_cm = x_max * r0 / n_bins
    hist, scal = _simulate(
        states,
        per,
        tab,
        lnt0,
        dlnt,
        float(energy_mev),
        t_stop,
        float(w_cc if delta_rays else 1e30),
        float(step_fraction),
        bool(straggling),
        bool(delta_rays),
        1.0 / bin_cm,
        int(n_bins),
    )
    total = energy_mev * n_histories
    return ElectronMCResult(
        energy_mev=float(energy_mev),
        r0_cm=r0,
        x_edges=np.linspace(0.0, x_max, n_bins + 1),
        deposited_fraction=hist[:n_bins] / total,
        beyond_fraction=float(hist[n_bins] / total),
        radiative_fraction=float(scal[0] / total),
        mean_end_z_cm=float(scal[1] / n_histories),
        n_histories=int(n_histories),
        seed=int(seed),
        t_stop_mev=t_stop,
        w_cc_mev=float(w_cc),
        overflowed=int(scal[2]),
    )
