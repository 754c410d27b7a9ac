"""Dose point kernels of a radionuclide in a homogeneous medium.

The point kernel of a nuclide is the energy absorbed, per decay, within a sphere of radius r
around a point source, E(r) (MeV), split by component. It is assembled at run time from the
precomputed monoenergetic tables (docs/physics.md (section 4)):

- Electrons (beta spectrum, internal-conversion and Auger lines): scaled kernels
  F(x = r/r0, E) from :mod:`netdose.kernels.electron_mc` (water), interpolated in x and
  ln E; for the medium and density the CSDA range r0 is the medium's ESTAR range divided by
  the density (range scaling), and the absorbed total is set to 1 - Y(E) with the medium's
  ESTAR radiation yield Y (bremsstrahlung escapes).
- Photons (gamma, X-ray, annihilation lines): photon Monte Carlo tables of the medium in mass
  radius rho*r, interpolated in ln E; truncated at ``photon_radius_mm``.
- Electrons below 10 keV and photons below 5 keV (the table floors) are absorbed at the
  point of emission.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence

import numpy as np

from netdose.errors import InputError, NetdoseWarning, PhysicsRangeError
from netdose.kernels._tables import MEDIA, data_path, estar
from netdose.nuclides import Nuclide, get_nuclide

__all__ = [
    "COMPONENTS",
    "DEFAULT_DENSITY_G_CM3",
    "DEFAULT_PHOTON_RADIUS_MM",
    "PHOTON_DEFAULT_THRESHOLD",
    "PointKernel",
    "default_components",
    "electron_table_version",
    "normalise_components",
    "photon_table_version",
    "point_kernel",
]

#: Canonical components, in the order netdose reports them. ``"electrons"`` is accepted as
#: shorthand for ("beta", "ce", "auger").
COMPONENTS: tuple[str, ...] = ("beta", "ce", "auger", "photons")
#: Density of soft tissue used by default (g/cm3), as in the Lanconelli et al. (2012) voxel S
#: value database the kernels are validated against.
DEFAULT_DENSITY_G_CM3: float = 1.04
#: Photon point kernels are truncated at this radius by default (mm); see docs.
DEFAULT_PHOTON_RADIUS_MM: float = 100.0
#: Photons are in the default components when their energy per decay is at least this fraction
#: of the electron energy per decay (Lu-177: 0.24 -> included; Y-90: 1e-6 -> not).
PHOTON_DEFAULT_THRESHOLD: float = 0.01

_ELECTRON_FLOOR_MEV = 0.01  # first energy of the electron table
_PHOTON_FLOOR_MEV = 0.005  # first energy of the photon table
_BETA_POINTS = 400  # points of the refined beta spectrum
_TAIL_TOLERANCE = (
    1.0e-6  # electron kernel truncated where E(r) reaches 1 - this of its total
)
_N_RADII = 4000


# ----------------------------------------------------------------------------- tables
@dataclasses.dataclass(frozen=True, eq=False)
class _ElectronTable:
    energy_mev: np.ndarray  # (n_e,)
    x_edges: np.ndarray  # (n_x + 1,)
    cumulative: np.ndarray  # (n_e, n_x + 1), fraction of E0 within x
    version: str


@dataclasses.dataclass(frozen=True, eq=False)
class _PhotonTable:
    energy_mev: np.ndarray
    r_edges_g_cm2: np.ndarray
    cumulative: np.ndarray  # (n_e, n_r + 1)
    version: str


def _load_npz(name: str) -> dict[str, np.ndarray]:
    path = data_path(name)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except OSError as exc:  # pragma: no cover - packaging error
        raise InputError(
            f"kernel table {path} is missing; reinstall netdose or regenerate it with the "
            "scripts in scripts/."
        ) from exc


@functools.cache
def _electron_table() -> _ElectronTable:
    z = _load_npz("electron_kernels_water.npz")
    cum = np.array(z["cumulative"], dtype=np.float64)
    return _ElectronTable(
        np.array(z["energy_mev"], float),
        np.array(z["x_edges"], float),
        cum,
        str(z["table_version"]),
    )


@functools.cache
def _photon_table(medium: str) -> _PhotonTable:
    z = _load_npz(f"photon_kernels_{medium}.npz")
    return _PhotonTable(
        np.array(z["energy_mev"], float),
        np.array(z["r_edges_g_cm2"], float),
        np.array(z["cumulative"], float),
        str(z["table_version"]),
    )


def electron_table_version() -> str:
    """Version tag of the shipped electron kernel table (part of the cache key)."""
    return _electron_table().version


def photon_table_version(medium: str = "soft_tissue") -> str:
    """Version tag of the shipped photon kernel table of ``medium``."""
    return _photon_table(medium).version


def _interp_rows(energy_grid: np.ndarray, energy: float) -> tuple[int, float]:
    """Bracketing row and weight for linear interpolation in ln E."""
    le = np.log(energy_grid)
    x = math.log(energy)
    j = int(np.clip(np.searchsorted(le, x) - 1, 0, le.size - 2))
    f = (x - le[j]) / (le[j + 1] - le[j])
    return j, float(min(max(f, 0.0), 1.0))


# ----------------------------------------------------------------------------- components
def normalise_components(
    components: Sequence[str] | str | None, nuclide: Nuclide
) -> tuple[str, ...]:
    """Canonical tuple of components (subset of :data:`COMPONENTS`, in that order).

    ``None`` gives :func:`default_components`; ``"electrons"`` expands to beta, ce, auger.
    """
    if components is None:
        return default_components(nuclide)
    if isinstance(components, str):
        components = (components,)
    out: set[str] = set()
    for c in components:
        key = str(c).strip().lower()
        if key in ("electrons", "electron"):
            out.update(("beta", "ce", "auger"))
        elif key in ("photon", "photons", "gamma"):
            out.add("photons")
        elif key in COMPONENTS:
            out.add(key)
        else:
            raise InputError(
                f"unknown kernel component {c!r}; use 'electrons', 'photons' or any of "
                f"{', '.join(COMPONENTS)}."
            )
    if not out:
        raise InputError(
            "components is empty; give at least one of 'electrons', 'photons'."
        )
    return tuple(c for c in COMPONENTS if c in out)


def default_components(nuclide: Nuclide | str) -> tuple[str, ...]:
    """Electrons always; photons too when their energy per decay is at least
    :data:`PHOTON_DEFAULT_THRESHOLD` of the electron energy (Lu-177, I-131, Tc-99m: yes;
    Y-90, P-32: no)."""
    nuc = get_nuclide(nuclide) if isinstance(nuclide, str) else nuclide
    comps = ["beta", "ce", "auger"]
    e_el = nuc.electron_energy_mev
    if nuc.photon_energy_mev > PHOTON_DEFAULT_THRESHOLD * max(e_el, 1e-30):
        comps.append("photons")
    return tuple(comps)


def _electron_emissions(nuc: Nuclide, component: str) -> np.ndarray:
    """(energy MeV, energy emitted per decay MeV) rows for one electron component."""
    if component == "beta":
        spec = nuc.beta_spectrum_mev
        mean_total = nuc.energy_per_decay_mev("beta_minus") + nuc.energy_per_decay_mev(
            "beta_plus"
        )
        if spec.size == 0 or mean_total <= 0.0:
            return np.zeros((0, 2))
        e_max = float(spec[-1, 0])
        # midpoints of a uniform refinement of the ICRP spectrum: weight = E N(E) dE
        edges = np.linspace(float(spec[0, 0]), e_max, _BETA_POINTS + 1)
        mid = 0.5 * (edges[1:] + edges[:-1])
        n_e = np.interp(mid, spec[:, 0], spec[:, 1])
        w = mid * n_e * np.diff(edges)
        keep = w > 0
        rows = np.column_stack([mid[keep], w[keep]])
        # energy normalised to the ICRP branch mean energies (docs/physics.md section 2)
        rows[:, 1] *= mean_total / rows[:, 1].sum()
        return rows
    cat = {"ce": "ce", "auger": "auger"}[component]
    lines = nuc.lines[cat]
    if lines.size == 0:
        return np.zeros((0, 2))
    return np.column_stack([lines[:, 0], lines[:, 0] * lines[:, 1]])


# ----------------------------------------------------------------------------- point kernel
@dataclasses.dataclass(frozen=True, eq=False)
class PointKernel:
    """Energy absorbed around a point source of one nuclide, per decay.

    Attributes
    ----------
    nuclide : str
        ICRP name.
    density_g_cm3 : float
    medium : str
        Composition of the medium (``"soft_tissue"`` or ``"water"``).
    components : tuple[str, ...]
        Canonical components included (subset of :data:`COMPONENTS`).
    r_mm : ndarray, shape (n,)
        Radii, increasing, ``r_mm[0] = 0``.
    cumulative_mev : dict[str, ndarray]
        Per component, energy absorbed within r_mm (MeV per decay), shape (n,). The value at
        r = 0 is the energy absorbed at the point of emission (below the table floors).
    emitted_mev, escaped_mev, local_mev : dict[str, float]
        Per component: energy emitted per decay; energy not absorbed within the kernel
        (bremsstrahlung for electrons, beyond ``photon_radius_mm`` for photons, the 1e-6
        electron tail beyond ``electron_range_mm``); energy absorbed at the origin.
    electron_range_mm : float
        Radius within which electrons deposit all but 1e-6 of their absorbed energy (0 if no
        electron component).
    photon_radius_mm : float
        Truncation radius of the photon kernel (0 if no photon component).
    table_versions : tuple[str, ...]
    """

    nuclide: str
    density_g_cm3: float
    medium: str
    components: tuple[str, ...]
    r_mm: np.ndarray
    cumulative_mev: dict[str, np.ndarray]
    emitted_mev: dict[str, float]
    escaped_mev: dict[str, float]
    local_mev: dict[str, float]
    electron_range_mm: float
    photon_radius_mm: float
    table_versions: tuple[str, ...]

    @property
    def max_range_mm(self) -> float:
        """Radius beyond which the kernel is zero (electron range or photon radius)."""
        return max(self.electron_range_mm, self.photon_radius_mm)

    @property
    def total_cumulative_mev(self) -> np.ndarray:
        """Energy absorbed within r_mm summed over components, shape (n,)."""
        return np.sum([self.cumulative_mev[c] for c in self.components], axis=0)

    def energy_within_mev(
        self, r_mm: np.ndarray | float, component: str | None = None
    ) -> np.ndarray:
        """Energy absorbed within radius ``r_mm`` (MeV per decay), all components or one."""
        y = (
            self.total_cumulative_mev
            if component is None
            else self.cumulative_mev[component]
        )
        r = np.asarray(r_mm, dtype=np.float64)
        return np.interp(r, self.r_mm, y, left=y[0], right=y[-1])

    def absorbed_fraction_within(self, r_mm: np.ndarray | float) -> np.ndarray:
        """Fraction of the emitted energy (selected components) absorbed within ``r_mm``."""
        return self.energy_within_mev(r_mm) / sum(self.emitted_mev.values())

    def energy_per_shell_mev(self) -> np.ndarray:
        """Energy absorbed in each shell [r_mm[i], r_mm[i+1]), shape (n - 1,); the energy at
        the origin is in ``local_mev``."""
        return np.diff(self.total_cumulative_mev)

    def dose_mgy_per_mbq_s(self, r_mm: np.ndarray) -> np.ndarray:
        """Point-kernel dose rate at distance r per unit activity, mGy/(MBq s):
        (dE/dr) / (4 pi r^2 rho), by finite differences on ``r_mm``; shape of ``r_mm``."""
        from netdose.units import (
            BQ_PER_MBQ,
            G_PER_KG,
            J_PER_MEV,
            MGY_PER_GY,
            ML_PER_MM3,
        )

        r = np.asarray(r_mm, dtype=np.float64)
        mid = 0.5 * (self.r_mm[1:] + self.r_mm[:-1])
        dedr = np.diff(self.total_cumulative_mev) / np.diff(self.r_mm)  # MeV/mm
        dens = np.interp(r, mid, dedr, left=dedr[0], right=0.0)
        mass_kg_per_mm3 = self.density_g_cm3 * ML_PER_MM3 / G_PER_KG
        with np.errstate(divide="ignore"):
            return (
                dens
                / (4 * np.pi * r**2)
                * J_PER_MEV
                * BQ_PER_MBQ
                / mass_kg_per_mm3
                * MGY_PER_GY
            )

    def summary(self) -> dict[str, object]:
        """JSON-friendly summary."""
        return {
            "nuclide": self.nuclide,
            "density_g_cm3": self.density_g_cm3,
            "medium": self.medium,
            "components": list(self.components),
            "emitted_mev": dict(self.emitted_mev),
            "escaped_mev": dict(self.escaped_mev),
            "local_mev": dict(self.local_mev),
            "electron_range_mm": self.electron_range_mm,
            "photon_radius_mm": self.photon_radius_mm,
            "table_versions": list(self.table_versions),
        }


def _check_density(density_g_cm3: float) -> float:
    try:
        rho = float(density_g_cm3)
    except (TypeError, ValueError):
        raise InputError(
            f"density_g_cm3 must be a number, got {density_g_cm3!r}."
        ) from None
    if not (math.isfinite(rho) and rho > 0.0):
        raise InputError(
            f"density_g_cm3 must be positive and finite, got {density_g_cm3!r}; soft tissue is "
            "1.04, lung about 0.3, cortical bone about 1.92."
        )
    if rho < 1e-3 or rho > 25.0:
        raise PhysicsRangeError(
            f"density {rho} g/cm3 is outside 0.001-25 g/cm3, where range scaling of the kernels "
            "is not meaningful."
        )
    return rho


def _check_medium(medium: str) -> str:
    if medium not in MEDIA:
        raise InputError(f"unknown medium {medium!r}; use one of {', '.join(MEDIA)}.")
    return medium


def point_kernel(
    nuclide: str,
    density_g_cm3: float = DEFAULT_DENSITY_G_CM3,
    components: Sequence[str] | str | None = None,
    *,
    medium: str = "soft_tissue",
    photon_radius_mm: float = DEFAULT_PHOTON_RADIUS_MM,
) -> PointKernel:
    """Dose point kernel (energy absorbed within r, per decay) of ``nuclide``.

    Parameters
    ----------
    nuclide : str
        Any ICRP-107 nuclide name (``"Y-90"``, ``"177Lu"``...).
    density_g_cm3 : float
        Density of the homogeneous medium (g/cm3), default 1.04 (soft tissue).
    components : sequence of str, optional
        ``"electrons"`` (= beta + ce + auger), ``"photons"``, or canonical names; default
        :func:`default_components`.
    medium : str
        Composition: ``"soft_tissue"`` (ICRP soft tissue, default) or ``"water"``.
    photon_radius_mm : float
        Truncation radius of the photon kernel (mm).

    Returns
    -------
    PointKernel

    Raises
    ------
    InputError
        Unknown nuclide, component or medium; non-positive density or photon radius.
    PhysicsRangeError
        Emissions above the tables (electrons > 5 MeV, photons > 5 MeV).
    """
    nuc = get_nuclide(nuclide)
    rho = _check_density(density_g_cm3)
    if nuc.alpha_energy_mev > 0.0:
        warnings.warn(
            f"{nuc.name} emits alpha particles ({nuc.alpha_energy_mev:.3f} MeV per decay); dose "
            "kernels include electrons and photons only, so that energy is not in the kernel. "
            "Progeny are not included either.",
            NetdoseWarning,
            stacklevel=2,
        )
    _check_medium(medium)
    comps = normalise_components(components, nuc)
    if "photons" in comps:
        try:
            r_ph = float(photon_radius_mm)
        except (TypeError, ValueError):
            raise InputError(
                f"photon_radius_mm must be a number, got {photon_radius_mm!r}."
            ) from None
        if not (math.isfinite(r_ph) and r_ph > 0.0):
            raise InputError(
                f"photon_radius_mm must be positive, got {photon_radius_mm!r}."
            )
    else:
        r_ph = 0.0
    return _point_kernel_cached(nuc.name, rho, comps, medium, r_ph)


@functools.lru_cache(maxsize=64)
def _point_kernel_cached(
    name: str, rho: float, comps: tuple[str, ...], medium: str, r_ph: float
) -> PointKernel:
    nuc = get_nuclide(name)
    etab = _electron_table()
    est = estar(medium)
    el_comps = [c for c in comps if c != "photons"]
    emissions = {c: _electron_emissions(nuc, c) for c in el_comps}
    # electron range (mm) of the highest emitted electron energy
    e_max = max(
        (float(v[:, 0].max()) for v in emissions.values() if v.size), default=0.0
    )
    if e_max > etab.energy_mev[-1] * (1 + 1e-9):
        raise PhysicsRangeError(
            f"{name} emits electrons up to {e_max:.3f} MeV, above the {etab.energy_mev[-1]:.1f} MeV "
            "of netdose's electron kernel table; no kernel can be made for it."
        )
    x_end = float(etab.x_edges[-1])
    r_e_max = 0.0
    if e_max >= _ELECTRON_FLOOR_MEV:
        r_e_max = x_end * float(est.csda_range(e_max)) / rho * 10.0  # g/cm2 -> mm
    ptab = _photon_table(medium) if "photons" in comps else None
    r_hi = max(r_e_max, r_ph, 1e-3)
    r = np.concatenate([[0.0], np.geomspace(1e-4, r_hi, _N_RADII)])
    cumulative: dict[str, np.ndarray] = {}
    emitted: dict[str, float] = {}
    escaped: dict[str, float] = {}
    local: dict[str, float] = {}
    electron_total = np.zeros_like(r)
    for c in el_comps:
        rows = emissions[c]
        cum = np.zeros_like(r)
        emitted[c] = float(rows[:, 1].sum()) if rows.size else 0.0
        loc = 0.0
        esc = 0.0
        for e, w in rows:
            if w <= 0.0:
                continue
            if e < _ELECTRON_FLOOR_MEV:
                loc += w
                continue
            j, f = _interp_rows(etab.energy_mev, e)
            frac = (1.0 - f) * etab.cumulative[j] + f * etab.cumulative[j + 1]
            absorbed = 1.0 - float(est.yield_(e))
            frac = frac * (absorbed / frac[-1])
            r0_mm = float(est.csda_range(e)) / rho * 10.0
            cum += w * np.interp(r / r0_mm, etab.x_edges, frac, right=frac[-1])
            esc += w * (1.0 - absorbed)
        cum += loc
        cumulative[c] = cum
        local[c] = float(loc)
        escaped[c] = float(esc)
        electron_total += cum
    electron_range = 0.0
    if el_comps and electron_total[-1] > 0.0:
        target = electron_total[-1] * (1.0 - _TAIL_TOLERANCE)
        i = int(np.searchsorted(electron_total, target))
        electron_range = float(r[min(i, r.size - 1)])
        beyond = r > electron_range
        for c in el_comps:
            tail = cumulative[c][-1] - np.interp(electron_range, r, cumulative[c])
            escaped[c] += float(tail)
            cumulative[c] = np.where(
                beyond, np.interp(electron_range, r, cumulative[c]), cumulative[c]
            )
    if ptab is not None:
        lines = nuc.photon_lines()
        cum = np.zeros_like(r)
        emitted["photons"] = (
            float(np.sum(lines[:, 0] * lines[:, 1])) if lines.size else 0.0
        )
        loc = 0.0
        esc = 0.0
        if lines.size and lines[:, 0].max() > ptab.energy_mev[-1] * (1 + 1e-9):
            raise PhysicsRangeError(
                f"{name} emits photons up to {lines[:, 0].max():.3f} MeV, above the "
                f"{ptab.energy_mev[-1]:.1f} MeV of netdose's photon kernel table; use "
                "components=('electrons',)."
            )
        rr = np.minimum(r, r_ph) * rho / 10.0  # mm -> g/cm2
        for e, y in lines:
            w = e * y
            if w <= 0.0:
                continue
            if e < _PHOTON_FLOOR_MEV:
                loc += w
                continue
            j, f = _interp_rows(ptab.energy_mev, e)
            frac = (1.0 - f) * ptab.cumulative[j] + f * ptab.cumulative[j + 1]
            inside = np.interp(rr, ptab.r_edges_g_cm2, frac)
            cum += w * inside
            esc += w * (1.0 - float(inside[-1]))
        cumulative["photons"] = cum + loc
        local["photons"] = float(loc)
        escaped["photons"] = float(esc)
    if sum(emitted.values()) <= 0.0:
        raise InputError(
            f"{name} emits nothing in the components {', '.join(comps)}; choose components it "
            f"emits (default for {name}: {', '.join(default_components(nuc))})."
        )
    versions = [etab.version]
    if ptab is not None:
        versions.append(ptab.version)
    for arr in cumulative.values():
        arr.flags.writeable = False
    r.flags.writeable = False
    return PointKernel(
        nuclide=name,
        density_g_cm3=rho,
        medium=medium,
        components=comps,
        r_mm=r,
        cumulative_mev=cumulative,
        emitted_mev=emitted,
        escaped_mev=escaped,
        local_mev=local,
        electron_range_mm=electron_range,
        photon_radius_mm=r_ph,
        table_versions=tuple(versions),
    )
