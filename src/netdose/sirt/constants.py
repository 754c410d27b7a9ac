"""SIRT (Y-90 radioembolisation) constants, each with its source.

Every number the SIRT prescription uses is defined here twice: as a named module constant
(unit in the name, source in the ``*_SOURCE`` string next to it) and as a field of the frozen
dataclass :class:`SirtConstants`, whose defaults are those module constants. A plan takes a
``SirtConstants`` (default :data:`DEFAULT_CONSTANTS`) and records ``constants.as_dict()`` —
value, unit and source of every field — so a report states exactly which numbers it used.
Change a value by making a new instance: ``SirtConstants(energy_constant_gy_kg_per_gbq=50.0)``;
the recorded source then says that the caller set it and what the default would have been.

docs/physics.md (section 8) explains each model and each constant.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

from netdose.errors import InputError, PhysicsRangeError
from netdose.sirt._checks import device as _check_device

__all__ = [
    "BODY_RANGE_SOURCE",
    "CUMULATIVE_LUNG_DOSE_LIMIT_GY",
    "DEFAULT_CONSTANTS",
    "DUBOIS_COEFFICIENT",
    "DUBOIS_HEIGHT_EXPONENT",
    "DUBOIS_SOURCE",
    "DUBOIS_WEIGHT_EXPONENT",
    "ENERGY_CONSTANT_GY_KG_PER_GBQ",
    "ENERGY_CONSTANT_SOURCE",
    "GLASS_CUMULATIVE_LUNG_DOSE_LIMIT_GY",
    "GLASS_LUNG_DOSE_LIMIT_GY",
    "GLASS_LUNG_DOSE_LIMIT_SOURCE",
    "HEIGHT_RANGE_CM",
    "LUNG_DOSE_LIMIT_GY",
    "LUNG_DOSE_LIMIT_SOURCE",
    "LUNG_MASS_KG",
    "LUNG_MASS_SOURCE",
    "MAX_CALIBRATION_OFFSET_D",
    "MAX_RESIDUAL_DELAY_D",
    "MAX_TISSUE_MASS_KG",
    "RESIDUAL_FRACTION_DEFAULT",
    "RESIDUAL_FRACTION_SOURCE",
    "RESIN_BSA_GBQ_PER_M2",
    "RESIN_BSA_GBQ_PER_TUMOUR_FRACTION",
    "RESIN_BSA_OFFSET_M2",
    "RESIN_BSA_SOURCE",
    "RESIN_LSF_REDUCTION_SOURCE",
    "RESIN_LSF_REDUCTION_TABLE",
    "THERASPHERE_ENERGY_CONSTANT_GY_KG_PER_GBQ",
    "THERASPHERE_ENERGY_CONSTANT_SOURCE",
    "TIME_WINDOW_SOURCE",
    "TISSUE_DENSITY_G_ML",
    "TISSUE_DENSITY_SOURCE",
    "WEIGHT_RANGE_KG",
    "SirtConstants",
]

# --------------------------------------------------------------------------- energy
#: Absorbed dose x mass per GBq of Y-90 decaying completely in the tissue: D = C · A / m.
ENERGY_CONSTANT_GY_KG_PER_GBQ: float = 49.67
ENERGY_CONSTANT_SOURCE = (
    "Energy released by the complete decay of 1 GBq of Y-90 and absorbed locally: mean beta "
    "energy x mean life (T1/2 / ln 2) x 1e9 Bq, in J = Gy·kg. 49.67 Gy·kg/GBq is the netdose "
    "default (DESIGN.md) and the value of much of the MIRD-schema SIRT literature; the "
    "ICRP-107 data in netdose (0.9331 MeV of electrons per decay, T1/2 64.10 h) give 49.77 "
    "(+0.2 %); the TheraSphere package insert rounds to 50 (0.9367 MeV, 64.1 h give 49.96)."
)
#: The TheraSphere (glass) package insert's value, for reproducing its worksheets.
THERASPHERE_ENERGY_CONSTANT_GY_KG_PER_GBQ: float = 50.0
THERASPHERE_ENERGY_CONSTANT_SOURCE = (
    "TheraSphere Yttrium-90 Glass Microspheres package insert (BTG/Boston Scientific): "
    "D (Gy) = 50 · A (GBq) · (1 - LSF) / M (kg)."
)

# --------------------------------------------------------------------------- tissue
#: Liver and tumour density used to turn CT/MRI volumes into masses.
TISSUE_DENSITY_G_ML: float = 1.03
TISSUE_DENSITY_SOURCE = (
    "1.03 g/mL for liver and tumour, as used by the TheraSphere package insert "
    "(M = V x 1.03 g/cm3), the Sirtex SIR-Spheres partition-model worksheets and the MIRD "
    "SIRT equations (Gulec, Mesoloras & Stabin, J Nucl Med 2006;47:1209-1211)."
)
#: Lung mass when the patient's own (CT) lung mass is not given.
LUNG_MASS_KG: float = 1.0
LUNG_MASS_SOURCE = (
    "1 kg, the standard lung mass of the SIRT lung-dose formula (TheraSphere package insert; "
    "Ho et al., Eur J Nucl Med 1996;23:947-952). A CT-based patient lung mass is better; "
    "give it as lung_mass_kg."
)

# --------------------------------------------------------------------------- lung limits
#: Largest lung dose of one treatment (any device unless overridden below).
LUNG_DOSE_LIMIT_GY: float = 30.0
#: Largest lung dose summed over all treatments.
CUMULATIVE_LUNG_DOSE_LIMIT_GY: float = 50.0
LUNG_DOSE_LIMIT_SOURCE = (
    "Radiation pneumonitis after Y-90 microspheres: 30 Gy per treatment and 50 Gy cumulative "
    "(Leung et al., Int J Radiat Oncol Biol Phys 1995;33:919-924; Ho et al., Eur J Nucl Med "
    "1997;24:293-298), as adopted by the device package inserts."
)
#: Glass (TheraSphere) lung limits.
GLASS_LUNG_DOSE_LIMIT_GY: float = 30.0
GLASS_CUMULATIVE_LUNG_DOSE_LIMIT_GY: float = 50.0
GLASS_LUNG_DOSE_LIMIT_SOURCE = (
    "TheraSphere package insert: lung dose up to 30 Gy in a single treatment and 50 Gy "
    "cumulative (equivalently 0.61 GBq / 16.5 mCi shunted to a 1 kg lung at 50 Gy·kg/GBq)."
)

# --------------------------------------------------------------------------- residual
#: Residual fraction (activity left in vial and delivery set) when the caller gives none.
RESIDUAL_FRACTION_DEFAULT: float = 0.0
RESIDUAL_FRACTION_SOURCE = (
    "No population value is adopted. The TheraSphere package insert puts the measured residual "
    "fraction R in the denominator of the activity (A = D·M / (50·(1-LSF)·(1-R))); netdose "
    "assumes R = 0 only when none is given, records it and warns. Enter the institution's "
    "expected residual when ordering and the measured residual after treatment."
)

# --------------------------------------------------------------------------- resin BSA method
#: SIR-Spheres LSF table: rows (largest LSF of the row, activity factor), LSF ascending.
#: LSF above the last row: do not treat.
RESIN_LSF_REDUCTION_TABLE: tuple[tuple[float, float], ...] = (
    (0.10, 1.0),
    (0.15, 0.8),
    (0.20, 0.6),
)
RESIN_LSF_REDUCTION_SOURCE = (
    "SIR-Spheres (Sirtex) Instructions for Use: LSF <= 10 %: full activity; > 10-15 %: reduce "
    "by 20 %; > 15-20 %: reduce by 40 %; > 20 %: do not give SIR-Spheres."
)
#: BSA method A (GBq) = (BSA - 0.2) + tumour fraction: the 0.2 m2 offset, ...
RESIN_BSA_OFFSET_M2: float = 0.2
#: ... 1 GBq per m2 of BSA ...
RESIN_BSA_GBQ_PER_M2: float = 1.0
#: ... and 1 GBq per unit tumour involvement fraction (100 % = 1 GBq).
RESIN_BSA_GBQ_PER_TUMOUR_FRACTION: float = 1.0
RESIN_BSA_SOURCE = (
    "SIR-Spheres Instructions for Use, BSA method: A (GBq) = (BSA (m2) - 0.2) + (% tumour "
    "involvement / 100)."
)

# --------------------------------------------------------------------------- DuBois BSA
#: BSA (m2) = 0.007184 · W(kg)^0.425 · H(cm)^0.725.
DUBOIS_COEFFICIENT: float = 0.007184
DUBOIS_WEIGHT_EXPONENT: float = 0.425
DUBOIS_HEIGHT_EXPONENT: float = 0.725
DUBOIS_SOURCE = (
    "DuBois D, DuBois EF. A formula to estimate the approximate surface area if height and "
    "weight be known. Arch Intern Med 1916;17:863-871: A (cm2) = 71.84 · W^0.425 · H^0.725."
)

# --------------------------------------------------------------------------- plausibility
#: Heights and weights accepted by the BSA formula (outside: PhysicsRangeError).
HEIGHT_RANGE_CM: tuple[float, float] = (100.0, 250.0)
WEIGHT_RANGE_KG: tuple[float, float] = (20.0, 300.0)
#: Largest liver, tumour or perfused-volume mass accepted (outside: PhysicsRangeError).
MAX_TISSUE_MASS_KG: float = 10.0
BODY_RANGE_SOURCE = (
    "netdose plausibility ranges for adult SIRT patients; they catch unit mistakes (metres, "
    "pounds, grams, mL) rather than define the validity of the formulas."
)
#: Largest |injection - calibration| time accepted (5.2 Y-90 half-lives: x37 in activity).
MAX_CALIBRATION_OFFSET_D: float = 14.0
#: Largest delay between injection and the residual measurement.
MAX_RESIDUAL_DELAY_D: float = 14.0
TIME_WINDOW_SOURCE = (
    "netdose plausibility windows, longer than the shelf life of the Y-90 microsphere "
    "products: a longer interval is taken as a date typo (wrong day or month)."
)


def _const(default: Any, unit: str, source: str) -> Any:
    return dataclasses.field(default=default, metadata={"unit": unit, "source": source})


@dataclasses.dataclass(frozen=True)
class SirtConstants:
    """The constants of one SIRT calculation; every result records ``as_dict()``.

    Attributes
    ----------
    energy_constant_gy_kg_per_gbq : float
        C in D = C·A/m, Gy·kg/GBq (49.67; 50 reproduces the TheraSphere package insert).
    tissue_density_g_ml : float
        Liver/tumour density for volume -> mass, g/mL.
    lung_mass_kg : float
        Lung mass used when no patient lung mass is given, kg.
    lung_dose_limit_gy, cumulative_lung_dose_limit_gy : float
        Lung limits per treatment and over all treatments, Gy (resin, and default).
    glass_lung_dose_limit_gy, glass_cumulative_lung_dose_limit_gy : float
        The same for glass microspheres, Gy.
    residual_fraction_default : float
        Residual fraction assumed when the caller gives none (recorded with a warning).
    resin_lsf_reduction_table : tuple of (float, float)
        (largest LSF of the row, activity factor); LSF above the last row: do not treat.
    resin_bsa_offset_m2, resin_bsa_gbq_per_m2, resin_bsa_gbq_per_tumour_fraction : float
        A = gbq_per_m2·(BSA - offset) + gbq_per_tumour_fraction·f (BSA method).
    dubois_coefficient, dubois_weight_exponent, dubois_height_exponent : float
        BSA (m2) = coefficient · W(kg)^weight_exponent · H(cm)^height_exponent.
    """

    energy_constant_gy_kg_per_gbq: float = _const(
        ENERGY_CONSTANT_GY_KG_PER_GBQ, "Gy·kg/GBq", ENERGY_CONSTANT_SOURCE
    )
    tissue_density_g_ml: float = _const(TISSUE_DENSITY_G_ML, "g/mL", TISSUE_DENSITY_SOURCE)
    lung_mass_kg: float = _const(LUNG_MASS_KG, "kg", LUNG_MASS_SOURCE)
    lung_dose_limit_gy: float = _const(LUNG_DOSE_LIMIT_GY, "Gy", LUNG_DOSE_LIMIT_SOURCE)
    cumulative_lung_dose_limit_gy: float = _const(
        CUMULATIVE_LUNG_DOSE_LIMIT_GY, "Gy", LUNG_DOSE_LIMIT_SOURCE
    )
    glass_lung_dose_limit_gy: float = _const(
        GLASS_LUNG_DOSE_LIMIT_GY, "Gy", GLASS_LUNG_DOSE_LIMIT_SOURCE
    )
    glass_cumulative_lung_dose_limit_gy: float = _const(
        GLASS_CUMULATIVE_LUNG_DOSE_LIMIT_GY, "Gy", GLASS_LUNG_DOSE_LIMIT_SOURCE
    )
    residual_fraction_default: float = _const(
        RESIDUAL_FRACTION_DEFAULT, "1", RESIDUAL_FRACTION_SOURCE
    )
    resin_lsf_reduction_table: tuple[tuple[float, float], ...] = _const(
        RESIN_LSF_REDUCTION_TABLE, "(LSF fraction, activity factor)", RESIN_LSF_REDUCTION_SOURCE
    )
    resin_bsa_offset_m2: float = _const(RESIN_BSA_OFFSET_M2, "m2", RESIN_BSA_SOURCE)
    resin_bsa_gbq_per_m2: float = _const(RESIN_BSA_GBQ_PER_M2, "GBq/m2", RESIN_BSA_SOURCE)
    resin_bsa_gbq_per_tumour_fraction: float = _const(
        RESIN_BSA_GBQ_PER_TUMOUR_FRACTION, "GBq", RESIN_BSA_SOURCE
    )
    dubois_coefficient: float = _const(
        DUBOIS_COEFFICIENT, "m2 per kg^0.425·cm^0.725", DUBOIS_SOURCE
    )
    dubois_weight_exponent: float = _const(DUBOIS_WEIGHT_EXPONENT, "1", DUBOIS_SOURCE)
    dubois_height_exponent: float = _const(DUBOIS_HEIGHT_EXPONENT, "1", DUBOIS_SOURCE)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name == "resin_lsf_reduction_table":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"SirtConstants.{f.name} = {value!r} is not a number.")
            value = float(value)
            if not math.isfinite(value) or value < 0.0:
                raise InputError(
                    f"SirtConstants.{f.name} = {value!r} must be a finite number >= 0."
                )
            object.__setattr__(self, f.name, value)
        self._check_range("energy_constant_gy_kg_per_gbq", 45.0, 55.0,
                          "Y-90 releases about 50 J per GBq; check the unit (Gy·kg/GBq)")
        self._check_range("tissue_density_g_ml", 0.9, 1.2, "give the density in g/mL")
        self._check_range("lung_mass_kg", 0.1, 5.0, "give the lung mass in kg")
        if not self.residual_fraction_default < 1.0:
            raise InputError(
                f"SirtConstants.residual_fraction_default = {self.residual_fraction_default!r} "
                "must be a fraction in [0, 1)."
            )
        for name in ("lung_dose_limit_gy", "cumulative_lung_dose_limit_gy",
                     "glass_lung_dose_limit_gy", "glass_cumulative_lung_dose_limit_gy",
                     "resin_bsa_gbq_per_m2", "dubois_coefficient",
                     "dubois_weight_exponent", "dubois_height_exponent"):
            if getattr(self, name) <= 0.0:
                raise InputError(f"SirtConstants.{name} must be greater than 0.")
        object.__setattr__(
            self, "resin_lsf_reduction_table", _check_table(self.resin_lsf_reduction_table)
        )

    def _check_range(self, name: str, low: float, high: float, hint: str) -> None:
        value = getattr(self, name)
        if not low <= value <= high:
            raise PhysicsRangeError(
                f"SirtConstants.{name} = {value!r} is outside the plausible range "
                f"[{low:g}, {high:g}]; {hint}."
            )

    @property
    def resin_max_lsf(self) -> float:
        """Largest LSF for which resin microspheres may be given (last row of the table)."""
        return self.resin_lsf_reduction_table[-1][0]

    def lung_limits_gy(self, device: str) -> tuple[float, float]:
        """(per-treatment, cumulative) lung dose limits in Gy for ``"resin"`` or ``"glass"``."""
        if _check_device(device) == "glass":
            return self.glass_lung_dose_limit_gy, self.glass_cumulative_lung_dose_limit_gy
        return self.lung_dose_limit_gy, self.cumulative_lung_dose_limit_gy

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Every constant as ``{name: {"value", "unit", "source"}}`` (JSON-ready).

        A value that differs from the netdose default has the source ``"set by the caller
        (netdose default ...: <default source>)"``.
        """
        out: dict[str, dict[str, Any]] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            source = f.metadata["source"]
            if value != f.default:
                source = f"set by the caller (netdose default {_jsonable(f.default)}: {source})"
            out[f.name] = {"value": _jsonable(value), "unit": f.metadata["unit"],
                           "source": source}
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _check_table(table: Any) -> tuple[tuple[float, float], ...]:
    hint = ("give rows (largest LSF, activity factor) with LSF rising in (0, 1) and factors "
            "in (0, 1] not rising, e.g. ((0.10, 1.0), (0.15, 0.8), (0.20, 0.6))")
    try:
        rows = tuple((float(lsf), float(factor)) for lsf, factor in table)
    except (TypeError, ValueError):
        raise InputError(
            f"SirtConstants.resin_lsf_reduction_table = {table!r} is not a table; {hint}."
        ) from None
    ok = bool(rows) and all(
        0.0 < lsf < 1.0 and 0.0 < factor <= 1.0 for lsf, factor in rows
    ) and all(
        a[0] < b[0] and a[1] >= b[1] for a, b in itertools.pairwise(rows)
    )
    if not ok:
        raise InputError(f"SirtConstants.resin_lsf_reduction_table = {table!r}: {hint}.")
    return rows


#: The netdose defaults.
DEFAULT_CONSTANTS = SirtConstants()
