"""Dosimetry: dose from activity (LDM, DVK), CT density, and (later) time-activity fitting,
DVHs and radiobiology."""

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

__all__ = [
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
