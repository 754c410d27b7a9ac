"""Loading of the physics tables shipped in ``netdose/data`` (read once, cached).

Each table's provenance is in the comment lines at its top and in docs/physics.md (section 4):

- ``estar_<medium>.csv``: NIST ESTAR electron stopping powers, CSDA ranges, radiation yields.
- ``xcom_<medium>.csv``: NIST XCOM photon cross sections.
- ``electron_kernels_water.npz``: scaled monoenergetic electron point kernels from
  :mod:`netdose.kernels.electron_mc` (made by ``scripts/make_electron_kernels.py``).
- ``photon_kernels_<medium>.npz``: monoenergetic photon point kernels from
  :mod:`netdose.kernels.photon_mc` (made by ``scripts/make_photon_kernels.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources

import numpy as np

from netdose.errors import InputError, PhysicsRangeError

__all__ = [
    "MEDIA",
    "EstarTable",
    "XcomTable",
    "data_path",
    "estar",
    "xcom",
]

#: Media with shipped tables. Composition only: the density is a separate input.
MEDIA: tuple[str, ...] = ("soft_tissue", "water")


def data_path(name: str) -> str:
    """Absolute path of a file in ``netdose/data``."""
    return str(resources.files("netdose").joinpath("data", name))


def _check_medium(medium: str) -> str:
    if medium not in MEDIA:
        raise InputError(
            f"unknown medium {medium!r} for dose kernels; use one of {', '.join(MEDIA)} "
            "(lung, bone: use 'soft_tissue' with their density)."
        )
    return medium


def _read_csv(name: str) -> np.ndarray:
    """Numeric rows of a shipped CSV table (``#`` comment lines, then a header row)."""
    path = data_path(name)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    except OSError as exc:  # pragma: no cover - a packaging error
        raise InputError(
            f"physics table {path} is missing; reinstall netdose."
        ) from exc
    return np.array(
        [[float(v) for v in ln.split(",")] for ln in lines[1:]], dtype=np.float64
    )


@dataclasses.dataclass(frozen=True, eq=False)
class EstarTable:
    """NIST ESTAR electron data for one medium (mass units: divide by nothing, multiply by
    density to get per-cm values).

    Attributes
    ----------
    energy_mev : ndarray, shape (n,)
    s_col_mev_cm2_g, s_rad_mev_cm2_g : ndarray, shape (n,)
        Collision and radiative mass stopping powers.
    csda_range_g_cm2 : ndarray, shape (n,)
    radiation_yield : ndarray, shape (n,)
        Fraction of the initial kinetic energy emitted as bremsstrahlung over the whole track.
    """

    medium: str
    energy_mev: np.ndarray
    s_col_mev_cm2_g: np.ndarray
    s_rad_mev_cm2_g: np.ndarray
    csda_range_g_cm2: np.ndarray
    radiation_yield: np.ndarray

    def _loglog(self, y: np.ndarray, energy_mev: np.ndarray | float) -> np.ndarray:
        e = np.asarray(energy_mev, dtype=np.float64)
        lo, hi = self.energy_mev[0], self.energy_mev[-1]
        if np.any(e < lo * (1 - 1e-9)) or np.any(e > hi * (1 + 1e-9)):
            raise PhysicsRangeError(
                f"electron energy outside the ESTAR table ({lo} to {hi} MeV) for {self.medium}."
            )
        return np.exp(np.interp(np.log(e), np.log(self.energy_mev), np.log(y)))

    def csda_range(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """CSDA range in g/cm2 (log-log interpolation)."""
        return self._loglog(self.csda_range_g_cm2, energy_mev)

    def s_col(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """Collision mass stopping power, MeV cm2/g."""
        return self._loglog(self.s_col_mev_cm2_g, energy_mev)

    def s_rad(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """Radiative mass stopping power, MeV cm2/g."""
        return self._loglog(self.s_rad_mev_cm2_g, energy_mev)

    def yield_(self, energy_mev: np.ndarray | float) -> np.ndarray:
        """Radiation yield (log-log interpolation)."""
        return self._loglog(self.radiation_yield, energy_mev)


@dataclasses.dataclass(frozen=True, eq=False)
class XcomTable:
    """NIST XCOM photon mass cross sections (cm2/g) for one medium, shape (n,) each."""

    medium: str
    energy_mev: np.ndarray
    coherent_cm2_g: np.ndarray
    incoherent_cm2_g: np.ndarray
    photoelectric_cm2_g: np.ndarray
    pair_cm2_g: np.ndarray


@functools.cache
def estar(medium: str = "water") -> EstarTable:
    """The ESTAR table of ``medium`` (``"water"`` or ``"soft_tissue"``)."""
    arr = _read_csv(f"estar_{_check_medium(medium)}.csv")
    cols = [np.ascontiguousarray(arr[:, i]) for i in range(5)]
    for c in cols:
        c.flags.writeable = False
    return EstarTable(medium, *cols)


@functools.cache
def xcom(medium: str = "water") -> XcomTable:
    """The XCOM table of ``medium`` (``"water"`` or ``"soft_tissue"``)."""
    arr = _read_csv(f"xcom_{_check_medium(medium)}.csv")
    cols = [np.ascontiguousarray(arr[:, i]) for i in range(5)]
    for c in cols:
        c.flags.writeable = False
    return XcomTable(medium, *cols)
