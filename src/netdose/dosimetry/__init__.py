"""Dosimetry: dose from activity (LDM, DVK), CT density, DVHs (and later time-activity
fitting and radiobiology)."""

from __future__ import annotations

from netdose.dosimetry.density import (
    DENSITY_FLOOR_G_CM3,
    SCHNEIDER_2000_HU_DENSITY,
    SOFT_TISSUE_DENSITY_G_CM3,
    density_from_ct,
)
from netdose.dosimetry.dose import (
    DoseResult,
    absorbed_dose,
    dose_dvk,
    dose_ldm,
    time_integrated_activity_bq_s,
)
from netdose.dosimetry.dvh import DVH, dvh, dvh_table

__all__ = [
    "DVH",
    "dvh",
    "dvh_table",
    "DENSITY_FLOOR_G_CM3",
    "SCHNEIDER_2000_HU_DENSITY",
    "SOFT_TISSUE_DENSITY_G_CM3",
    "density_from_ct",
    "DoseResult",
    "absorbed_dose",
    "dose_dvk",
    "dose_ldm",
    "time_integrated_activity_bq_s",
]
