"""SIRT (Y-90 radioembolisation): prescription, decay and safety checks.

See docs/physics.md (section 8) for every model, constant and source.
"""

from __future__ import annotations

from netdose.sirt.constants import DEFAULT_CONSTANTS, SirtConstants
from netdose.sirt.decay import (
    DeliveredActivity,
    VialOrder,
    activity_at,
    decay_factor,
    delivered_activity,
    vial_activity_to_order,
)
from netdose.sirt.extrahepatic import ExtrahepaticReport, Finding, check_extrahepatic
from netdose.sirt.predict import (
    PostTreatmentDose,
    PredictedDose,
    VoxelPlan,
    compare_with_plan,
    compartment_metrics,
    post_treatment_dose,
    predicted_dose,
    scale_maa_to_activity,
    tumour_to_normal_ratio,
    voxel_plan,
)
from netdose.sirt.prescription import (
    DO_NOT_TREAT,
    TREAT,
    ActivityPlan,
    Constraint,
    ConstraintBound,
    LungCheck,
    Prescription,
    activity_for_constraints,
    bsa_dubois_m2,
    check_lung_limits,
    cumulative_lung_dose_gy,
    lung_dose_gy,
    mird_single_compartment,
    partition,
    resin_bsa,
    tissue_mass_kg,
)
from netdose.sirt.shunt import LsfResult, lsf_planar, lsf_planar_images, lsf_spect

__all__ = [
    "DEFAULT_CONSTANTS",
    "DO_NOT_TREAT",
    "TREAT",
    "ActivityPlan",
    "Constraint",
    "ConstraintBound",
    "DeliveredActivity",
    "ExtrahepaticReport",
    "Finding",
    "LsfResult",
    "LungCheck",
    "PostTreatmentDose",
    "PredictedDose",
    "Prescription",
    "SirtConstants",
    "VialOrder",
    "VoxelPlan",
    "activity_at",
    "activity_for_constraints",
    "bsa_dubois_m2",
    "check_extrahepatic",
    "check_lung_limits",
    "compare_with_plan",
    "compartment_metrics",
    "cumulative_lung_dose_gy",
    "decay_factor",
    "delivered_activity",
    "lsf_planar",
    "lsf_planar_images",
    "lsf_spect",
    "lung_dose_gy",
    "mird_single_compartment",
    "partition",
    "post_treatment_dose",
    "predicted_dose",
    "resin_bsa",
    "scale_maa_to_activity",
    "tissue_mass_kg",
    "tumour_to_normal_ratio",
    "vial_activity_to_order",
    "voxel_plan",
]
