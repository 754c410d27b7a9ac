"""SUV and SUL from DICOM PET, following the QIBA vendor-neutral SUV pseudo-code.

``SUVbw = C · W / D(t_ref)``: the activity concentration ``C`` (Bq/mL) times the body weight
``W`` (g) over the injected activity ``D`` (Bq) decayed to the time the image values refer to.
:func:`suv_factor` derives the factor ``SUVbw / image value`` from the header facts of
:func:`netdose.io.dicom.read_dicom_image` (slice by slice), :func:`suv_from_dicom` applies it
and returns a :class:`SuvResult` whose :meth:`SuvResult.normalised` gives SUL (lean body mass),
SUVbsa and SUVibw (formulas in :mod:`netdose.response.body`).

What the header says, and what netdose does (docs/physics.md gives the equations):

- **Units (0054,1001)** ``BQML``: values are Bq/mL (RescaleSlope already applied per slice).
  ``CNTS``: Philips private (7053,xx00) SUV scale factor (values × factor = SUVbw), else
  (7053,xx09) activity-concentration factor (values × factor = Bq/mL, then as BQML); neither
  is an error. ``GML``: values are already SUV of the type in SUVType (0054,1006) (``BW``;
  ``LBM``, ``LBMJAMES128``, ``LBMJANMA``, ``IBW`` are converted back to SUVbw with the
  formula of DICOM PS3.16 CID 85). ``CM2ML``: SUVbsa, converted back to SUVbw with DuBois BSA.
- **DecayCorrection (0054,1102)** ``START``: values are decay-corrected to the series
  reference time; ``D(t_ref) = D · exp(−λ (t_ref − t_inj))``. ``ADMIN``: corrected to the
  administration time; no decay factor. ``NONE``: not corrected; each slice (bed) gets the
  decay from injection to its frame start and the mean over its frame,
  ``exp(−λ (t_start − t_inj)) · (1 − e^(−λT)) / (λT)``.
- **Reference time** (START): SeriesDate/SeriesTime, unless it is after the earliest
  acquisition (a post-processed series): then the GE private scan date-time (0009,xx0D), else
  the time back-computed from AcquisitionTime, FrameReferenceTime (0054,1300) and
  ActualFrameDuration (0018,1242) (``t_ref = t_acq + t̄ − FRT``, ``t̄`` the decay-weighted mean
  time in the frame), else the earliest AcquisitionDateTime; each with a warning.
- **Injection time**: RadiopharmaceuticalStartDateTime (0018,1078), else
  RadiopharmaceuticalStartTime (0018,1072) on SeriesDate; a time-only injection later than the
  scan is taken as the day before (midnight crossing, with a warning) when the uptake time
  that gives is plausible.
- **Injected dose** RadionuclideTotalDose (0018,1074) is Bq by the standard; a value below
  :data:`DOSE_MBQ_BELOW` is taken as MBq (with a warning).
- **Half-life** RadionuclideHalfLife (0018,1075), else ICRP-107 for the nuclide named in the
  RadionuclideCodeSequence (0054,0300).
- **Weight** PatientWeight (0010,1030) is required; an override is recorded as an assumption.

Refused (:class:`~netdose.errors.InputError`, naming the tag and the fix): no attenuation
correction (CorrectedImage (0028,0051) without ``ATTN``), DecayCorrection inconsistent with
CorrectedImage ``DECY``, missing/zero weight, missing dose, no injection time, CNTS without a
Philips factor, injection after the scan (even allowing for midnight), uptake time longer
than :data:`MAX_UPTAKE_HALF_LIVES` half-lives.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netdose.errors import InputError, NetdoseError, NetdoseWarning
from netdose.image import Image
from netdose.nuclides import get_nuclide, normalise_name
from netdose.response import body
from netdose.units import BQ_PER_MBQ, G_PER_KG, LN2, S_PER_H

__all__ = [
    "DOSE_BQ_RANGE",
    "DOSE_MBQ_BELOW",
    "HALF_LIFE_MISMATCH_WARN",
    "MAX_UPTAKE_HALF_LIVES",
    "QUANTISATION_WARN_FRACTION",
    "REFERENCE_TIME_TOLERANCE_S",
    "SUV_CONSTANTS",
    "SUV_WEIGHT_RANGE_KG",
    "SuvFactor",
    "SuvResult",
    "frame_mean_decay",
    "frame_mean_time_s",
    "suv_factor",
    "suv_from_dicom",
]

# --------------------------------------------------------------------------- constants
#: Longest accepted uptake time (injection to reference time), in half-lives of the nuclide
#: (10 half-lives: the activity has fallen 1024-fold; a PET scan that late is a date error).
MAX_UPTAKE_HALF_LIVES: float = 10.0
#: RadionuclideTotalDose values below this are MBq (a PET dose in Bq is always far larger).
DOSE_MBQ_BELOW: float = 1.0e4
#: Plausible injected activity, Bq (1 MBq to 50 GBq); outside, or between 10 kBq and 1 MBq
#: (neither a plausible Bq nor a plausible MBq value), the dose is refused.
DOSE_BQ_RANGE: tuple[float, float] = (1.0e6, 5.0e10)
#: Plausible patient weight for SUVbw, kg (catches grams; children are allowed).
SUV_WEIGHT_RANGE_KG: tuple[float, float] = (1.0, 350.0)
#: Relative difference between the header half-life and ICRP-107 above which netdose warns.
HALF_LIFE_MISMATCH_WARN: float = 0.01
#: Two reference-time estimates closer than this agree (DICOM times have 1 s resolution).
REFERENCE_TIME_TOLERANCE_S: float = 1.0
#: Warn when one stored-value step is more than this fraction of the median positive SUV.
QUANTISATION_WARN_FRACTION: float = 0.01

SUV_CONSTANTS: dict[str, dict[str, Any]] = {
    "max_uptake_half_lives": {
        "value": MAX_UPTAKE_HALF_LIVES, "unit": "half-lives",
        "source": "netdose plausibility limit (activity down 1024-fold); catches date errors",
    },
    "dose_mbq_below": {
        "value": DOSE_MBQ_BELOW, "unit": "stored value",
        "source": "netdose: PET doses in Bq are > 1e6; values < 1e4 can only be MBq",
    },
    "dose_bq_range": {
        "value": list(DOSE_BQ_RANGE), "unit": "Bq",
        "source": "netdose plausibility range of an injected PET activity",
    },
    "suv_weight_range_kg": {
        "value": list(SUV_WEIGHT_RANGE_KG), "unit": "kg",
        "source": "netdose plausibility range; catches weights stored in grams",
    },
    "half_life_mismatch_warn": {
        "value": HALF_LIFE_MISMATCH_WARN, "unit": "1",
        "source": "netdose: header half-life vs ICRP-107 (Eckerman & Endo 2008)",
    },
    "reference_time_tolerance_s": {
        "value": REFERENCE_TIME_TOLERANCE_S, "unit": "s",
        "source": "DICOM TM resolution (1 s in practice)",
    },
    "quantisation_warn_fraction": {
        "value": QUANTISATION_WARN_FRACTION, "unit": "1",
        "source": "netdose: warn when the storage step exceeds 1 % of the median SUV",
    },
}

_SUPPORTED_UNITS = ("BQML", "CNTS", "GML", "CM2ML")
_GML_SUV_TYPES = ("BW", "LBM", "LBMJAMES128", "LBMJANMA", "IBW")

# Tags named in messages.
T_UNITS = "Units (0054,1001)"
T_SUV_TYPE = "SUVType (0054,1006)"
T_CORRECTED = "CorrectedImage (0028,0051)"
T_DECAY = "DecayCorrection (0054,1102)"
T_WEIGHT = "PatientWeight (0010,1030)"
T_SIZE = "PatientSize (0010,1020)"
T_SEX = "PatientSex (0010,0040)"
T_DOSE = "RadionuclideTotalDose (0018,1074)"
T_HALF_LIFE = "RadionuclideHalfLife (0018,1075)"
T_NUCLIDE_CODE = "RadionuclideCodeSequence (0054,0300)"
T_START_DT = "RadiopharmaceuticalStartDateTime (0018,1078)"
T_START_TIME = "RadiopharmaceuticalStartTime (0018,1072)"
T_SERIES = "SeriesDate/SeriesTime (0008,0021)/(0008,0031)"
T_ACQ = "AcquisitionDate/AcquisitionTime (0008,0022)/(0008,0032)"
T_FRT = "FrameReferenceTime (0054,1300)"
T_AFD = "ActualFrameDuration (0018,1242)"
T_GE = "GE private scan date-time (0009,xx0D, GEMS_PETD_01)"
T_PHILIPS_SUV = "Philips private SUV scale factor (7053,xx00)"
T_PHILIPS_ACF = "Philips private activity-concentration scale factor (7053,xx09)"
T_TZ = "TimezoneOffsetFromUTC (0008,0201)"

#: Element names (as in DICOM CID 4020 code meanings, e.g. "^18^Fluorine") -> symbols.
_ELEMENT_NAMES: dict[str, str] = {
    "hydrogen": "H", "carbon": "C", "nitrogen": "N", "oxygen": "O", "fluorine": "F",
    "sodium": "Na", "phosphorus": "P", "potassium": "K", "scandium": "Sc", "cobalt": "Co",
    "copper": "Cu", "zinc": "Zn", "gallium": "Ga", "germanium": "Ge", "arsenic": "As",
    "bromine": "Br", "rubidium": "Rb", "strontium": "Sr", "yttrium": "Y", "zirconium": "Zr",
    "technetium": "Tc", "indium": "In", "iodine": "I", "terbium": "Tb", "holmium": "Ho",
    "lutetium": "Lu", "thallium": "Tl", "lead": "Pb", "bismuth": "Bi", "actinium": "Ac",
}


# --------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class SuvFactor:
    """The SUVbw factor of a PET series and every fact and decision behind it.

    ``SUVbw = image value × slice_factors[z]`` for slice ``z`` of the image (array order),
    the image values being the stored values rescaled per slice (RescaleSlope/Intercept), in
    the DICOM ``units``.

    Attributes
    ----------
    factor : float
        The factor of the first slice (all slices when ``uniform``), SUVbw per image unit
        (g/mL per Bq/mL for BQML).
    slice_factors : tuple of float
        Factor per slice, array order (z).
    uniform : bool
        True when every slice has the same factor.
    units : str
        DICOM Units of the input (BQML, CNTS, GML, CM2ML).
    suv_type_stored : str or None
        SUVType of GML/CM2ML input.
    method : str
        How the factor was derived, in words.
    decay_correction : str or None
        DecayCorrection (START, ADMIN, NONE).
    reference_datetime : str or None
        ISO time the image values refer to (START: the decay reference; ADMIN: the injection;
        NONE: the earliest frame start); None when the scanner's factor was used as is.
    reference_time_source : str or None
        Which tag(s) gave it and why.
    injection_datetime, injection_time_source : str or None
        ISO injection time and where it came from (including any midnight correction).
    uptake_time_s : float or None
        Reference time − injection, s.
    decay_factor : float or None
        ``D(t_ref) / D``: exp(−λ·uptake) for START, 1 for ADMIN, the first slice's factor
        (including the mean over its frame) for NONE.
    slice_decay_factors : tuple of float or None
        Per slice, for DecayCorrection NONE.
    injected_dose_bq : float or None
        Injected activity used, Bq.
    injected_dose_stored : float or None
        RadionuclideTotalDose as stored.
    injected_dose_unit : str or None
        The unit decision for the stored dose, in words.
    decayed_dose_bq : float or None
        ``injected_dose_bq × decay_factor`` (START/ADMIN), Bq.
    half_life_s : float or None
        Half-life used, s.
    half_life_source : str or None
    nuclide : str or None
        Nuclide identified from the RadionuclideCodeSequence (ICRP spelling).
    weight_kg : float or None
        Body weight used, kg.
    weight_source : str or None
    height_cm : float or None
        Height from the header (or override), cm; None if unknown.
    sex : str or None
        PatientSex from the header (or override), as given.
    vendor_factor : str or None
        The vendor private factor used, if any.
    timezone : str
        How times were placed in time zones.
    warnings : tuple of str
        Every warning raised (also issued as :class:`~netdose.errors.NetdoseWarning`).
    assumptions : tuple of str
        Every assumption made (overrides, date taken from SeriesDate, ...).
    constants : dict
        The constants used, with units and sources.
    """

    factor: float
    slice_factors: tuple[float, ...]
    uniform: bool
    units: str
    suv_type_stored: str | None
    method: str
    decay_correction: str | None
    reference_datetime: str | None
    reference_time_source: str | None
    injection_datetime: str | None
    injection_time_source: str | None
    uptake_time_s: float | None
    decay_factor: float | None
    slice_decay_factors: tuple[float, ...] | None
    injected_dose_bq: float | None
    injected_dose_stored: float | None
    injected_dose_unit: str | None
    decayed_dose_bq: float | None
    half_life_s: float | None
    half_life_source: str | None
    nuclide: str | None
    weight_kg: float | None
    weight_source: str | None
    height_cm: float | None
    sex: str | None
    vendor_factor: str | None
    timezone: str
    warnings: tuple[str, ...]
    assumptions: tuple[str, ...]
    constants: dict[str, dict[str, Any]]

    @property
    def uptake_time_h(self) -> float | None:
        """Uptake time in hours (None when unknown)."""
        return None if self.uptake_time_s is None else self.uptake_time_s / S_PER_H

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of every field."""
        out = dataclasses.asdict(self)
        for key in ("slice_factors", "slice_decay_factors", "warnings", "assumptions"):
            if out[key] is not None:
                out[key] = list(out[key])
        out["uptake_time_h"] = self.uptake_time_h
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class SuvResult:
    """SUVbw image of a PET series, the factor that made it, and the normalisations.

    Attributes
    ----------
    suv_bw : Image
        SUVbw (g/mL), float32, on the PET grid; ``meta`` is the PET's header facts with
        ``units = "GML"``, ``suv_type = "BW"``, ``quantity = "suv"`` and ``suv_unit``.
    factor : SuvFactor
    warnings : tuple of str
        Every warning (the factor's and the image checks').
    assumptions : tuple of str
    """

    suv_bw: Image
    factor: SuvFactor
    warnings: tuple[str, ...]
    assumptions: tuple[str, ...]

    def body_size(
        self, kind: str, *, height_cm: float | None = None, sex: str | None = None
    ) -> body.BodySize:
        """The body size of normalisation ``kind`` for this patient.

        Height and sex default to the header's (PatientSize, PatientSex); give them to
        override (the sex must be 'F' or 'M' for ``lbm-*`` and ``ibw``).

        Raises
        ------
        InputError
            No weight, or a height/sex the normalisation needs is missing or not F/M.
        """
        f = self.factor
        key = str(kind).strip().lower()
        if key == "bw" and f.weight_kg is None:
            return body.BodySize(
                "bw", None, "kg", 1.0, "g/ml{SUVbw}",
                "SUVbw as the scanner computed it (PatientWeight not in the header)",
                "definition",
            )
        if f.weight_kg is None:
            raise InputError(
                f"{_where(self.suv_bw.meta)}: no patient weight is known ({T_WEIGHT} is "
                "missing); give weight_kg_override to normalise the SUV."
            )
        h = f.height_cm if height_cm is None else height_cm
        s = f.sex if sex is None else sex
        if key in ("lbm-janma", "lbm-james", "ibw") and s is not None:
            where = "sex" if sex is not None else f"{T_SEX} of {_where(self.suv_bw.meta)}"
            s = body.normalise_sex(s, where)
        return body.body_size(key, f.weight_kg, h, s)

    def normalised(
        self, kind: str = "bw", *, height_cm: float | None = None, sex: str | None = None
    ) -> Image:
        """The SUV image normalised to ``kind``.

        Parameters
        ----------
        kind : {"bw", "lbm-janma", "lbm-james", "bsa", "ibw"}
            ``bw`` SUVbw; ``lbm-janma`` SUL by Janmahasatian (netdose default for SUL);
            ``lbm-james`` SUL by James-128 (PERCIST 1.0); ``bsa`` SUVbsa (cm²/mL); ``ibw``
            SUV by ideal body weight.
        height_cm : float, optional
            Overrides PatientSize.
        sex : {"F", "M"}, optional
            Overrides PatientSex.

        Returns
        -------
        Image
            float32, same grid; ``meta`` with ``units`` (DICOM: GML or CM2ML), ``suv_type``
            (BW, LBMJANMA, LBMJAMES128, BSA, IBW), ``suv_unit`` (UCUM) and ``body_size``.
        """
        size = self.body_size(kind, height_cm=height_cm, sex=sex)
        meta = dict(self.suv_bw.meta)
        meta.update(
            units="CM2ML" if size.kind == "bsa" else "GML",
            suv_type={"bw": "BW", "lbm-janma": "LBMJANMA", "lbm-james": "LBMJAMES128",
                      "bsa": "BSA", "ibw": "IBW"}[size.kind],
            suv_unit=size.suv_unit,
            body_size=size.as_dict(),
        )
        if size.kind == "bw":
            return self.suv_bw.with_array(self.suv_bw.array, meta=meta)
        arr = (np.asarray(self.suv_bw.array, dtype=np.float64) * size.factor_from_suvbw)
        return self.suv_bw.with_array(arr.astype(np.float32), meta=meta)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary: the factor's facts, warnings and assumptions."""
        return {
            **self.factor.as_dict(),
            "warnings": list(self.warnings),
            "assumptions": list(self.assumptions),
        }


# --------------------------------------------------------------------------- physics
def frame_mean_decay(half_life_s: float, duration_s: float) -> float:
    """Mean of exp(−λt) over a frame of ``duration_s``: (1 − e^(−λT)) / (λT) (1 for T = 0).

    The counts of a frame starting at ``t0`` are ``A(t0) · T · frame_mean_decay``.
    """
    x = LN2 / half_life_s * duration_s
    if x < 1.0e-12:
        return 1.0
    return float(-math.expm1(-x) / x)


def frame_mean_time_s(half_life_s: float, duration_s: float) -> float:
    """Decay-weighted mean time within a frame, s after its start.

    ``t̄ = (1/λ) · ln(λT / (1 − e^(−λT)))``: the time at which the activity equals its mean
    over the frame (``exp(−λ t̄) = frame_mean_decay``); ``T/2`` in the limit λT → 0.
    """
    lam = LN2 / half_life_s
    if lam * duration_s < 1.0e-12:
        return duration_s / 2.0
    return float(-math.log(frame_mean_decay(half_life_s, duration_s)) / lam)


# --------------------------------------------------------------------------- helpers
def _where(meta: Mapping[str, Any]) -> str:
    return str(meta.get("source_path") or "the PET series")


class _Log:
    """Warnings and assumptions collected while deriving the factor."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.assumptions: list[str] = []

    def warning(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def assume(self, message: str) -> None:
        if message not in self.assumptions:
            self.assumptions.append(message)


class _Clock:
    """Puts DICOM times (local wall-clock times) on one time line.

    ``tz`` is TimezoneOffsetFromUTC when the header has it, else the offset of the first
    DICOM DT value that carries one, else None (all times are taken as the same local time and
    reported without offset).
    """

    def __init__(self, tz: _dt.tzinfo | None, known: bool) -> None:
        self.tz = tz if tz is not None else _dt.timezone.utc
        self.known = known

    def aware(self, value: _dt.datetime) -> _dt.datetime:
        return value.replace(tzinfo=self.tz) if value.tzinfo is None else value

    def iso(self, value: _dt.datetime | None) -> str | None:
        if value is None:
            return None
        if self.known:
            return value.astimezone(self.tz).isoformat()
        return value.astimezone(self.tz).replace(tzinfo=None).isoformat()


def _parse_tz_offset(text: Any) -> _dt.timezone | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*([+-])(\d{2}):?(\d{2})\s*", str(text))
    if m is None:
        return None
    sign = 1 if m.group(1) == "+" else -1
    return _dt.timezone(sign * _dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def _parse_iso(value: Any) -> _dt.datetime | None:
    if value is None:
        return None
    try:
        return _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _combine(date_iso: Any, time_iso: Any) -> _dt.datetime | None:
    if date_iso is None or time_iso is None:
        return None
    return _parse_iso(f"{date_iso}T{time_iso}")


def _fmt_dt(value: _dt.datetime, clock: _Clock) -> str:
    return str(clock.iso(value))


def _hours(seconds: float) -> str:
    return f"{seconds / S_PER_H:.3f} h"


def _number_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _nuclide_from_code(rp: Mapping[str, Any]) -> str | None:
    """ICRP name of the nuclide in the RadionuclideCodeSequence (None if not recognised)."""
    code = rp.get("radionuclide_code") or {}
    for text in (code.get("meaning"),):
        if not text:
            continue
        m = re.fullmatch(r"\s*\^?(\d{1,3})(m?)\^?\s*([A-Za-z]+)\s*", str(text))
        if m is not None:
            sym = _ELEMENT_NAMES.get(m.group(3).lower()) or (
                m.group(3) if len(m.group(3)) <= 2 else None
            )
            if sym is not None:
                try:
                    return get_nuclide(f"{sym}-{m.group(1)}{m.group(2)}").name
                except InputError:
                    return None
        try:
            return get_nuclide(normalise_name(str(text))).name
        except InputError:
            return None
    return None


# --------------------------------------------------------------------------- inputs
def _weight_kg(
    meta: Mapping[str, Any], override: float | None, log: _Log, *, required: bool
) -> tuple[float | None, str | None, float | None]:
    """(weight used, source, header weight)."""
    where = _where(meta)
    header = _number_or_none(meta.get("patient_weight_kg"))
    lo, hi = SUV_WEIGHT_RANGE_KG
    if override is not None:
        w = _number_or_none(override)
        if w is None or not lo <= w <= hi:
            raise InputError(
                f"weight_kg_override = {override!r}: give the patient's weight in kg "
                f"({lo:g}-{hi:g} kg)."
            )
        hdr = f"{header:g} kg" if header else "missing or 0"
        log.assume(f"patient weight {w:g} kg given by the user (override); {T_WEIGHT} is {hdr}")
        return w, "weight_kg_override", header
    if header is None or header <= 0.0:
        if not required:
            return None, None, None
        raise InputError(
            f"{where}: {T_WEIGHT} is {'missing' if header is None else repr(header)}; the "
            "SUV needs the patient's weight and netdose never assumes one. Give the measured "
            "weight (--weight-kg W on the command line, weight_kg_override in Python)."
        )
    if not lo <= header <= hi:
        hint = " It looks like grams." if header > 1000.0 else ""
        raise InputError(
            f"{where}: {T_WEIGHT} = {header:g} kg is outside the plausible range {lo:g}-{hi:g} "
            f"kg.{hint} Correct the header or give the weight in kg (--weight-kg / "
            "weight_kg_override)."
        )
    return header, T_WEIGHT, header


def _height_cm(meta: Mapping[str, Any], override: float | None, log: _Log) -> float | None:
    if override is not None:
        h = _number_or_none(override)
        if h is None or h <= 0.0:
            raise InputError(f"height_cm_override = {override!r}: give the height in cm.")
        log.assume(f"patient height {h:g} cm given by the user (override)")
        return h
    m = _number_or_none(meta.get("patient_height_m"))
    if m is None or m <= 0.0:
        return None
    if m > 3.0:
        raise InputError(
            f"{_where(meta)}: {T_SIZE} = {m:g} is not a height in metres (it looks like cm); "
            "correct the header or give the height with --height-cm / height_cm_override."
        )
    return m * 100.0


def _corrections(meta: Mapping[str, Any]) -> str:
    """Check attenuation and decay correction; return DecayCorrection (START/ADMIN/NONE)."""
    where = _where(meta)
    corrected = [str(c).strip().upper() for c in (meta.get("corrected_image") or [])]
    if not corrected:
        raise InputError(
            f"{where}: {T_CORRECTED} is missing, so netdose cannot tell whether the image is "
            "attenuation-corrected (ATTN) and decay-corrected (DECY); SUV needs both facts. "
            "Export the series with its full PET header from the scanner."
        )
    if "ATTN" not in corrected:
        raise InputError(
            f"{where}: the image is not attenuation-corrected ({T_CORRECTED} = "
            f"{corrected} has no ATTN); SUV is only meaningful on an attenuation-corrected "
            "reconstruction. Choose the AC series (not the NAC one)."
        )
    dc = str(meta.get("decay_correction") or "").strip().upper()
    if dc not in ("START", "ADMIN", "NONE"):
        raise InputError(
            f"{where}: {T_DECAY} is {repr(dc) if dc else 'missing'}; it must be START, ADMIN or "
            "NONE to "
            "know the time the values refer to. Export the series with its full PET header."
        )
    if dc in ("START", "ADMIN") and "DECY" not in corrected:
        raise InputError(
            f"{where}: {T_DECAY} = {dc} but {T_CORRECTED} = {corrected} has no DECY: the "
            "header contradicts itself about decay correction, so the SUV cannot be trusted. "
            "Check the export settings of the scanner."
        )
    if dc == "NONE" and "DECY" in corrected:
        raise InputError(
            f"{where}: {T_DECAY} = NONE but {T_CORRECTED} = {corrected} lists DECY: the "
            "header contradicts itself about decay correction, so the SUV cannot be trusted. "
            "Check the export settings of the scanner."
        )
    return dc


def _half_life(rp: Mapping[str, Any], where: str, log: _Log, *, required: bool
               ) -> tuple[float | None, str | None, str | None]:
    """(half-life s, source, nuclide)."""
    nuclide = _nuclide_from_code(rp)
    header = _number_or_none(rp.get("half_life_s"))
    if header is not None and header > 0.0:
        if nuclide is not None:
            ref = get_nuclide(nuclide).half_life_s
            if abs(header - ref) / ref > HALF_LIFE_MISMATCH_WARN:
                log.warning(
                    f"{where}: {T_HALF_LIFE} = {header:g} s differs by "
                    f"{100.0 * (header - ref) / ref:+.1f} % from the ICRP-107 half-life of "
                    f"{nuclide} ({ref:g} s) named in {T_NUCLIDE_CODE}; the header value is used. "
                    "Check the radionuclide."
                )
        return header, T_HALF_LIFE, nuclide
    if nuclide is not None:
        hl = get_nuclide(nuclide).half_life_s
        log.assume(
            f"{T_HALF_LIFE} missing: ICRP-107 half-life of {nuclide} ({hl:g} s), the nuclide "
            f"named in {T_NUCLIDE_CODE}"
        )
        return hl, f"ICRP-107 {nuclide} (nuclide from {T_NUCLIDE_CODE})", nuclide
    if not required:
        return None, None, None
    code = (rp.get("radionuclide_code") or {}).get("meaning")
    what = "is missing" if not code else f"names {code!r}, not a nuclide netdose recognises"
    raise InputError(
        f"{where}: the radionuclide half-life is unknown: {T_HALF_LIFE} is missing and "
        f"{T_NUCLIDE_CODE} {what}. Export the series with its radiopharmaceutical information."
    )


def _injected_dose(rp: Mapping[str, Any], where: str, override: float | None, log: _Log
                   ) -> tuple[float, float | None, str]:
    """(dose Bq, stored value, unit decision)."""
    lo, hi = DOSE_BQ_RANGE
    if override is not None:
        d = _number_or_none(override)
        if d is None or not lo <= d <= hi:
            raise InputError(
                f"injected_dose_bq_override = {override!r}: give the injected activity in Bq "
                f"({lo:.0e}-{hi:.0e} Bq)."
            )
        log.assume(f"injected activity {d / BQ_PER_MBQ:g} MBq given by the user (override)")
        return d, _number_or_none(rp.get("total_dose")), "Bq, given by the user (override)"
    raw = _number_or_none(rp.get("total_dose"))
    fix = ("Correct the header or give the injected activity (--injected-mbq on the command "
           "line, injected_dose_bq_override in Python).")
    if raw is None or raw <= 0.0:
        raise InputError(
            f"{where}: {T_DOSE} is {'missing' if raw is None else repr(raw)}; the SUV needs "
            f"the injected activity. {fix}"
        )
    if raw < DOSE_MBQ_BELOW:
        d = raw * BQ_PER_MBQ
        if not lo <= d <= hi:
            raise InputError(
                f"{where}: {T_DOSE} = {raw:g} is neither a plausible activity in Bq nor in MBq "
                f"({lo:.0e}-{hi:.0e} Bq). {fix}"
            )
        log.warning(
            f"{where}: {T_DOSE} = {raw:g} is far too small for Bq (the DICOM unit for PET): "
            f"taken as MBq, i.e. {d:.6g} Bq. Check the injected activity."
        )
        return d, raw, f"MBq: the stored value {raw:g} is < {DOSE_MBQ_BELOW:g}, too small for Bq"
    if not lo <= raw <= hi:
        raise InputError(
            f"{where}: {T_DOSE} = {raw:g} Bq is outside the plausible range {lo:.0e}-{hi:.0e} "
            f"Bq for an injected PET activity. {fix}"
        )
    return raw, raw, "Bq, the DICOM unit for PET"


# --------------------------------------------------------------------------- times
@dataclasses.dataclass
class _Times:
    clock: _Clock
    series: _dt.datetime | None
    acquisitions: list[_dt.datetime | None]
    earliest: _dt.datetime | None
    ge: _dt.datetime | None


def _times(meta: Mapping[str, Any], log: _Log) -> _Times:
    rp = meta.get("radiopharmaceutical") or {}
    texts = [meta.get("ge_private_scan_datetime"), rp.get("start_datetime"),
             *(meta.get("acquisition_datetimes") or [])]
    tz: _dt.tzinfo | None = _parse_tz_offset(meta.get("timezone_offset_from_utc"))
    known = tz is not None
    if tz is None:
        for text in texts:
            dt = _parse_iso(text)
            if dt is not None and dt.tzinfo is not None:
                tz, known = dt.tzinfo, True
                log.assume(
                    f"{T_TZ} missing: DICOM times without an offset taken in the zone of the "
                    f"date-times that carry one ({dt.strftime('%z')})"
                )
                break
    if not known:
        log.assume(
            f"no {T_TZ} and no offsets in the DICOM date-times: all header times are taken as "
            "the same local time (times reported without UTC offset)"
        )
    clock = _Clock(tz, known)
    series = _combine(meta.get("series_date"), meta.get("series_time"))
    series = clock.aware(series) if series is not None else None
    acqs: list[_dt.datetime | None] = []
    for text in meta.get("acquisition_datetimes") or []:
        dt = None
        if text and "T" in str(text):
            dt = _parse_iso(text)
        elif text and ":" in str(text) and meta.get("series_date"):
            dt = _combine(meta.get("series_date"), text)
            if dt is not None:
                log.assume("AcquisitionDate missing: acquisition times taken on SeriesDate")
        acqs.append(clock.aware(dt) if dt is not None else None)
    known_acqs = [a for a in acqs if a is not None]
    earliest = min(known_acqs) if known_acqs else None
    ge = _parse_iso(meta.get("ge_private_scan_datetime"))
    return _Times(clock, series, acqs, earliest, clock.aware(ge) if ge is not None else None)


def _back_computed_reference(
    meta: Mapping[str, Any], times: _Times, half_life_s: float
) -> _dt.datetime | None:
    """t_ref = t_acq + t̄(T) − FRT for every slice; None unless all slices agree."""
    frts = meta.get("frame_reference_times_ms") or []
    afds = meta.get("actual_frame_durations_ms") or []
    n = len(times.acquisitions)
    if n == 0 or len(frts) != n or len(afds) != n:
        return None
    refs = []
    for acq, frt, afd in zip(times.acquisitions, frts, afds):
        frt_s, afd_s = _number_or_none(frt), _number_or_none(afd)
        if acq is None or frt_s is None or afd_s is None or afd_s <= 0.0 or frt_s < 0.0:
            return None
        t_mean = frame_mean_time_s(half_life_s, afd_s / 1000.0)
        refs.append(acq + _dt.timedelta(seconds=t_mean - frt_s / 1000.0))
    spread = (max(refs) - min(refs)).total_seconds()
    if spread > REFERENCE_TIME_TOLERANCE_S:
        return None
    return min(refs) + (max(refs) - min(refs)) / 2


def _start_reference(
    meta: Mapping[str, Any], times: _Times, half_life_s: float, log: _Log
) -> tuple[_dt.datetime, str]:
    """Reference (decay-correction) time of a DecayCorrection START series."""
    where = _where(meta)
    clock = times.clock
    if times.series is not None and (times.earliest is None or times.series <= times.earliest):
        ref, source = times.series, f"{T_SERIES} (not after the earliest acquisition)"
        if times.ge is not None:
            diff = abs((times.ge - ref).total_seconds())
            if diff > REFERENCE_TIME_TOLERANCE_S:
                log.warning(
                    f"{where}: the {T_GE} ({_fmt_dt(times.ge, clock)}) differs by {diff:.0f} s "
                    f"from SeriesDate/SeriesTime ({_fmt_dt(ref, clock)}), which is used as the "
                    "decay reference (QIBA); check which time the scanner decay-corrected to."
                )
        return ref, source
    if times.series is None:
        reason = f"{T_SERIES} missing"
    else:
        earliest = times.earliest
        assert earliest is not None
        reason = (f"SeriesTime {_fmt_dt(times.series, clock)} is after the earliest acquisition "
                  f"{_fmt_dt(earliest, clock)} (a post-processed series)")
    if times.ge is not None:
        ref, label, source = times.ge, T_GE, T_GE
    else:
        back = _back_computed_reference(meta, times, half_life_s)
        if back is not None:
            ref = back
            label = "time back-computed from the frame times"
            source = (f"back-computed from {T_ACQ}, {T_FRT} and {T_AFD}: "
                      "t_ref = t_acq + decay-weighted mean frame time - FrameReferenceTime")
        elif times.earliest is not None:
            ref, label, source = times.earliest, f"earliest {T_ACQ}", f"earliest {T_ACQ}"
        else:
            raise InputError(
                f"{where}: no decay reference time: {reason} and no acquisition times "
                f"({T_ACQ}). Export the series with its full PET header."
            )
    log.warning(
        f"{where}: {reason}; decay reference time {_fmt_dt(ref, clock)}, the {label}. Check "
        "the SUV against the scanner's."
    )
    return ref, source


def _injection(
    meta: Mapping[str, Any],
    times: _Times,
    scan: _dt.datetime | None,
    override: _dt.datetime | None,
    half_life_s: float | None,
    log: _Log,
    *,
    required: bool,
) -> tuple[_dt.datetime | None, str | None]:
    """Injection time (midnight-corrected) and where it came from."""
    where = _where(meta)
    clock = times.clock
    rp = meta.get("radiopharmaceutical") or {}
    full_date = True
    if override is not None:
        if not isinstance(override, _dt.datetime) or override.utcoffset() is None:
            raise InputError(
                f"injection_datetime_override = {override!r}: give a timezone-aware datetime, "
                "e.g. datetime.fromisoformat('2025-01-01T10:00:00+01:00')."
            )
        if clock.known:
            inj = override
        else:
            inj = clock.aware(override.replace(tzinfo=None))
            log.assume(
                "injection_datetime_override taken as the scanner's local wall-clock time (the "
                "DICOM header has no time zone)"
            )
        source = "injection_datetime_override"
        log.assume(f"injection time {_fmt_dt(inj, clock)} given by the user (override)")
    elif rp.get("start_datetime"):
        dt = _parse_iso(rp.get("start_datetime"))
        if dt is None:
            raise InputError(f"{where}: {T_START_DT} = {rp.get('start_datetime')!r} is invalid.")
        inj, source = clock.aware(dt), T_START_DT
    elif rp.get("start_time"):
        date = meta.get("series_date") or meta.get("acquisition_date")
        if date is None:
            raise InputError(
                f"{where}: only {T_START_TIME} is given and there is no SeriesDate (0008,0021) "
                "to put it on; give the injection date-time."
            )
        dt = _combine(date, rp.get("start_time"))
        if dt is None:
            raise InputError(f"{where}: {T_START_TIME} = {rp.get('start_time')!r} is invalid.")
        inj, full_date = clock.aware(dt), False
        source = f"{T_START_TIME} on SeriesDate (0008,0021)"
        log.assume(f"injection date taken from SeriesDate ({T_START_DT} missing)")
    else:
        if not required:
            return None, None
        raise InputError(
            f"{where}: no injection time: {T_START_DT} and {T_START_TIME} are both missing in "
            "the RadiopharmaceuticalInformationSequence (0054,0016). The decay correction needs "
            "it; give it with --injection-datetime (injection_datetime_override in Python)."
        )
    if scan is None:
        return inj, source
    max_s = None if half_life_s is None else MAX_UPTAKE_HALF_LIVES * half_life_s
    if inj > scan:
        if not full_date:
            earlier = inj - _dt.timedelta(days=1)
            uptake = (scan - earlier).total_seconds()
            if max_s is None or uptake <= max_s:
                log.warning(
                    f"{where}: injection time {clock.iso(inj)} ({T_START_TIME}) is after the "
                    f"scan ({_fmt_dt(scan, clock)}): taken as the day before "
                    f"({_fmt_dt(earlier, clock)}, midnight crossing), uptake {_hours(uptake)}."
                )
                return earlier, f"{source}, minus one day (midnight crossing)"
            raise InputError(
                f"{where}: the injection ({T_START_TIME} {inj.time().isoformat()}) is after the "
                f"scan ({_fmt_dt(scan, clock)}) even allowing for a midnight crossing: the day "
                f"before would mean an uptake of {_hours(uptake)}, more than "
                f"{MAX_UPTAKE_HALF_LIVES:g} half-lives. Check the injection and scan times."
            )
        raise InputError(
            f"{where}: the injection ({source} {_fmt_dt(inj, clock)}) is after the scan "
            f"reference time ({_fmt_dt(scan, clock)}). Check the injection date and time "
            "(and the scanner clock); correct the header or give --injection-datetime."
        )
    uptake = (scan - inj).total_seconds()
    if max_s is not None and uptake > max_s:
        raise InputError(
            f"{where}: implausible uptake time {_hours(uptake)} from the injection ({source} "
            f"{_fmt_dt(inj, clock)}) to the scan ({_fmt_dt(scan, clock)}): more than "
            f"{MAX_UPTAKE_HALF_LIVES:g} half-lives ({_hours(max_s)}). Check the dates of "
            "injection and scan and the radionuclide half-life."
        )
    return inj, source


# --------------------------------------------------------------------------- factor paths
def _per_slice(meta: Mapping[str, Any], single_key: str, list_key: str, n: int
               ) -> list[float | None]:
    values = meta.get(list_key)
    if values is None:
        one = meta.get(single_key)
        values = [one] * n
    return [_number_or_none(v) for v in values]


def _activity_factors(
    meta: Mapping[str, Any],
    dc: str,
    acf: list[float],
    overrides: dict[str, Any],
    log: _Log,
) -> dict[str, Any]:
    """SUVbw factors of activity-concentration images (BQML, or CNTS × Philips ACF)."""
    where = _where(meta)
    rp = meta.get("radiopharmaceutical") or {}
    if (_number_or_none(rp.get("n_items")) or 1) > 1:
        log.warning(
            f"{where}: the RadiopharmaceuticalInformationSequence (0054,0016) has "
            f"{int(rp['n_items'])} items; the first is used."
        )
    weight, weight_source, _ = _weight_kg(meta, overrides["weight_kg"], log, required=True)
    assert weight is not None
    dose_bq, dose_stored, dose_unit = _injected_dose(rp, where, overrides["dose_bq"], log)
    half_life, hl_source, nuclide = _half_life(rp, where, log, required=dc != "ADMIN")
    times = _times(meta, log)
    clock = times.clock
    n = len(acf)
    out: dict[str, Any] = {
        "weight_kg": weight, "weight_source": weight_source, "injected_dose_bq": dose_bq,
        "injected_dose_stored": dose_stored, "injected_dose_unit": dose_unit,
        "half_life_s": half_life, "half_life_source": hl_source, "nuclide": nuclide,
        "clock": clock, "slice_decay_factors": None,
    }
    weight_g = weight * G_PER_KG
    if dc == "START":
        assert half_life is not None
        ref, ref_source = _start_reference(meta, times, half_life, log)
        inj, inj_source = _injection(meta, times, ref, overrides["injection"], half_life, log,
                                     required=True)
        assert inj is not None
        uptake = (ref - inj).total_seconds()
        decay = math.exp(-LN2 * uptake / half_life)
        decayed = dose_bq * decay
        base = weight_g / decayed
        out.update(
            slice_factors=[base * a for a in acf], reference=ref, reference_source=ref_source,
            injection=inj, injection_source=inj_source, uptake_s=uptake, decay_factor=decay,
            decayed_dose_bq=decayed,
            method=f"{meta.get('units')}: SUVbw = C x W / (D x exp(-ln2 x uptake / T1/2)), "
                   "DecayCorrection START",
        )
    elif dc == "ADMIN":
        scan = times.series if times.series is not None else times.earliest
        if times.series is not None and times.earliest is not None:
            scan = min(times.series, times.earliest)
        inj, inj_source = _injection(meta, times, scan, overrides["injection"], half_life, log,
                                     required=False)
        if inj is None:
            log.assume(
                "DecayCorrection ADMIN and no injection time: uptake time not checked"
            )
        uptake_admin = None if (inj is None or scan is None) else (scan - inj).total_seconds()
        base = weight_g / dose_bq
        out.update(
            slice_factors=[base * a for a in acf], reference=inj,
            reference_source="DecayCorrection ADMIN: values are decay-corrected to the "
                             "administration (injection) time; no decay factor",
            injection=inj, injection_source=inj_source, uptake_s=uptake_admin, decay_factor=1.0,
            decayed_dose_bq=dose_bq,
            method=f"{meta.get('units')}: SUVbw = C x W / D, DecayCorrection ADMIN",
        )
    else:  # NONE
        assert half_life is not None
        durations = _per_slice(meta, "actual_frame_duration_ms", "actual_frame_durations_ms", n)
        if len(times.acquisitions) != n or any(a is None for a in times.acquisitions):
            raise InputError(
                f"{where}: DecayCorrection NONE needs the start time of every frame ({T_ACQ} "
                "of every slice), and some are missing. Export the series with its full header."
            )
        if len(durations) != n or any(d is None or d <= 0.0 for d in durations):
            raise InputError(
                f"{where}: DecayCorrection NONE needs the duration of every frame ({T_AFD} of "
                "every slice), and some are missing or zero. Export the series with its full "
                "header."
            )
        latest = max(a for a in times.acquisitions if a is not None)
        inj, inj_source = _injection(meta, times, times.earliest, overrides["injection"],
                                     half_life, log, required=True)
        assert inj is not None and times.earliest is not None
        _injection_check_latest(where, inj, latest, half_life, clock)
        decays = []
        for acq, dur_ms in zip(times.acquisitions, durations):
            assert acq is not None and dur_ms is not None
            t0 = (acq - inj).total_seconds()
            decays.append(math.exp(-LN2 * t0 / half_life)
                          * frame_mean_decay(half_life, dur_ms / 1000.0))
        out.update(
            slice_factors=[weight_g / (dose_bq * f) * a for f, a in zip(decays, acf)],
            reference=times.earliest,
            reference_source=f"DecayCorrection NONE: each slice's own frame start ({T_ACQ}) "
                             f"and duration ({T_AFD}); earliest frame start reported",
            injection=inj, injection_source=inj_source,
            uptake_s=(times.earliest - inj).total_seconds(), decay_factor=decays[0],
            decayed_dose_bq=None, slice_decay_factors=decays,
            method=f"{meta.get('units')}: SUVbw = C x W / (D x exp(-ln2 x t_start / T1/2) x "
                   "(1 - exp(-ln2 T / T1/2)) / (ln2 T / T1/2)), DecayCorrection NONE, per slice",
        )
    return out


def _injection_check_latest(
    where: str, inj: _dt.datetime, latest: _dt.datetime, half_life_s: float, clock: _Clock
) -> None:
    uptake = (latest - inj).total_seconds()
    max_s = MAX_UPTAKE_HALF_LIVES * half_life_s
    if uptake > max_s:
        raise InputError(
            f"{where}: implausible uptake time {_hours(uptake)} from the injection "
            f"({_fmt_dt(inj, clock)}) to the last frame ({_fmt_dt(latest, clock)}): more than "
            f"{MAX_UPTAKE_HALF_LIVES:g} half-lives. Check the acquisition and injection dates."
        )


def _scanner_height_cm(
    meta: Mapping[str, Any], overrides: dict[str, Any], log: _Log
) -> float | None:
    """The height the scanner normalised with: the header's, else the user's (assumption)."""
    try:
        header = _height_cm(meta, None, log)
    except InputError:
        if overrides["height_cm"] is None:
            raise
        header = None
    if header is not None or overrides["height_cm"] is None:
        return header
    h = _height_cm(meta, overrides["height_cm"], log)
    log.assume(
        f"{T_SIZE} missing or invalid: the given height {h:g} cm taken as the one the scanner "
        "used for its SUV normalisation"
    )
    return h


def _stored_body_size(
    meta: Mapping[str, Any], suv_type: str, weight: float, height_cm: float | None, log: _Log
) -> float:
    """The body size (kg) the scanner normalised a GML image to (James-120 for 'LBM')."""
    where = _where(meta)
    if height_cm is None:
        raise InputError(
            f"{where}: the values are SUV of type {suv_type} ({T_UNITS} GML); "
            f"converting them to SUVbw needs the patient's height, but {T_SIZE} is missing. "
            "Give it with --height-cm (height_cm_override in Python)."
        )
    sex = str(meta.get("patient_sex") or "").strip().upper()
    sexes = [sex] if sex in ("F", "M") else ["M", "F"]
    if sex not in ("F", "M"):
        log.warning(
            f"{where}: {T_SEX} is {sex or 'missing'!r} and the values are SUV of type "
            f"{suv_type}: "
            "converted back to SUVbw with the mean of the male and female formulas (the "
            "convention of the IBSI/OncoRay SUV manual). Check the SUV against the scanner's."
        )

    def size(s: str) -> float:
        if suv_type == "IBW":
            return body.ibw_kg(height_cm, s)
        if suv_type == "LBMJANMA":
            return body.lbm_janmahasatian_kg(weight, height_cm, s)
        if suv_type == "LBMJAMES128":
            return body.lbm_james_kg(weight, height_cm, s)
        # "LBM": DICOM's James formula with the misquoted male coefficient 120 (CID 85 note).
        a, b = (1.10, 120.0) if s == "M" else body.JAMES_COEFFICIENTS["F"]
        return a * weight - b * (weight / height_cm) ** 2

    return float(np.mean([size(s) for s in sexes]))


def _normalised_factors(
    meta: Mapping[str, Any], units: str, overrides: dict[str, Any], log: _Log, n: int
) -> dict[str, Any]:
    """GML / CM2ML: values are already SUV; factor back to SUVbw."""
    where = _where(meta)
    suv_type = str(meta.get("suv_type") or "").strip().upper() or None
    weight, weight_source, header_w = _weight_kg(meta, overrides["weight_kg"], log,
                                                 required=False)
    if overrides["weight_kg"] is not None and not header_w:
        raise InputError(
            f"{where}: the values are already SUV ({T_UNITS} {units}) computed by the scanner "
            f"with its own weight, but {T_WEIGHT} is missing, so netdose cannot rescale them to "
            "the weight you gave. Use the series in Bq/mL (BQML) instead."
        )
    rescale = 1.0 if overrides["weight_kg"] is None else weight / header_w  # type: ignore[operator]
    if rescale != 1.0:
        log.assume(
            f"SUV rescaled from the header weight {header_w:g} kg to the given {weight:g} kg "
            f"(x {rescale:.6g})"
        )
    if units == "GML":
        if suv_type is None:
            suv_type = "BW"
            log.warning(
                f"{where}: {T_UNITS} GML without {T_SUV_TYPE}: the values are taken as SUVbw "
                "(body weight). Check the scanner's SUV setting."
            )
        if suv_type not in _GML_SUV_TYPES:
            raise InputError(
                f"{where}: {T_UNITS} GML with {T_SUV_TYPE} {suv_type!r}; netdose knows "
                f"{', '.join(_GML_SUV_TYPES)} (BSA goes with Units CM2ML). Export in BQML."
            )
        if suv_type == "BW":
            base = 1.0
            method = "GML with SUVType BW: values are SUVbw"
        else:
            if header_w is None or header_w <= 0:
                raise InputError(
                    f"{where}: the values are SUV of type {suv_type}; converting them to SUVbw "
                    f"needs the weight the scanner used, but {T_WEIGHT} is missing. Use the "
                    "series in Bq/mL (BQML) instead."
                )
            size = _stored_body_size(
                meta, suv_type, header_w, _scanner_height_cm(meta, overrides, log), log
            )
            base = header_w / size
            method = (f"GML with SUVType {suv_type}: SUVbw = value x W / body size "
                      f"({size:.4f} kg for W = {header_w:g} kg)")
            log.assume(
                f"stored SUV of type {suv_type} converted back to SUVbw with the DICOM PS3.16 "
                f"CID 85 formula (body size {size:.4f} kg)"
            )
    else:  # CM2ML
        if suv_type not in (None, "BSA"):
            raise InputError(
                f"{where}: {T_UNITS} CM2ML (SUVbsa) but {T_SUV_TYPE} is {suv_type!r}; the "
                "header contradicts itself. Export in BQML."
            )
        suv_type = "BSA"
        if header_w is None or header_w <= 0:
            raise InputError(
                f"{where}: the values are SUVbsa; converting them to SUVbw needs the weight the "
                f"scanner used, but {T_WEIGHT} is missing. Use the series in BQML instead."
            )
        h = _scanner_height_cm(meta, overrides, log)
        if h is None:
            raise InputError(
                f"{where}: the values are SUVbsa ({T_UNITS} CM2ML); converting them to SUVbw "
                f"needs the patient's height, but {T_SIZE} is missing. Give --height-cm."
            )
        bsa = body.bsa_dubois_m2(header_w, h)
        base = header_w * G_PER_KG / (bsa * 1.0e4)
        method = (f"CM2ML (SUVbsa): SUVbw = SUVbsa x W(g) / BSA(cm2), DuBois BSA {bsa:.4f} m2 "
                  f"for W = {header_w:g} kg, H = {h:g} cm")
        log.assume("stored SUVbsa converted back to SUVbw with the DuBois BSA (DICOM CID 85)")
    return {
        "slice_factors": [base * rescale] * n, "method": method, "suv_type": suv_type,
        "weight_kg": weight, "weight_source": weight_source,
    }


def _philips_suv_factors(
    meta: Mapping[str, Any], factors: list[float], overrides: dict[str, Any], log: _Log
) -> dict[str, Any]:
    where = _where(meta)
    weight, weight_source, header_w = _weight_kg(meta, overrides["weight_kg"], log,
                                                 required=False)
    rescale = 1.0
    if overrides["weight_kg"] is not None:
        if not header_w:
            raise InputError(
                f"{where}: the {T_PHILIPS_SUV} includes the weight the scanner used, but "
                f"{T_WEIGHT} is missing, so netdose cannot rescale it to the weight you gave."
            )
        rescale = weight / header_w  # type: ignore[operator]
        log.assume(f"Philips SUV factor rescaled from {header_w:g} kg to {weight:g} kg")
    log.assume(
        f"{T_PHILIPS_SUV} used as the scanner computed it (its weight, dose and decay "
        "correction cannot be checked from the header)"
    )
    return {
        "slice_factors": [f * rescale for f in factors],
        "method": f"CNTS: SUVbw = value x {T_PHILIPS_SUV}",
        "weight_kg": weight, "weight_source": weight_source,
        "vendor_factor": T_PHILIPS_SUV,
    }


# --------------------------------------------------------------------------- public
def suv_factor(
    meta: Mapping[str, Any],
    *,
    weight_kg_override: float | None = None,
    height_cm_override: float | None = None,
    sex_override: str | None = None,
    injected_dose_bq_override: float | None = None,
    injection_datetime_override: _dt.datetime | None = None,
) -> SuvFactor:
    """The SUVbw factor of a PET series from its header facts (QIBA pseudo-code).

    Parameters
    ----------
    meta : mapping
        ``Image.meta`` of :func:`netdose.io.dicom.read_dicom_image` (``units``,
        ``decay_correction``, ``corrected_image``, series/acquisition times, patient and
        radiopharmaceutical facts, per-slice lists). ``timezone_offset_from_utc``
        (``"+0100"``) is used when present.
    weight_kg_override : float, optional
        Body weight in kg, replacing PatientWeight (recorded as an assumption).
    height_cm_override : float, optional
        Height in cm when PatientSize is missing (and for the normalisations).
    sex_override : {"F", "M"}, optional
        Replaces PatientSex for the normalisations.
    injected_dose_bq_override : float, optional
        Injected activity in Bq, replacing RadionuclideTotalDose.
    injection_datetime_override : datetime.datetime, optional
        Timezone-aware injection time, replacing the radiopharmaceutical start time.

    Returns
    -------
    SuvFactor
        Warnings are also issued as :class:`~netdose.errors.NetdoseWarning`.

    Raises
    ------
    InputError
        Every refused case of the module docstring; the message names the DICOM tag and the
        fix.
    """
    where = _where(meta)
    log = _Log()
    modality = str(meta.get("modality") or "").upper()
    if modality and modality != "PT":
        raise InputError(
            f"{where}: modality {modality!r}; SUV is computed from PET (PT) series. For SPECT "
            "use netdose.io.dicom.to_activity_bq_ml."
        )
    units = str(meta.get("units") or "").strip().upper()
    if units not in _SUPPORTED_UNITS:
        raise InputError(
            f"{where}: {T_UNITS} is {units or 'missing'!r}; netdose computes SUV from "
            f"{', '.join(_SUPPORTED_UNITS)}. Export the PET series in Bq/mL (BQML)."
        )
    dc = _corrections(meta)
    n = int(meta.get("n_slices") or len(meta.get("rescale_slopes") or []) or 1)
    overrides = {
        "weight_kg": weight_kg_override, "height_cm": height_cm_override,
        "dose_bq": injected_dose_bq_override, "injection": injection_datetime_override,
    }
    facts: dict[str, Any] = {}
    suv_type = None
    if units == "BQML":
        facts = _activity_factors(meta, dc, [1.0] * n, overrides, log)
    elif units == "CNTS":
        suv_f = _per_slice(meta, "philips_suv_factor", "philips_suv_factors", n)
        acf = _per_slice(meta, "philips_activity_concentration_factor",
                         "philips_activity_concentration_factors", n)
        if all(f is not None and f > 0.0 for f in suv_f):
            facts = _philips_suv_factors(meta, suv_f, overrides, log)  # type: ignore[arg-type]
        elif all(a is not None and a > 0.0 for a in acf):
            facts = _activity_factors(meta, dc, acf, overrides, log)  # type: ignore[arg-type]
            facts["vendor_factor"] = T_PHILIPS_ACF
            facts["method"] = facts["method"].replace(
                "CNTS:", f"CNTS x {T_PHILIPS_ACF} = Bq/mL;", 1
            )
        else:
            raise InputError(
                f"{where}: {T_UNITS} is CNTS (counts) and neither the {T_PHILIPS_SUV} nor the "
                f"{T_PHILIPS_ACF} is present (non-zero) in every slice, so the counts cannot "
                "be turned into SUV. Export the series in Bq/mL (BQML) or with the Philips "
                "private group 7053."
            )
    else:
        facts = _normalised_factors(meta, units, overrides, log, n)
        suv_type = facts["suv_type"]
    try:
        height_cm = _height_cm(meta, height_cm_override, log)
    except InputError:
        height_cm = None
        log.assume(
            f"{T_SIZE} = {meta.get('patient_height_m')!r} is not a height in metres: ignored "
            "(give the height for SUL, SUVbsa or SUVibw)"
        )
    sex = sex_override if sex_override is not None else meta.get("patient_sex")
    if sex_override is not None:
        log.assume(f"patient sex {sex_override!r} given by the user (override)")
    clock: _Clock = facts.get("clock") or _Clock(None, False)
    factors = tuple(float(f) for f in facts["slice_factors"])
    if not all(math.isfinite(f) and f > 0.0 for f in factors):
        raise InputError(f"{where}: the SUV factor is not a positive number ({factors[:3]}...).")
    slice_decays = facts.get("slice_decay_factors")
    for message in log.warnings:
        warnings.warn(message, NetdoseWarning, stacklevel=2)
    return SuvFactor(
        factor=factors[0],
        slice_factors=factors,
        uniform=len(set(factors)) == 1,
        units=units,
        suv_type_stored=suv_type if suv_type is not None else meta.get("suv_type"),
        method=facts["method"],
        decay_correction=dc,
        reference_datetime=clock.iso(facts.get("reference")),
        reference_time_source=facts.get("reference_source"),
        injection_datetime=clock.iso(facts.get("injection")),
        injection_time_source=facts.get("injection_source"),
        uptake_time_s=facts.get("uptake_s"),
        decay_factor=facts.get("decay_factor"),
        slice_decay_factors=None if slice_decays is None else tuple(slice_decays),
        injected_dose_bq=facts.get("injected_dose_bq"),
        injected_dose_stored=facts.get("injected_dose_stored"),
        injected_dose_unit=facts.get("injected_dose_unit"),
        decayed_dose_bq=facts.get("decayed_dose_bq"),
        half_life_s=facts.get("half_life_s"),
        half_life_source=facts.get("half_life_source"),
        nuclide=facts.get("nuclide"),
        weight_kg=facts.get("weight_kg"),
        weight_source=facts.get("weight_source"),
        height_cm=height_cm,
        sex=None if sex is None else str(sex),
        vendor_factor=facts.get("vendor_factor"),
        timezone=(
            "header times placed in the time zone of the header" if clock.known
            else "no time zone in the header: all times taken as the same local time"
        ),
        warnings=tuple(log.warnings),
        assumptions=tuple(log.assumptions),
        constants=SUV_CONSTANTS,
    )


def _timezone_offset(files: Sequence[str]) -> str | None:
    """TimezoneOffsetFromUTC (0008,0201) of the first file (the reader does not keep it)."""
    if not files:
        return None
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(files[0], stop_before_pixels=True,
                             specific_tags=["TimezoneOffsetFromUTC"])
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None
    value = ds.get("TimezoneOffsetFromUTC")
    return str(value).strip() or None if value is not None else None


def _quantisation_warning(image: Image, factors: np.ndarray) -> str | None:
    """Warn when one stored-value step is a large fraction of the typical SUV."""
    slopes = np.asarray(image.meta.get("rescale_slopes") or [], dtype=np.float64)
    if slopes.shape != (image.shape[0],) or np.any(slopes == 0.0):
        return None
    values = np.asarray(image.array, dtype=np.float64)
    stored = values / slopes[:, None, None]
    if not np.allclose(stored, np.round(stored), atol=1.0e-3):
        return None  # not integer storage: nothing to say
    suv = values * factors[:, None, None]
    positive = suv[suv > 0.0]
    if positive.size == 0:
        return None
    median = float(np.median(positive))
    step = float(np.max(np.abs(slopes) * factors))
    if step <= QUANTISATION_WARN_FRACTION * median:
        return None
    return (
        f"{_where(image.meta)}: coarse storage: one stored step is {step:.4g} SUVbw, "
        f"{100.0 * step / median:.1f} % of the median SUV ({median:.4g}) (RescaleSlope up to "
        f"{float(np.max(np.abs(slopes))):.4g} {image.meta.get('units')}); SUV values are "
        "quantised to that step."
    )


def suv_from_dicom(
    path: str | Path,
    *,
    weight_kg_override: float | None = None,
    series_uid: str | None = None,
    height_cm_override: float | None = None,
    sex_override: str | None = None,
    injected_dose_bq_override: float | None = None,
    injection_datetime_override: _dt.datetime | None = None,
) -> SuvResult:
    """Read a DICOM PET series and return its SUVbw image and how it was derived.

    Parameters
    ----------
    path : str or pathlib.Path
        Folder (searched recursively) or file of the PET series.
    weight_kg_override, height_cm_override, sex_override, injected_dose_bq_override,
    injection_datetime_override
        See :func:`suv_factor`.
    series_uid : str, optional
        Series Instance UID when the folder holds several image series.

    Returns
    -------
    SuvResult
        ``suv_bw`` float32 (z, y, x) on the PET grid; ``normalised(kind)`` for SUL etc.

    Raises
    ------
    InputError
        From the reader (no series, damaged file) or from :func:`suv_factor`.
    """
    from netdose.io.dicom import read_dicom_image

    image = read_dicom_image(path, series_uid=series_uid)
    meta = dict(image.meta)
    if "timezone_offset_from_utc" not in meta:
        meta["timezone_offset_from_utc"] = _timezone_offset(meta.get("source_files") or [])
    factor = suv_factor(
        meta,
        weight_kg_override=weight_kg_override,
        height_cm_override=height_cm_override,
        sex_override=sex_override,
        injected_dose_bq_override=injected_dose_bq_override,
        injection_datetime_override=injection_datetime_override,
    )
    factors = np.asarray(factor.slice_factors, dtype=np.float64)
    if factors.shape != (image.shape[0],):
        raise NetdoseError(  # pragma: no cover - the reader gives one entry per slice
            f"{_where(meta)}: {factors.size} slice factors for {image.shape[0]} slices."
        )
    values = np.asarray(image.array, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{_where(meta)}: the PET image has NaN or infinite voxels.")
    suv = (values * factors[:, None, None]).astype(np.float32)
    extra = []
    quant = _quantisation_warning(image, factors)
    if quant is not None:
        warnings.warn(quant, NetdoseWarning, stacklevel=2)
        extra.append(quant)
    meta.update(
        source_units=meta.get("units"),
        units="GML",
        suv_type="BW",
        quantity="suv",
        suv_unit="g/ml{SUVbw}",
    )
    return SuvResult(
        suv_bw=image.with_array(suv, meta=meta),
        factor=factor,
        warnings=factor.warnings + tuple(extra),
        assumptions=factor.assumptions,
    )
