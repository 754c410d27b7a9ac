"""Physical constants used by the kernel physics (CODATA 2018 recommended values).

Source: E. Tiesinga et al., "CODATA recommended values of the fundamental physical constants:
2018", Rev. Mod. Phys. 93, 025010 (2021), https://physics.nist.gov/cuu/Constants/.
These are physics constants, not unit conversions, so they live here and not in
:mod:`netdose.units`.
"""

from __future__ import annotations

#: electron rest energy m_e c^2, MeV.
ELECTRON_MASS_MEV: float = 0.51099895000
#: classical electron radius r_e, cm.
CLASSICAL_ELECTRON_RADIUS_CM: float = 2.8179403262e-13
#: fine-structure constant alpha.
FINE_STRUCTURE: float = 7.2973525693e-3
#: Bohr radius a_0, cm.
BOHR_RADIUS_CM: float = 5.29177210903e-9
#: reduced Planck constant times c, MeV cm.
HBAR_C_MEV_CM: float = 197.3269804e-13
#: Avogadro constant, 1/mol (exact since 2019).
AVOGADRO_PER_MOL: float = 6.02214076e23

#: Liquid water: molar mass (g/mol; IUPAC standard atomic weights H 1.008, O 15.999) and the
#: atoms per molecule used for elastic scattering (Z, count).
WATER_MOLAR_MASS_G_MOL: float = 18.015
WATER_ATOMS: tuple[tuple[int, int], ...] = ((1, 2), (8, 1))
