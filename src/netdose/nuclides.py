"""Radionuclide decay data from ICRP Publication 107, through the ``icrp107-database`` package.

ICRP Publication 107 (Eckerman & Endo 2008, Ann. ICRP 38(3)) tabulates, per nuclide, the
half-life, the discrete radiations (mean energy and yield per decay) and the beta spectra.
The ``icrp107-database`` package (OpenGATE collaboration, LGPL-3.0) ships these as JSON; this
module reads them once per nuclide and exposes them with units in the names.

Energy categories (MeV per decay = sum of energy x yield over the listed radiations):

=================  =============================================================
``beta_minus``     beta- branches (mean energies of the continuous spectra)
``beta_plus``      beta+ branches
``ce``             internal-conversion electrons (ICRP "IE")
``auger``          Auger electrons
``gamma``          gamma rays
``xray``           X-rays
``annihilation``   511 keV annihilation photons from positron emission
``alpha``          alpha particles (+ ``alpha_recoil``)
=================  =============================================================

``electron_energy_mev`` = beta- + beta+ + ce + auger (kinetic energy of charged particles
other than alphas); ``photon_energy_mev`` = gamma + xray + annihilation.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import re
from pathlib import Path

import numpy as np

from netdose.errors import InputError
from netdose.units import ICRP_TIME_UNIT_S, LN2, S_PER_H

__all__ = [
    "CLINICAL_NUCLIDES",
    "Nuclide",
    "available_nuclides",
    "get_nuclide",
    "normalise_name",
]

#: Nuclides netdose is routinely used with (all ICRP-107 nuclides can be loaded).
CLINICAL_NUCLIDES: tuple[str, ...] = (
    "Y-90",
    "Lu-177",
    "Tc-99m",
    "Ga-68",
    "F-18",
    "I-131",
    "Ho-166",
    "Tb-161",
)

_ELEMENT_SYMBOLS = ["H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm"]
_SYMBOL_BY_LOWER = {s.lower(): s for s in _ELEMENT_SYMBOLS}

_LINE_CATEGORIES = {
    "beta_minus": "beta-",
    "beta_plus": "beta+",
    "ce": "IE",
    "auger": "auger",
    "gamma": "gamma",
    "xray": "X",
    "annihilation": "annihilation",
    "alpha": "alpha",
    "alpha_recoil": "alpha recoil",
}


def _data_dir() -> Path:
    try:
        import icrp107_database
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InputError(
            "the package icrp107-database is not installed; reinstall netdose "
            "(pip install .) to get its dependencies."
        ) from exc
    return Path(icrp107_database.__file__).parent / "icrp107"


@functools.cache
def available_nuclides() -> tuple[str, ...]:
    """Every nuclide in the ICRP-107 data set, in ICRP spelling (``"Lu-177"``, ``"Tc-99m"``)."""
    return tuple(sorted(p.stem for p in _data_dir().glob("*.json")))


def normalise_name(name: str) -> str:
    """ICRP spelling of a nuclide name given in a common form.

    Accepts ``"Lu-177"``, ``"lu177"``, ``"177Lu"``, ``"177-Lu"``, ``"Lu 177"``, ``"Tc-99m"``,
    ``"99mTc"``, ``"Tc99M"``.

    Raises
    ------
    InputError
        When the text is not a nuclide name.
    """
    text = str(name).strip().replace("_", "-").replace(" ", "-")
    m = re.fullmatch(r"([A-Za-z]{1,2})-?(\d{1,3})([mM]?\d?)", text) or None
    if m:
        sym, mass, meta = m.group(1), m.group(2), m.group(3)
    else:
        m = re.fullmatch(r"(\d{1,3})([mM]?\d?)-?([A-Za-z]{1,2})", text)
        if not m:
            raise InputError(
                f"{name!r} is not a radionuclide name; write it like 'Lu-177', 'Y-90' or 'Tc-99m'."
            )
        mass, meta, sym = m.group(1), m.group(2), m.group(3)
    symbol = _SYMBOL_BY_LOWER.get(sym.lower())
    if symbol is None:
        raise InputError(f"{name!r}: {sym!r} is not a chemical element symbol.")
    return f"{symbol}-{int(mass)}{meta.lower()}"


@dataclasses.dataclass(frozen=True, eq=False)
class Nuclide:
    """Decay data of one radionuclide (ICRP-107).

    Attributes
    ----------
    name : str
        ICRP spelling, e.g. ``"Lu-177"``.
    half_life_s : float
        Physical half-life in seconds.
    lines : dict[str, numpy.ndarray]
        Discrete radiations per category (see module docstring): arrays of shape (n, 2) with
        columns (energy MeV, yield per decay). For ``beta_minus``/``beta_plus`` the energy is
        the mean energy of each branch.
    beta_spectrum_mev : numpy.ndarray, shape (n, 2) or (0, 2)
        ICRP-107 beta spectrum (beta- or beta+, whichever the nuclide emits): columns
        (kinetic energy MeV, number of betas per decay per MeV). Integrates (trapezoid) to the
        beta yield per decay.
    """

    name: str
    half_life_s: float
    lines: dict[str, np.ndarray]
    beta_spectrum_mev: np.ndarray

    # -------------------------------------------------------------- time
    @property
    def half_life_h(self) -> float:
        """Physical half-life in hours."""
        return self.half_life_s / S_PER_H

    @property
    def decay_constant_per_s(self) -> float:
        """lambda = ln 2 / T1/2, in 1/s."""
        return LN2 / self.half_life_s

    def decay_factor(self, elapsed_s: float | np.ndarray) -> float | np.ndarray:
        """Fraction of activity left after ``elapsed_s`` seconds: exp(-lambda t)."""
        return np.exp(-self.decay_constant_per_s * np.asarray(elapsed_s, dtype=np.float64))

    @property
    def mean_life_s(self) -> float:
        """tau = T1/2 / ln 2 in s: time-integrated activity per unit initial activity for
        physical decay only (integral of exp(-lambda t) from 0 to infinity)."""
        return self.half_life_s / LN2

    # -------------------------------------------------------------- energies
    def energy_per_decay_mev(self, category: str) -> float:
        """Mean energy per decay (MeV) of one radiation category (module docstring)."""
        if category not in _LINE_CATEGORIES:
            raise InputError(
                f"unknown radiation category {category!r}; use one of {sorted(_LINE_CATEGORIES)}."
            )
        arr = self.lines[category]
        return float(np.sum(arr[:, 0] * arr[:, 1])) if arr.size else 0.0

    @property
    def electron_energy_mev(self) -> float:
        """Electron + positron kinetic energy per decay, MeV (beta-, beta+, CE, Auger)."""
        return sum(self.energy_per_decay_mev(c) for c in ("beta_minus", "beta_plus", "ce", "auger"))

    @property
    def photon_energy_mev(self) -> float:
        """Photon energy per decay, MeV (gamma, X-ray, annihilation)."""
        return sum(self.energy_per_decay_mev(c) for c in ("gamma", "xray", "annihilation"))

    @property
    def alpha_energy_mev(self) -> float:
        """Alpha + recoil energy per decay, MeV."""
        return self.energy_per_decay_mev("alpha") + self.energy_per_decay_mev("alpha_recoil")

    def electron_lines(self, min_yield: float = 0.0) -> np.ndarray:
        """Discrete electrons (CE and Auger) as (energy MeV, yield) rows, highest energy first."""
        arr = np.concatenate([self.lines["ce"], self.lines["auger"]])
        arr = arr[arr[:, 1] > min_yield]
        return arr[np.argsort(-arr[:, 0])]

    def photon_lines(self, min_yield: float = 0.0) -> np.ndarray:
        """Photons (gamma, X-ray, annihilation) as (energy MeV, yield) rows, highest first."""
        arr = np.concatenate([self.lines["gamma"], self.lines["xray"], self.lines["annihilation"]])
        arr = arr[arr[:, 1] > min_yield]
        return arr[np.argsort(-arr[:, 0])]

    @property
    def beta_yield(self) -> float:
        """Number of beta particles (either sign) per decay."""
        return float(self.lines["beta_minus"][:, 1].sum() + self.lines["beta_plus"][:, 1].sum())

    def summary(self) -> dict[str, float | str]:
        """JSON-friendly summary: half-life and energy per decay by category (MeV)."""
        out: dict[str, float | str] = {
            "name": self.name,
            "half_life_h": self.half_life_h,
            "electron_energy_mev": self.electron_energy_mev,
            "photon_energy_mev": self.photon_energy_mev,
        }
        for cat in _LINE_CATEGORIES:
            out[f"{cat}_mev"] = self.energy_per_decay_mev(cat)
        out["source"] = "ICRP Publication 107 (icrp107-database)"
        return out


def _as_lines(raw: list[list[float]]) -> np.ndarray:
    arr = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
    return arr


@functools.cache
def _load(icrp_name: str) -> Nuclide:
    path = _data_dir() / f"{icrp_name}.json"
    with open(path, "rb") as fh:
        raw = json.load(fh)
    # The package stores each nuclide as a JSON string inside a JSON document.
    data = json.loads(raw) if isinstance(raw, str) else raw
    unit = data["time_unit"]
    if unit not in ICRP_TIME_UNIT_S:
        raise InputError(f"ICRP-107 file {path} has an unknown time unit {unit!r}.")
    half_life_s = float(data["half_life"]) * ICRP_TIME_UNIT_S[unit]
    emissions = data["emissions"]
    lines = {cat: _as_lines(emissions.get(key, [])) for cat, key in _LINE_CATEGORIES.items()}
    for arr in lines.values():
        arr.flags.writeable = False
    spectrum = _as_lines(emissions.get("b-spectra", []))
    beta_yield = float(lines["beta_minus"][:, 1].sum() + lines["beta_plus"][:, 1].sum())
    if spectrum.size and beta_yield > 0.0:
        # ICRP-107 spectra are normalised to the beta yield; re-normalise the trapezoid
        # integral exactly, so that integrating the spectrum gives the betas per decay.
        integral = float(np.trapezoid(spectrum[:, 1], spectrum[:, 0]))
        spectrum = spectrum.copy()
        spectrum[:, 1] *= beta_yield / integral
    else:
        spectrum = np.zeros((0, 2))
    spectrum.flags.writeable = False
    if not (math.isfinite(half_life_s) and half_life_s > 0):
        raise InputError(f"ICRP-107 lists {icrp_name} as stable or with no half-life.")
    return Nuclide(icrp_name, half_life_s, lines, spectrum)


def get_nuclide(name: str) -> Nuclide:
    """Decay data for a nuclide by name (``"Y-90"``, ``"177Lu"``, ``"tc99m"``...).

    Raises
    ------
    InputError
        Unknown nuclide: the message lists the clinical nuclides and the closest matches.
    """
    try:
        icrp = normalise_name(name)
    except InputError as exc:
        raise InputError(f"{exc} Nuclides often used: {', '.join(CLINICAL_NUCLIDES)}.") from None
    known = available_nuclides()
    if icrp not in known:
        close = difflib.get_close_matches(icrp, known, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise InputError(
            f"unknown radionuclide {name!r} ({icrp} is not in ICRP-107).{hint} Nuclides often "
            f"used: {', '.join(CLINICAL_NUCLIDES)}."
        )
    return _load(icrp)
