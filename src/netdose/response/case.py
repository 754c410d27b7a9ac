"""The response case file: load and validate the JSON a reader (or netdose) fills in.

The contract is docs (DESIGN, "Response case file") and docs/physics.md (response criteria).
A case is a patient, optional previous treatments, and time points in chronological order;
the first time point is the baseline. Each time point lists the lesions measured on CT/MR
(``lesions``), the non-target status, new lesions, and optionally a PET block (liver and
blood-pool reference, lesion SULpeak/SUVmax, new PET lesions).

Every problem raises :class:`~netdose.errors.InputError` naming the file, the JSON path
(``timepoints[2].lesions[0].longest_diameter_mm``), what was wrong and how to fix it.
Unknown keys are refused (with the closest known key suggested): a misspelt
``longest_diamter_mm`` would otherwise silently drop a measurement.

Conventions checked here:

- dates are ISO calendar dates (``YYYY-MM-DD``; response assessment needs the day, not the
  time, so no time zone is involved), strictly increasing from one time point to the next;
- lesion ids: a follow-up lists lesions by their baseline ids (a disappeared lesion has
  diameter 0); a lesion not present at baseline is a new lesion (``new_lesions``), unless a
  modality change made it a "new baseline lesion" (``modality_change`` +
  ``new_baseline_lesions``), after which it may be listed by id like a baseline lesion;
- a target lesion must be given at every follow-up, with its measurement (0 if it
  disappeared) or ``"evaluated": false`` (:meth:`Case.check_targets`; called once the targets
  are known, i.e. after automatic selection when ``targets`` is null);
- lymph nodes (``organ`` ``"lymph_node"``) are measured by their short axis
  (``short_axis_mm``), other lesions by their longest diameter (``longest_diameter_mm``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from netdose.errors import InputError

__all__ = [
    "CRITERIA",
    "NON_TARGET_STATUSES",
    "Case",
    "Lesion",
    "NewLesion",
    "Patient",
    "Pet",
    "PetLesion",
    "PetNewLesion",
    "Timepoint",
    "Treatment",
    "is_nodal_organ",
    "load_case",
    "normalise_criteria",
    "organ_key",
    "parse_case",
]

#: Criteria netdose assesses, in the official spelling used as output keys.
CRITERIA: tuple[str, ...] = ("RECIST1.1", "Choi", "iRECIST", "PERCIST")
#: Non-target statuses a reader may give at a follow-up (RECIST 1.1 spelling).
NON_TARGET_STATUSES: tuple[str, ...] = ("CR", "non-CR/non-PD", "PD")

#: CT numbers outside this range are not tissue densities (12-bit CT range, HU).
_HU_RANGE = (-1024.0, 3071.0)
#: Organ names that mean "lymph node" (after :func:`organ_key`).
_NODAL_KEYS = ("lymph_node", "lymph_nodes", "node", "nodes", "ln")

_TOP_KEYS = ("patient", "criteria", "timepoints", "previous_treatments", "comment")
_PATIENT_KEYS = ("id", "sex", "weight_kg", "height_cm")
_TREATMENT_KEYS = ("name", "start_date", "end_date", "notes")
_TIMEPOINT_KEYS = (
    "label", "date", "modality", "lesions", "targets", "non_target_status",
    "non_target_further_increase", "new_lesions", "pet", "modality_change",
    "new_baseline_lesions", "comment",
)
_LESION_KEYS = (
    "id", "organ", "location", "longest_diameter_mm", "short_axis_mm", "mean_hu",
    "measurable", "evaluated", "new_intratumoural_nodules",
)
_NEW_LESION_KEYS = ("id", "organ", "location", "longest_diameter_mm", "short_axis_mm",
                    "mean_hu", "unequivocal")
_PET_KEYS = ("liver_sul_mean", "liver_sul_sd", "blood_pool_sul_mean", "blood_pool_sul_sd",
             "spleen_sul_mean", "lesions", "new_lesions")
_PET_LESION_KEYS = ("id", "sul_peak", "suv_max")
_PET_NEW_LESION_KEYS = ("id", "sul_peak", "suv_max", "typical_of_tumour")
_SEXES = ("F", "M", "O")


# =========================================================================== helpers
def organ_key(organ: str) -> str:
    """Normalised organ name for counting targets per organ: lower case, spaces and
    hyphens as underscores; every lymph-node spelling becomes ``"lymph_node"`` (RECIST 1.1
    counts all nodes as one organ)."""
    key = re.sub(r"[\s\-]+", "_", organ.strip().lower())
    if key in _NODAL_KEYS or key.startswith("lymph_node"):
        return "lymph_node"
    return key


def is_nodal_organ(organ: str | None) -> bool:
    """True when ``organ`` names a lymph node (measured by its short axis)."""
    return organ is not None and organ_key(organ) == "lymph_node"


def normalise_criteria(values: Iterable[object], where: str = "criteria") -> tuple[str, ...]:
    """Map user spellings (``"recist 1.1"``, ``"RECIST"``, ``"percist"``) to :data:`CRITERIA`.

    Raises :class:`InputError` for unknown names or duplicates.
    """
    table = {re.sub(r"[\s._\-]", "", c).lower(): c for c in CRITERIA}
    table["recist"] = "RECIST1.1"
    table["percist1"] = table["percist10"] = "PERCIST"
    out: list[str] = []
    for i, value in enumerate(values):
        key = re.sub(r"[\s._\-]", "", str(value)).lower() if isinstance(value, str) else None
        if key not in table:
            raise InputError(
                f"{where}[{i}] = {value!r} is not a criterion netdose assesses; use some of "
                f"{', '.join(CRITERIA)}."
            )
        name = table[key]
        if name in out:
            raise InputError(f"{where}[{i}] = {value!r}: {name} is listed twice; list it once.")
        out.append(name)
    return tuple(out)


class _Reader:
    """Typed access to JSON values with error messages that carry the JSON path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, message: str) -> InputError:
        sep = " " if message.startswith("= ") else ": "
        return InputError(f"{self.source}: {path}{sep}{message}")

    def obj(self, value: object, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected a JSON object {{...}}, got {_kind(value)}.")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise self.error(
                    f"{path}.{key}" if path else str(key),
                    f"unknown field.{hint} Known fields here: {', '.join(allowed)}.",
                )
        return value

    def array(self, obj: Mapping[str, Any], key: str, path: str, *,
              required: bool = False) -> list[Any]:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.error(_join(path, key), "missing; give a JSON list [...].")
            return []
        if not isinstance(value, list):
            raise self.error(_join(path, key), f"expected a JSON list [...], got {_kind(value)}.")
        return value

    def text(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool,
             what: str = "text") -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.error(_join(path, key), f"missing; give the {what} as a string.")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(_join(path, key),
                             f"= {value!r}: give the {what} as a non-empty string.")
        return value.strip()

    def number(self, obj: Mapping[str, Any], key: str, path: str, *, unit: str,
               minimum: float | None = 0.0, positive: bool = False,
               maximum: float | None = None, required: bool = False,
               hint: str = "") -> float | None:
        value = obj.get(key)
        where = _join(path, key)
        if value is None:
            if required:
                raise self.error(where, f"missing; give it as a number in {unit}.{hint}")
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.error(where, f"= {value!r} is not a number; give a number in {unit}.")
        out = float(value)
        if not math.isfinite(out):
            raise self.error(where, f"= {value!r} is not finite; give the measured value in "
                                    f"{unit}.")
        if positive and out <= 0.0:
            raise self.error(where, f"= {out:g} {unit}: it must be greater than 0.{hint}")
        if minimum is not None and out < minimum:
            raise self.error(where, f"= {out:g} {unit}: it cannot be below {minimum:g} {unit}."
                                    f"{hint}")
        if maximum is not None and out > maximum:
            raise self.error(where, f"= {out:g} {unit}: it cannot be above {maximum:g} {unit}."
                                    f"{hint}")
        return out

    def flag(self, obj: Mapping[str, Any], key: str, path: str, *,
             required: bool = False, meaning: str = "") -> bool | None:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.error(_join(path, key), f"missing; give true or false{meaning}.")
            return None
        if not isinstance(value, bool):
            raise self.error(_join(path, key), f"= {value!r}: give true or false{meaning}.")
        return value

    def date(self, obj: Mapping[str, Any], key: str, path: str, *,
             required: bool) -> _dt.date | None:
        value = obj.get(key)
        where = _join(path, key)
        if value is None:
            if required:
                raise self.error(where, "missing; give the date as YYYY-MM-DD.")
            return None
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise self.error(where, f"= {value!r} is not an ISO date; give it as YYYY-MM-DD "
                                    "(e.g. 2025-01-10).")
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise self.error(where, f"= {value!r} is not a valid date ({exc}); give it as "
                                    "YYYY-MM-DD.") from exc

    def ids(self, obj: Mapping[str, Any], key: str, path: str) -> tuple[str, ...] | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.error(_join(path, key),
                             f"expected a list of lesion ids, got {_kind(value)}.")
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"{_join(path, key)}[{i}]",
                                 f"= {item!r}: give a lesion id (string).")
            if item.strip() in out:
                raise self.error(f"{_join(path, key)}[{i}]",
                                 f"lesion id {item!r} is listed twice; list it once.")
            out.append(item.strip())
        return tuple(out)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# =========================================================================== data types
@dataclasses.dataclass(frozen=True)
class Patient:
    """The patient: a (pseudonymised) id and, optionally, sex, weight and height."""

    id: str
    sex: str | None = None
    weight_kg: float | None = None
    height_cm: float | None = None


@dataclasses.dataclass(frozen=True)
class Treatment:
    """A previous treatment, for the case-report form (not used by the criteria)."""

    name: str
    start_date: _dt.date | None = None
    end_date: _dt.date | None = None
    notes: str | None = None


@dataclasses.dataclass(frozen=True)
class Lesion:
    """A lesion measured on CT/MR at one time point.

    Attributes
    ----------
    id : str
        Same id at every time point.
    organ : str
        Organ (``"lymph_node"`` for nodes); copied from the baseline at follow-ups.
    location : str or None
        Free-text location for the case-report form (e.g. "segment VII").
    longest_diameter_mm, short_axis_mm : float or None
        Diameters in mm; 0 means the lesion disappeared. Nodes are judged by the short axis,
        other lesions by the longest diameter (RECIST 1.1).
    mean_hu : float or None
        Mean CT density of the lesion, HU (Choi).
    measurable : bool or None
        ``False`` marks a lesion that must not be a target (bone without soft tissue,
        irradiated lesion...); ``None`` lets the size thresholds decide.
    evaluated : bool
        ``False`` when the lesion could not be assessed at this time point.
    new_intratumoural_nodules : bool or None
        Follow-ups: new or growing nodules inside the lesion (Choi progression);
        ``None`` = not recorded.
    """

    id: str
    organ: str
    location: str | None = None
    longest_diameter_mm: float | None = None
    short_axis_mm: float | None = None
    mean_hu: float | None = None
    measurable: bool | None = None
    evaluated: bool = True
    new_intratumoural_nodules: bool | None = None

    @property
    def nodal(self) -> bool:
        """True for a lymph node."""
        return is_nodal_organ(self.organ)

    @property
    def size_mm(self) -> float | None:
        """The RECIST 1.1 measurement: short axis of a node, longest diameter otherwise
        (None if not given or not evaluated)."""
        if not self.evaluated:
            return None
        return self.short_axis_mm if self.nodal else self.longest_diameter_mm

    @property
    def size_field(self) -> str:
        """Name of the JSON field holding :attr:`size_mm`."""
        return "short_axis_mm" if self.nodal else "longest_diameter_mm"


@dataclasses.dataclass(frozen=True)
class NewLesion:
    """A lesion not present at baseline (seen at a follow-up).

    ``unequivocal`` must be stated: only unequivocal new lesions mean progression
    (RECIST 1.1 section 4.3.2); an equivocal one is recorded and followed.
    """

    id: str
    organ: str
    unequivocal: bool
    location: str | None = None
    longest_diameter_mm: float | None = None
    short_axis_mm: float | None = None
    mean_hu: float | None = None

    @property
    def nodal(self) -> bool:
        return is_nodal_organ(self.organ)

    @property
    def size_mm(self) -> float | None:
        """Short axis of a node, longest diameter otherwise (None if not given)."""
        return self.short_axis_mm if self.nodal else self.longest_diameter_mm


@dataclasses.dataclass(frozen=True)
class PetLesion:
    """PET measurement of a lesion: SULpeak (SUV normalised to lean body mass, in a 1 cm³
    sphere) and optionally SUVmax."""

    id: str
    sul_peak: float
    suv_max: float | None = None


@dataclasses.dataclass(frozen=True)
class PetNewLesion:
    """A lesion new on PET; ``typical_of_tumour`` must be stated (PERCIST counts only new
    lesions typical of tumour, not of infection or treatment effect)."""

    id: str
    typical_of_tumour: bool
    sul_peak: float | None = None
    suv_max: float | None = None


@dataclasses.dataclass(frozen=True)
class Pet:
    """The PET part of a time point (PERCIST)."""

    liver_sul_mean: float | None
    liver_sul_sd: float | None
    blood_pool_sul_mean: float | None
    blood_pool_sul_sd: float | None
    lesions: tuple[PetLesion, ...]
    new_lesions: tuple[PetNewLesion, ...]
    spleen_sul_mean: float | None = None

    def lesion(self, lesion_id: str) -> PetLesion | None:
        return next((le for le in self.lesions if le.id == lesion_id), None)


@dataclasses.dataclass(frozen=True)
class Timepoint:
    """One imaging time point (the first one of a case is the baseline)."""

    index: int
    label: str
    date: _dt.date
    modality: str
    lesions: tuple[Lesion, ...]
    targets: tuple[str, ...] | None
    non_target_status: str | None
    non_target_further_increase: bool | None
    new_lesions: tuple[NewLesion, ...]
    pet: Pet | None
    modality_change: bool
    new_baseline_lesions: tuple[str, ...]
    comment: str | None = None

    @property
    def path(self) -> str:
        """JSON path of this time point (``timepoints[2]``)."""
        return f"timepoints[{self.index}]"

    def lesion(self, lesion_id: str) -> Lesion | None:
        return next((le for le in self.lesions if le.id == lesion_id), None)

    def lesion_index(self, lesion_id: str) -> int | None:
        return next((i for i, le in enumerate(self.lesions) if le.id == lesion_id), None)


@dataclasses.dataclass(frozen=True)
class Case:
    """A validated response case (see the module docstring)."""

    patient: Patient
    criteria: tuple[str, ...] | None
    timepoints: tuple[Timepoint, ...]
    previous_treatments: tuple[Treatment, ...] = ()
    comment: str | None = None
    source: str = "case"

    @property
    def baseline(self) -> Timepoint:
        return self.timepoints[0]

    @property
    def followups(self) -> tuple[Timepoint, ...]:
        return self.timepoints[1:]

    def new_baseline_ids_before(self, index: int) -> frozenset[str]:
        """Ids made "new baseline lesions" at time points ``1 .. index`` (inclusive)."""
        out: set[str] = set()
        for tp in self.timepoints[1:index + 1]:
            out.update(tp.new_baseline_lesions)
        return frozenset(out)

    def check_targets(self, targets: Sequence[str]) -> None:
        """Check that every target is measured at baseline and given at every follow-up
        (its measurement, 0 if it disappeared, or ``"evaluated": false``).

        Raises :class:`InputError` naming the time point and the lesion.
        """
        base = self.baseline
        for tid in targets:
            lesion = base.lesion(tid)
            if lesion is None:  # pragma: no cover - selection only picks baseline lesions
                raise InputError(f"{self.source}: {base.path}.targets: {tid!r} is not a baseline "
                                 "lesion id.")
            for tp in self.followups:
                i = tp.lesion_index(tid)
                if i is None:
                    raise InputError(
                        f"{self.source}: {tp.path}.lesions: target lesion {tid!r} is missing at "
                        f"time point {tp.label!r}. Give its {lesion.size_field} (0 if it "
                        'disappeared), or "evaluated": false if it could not be assessed.'
                    )
                fu = tp.lesions[i]
                if fu.evaluated and fu.size_mm is None:
                    what = ("lymph node: RECIST 1.1 follows the short axis" if lesion.nodal
                            else "longest diameter")
                    raise InputError(
                        f"{self.source}: {tp.path}.lesions[{i}].{lesion.size_field}: missing for "
                        f"target lesion {tid!r} ({what}). Give it in mm (0 if the lesion "
                        'disappeared), or "evaluated": false.'
                    )


# =========================================================================== parsing
def load_case(path: str | os.PathLike[str]) -> Case:
    """Read and validate a response case file (JSON).

    Raises
    ------
    InputError
        The file cannot be read, is not JSON, or breaks the case-file contract (the message
        names the JSON path and the fix).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"case file {p} does not exist; give the path of a response case "
                         "JSON file (see docs/examples/response_case.json).") from exc
    except IsADirectoryError as exc:
        raise InputError(f"case file {p} is a folder; give the path of a JSON file.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read case file {p}: {exc}.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"case file {p} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}; fix the JSON syntax there.") from exc
    return parse_case(data, source=str(p))


def parse_case(data: object, source: str = "case") -> Case:
    """Validate a case given as parsed JSON (a dict) and return a :class:`Case`.

    ``source`` names the case in error messages (the file path when loaded from disk).
    """
    rd = _Reader(source)
    top = rd.obj(data, "", _TOP_KEYS)
    patient = _parse_patient(rd, top.get("patient"))
    criteria = None
    if top.get("criteria") is not None:
        raw = top["criteria"]
        if not isinstance(raw, list) or not raw:
            raise rd.error("criteria", f"expected a non-empty list such as {list(CRITERIA)}, "
                                       f"got {_kind(raw)}; or leave it out for all criteria.")
        try:
            criteria = normalise_criteria(raw)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
    treatments = tuple(
        _parse_treatment(rd, t, f"previous_treatments[{i}]")
        for i, t in enumerate(rd.array(top, "previous_treatments", ""))
    )
    raw_tps = rd.array(top, "timepoints", "", required=True)
    if not raw_tps:
        raise rd.error("timepoints", "is empty; give at least the baseline time point.")
    timepoints: list[Timepoint] = []
    known: dict[str, Lesion] = {}  # baseline lesions, then new-baseline lesions
    for i, raw in enumerate(raw_tps):
        tp = _parse_timepoint(rd, raw, i, timepoints, known)
        timepoints.append(tp)
    case = Case(patient=patient, criteria=criteria, timepoints=tuple(timepoints),
                previous_treatments=treatments,
                comment=rd.text(top, "comment", "", required=False, what="comment"),
                source=source)
    _check_pet_consistency(rd, case)
    if case.baseline.targets is not None:
        case.check_targets(case.baseline.targets)
    return case


def _parse_patient(rd: _Reader, raw: object) -> Patient:
    if raw is None:
        raise rd.error("patient", 'missing; give at least {"id": "..."} (a pseudonymised id).')
    obj = rd.obj(raw, "patient", _PATIENT_KEYS)
    pid = obj.get("id")
    if isinstance(pid, (int,)) and not isinstance(pid, bool):
        pid = str(pid)
    if not isinstance(pid, str) or not pid.strip():
        raise rd.error("patient.id", f"= {pid!r}: give the patient id as a non-empty string.")
    sex = obj.get("sex")
    if sex is not None and (not isinstance(sex, str) or sex.strip().upper() not in _SEXES):
        raise rd.error("patient.sex", f"= {sex!r}: give one of {', '.join(_SEXES)} or null.")
    return Patient(
        id=pid.strip(),
        sex=sex.strip().upper() if isinstance(sex, str) else None,
        weight_kg=rd.number(obj, "weight_kg", "patient", unit="kg", positive=True,
                            maximum=500.0),
        height_cm=rd.number(obj, "height_cm", "patient", unit="cm", minimum=30.0,
                            maximum=300.0, hint=" Give the height in cm (not m)."),
    )


def _parse_treatment(rd: _Reader, raw: object, path: str) -> Treatment:
    if isinstance(raw, str) and raw.strip():
        return Treatment(name=raw.strip())
    obj = rd.obj(raw, path, _TREATMENT_KEYS)
    name = rd.text(obj, "name", path, required=True, what="treatment name")
    start = rd.date(obj, "start_date", path, required=False)
    end = rd.date(obj, "end_date", path, required=False)
    if start is not None and end is not None and end < start:
        raise rd.error(f"{path}.end_date", f"{end} is before start_date {start}; check the "
                                           "dates.")
    return Treatment(name=name or "", start_date=start, end_date=end,
                     notes=rd.text(obj, "notes", path, required=False, what="notes"))


def _parse_timepoint(rd: _Reader, raw: object, index: int, earlier: Sequence[Timepoint],
                     known: dict[str, Lesion]) -> Timepoint:
    path = f"timepoints[{index}]"
    obj = rd.obj(raw, path, _TIMEPOINT_KEYS)
    baseline = index == 0
    label = rd.text(obj, "label", path, required=True, what="time point label") or ""
    for tp in earlier:
        if tp.label == label:
            raise rd.error(f"{path}.label", f"{label!r} is already the label of {tp.path}; "
                                            "give each time point its own label.")
    date = rd.date(obj, "date", path, required=True)
    assert date is not None
    if earlier and date <= earlier[-1].date:
        raise rd.error(
            f"{path}.date",
            f"{date} is not after {earlier[-1].path}.date {earlier[-1].date}: list time points "
            "in chronological order, baseline first, one time point per date (put same-day CT "
            "and PET in one time point).",
        )
    modality = rd.text(obj, "modality", path, required=True,
                       what="imaging modality (e.g. CT, MR, PET/CT)") or ""
    modality_change = rd.flag(obj, "modality_change", path) or False
    new_baseline = rd.ids(obj, "new_baseline_lesions", path) or ()
    if baseline and (modality_change or new_baseline):
        raise rd.error(f"{path}.modality_change",
                       "a modality change is recorded at a follow-up (the baseline is the "
                       "reference); remove it here.")
    if new_baseline and not modality_change:
        raise rd.error(f"{path}.new_baseline_lesions",
                       'the "new baseline lesion" rule applies only when a more sensitive modality '
                       'was introduced; set "modality_change": true or list these lesions under '
                       "new_lesions.")

    # --- lesions
    lesions: list[Lesion] = []
    for j, raw_les in enumerate(rd.array(obj, "lesions", path)):
        lpath = f"{path}.lesions[{j}]"
        lesion = _parse_lesion(rd, raw_les, lpath, baseline, known)
        if any(le.id == lesion.id for le in lesions):
            raise rd.error(f"{lpath}.id", f"lesion id {lesion.id!r} appears twice in this time "
                                          "point; give each lesion once.")
        lesions.append(lesion)

    # --- targets
    targets = rd.ids(obj, "targets", path)
    if baseline and targets is not None:
        ids = {le.id for le in lesions}
        for k, tid in enumerate(targets):
            if tid not in ids:
                raise rd.error(f"{path}.targets[{k}]",
                               f"{tid!r} is not one of this time point's lesions "
                               f"({', '.join(sorted(ids)) or 'none'}); fix the id or use null "
                               "for automatic RECIST 1.1 selection.")
        if not targets:
            raise rd.error(f"{path}.targets", "is an empty list; give target ids, or null for "
                                              "automatic RECIST 1.1 selection.")
    elif not baseline and targets is not None:
        base_targets = earlier[0].targets
        if base_targets is None or tuple(targets) != tuple(base_targets):
            raise rd.error(f"{path}.targets", "targets are chosen once, at baseline "
                                              "(timepoints[0].targets); leave this null.")

    # --- non-target status
    nts = obj.get("non_target_status")
    if nts is not None:
        table = {s.lower(): s for s in NON_TARGET_STATUSES}
        if not isinstance(nts, str) or nts.strip().lower() not in table:
            raise rd.error(f"{path}.non_target_status",
                           f"= {nts!r}: give one of {', '.join(map(repr, NON_TARGET_STATUSES))} "
                           "or null (not evaluated).")
        nts = table[nts.strip().lower()]
        if baseline:
            raise rd.error(f"{path}.non_target_status", "the baseline has no non-target "
                                                        "response; leave it null.")
    further = rd.flag(obj, "non_target_further_increase", path,
                      meaning=" (iRECIST: did non-target disease increase further since the "
                              "last assessment?)")
    if baseline and further is not None:
        raise rd.error(f"{path}.non_target_further_increase", "has no meaning at baseline; "
                                                              "leave it null.")

    # --- new lesions
    new_lesions: list[NewLesion] = []
    for j, raw_new in enumerate(rd.array(obj, "new_lesions", path)):
        npath = f"{path}.new_lesions[{j}]"
        if baseline:
            raise rd.error(npath, "no lesion is new at baseline; list baseline lesions under "
                                  "lesions.")
        new = _parse_new_lesion(rd, raw_new, npath)
        if earlier and earlier[0].lesion(new.id) is not None:
            raise rd.error(f"{npath}.id", f"{new.id!r} is a baseline lesion id; a new lesion needs "
                                          "its own id (or list the lesion under lesions).")
        if any(n.id == new.id for n in new_lesions):
            raise rd.error(f"{npath}.id", f"new lesion id {new.id!r} appears twice; give each "
                                          "lesion once.")
        new_lesions.append(new)

    # --- PET
    pet = _parse_pet(rd, obj.get("pet"), f"{path}.pet", baseline) if obj.get("pet") is not None \
        else None

    # --- new baseline lesions: must be among this time point's new lesions
    new_ids = {n.id for n in new_lesions} | ({n.id for n in pet.new_lesions} if pet else set())
    for k, nid in enumerate(new_baseline):
        if nid not in new_ids:
            raise rd.error(f"{path}.new_baseline_lesions[{k}]",
                           f"{nid!r} is not among this time point's new_lesions or "
                           "pet.new_lesions; list the lesion there first.")
    for new in new_lesions:
        if new.id in new_baseline and new.id not in known:
            known[new.id] = Lesion(id=new.id, organ=new.organ, location=new.location,
                                   longest_diameter_mm=new.longest_diameter_mm,
                                   short_axis_mm=new.short_axis_mm, mean_hu=new.mean_hu,
                                   measurable=False)
    if baseline:
        for le in lesions:
            known[le.id] = le
    return Timepoint(
        index=index, label=label, date=date, modality=modality, lesions=tuple(lesions),
        targets=targets if baseline else None, non_target_status=nts,
        non_target_further_increase=further, new_lesions=tuple(new_lesions), pet=pet,
        modality_change=modality_change, new_baseline_lesions=tuple(new_baseline),
        comment=rd.text(obj, "comment", path, required=False, what="comment"),
    )


def _parse_lesion(rd: _Reader, raw: object, path: str, baseline: bool,
                  known: Mapping[str, Lesion]) -> Lesion:
    obj = rd.obj(raw, path, _LESION_KEYS)
    lid = rd.text(obj, "id", path, required=True, what="lesion id") or ""
    organ = rd.text(obj, "organ", path, required=baseline, what="organ (e.g. liver, lymph_node)")
    ref = None if baseline else known.get(lid)
    if not baseline:
        if ref is None:
            raise rd.error(f"{path}.id", f"{lid!r} is not a baseline lesion. A lesion first seen "
                                         "at a follow-up is a new lesion: list it under "
                                         "new_lesions (or under new_baseline_lesions after a "
                                         "modality change).")
        if organ is not None and organ_key(organ) != organ_key(ref.organ):
            raise rd.error(f"{path}.organ", f"{organ!r} differs from the baseline organ "
                                            f"{ref.organ!r} of lesion {lid!r}; fix the id or the "
                                            "organ.")
        organ = ref.organ
    assert organ is not None
    evaluated = rd.flag(obj, "evaluated", path,
                        meaning=" (false when the lesion could not be assessed)")
    evaluated = True if evaluated is None else evaluated
    hint = " Give the diameter in mm (0 if the lesion disappeared)."
    ld = rd.number(obj, "longest_diameter_mm", path, unit="mm", maximum=1000.0, hint=hint)
    sa = rd.number(obj, "short_axis_mm", path, unit="mm", maximum=1000.0, hint=hint)
    hu = rd.number(obj, "mean_hu", path, unit="HU", minimum=_HU_RANGE[0], maximum=_HU_RANGE[1])
    measurable = rd.flag(obj, "measurable", path,
                         meaning=" (false: never a target lesion; null: decided by size)")
    nodules = rd.flag(obj, "new_intratumoural_nodules", path,
                      meaning=" (Choi: new or growing nodules inside the lesion)")
    nodal = is_nodal_organ(organ)
    if ld is not None and sa is not None and sa > ld:
        raise rd.error(f"{path}.short_axis_mm", f"= {sa:g} mm is longer than longest_diameter_mm "
                                                f"= {ld:g} mm; check the two measurements.")
    if baseline:
        if not evaluated:
            raise rd.error(f"{path}.evaluated", "every baseline lesion must be evaluated: the "
                                                "baseline is the reference.")
        if nodules is not None:
            raise rd.error(f"{path}.new_intratumoural_nodules", "is a follow-up finding; leave "
                                                                "it out at baseline.")
        if measurable is not False:
            field = "short_axis_mm" if nodal else "longest_diameter_mm"
            value = sa if nodal else ld
            if value is None:
                what = ("lymph node: RECIST 1.1 measures nodes by their short axis"
                        if nodal else "the longest diameter")
                raise rd.error(f"{path}.{field}", f"missing ({what}); give it in mm, or set "
                                                  '"measurable": false for a lesion that is '
                                                  "followed as non-target disease only.")
            if value <= 0:
                raise rd.error(f"{path}.{field}", f"= {value:g} mm at baseline: a baseline lesion "
                                                  "has a size > 0.")
    else:
        if measurable is not None:
            raise rd.error(f"{path}.measurable", "measurability is decided at baseline; leave it "
                                                 "out at follow-ups.")
        if not evaluated and (ld is not None or sa is not None or hu is not None):
            raise rd.error(f"{path}.evaluated", 'is false but measurements are given; remove them '
                                                'or set "evaluated": true.')
    return Lesion(
        id=lid, organ=organ,
        location=rd.text(obj, "location", path, required=False, what="location")
        or (ref.location if ref is not None else None),
        longest_diameter_mm=ld, short_axis_mm=sa, mean_hu=hu, measurable=measurable,
        evaluated=evaluated, new_intratumoural_nodules=nodules,
    )


def _parse_new_lesion(rd: _Reader, raw: object, path: str) -> NewLesion:
    obj = rd.obj(raw, path, _NEW_LESION_KEYS)
    lid = rd.text(obj, "id", path, required=True, what="lesion id") or ""
    organ = rd.text(obj, "organ", path, required=True, what="organ (e.g. liver, lymph_node)") or ""
    unequivocal = rd.flag(obj, "unequivocal", path, required=True,
                          meaning=" (true: unequivocally a new tumour lesion, which means "
                                  "progression; false: equivocal, followed up)")
    assert unequivocal is not None
    return NewLesion(
        id=lid, organ=organ, unequivocal=unequivocal,
        location=rd.text(obj, "location", path, required=False, what="location"),
        longest_diameter_mm=rd.number(obj, "longest_diameter_mm", path, unit="mm",
                                      positive=True, maximum=1000.0),
        short_axis_mm=rd.number(obj, "short_axis_mm", path, unit="mm", positive=True,
                                maximum=1000.0),
        mean_hu=rd.number(obj, "mean_hu", path, unit="HU", minimum=_HU_RANGE[0],
                          maximum=_HU_RANGE[1]),
    )


def _parse_pet(rd: _Reader, raw: object, path: str, baseline: bool) -> Pet:
    obj = rd.obj(raw, path, _PET_KEYS)
    liver = rd.number(obj, "liver_sul_mean", path, unit="SUL", positive=True, maximum=50.0)
    liver_sd = rd.number(obj, "liver_sul_sd", path, unit="SUL", maximum=50.0)
    blood = rd.number(obj, "blood_pool_sul_mean", path, unit="SUL", positive=True, maximum=50.0)
    blood_sd = rd.number(obj, "blood_pool_sul_sd", path, unit="SUL", maximum=50.0)
    spleen = rd.number(obj, "spleen_sul_mean", path, unit="SUL", positive=True, maximum=100.0)
    if liver_sd is not None and liver is None:
        raise rd.error(f"{path}.liver_sul_sd", "is given without liver_sul_mean; give both.")
    if blood_sd is not None and blood is None:
        raise rd.error(f"{path}.blood_pool_sul_sd", "is given without blood_pool_sul_mean; "
                                                    "give both.")
    lesions: list[PetLesion] = []
    for j, item in enumerate(rd.array(obj, "lesions", path)):
        lpath = f"{path}.lesions[{j}]"
        lo = rd.obj(item, lpath, _PET_LESION_KEYS)
        lid = rd.text(lo, "id", lpath, required=True, what="lesion id") or ""
        if any(le.id == lid for le in lesions):
            raise rd.error(f"{lpath}.id", f"PET lesion id {lid!r} appears twice; give it once.")
        sul = rd.number(lo, "sul_peak", lpath, unit="SUL", required=True, maximum=200.0,
                        hint=" (the SULpeak; at follow-up the value measured where the lesion "
                             "was, even if it resolved)")
        assert sul is not None
        lesions.append(PetLesion(id=lid, sul_peak=sul,
                                 suv_max=rd.number(lo, "suv_max", lpath, unit="SUV",
                                                   maximum=500.0)))
    new: list[PetNewLesion] = []
    for j, item in enumerate(rd.array(obj, "new_lesions", path)):
        npath = f"{path}.new_lesions[{j}]"
        if baseline:
            raise rd.error(npath, "no lesion is new at baseline; list it under pet.lesions.")
        no = rd.obj(item, npath, _PET_NEW_LESION_KEYS)
        nid = rd.text(no, "id", npath, required=True, what="lesion id") or ""
        if any(n.id == nid for n in new):
            raise rd.error(f"{npath}.id", f"new PET lesion id {nid!r} appears twice.")
        typical = rd.flag(no, "typical_of_tumour", npath, required=True,
                          meaning=" (true: FDG-avid lesion typical of tumour, PERCIST "
                                  "progression; false: e.g. infection or treatment effect)")
        assert typical is not None
        new.append(PetNewLesion(
            id=nid, typical_of_tumour=typical,
            sul_peak=rd.number(no, "sul_peak", npath, unit="SUL", maximum=200.0),
            suv_max=rd.number(no, "suv_max", npath, unit="SUV", maximum=500.0)))
    return Pet(liver_sul_mean=liver, liver_sul_sd=liver_sd, blood_pool_sul_mean=blood,
               blood_pool_sul_sd=blood_sd, lesions=tuple(lesions), new_lesions=tuple(new),
               spleen_sul_mean=spleen)


def _check_pet_consistency(rd: _Reader, case: Case) -> None:
    """PET lesion ids: a follow-up gives every baseline PET lesion again (PERCIST needs all of
    them to call a complete response) and no other lesion except new-baseline lesions."""
    base = case.baseline.pet
    if base is None:
        return
    base_ids = [le.id for le in base.lesions]
    for tp in case.followups:
        if tp.pet is None:
            continue
        allowed = set(base_ids) | case.new_baseline_ids_before(tp.index)
        for j, le in enumerate(tp.pet.lesions):
            if le.id not in allowed:
                raise rd.error(f"{tp.path}.pet.lesions[{j}].id",
                               f"{le.id!r} is not a baseline PET lesion; a lesion first seen at "
                               "a follow-up belongs under pet.new_lesions.")
        given = {le.id for le in tp.pet.lesions}
        for lid in base_ids:
            if lid not in given:
                raise rd.error(f"{tp.path}.pet.lesions",
                               f"baseline PET lesion {lid!r} is missing at {tp.label!r}; give its "
                               "SULpeak (the local value if it resolved) so that the hottest "
                               "lesion and a complete response can be judged.")
