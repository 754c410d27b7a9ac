"""Assess a response case with RECIST 1.1, Choi, iRECIST and PERCIST 1.0.

:func:`assess_case` returns the output of DESIGN ("Response case file"): the targets and
non-targets, then one entry per time point in input order (baseline included, with null
categories), keyed by criterion. Each criterion's block has ``category`` (the official
call), ``vs_baseline`` and ``vs_nadir`` (the calls with a single reference), the numbers that
decided them and ``reason`` in words. Categories: RECIST1.1 and Choi ``CR PR SD PD NE``
(RECIST 1.1 with non-target disease only: ``non-CR/non-PD``), iRECIST ``iCR iPR iSD iUPD
iCPD NE`` (``non-iCR/non-iUPD``), PERCIST ``CMR PMR SMD PMD NE``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from netdose.errors import InputError
from netdose.response.case import CRITERIA, Case, normalise_criteria, parse_case
from netdose.response.choi import ChoiConfig, assess_choi
from netdose.response.irecist import IrecistConfig, assess_irecist
from netdose.response.percist import PercistConfig, assess_percist
from netdose.response.recist import RecistConfig, assess_recist, select_targets

__all__ = ["ResponseConfig", "assess_case"]


@dataclasses.dataclass(frozen=True)
class ResponseConfig:
    """The thresholds of every criterion (each defaults to its published values)."""

    recist: RecistConfig = dataclasses.field(default_factory=RecistConfig)
    choi: ChoiConfig = dataclasses.field(default_factory=ChoiConfig)
    irecist: IrecistConfig = dataclasses.field(default_factory=IrecistConfig)
    percist: PercistConfig = dataclasses.field(default_factory=PercistConfig)

    def as_dict(self) -> dict[str, Any]:
        """Every constant with its value and source, keyed by criterion."""
        return {"RECIST1.1": self.recist.as_dict(), "Choi": self.choi.as_dict(),
                "iRECIST": self.irecist.as_dict(), "PERCIST": self.percist.as_dict()}


def assess_case(case: Case | Mapping[str, Any], criteria: Iterable[str] | None = None,
                config: ResponseConfig | None = None) -> dict[str, Any]:
    """Response of every time point of a case by the chosen criteria.

    Parameters
    ----------
    case : Case or dict
        A validated :class:`~netdose.response.case.Case`, or the parsed case JSON (validated
        here).
    criteria : iterable of str, optional
        Criteria to assess (``"RECIST1.1"``, ``"Choi"``, ``"iRECIST"``, ``"PERCIST"``);
        default: the case's ``criteria``, else all four.
    config : ResponseConfig, optional
        Thresholds; published defaults.

    Returns
    -------
    dict
        ``{"targets", "non_targets", "target_selection", "criteria", "constants",
        "timepoints": [{"label", "date", "modality", <criterion>: {...}}, ...]}``.

    Raises
    ------
    InputError
        Invalid case, unknown criterion, or inconsistent targets (the message names the JSON
        path and the fix).
    """
    if not isinstance(case, Case):
        if not isinstance(case, Mapping):
            raise InputError(f"assess_case: case must be a Case or the case JSON as a dict, got "
                             f"{type(case).__name__}; use netdose.response.case.load_case(path).")
        case = parse_case(case)
    cfg = config or ResponseConfig()
    if criteria is not None:
        chosen = normalise_criteria(list(criteria), where="criteria (argument)")
        if not chosen:
            raise InputError("criteria (argument) is empty; give at least one of "
                             f"{', '.join(CRITERIA)}, or None for the case's list.")
    else:
        chosen = case.criteria or CRITERIA
    selection = select_targets(case, cfg.recist)
    blocks: dict[str, list[dict[str, Any]]] = {}
    recist = None
    if "RECIST1.1" in chosen or "iRECIST" in chosen:
        recist = assess_recist(case, selection, cfg.recist)
    if "RECIST1.1" in chosen:
        assert recist is not None
        blocks["RECIST1.1"] = [r.to_dict() for r in recist]
    if "Choi" in chosen:
        blocks["Choi"] = [c.to_dict() for c in assess_choi(case, selection, cfg.choi,
                                                           cfg.recist)]
    if "iRECIST" in chosen:
        blocks["iRECIST"] = [i.to_dict() for i in assess_irecist(
            case, selection, cfg.irecist, cfg.recist, recist=recist)]
    if "PERCIST" in chosen:
        blocks["PERCIST"] = [p.to_dict() for p in assess_percist(case, cfg.percist)]
    timepoints = []
    for tp in case.timepoints:
        entry: dict[str, Any] = {"label": tp.label, "date": tp.date.isoformat(),
                                 "modality": tp.modality, "baseline": tp.index == 0}
        if tp.modality_change:
            entry["modality_change"] = True
            entry["new_baseline_lesions"] = list(tp.new_baseline_lesions)
        for name in CRITERIA:
            if name in blocks:
                entry[name] = blocks[name][tp.index]
        timepoints.append(entry)
    return {
        "patient_id": case.patient.id,
        "targets": list(selection.targets),
        "non_targets": list(selection.non_targets),
        "target_selection": selection.to_dict(),
        "criteria": [c for c in CRITERIA if c in chosen],
        # RECIST 1.1 constants always: its target selection serves every criterion.
        "constants": {k: v for k, v in cfg.as_dict().items()
                      if k in chosen or k == "RECIST1.1"},
        "timepoints": timepoints,
    }
