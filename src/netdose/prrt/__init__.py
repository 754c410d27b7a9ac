"""PRRT (Lu-177 peptide receptor radionuclide therapy): cycle dosimetry, radiobiology,
next-cycle activity, eligibility and the therapy record.

See docs/physics.md for every model, constant and source.
"""

from netdose.prrt.limits import (
    CycleOrganDose,
    LimitCheck,
    Limits,
    RiskFactors,
    check_cumulative,
)
from netdose.prrt.planning import NextCyclePlan, OrganHistory, plan_next_cycle
from netdose.prrt.record import (
    OrganDose,
    TherapyHistory,
    TherapyRecord,
    default_db_path,
)

__all__ = [
    "CycleOrganDose",
    "LimitCheck",
    "Limits",
    "NextCyclePlan",
    "OrganDose",
    "OrganHistory",
    "RiskFactors",
    "TherapyHistory",
    "TherapyRecord",
    "check_cumulative",
    "default_db_path",
    "plan_next_cycle",
]
