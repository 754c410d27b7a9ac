"""SSTR-PET changes after PRRT: reported, not categorised (docs/physics.md §15).

No validated response criteria exist for somatostatin-receptor PET. For every lesion of the
case's ``pet`` blocks and every time point this gives SULpeak, SUVmax, tumour-to-liver and
tumour-to-spleen ratios and the Krenning-type score, with the change of each against
baseline; per patient the same for the sum over lesions (SULpeak) and the highest score.

Ratios and the score use the lesion **SULpeak** against the liver and spleen **SULmean** of
the same time point (the case file stores lesion SUVmax in SUVbw but references in SUL, so the
SUL pair is the one with a common unit); the score follows
:class:`netdose.response.lesions.KrenningScale` (4 > spleen, 3 > liver, 2 > 0.5 x liver).
"""

from __future__ import annotations

from typing import Any

from netdose.response.case import Case
from netdose.response.lesions import KrenningScale

__all__ = ["sstr_changes"]


def _pct(now: float | None, base: float | None) -> float | None:
    if now is None or base is None or base == 0:
        return None
    return 100.0 * (now - base) / base


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def sstr_changes(case: Case, scale: KrenningScale | None = None) -> dict[str, Any]:
    """Per-lesion and per-patient SSTR-PET values and their changes from baseline.

    Returns
    -------
    dict
        ``{"lesions": {id: [per time point: label, date, sul_peak, suv_max,
        tumour_to_liver, tumour_to_spleen, krenning_score, krenning_score_range, and
        *_change_pct / score_change vs baseline]}, "patient": [...], "note": ...}``;
        empty lists when the case has no PET.
    """
    k = scale or KrenningScale(statistic="suv_peak")
    lesions: dict[str, list[dict[str, Any]]] = {}
    patient: list[dict[str, Any]] = []
    base_vals: dict[str, dict[str, Any]] = {}
    base_patient: dict[str, Any] | None = None
    for tp in case.timepoints:
        pet = tp.pet
        if pet is None:
            continue
        liver, spleen = pet.liver_sul_mean, pet.spleen_sul_mean
        scores = []
        total = 0.0
        for le in pet.lesions:
            lo, hi = k.score_range(le.sul_peak, liver=liver, spleen=spleen, background=None)
            row = {"label": tp.label, "date": tp.date.isoformat(), "sul_peak": le.sul_peak,
                   "suv_max": le.suv_max, "tumour_to_liver": _ratio(le.sul_peak, liver),
                   "tumour_to_spleen": _ratio(le.sul_peak, spleen),
                   "krenning_score": lo if lo == hi else None,
                   "krenning_score_range": [lo, hi]}
            b = base_vals.setdefault(le.id, row)
            for key in ("sul_peak", "suv_max", "tumour_to_liver", "tumour_to_spleen"):
                row[f"{key}_change_pct"] = _pct(row[key], b[key])
            row["score_change"] = (None if row["krenning_score"] is None
                                   or b["krenning_score"] is None
                                   else row["krenning_score"] - b["krenning_score"])
            lesions.setdefault(le.id, []).append(row)
            scores.append(hi)
            total += le.sul_peak
        prow = {"label": tp.label, "date": tp.date.isoformat(), "sum_sul_peak": total,
                "highest_score": max(scores) if scores else None,
                "liver_sul_mean": liver, "spleen_sul_mean": spleen}
        if base_patient is None:
            base_patient = prow
        prow["sum_sul_peak_change_pct"] = _pct(total, base_patient["sum_sul_peak"])
        patient.append(prow)
    return {"lesions": lesions, "patient": patient, "scale": k.to_dict(),
            "note": "reported, not categorised: no validated SSTR-PET response criteria exist"}
