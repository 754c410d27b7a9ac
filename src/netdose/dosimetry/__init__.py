"""Dosimetry: dose from activity (LDM, DVK), CT density, DVHs, time-activity fitting
(organ and voxel level, single time point) and radiobiology (BED, EQD2)."""

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
from netdose.dosimetry.radiobiology import (
    TISSUES,
    BEDResult,
    TissueParameters,
    bed,
    bed_gy,
    cumulative_bed,
    eqd2_gy,
    tissue_parameters,
)
from netdose.dosimetry.stp import StpResult, hanscheid_tia, madsen_tia
from netdose.dosimetry.tac import (
    TacFit,
    TacSelection,
    fit_model,
    fit_tac,
    trapezoid_tia,
)
from netdose.dosimetry.voxel_fit import VoxelTiaResult, fit_voxels, voi_scaled_tia

__all__ = [
    "DENSITY_FLOOR_G_CM3",
    "DVH",
    "SCHNEIDER_2000_HU_DENSITY",
    "SOFT_TISSUE_DENSITY_G_CM3",
    "TISSUES",
    "BEDResult",
    "DoseResult",
    "StpResult",
    "TacFit",
    "TacSelection",
    "TissueParameters",
    "VoxelTiaResult",
    "absorbed_dose",
    "bed",
    "bed_gy",
    "cumulative_bed",
    "density_from_ct",
    "dose_dvk",
    "dose_ldm",
    "dvh",
    "dvh_table",
    "eqd2_gy",
    "fit_model",
    "fit_tac",
    "fit_voxels",
    "hanscheid_tia",
    "madsen_tia",
    "time_integrated_activity_bq_s",
    "tissue_parameters",
    "trapezoid_tia",
    "voi_scaled_tia",
]
