"""Write what a clinic exports: CT, PET and quantitative SPECT series, DICOM SEG and RTSTRUCT.

The writers turn :class:`~netdose.image.Image` objects into DICOM objects that netdose's own
reader (:func:`netdose.io.dicom.read_dicom_image`, :mod:`netdose.io.masks`), SimpleITK/GDCM
and pydicom read back with the same geometry and values within the quantisation below.

=================  ==============================  =============================================
writer             object                          stored values and quantisation error
=================  ==============================  =============================================
write_ct_series    CT Image Storage, 1 file per    int16, RescaleSlope 1, RescaleIntercept -1024
                   slice                           (another integer when the HU range needs it);
                                                   HU rounded to the nearest integer, ties to
                                                   even (``numpy.rint``): error <= 0.5 HU.
write_pt_series    PET Image Storage, 1 file per   uint16 with a per-slice RescaleSlope =
                   slice, Units BQML               slice max / 65535 (rounded up to what the DS
                                                   text holds): error <= slope / 2, i.e.
                                                   <= 7.7e-6 x the slice maximum.
write_nm_series    NM Image Storage, one multi-    uint16 stored values; the calibration is a
                   frame RECON TOMO object         Real World Value Mapping (stored -> Bq/mL,
                                                   and/or stored -> counts). Activity: slope =
                                                   volume max / 65535, error <= slope / 2 =
                                                   7.6e-6 x the volume maximum. Counts: stored
                                                   exactly when they are integers <= 65535.
write_seg          Segmentation Storage, BINARY    exact (1 bit per voxel).
write_rtstruct     RT Structure Set Storage        exact on the reference grid: contours follow
                                                   the voxel edges (see write_rtstruct).
=================  ==============================  =============================================

Geometry. Slices are written along the image's z axis. ``ImageOrientationPatient`` holds the
first two columns of the direction matrix; ``ImagePositionPatient`` is the centre of the
first voxel of each slice. Slices are written ascending along the slice normal
``row x column`` (what viewers and netdose expect): an image whose z axis runs against the
normal (a left-handed grid such as ``diag(1, 1, -1)``) is flipped along z on the way out --
every voxel keeps its physical position, and reading it back gives the same voxels on the
equivalent right-handed grid.

Determinism. The same inputs give the same bytes: every UID is
``pydicom.uid.generate_uid(prefix, entropy_srcs=[SHA-256 of the stored pixels and the
header facts, uid_seed, role])``; no wall-clock time is written (content dates and times are
the acquisition's or the study's).

Atomicity. A series is written into a hidden temporary folder next to the target and
renamed to the target at the end; a failed series leaves nothing. SEG and RTSTRUCT files are
written through :func:`netdose.io.atomic.atomic_path`.

Coded values (radionuclides) are those of DICOM PS3.16: CID 4020 "PET Radionuclide" for
PET and CID 18 "Isotopes in Radiopharmaceuticals" for SPECT, written with their SNOMED CT
codes (scheme ``SCT``; the retired SNOMED-RT ``SRT`` codes are kept in the tables for
reference). The tables were taken from, and are tested against, the PS3.16 code dictionaries
that pydicom ships (``pydicom.sr.codedict``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
import pydicom.pixels
import pydicom.uid
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.valuerep import format_number_as_ds

import netdose
from netdose.errors import InputError
from netdose.image import Image
from netdose.io.atomic import atomic_path
from netdose.nuclides import get_nuclide, normalise_name
from netdose.units import BQ_PER_MBQ, MM3_PER_ML

__all__ = [
    "DEFAULT_STUDY_DATETIME",
    "DEFAULT_UID_SEED",
    "PET_RADIONUCLIDES",
    "SPECT_PROTOCOLS",
    "SPECT_RADIONUCLIDES",
    "Y90_POSITRON_FRACTION",
    "CodedConcept",
    "SpectProtocol",
    "StudyInfo",
    "is_pet_nuclide",
    "is_spect_nuclide",
    "staged_folder",
    "write_ct_series",
    "write_nm_series",
    "write_pt_series",
    "write_rtstruct",
    "write_seg",
]

#: Default ``uid_seed``: mixed into every UID hash.
DEFAULT_UID_SEED: str = "netdose"
#: Study date and time of the default :class:`StudyInfo` (fixed, so output is deterministic).
DEFAULT_STUDY_DATETIME: datetime.datetime = datetime.datetime(2025, 1, 10, 9, 0, 0)
_DEFAULT_DATE = DEFAULT_STUDY_DATETIME.date()
_DEFAULT_TIME = DEFAULT_STUDY_DATETIME.time()

#: Largest stored value of 16-bit unsigned pixel data.
_UINT16_MAX: int = 65535
_INT16_MIN: int = -32768
_INT16_MAX: int = 32767
_CT_INTERCEPT: int = -1024

#: Y-90 internal pair production: 31.86e-6 positrons per decay (Selwyn R.G. et al., "A new
#: internal pair production branching ratio of 90Y", Appl. Radiat. Isot. 65 (2007) 318-327).
#: ICRP-107 lists no beta+ branch for Y-90, so this value is written as its
#: RadionuclidePositronFraction (what Y-90 PET reconstructions are corrected with).
Y90_POSITRON_FRACTION: float = 31.86e-6

_PYDICOM_MAJOR = int(pydicom.__version__.split(".")[0])


# ---------------------------------------------------------------------- coded concepts
@dataclasses.dataclass(frozen=True)
class CodedConcept:
    """A DICOM coded concept (Code Sequence Macro, PS3.3 Table 8.8-1).

    Attributes
    ----------
    value, scheme, meaning : str
        CodeValue, CodingSchemeDesignator and CodeMeaning as written.
    legacy_srt : str or None
        The retired SNOMED-RT (``SRT``) code value of the same concept, for reference (older
        software looks for e.g. ``C-111A1`` for F-18); not written.
    """

    value: str
    scheme: str
    meaning: str
    legacy_srt: str | None = None

    def dataset(self) -> Dataset:
        """The concept as a code sequence item."""
        item = Dataset()
        item.CodeValue = self.value
        item.CodingSchemeDesignator = self.scheme
        item.CodeMeaning = self.meaning
        return item


#: PS3.16 CID 4020 "PET Radionuclide" (SNOMED CT), by ICRP-107 nuclide name.
PET_RADIONUCLIDES: Mapping[str, CodedConcept] = {
    "F-18": CodedConcept("77004003", "SCT", "^18^Fluorine", "C-111A1"),
    "Ga-68": CodedConcept("35337001", "SCT", "^68^Gallium", "C-131A3"),
    "C-11": CodedConcept("40565003", "SCT", "^11^Carbon", "C-105A1"),
    "N-13": CodedConcept("21576001", "SCT", "^13^Nitrogen", "C-107A1"),
    "O-15": CodedConcept("129504001", "SCT", "^15^Oxygen", "C-B1038"),
    "Cu-64": CodedConcept("3932008", "SCT", "^64^Copper", "C-127A2"),
    "Zr-89": CodedConcept("63360001", "SCT", "^89^Zirconium", "C-168A4"),
    "Rb-82": CodedConcept("79197006", "SCT", "^82^Rubidium", "C-159A2"),
    "I-124": CodedConcept("40937006", "SCT", "^124^Iodine", "C-114A5"),
    "Y-86": CodedConcept("10738001", "SCT", "^86^Yttrium", "C-162A3"),
    "Y-90": CodedConcept("14691008", "SCT", "^90^Yttrium", "C-162A7"),
    "Sc-44": CodedConcept("126600", "DCM", "^44^Scandium", None),
}

#: PS3.16 CID 18 "Isotopes in Radiopharmaceuticals", for the SPECT nuclides netdose writes.
SPECT_RADIONUCLIDES: Mapping[str, CodedConcept] = {
    "Tc-99m": CodedConcept("72454006", "SCT", "^99m^Technetium", "C-163A8"),
    "Lu-177": CodedConcept("447553000", "SCT", "^177^Lutetium", "C-101ED"),
    "I-131": CodedConcept("1368003", "SCT", "^131^Iodine", "C-114B1"),
    "I-123": CodedConcept("21572004", "SCT", "^123^Iodine", "C-114A4"),
    "In-111": CodedConcept("56609000", "SCT", "^111^Indium", "C-145A4"),
    "Ho-166": CodedConcept("C1943", "NCIt", "^166^Holmium", None),
}


@dataclasses.dataclass(frozen=True)
class SpectProtocol:
    """Photopeak energy windows and collimator of a SPECT acquisition.

    Attributes
    ----------
    windows : tuple of (name, centre keV, half width as a fraction of the centre)
        One EnergyWindowInformationSequence item per window, ``centre x (1 -/+ half)``.
    collimator : str
        CollimatorGridName (all collimators are parallel hole, ``PARA``).
    source : str
        Where the windows come from.
    """

    windows: tuple[tuple[str, float, float], ...]
    collimator: str
    source: str


#: Default photopeak windows (+-10 % = a 20 % window unless stated) and collimators.
SPECT_PROTOCOLS: Mapping[str, SpectProtocol] = {
    "Tc-99m": SpectProtocol((("Tc99m 140 keV", 140.5, 0.10),), "LEHR", "20 % window, EANM practice"),
    "Lu-177": SpectProtocol(
        (("Lu177 208 keV", 208.0, 0.10),),
        "MEGP",
        "MIRD Pamphlet 26 (Ljungberg et al., J Nucl Med 2016;57:151-162): 208 keV, 20 % window",
    ),
    "I-131": SpectProtocol(
        (("I131 364 keV", 364.5, 0.10),),
        "HEGP",
        "MIRD Pamphlet 24 (Dewaraja et al., J Nucl Med 2013;54:2182-2188): 364 keV, 20 % window",
    ),
    "I-123": SpectProtocol((("I123 159 keV", 159.0, 0.10),), "LEHR", "20 % window"),
    "In-111": SpectProtocol(
        (("In111 171 keV", 171.3, 0.10), ("In111 245 keV", 245.4, 0.10)), "MEGP", "20 % windows"
    ),
    "Ho-166": SpectProtocol(
        (("Ho166 81 keV", 80.6, 0.075),),
        "MEGP",
        "15 % window at 80.6 keV (Elschot et al., EJNMMI Res 2013;3:54)",
    ),
}

# Codes of the patient orientation (CID 19, 20, 21), segmentation (CID 7150/7151, 7203,
# 7202) and units (CID 84), PS3.16.
_RECUMBENT = CodedConcept("102538003", "SCT", "recumbent", "F-10450")
_SUPINE = CodedConcept("40199007", "SCT", "supine", "F-10340")
_HEADFIRST = CodedConcept("102540008", "SCT", "headfirst", "F-10470")
_TISSUE = CodedConcept("85756007", "SCT", "Tissue", "T-D0050")
_DERIVATION_SEGMENTATION = CodedConcept("113076", "DCM", "Segmentation")
_SOURCE_IMAGE_PURPOSE = CodedConcept("121322", "DCM", "Source image for image processing operation")
_UNITS_BQ_ML = CodedConcept("Bq/ml", "UCUM", "Becquerels/milliliter")
_UNITS_COUNTS = CodedConcept("{counts}", "UCUM", "Counts")


def _nuclide_name(nuclide: str) -> str:
    """ICRP spelling of a nuclide; InputError for unknown nuclides."""
    if not isinstance(nuclide, str):
        raise InputError(f"nuclide must be a name such as 'Lu-177'; got {nuclide!r}.")
    name = normalise_name(nuclide)
    get_nuclide(name)  # raises InputError for a nuclide ICRP-107 does not know
    return name


def is_pet_nuclide(nuclide: str) -> bool:
    """True when ``nuclide`` is in CID 4020 "PET Radionuclide" (e.g. F-18, Ga-68, Y-90)."""
    return _nuclide_name(nuclide) in PET_RADIONUCLIDES


def is_spect_nuclide(nuclide: str) -> bool:
    """True when netdose writes SPECT of ``nuclide`` (Tc-99m, Lu-177, I-131, I-123, In-111,
    Ho-166). Y-90 is imaged with PET here (bremsstrahlung SPECT is not written)."""
    return _nuclide_name(nuclide) in SPECT_RADIONUCLIDES


def _positron_fraction(name: str) -> float:
    if name == "Y-90":
        return Y90_POSITRON_FRACTION
    nuc = get_nuclide(name)
    return float(nuc.lines["beta_plus"][:, 1].sum())


# ---------------------------------------------------------------------- value formatting
def _ds(value: float) -> str:
    """A DS string (at most 16 characters); ``-0`` written as ``0``."""
    value = float(value)
    if value == 0.0:
        return "0"
    if value == round(value) and abs(value) < 1e15:
        return str(round(value))
    return format_number_as_ds(value)


def _da(date: datetime.date) -> str:
    return date.strftime("%Y%m%d")


def _tm(time: datetime.time | datetime.datetime) -> str:
    text = time.strftime("%H%M%S")
    return f"{text}.{time.microsecond:06d}" if time.microsecond else text


def _dt(value: datetime.datetime) -> str:
    text = value.strftime("%Y%m%d%H%M%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    offset = value.utcoffset()
    if offset is not None:
        text += _tz_offset(offset)
    return text


def _tz_offset(offset: datetime.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _fit_scale(max_value: float, max_stored: int) -> tuple[float, str]:
    """The smallest DS-representable scale with ``rint(max_value / scale) <= max_stored``.

    Returns the scale as a float (exactly the value the DS text parses to) and its text.
    """
    if max_value <= 0.0:
        return 1.0, "1"
    scale = max_value / max_stored
    for bump in (0.0, 1e-15, 1e-13, 1e-11, 1e-9, 1e-7):
        text = format_number_as_ds(scale * (1.0 + bump))
        value = float(text)
        if np.rint(max_value / value) <= max_stored:
            return value, text
    raise AssertionError("unreachable: no DS scale found")  # pragma: no cover


def _check_text(value: str, what: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} must be text; got {value!r}.")
    if len(value) > max_len or "\\" in value:
        raise InputError(
            f"{what} {value!r} is too long or holds a backslash: DICOM allows at most {max_len} "
            "characters and no '\\'."
        )
    return value


# ---------------------------------------------------------------------- study
_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def _is_uid(text: str) -> bool:
    return len(text) <= 64 and _UID_RE.fullmatch(text) is not None


def _check_uid(uid: str, what: str) -> str:
    if not _is_uid(str(uid)):
        raise InputError(f"{what} {uid!r} is not a valid DICOM UID (digits and dots, <= 64).")
    return str(uid)


@dataclasses.dataclass(frozen=True)
class StudyInfo:
    """Patient and study identification shared by every series of one export.

    Every field has a deterministic default. ``study_uid`` and ``frame_of_reference_uid``,
    when not given, are derived from a hash of the other fields, so the same StudyInfo gives
    the same UIDs every time.

    Attributes
    ----------
    patient_name : str
        DICOM person name, ``FAMILY^GIVEN`` (at most 64 characters).
    patient_id : str
        Patient ID (at most 64 characters).
    patient_sex : str
        ``"M"``, ``"F"``, ``"O"`` or ``""`` (unknown).
    patient_birth_date : datetime.date or None
    study_date : datetime.date
    study_time : datetime.time
    accession_number : str
        At most 16 characters.
    study_id : str
        At most 16 characters.
    study_description : str
    referring_physician_name : str
    body_part_examined : str
        BodyPartExamined of the image series (e.g. ``"ABDOMEN"``); ``""`` when unknown (then
        an empty Laterality says that the laterality is unknown).
    study_uid : str or None
        Study Instance UID; derived when None.
    frame_of_reference_uid : str or None
        Frame of Reference UID shared by the series (they share patient coordinates);
        derived when None.
    """

    patient_name: str = "NETDOSE^PHANTOM"
    patient_id: str = "NETDOSE-PHANTOM"
    patient_sex: str = "O"
    patient_birth_date: datetime.date | None = None
    study_date: datetime.date = _DEFAULT_DATE
    study_time: datetime.time = _DEFAULT_TIME
    accession_number: str = ""
    study_id: str = "1"
    study_description: str = "netdose"
    referring_physician_name: str = ""
    body_part_examined: str = ""
    study_uid: str | None = None
    frame_of_reference_uid: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.patient_name, "patient_name", 64)
        _check_text(self.patient_id, "patient_id", 64)
        if self.patient_sex not in ("M", "F", "O", ""):
            raise InputError(
                f"patient_sex must be 'M', 'F', 'O' or '' (unknown); got {self.patient_sex!r}."
            )
        if self.patient_birth_date is not None and not isinstance(
            self.patient_birth_date, datetime.date
        ):
            raise InputError(
                f"patient_birth_date must be a datetime.date; got {self.patient_birth_date!r}."
            )
        if not isinstance(self.study_date, datetime.date) or isinstance(
            self.study_date, datetime.datetime
        ):
            raise InputError(f"study_date must be a datetime.date; got {self.study_date!r}.")
        if not isinstance(self.study_time, datetime.time):
            raise InputError(f"study_time must be a datetime.time; got {self.study_time!r}.")
        _check_text(self.accession_number, "accession_number", 16)
        _check_text(self.study_id, "study_id", 16)
        _check_text(self.study_description, "study_description", 64)
        _check_text(self.referring_physician_name, "referring_physician_name", 64)
        _check_text(self.body_part_examined, "body_part_examined", 16)
        facts = [
            "netdose-study-info",
            self.patient_name,
            self.patient_id,
            self.patient_birth_date.isoformat() if self.patient_birth_date else "",
            self.study_date.isoformat(),
            self.study_time.isoformat(),
            self.accession_number,
            self.study_id,
        ]
        if self.study_uid is None:
            object.__setattr__(
                self, "study_uid", str(pydicom.uid.generate_uid(entropy_srcs=[*facts, "study"]))
            )
        if self.frame_of_reference_uid is None:
            object.__setattr__(
                self,
                "frame_of_reference_uid",
                str(pydicom.uid.generate_uid(entropy_srcs=[*facts, "frame-of-reference"])),
            )
        _check_uid(str(self.study_uid), "study_uid")
        _check_uid(str(self.frame_of_reference_uid), "frame_of_reference_uid")

    @property
    def study_datetime(self) -> datetime.datetime:
        """Study date and time as one (naive) datetime."""
        return datetime.datetime.combine(self.study_date, self.study_time)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> StudyInfo:
        """The patient and study of an existing DICOM data set (missing fields: defaults)."""

        def text(keyword: str, default: str = "") -> str:
            value = ds.get(keyword)
            return default if value is None else str(value).strip()

        def date(keyword: str) -> datetime.date | None:
            raw = text(keyword)
            try:
                return datetime.datetime.strptime(raw[:8], "%Y%m%d").date() if raw else None
            except ValueError:
                return None

        def time(keyword: str) -> datetime.time | None:
            raw = text(keyword).replace(":", "")
            if not raw:
                return None
            main, _, frac = raw.partition(".")
            try:
                parsed = datetime.datetime.strptime(main.ljust(6, "0")[:6], "%H%M%S").time()
            except ValueError:
                return None
            return parsed.replace(microsecond=int((frac or "0")[:6].ljust(6, "0")))

        sex = text("PatientSex").upper()
        return cls(
            patient_name=text("PatientName"),
            patient_id=text("PatientID"),
            patient_sex=sex if sex in ("M", "F", "O") else "",
            patient_birth_date=date("PatientBirthDate"),
            study_date=date("StudyDate") or DEFAULT_STUDY_DATETIME.date(),
            study_time=time("StudyTime") or DEFAULT_STUDY_DATETIME.time(),
            accession_number=text("AccessionNumber")[:16],
            study_id=text("StudyID")[:16],
            study_description=text("StudyDescription")[:64],
            referring_physician_name=text("ReferringPhysicianName")[:64],
            body_part_examined=text("BodyPartExamined")[:16],
            study_uid=text("StudyInstanceUID") or None,
            frame_of_reference_uid=text("FrameOfReferenceUID") or None,
        )


# ---------------------------------------------------------------------- inputs
def _numeric(image: Image, what: str) -> np.ndarray:
    """The image values as float64; InputError for non-numeric, complex or non-finite."""
    if not isinstance(image, Image):
        raise InputError(
            f"{what} must be a netdose Image; got {type(image).__name__}. Read or build one "
            "first (netdose.io.read_image, netdose.image.Image)."
        )
    arr = np.asarray(image.array)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{what} must be a real numeric image; got dtype {arr.dtype}.")
    image.require_finite(f"{what} (DICOM cannot store NaN or infinity)")
    return arr.astype(np.float64, copy=False)


_NON_NEGATIVE_FIX = (
    "; an activity or a count is >= 0. Clip the reconstruction explicitly (e.g. "
    "numpy.clip(..., 0, None)) if that is intended."
)


def _positive(value: float, what: str, unit: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a number in {unit}; got {value!r}.") from exc
    if not math.isfinite(out) or out <= 0.0:
        raise InputError(f"{what} must be a positive number in {unit}; got {value!r}.")
    return out


def _check_body(weight_kg: float | None, height_m: float | None) -> tuple[float | None, float | None]:
    weight = None if weight_kg is None else _positive(weight_kg, "patient_weight_kg", "kg")
    if weight is not None and weight > 700.0:
        raise InputError(f"patient_weight_kg = {weight:g} is not a body weight in kg.")
    height = None if height_m is None else _positive(height_m, "patient_height_m", "m")
    if height is not None and height > 3.0:
        raise InputError(
            f"patient_height_m = {height:g}: DICOM PatientSize is in metres; give e.g. 1.72 "
            "(not 172 cm)."
        )
    return weight, height


def _check_times(
    injection: datetime.datetime, acquisition: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    for what, value in (("injection_datetime", injection), ("acquisition_datetime", acquisition)):
        if not isinstance(value, datetime.datetime):
            raise InputError(f"{what} must be a datetime.datetime; got {value!r}.")
    if (injection.utcoffset() is None) != (acquisition.utcoffset() is None):
        raise InputError(
            "injection_datetime and acquisition_datetime must both have a time zone or both "
            f"have none; got {injection.isoformat()} and {acquisition.isoformat()}."
        )
    if acquisition.tzinfo is not None:
        injection = injection.astimezone(acquisition.tzinfo)
    if injection > acquisition:
        raise InputError(
            f"the injection ({injection.isoformat()}) is after the acquisition start "
            f"({acquisition.isoformat()}); check the dates and times (and time zones)."
        )
    return injection, acquisition


def _check_prefix(uid_prefix: str | None) -> str:
    if uid_prefix is None:
        return pydicom.uid.PYDICOM_ROOT_UID
    if not uid_prefix.endswith(".") or not _is_uid(uid_prefix[:-1]):
        raise InputError(
            f"uid_prefix {uid_prefix!r} is not a valid UID root ending in '.', e.g. "
            "'1.2.826.0.1.3680043.8.498.'."
        )
    if len(uid_prefix) > 40:
        raise InputError(f"uid_prefix {uid_prefix!r} is too long (at most 40 characters).")
    return uid_prefix


def _check_series_args(series_description: str, series_number: int) -> None:
    _check_text(series_description, "series_description", 64)
    if not isinstance(series_number, (int, np.integer)) or not 0 <= int(series_number) < 2**31:
        raise InputError(f"series_number must be a non-negative integer; got {series_number!r}.")


# ---------------------------------------------------------------------- geometry
@dataclasses.dataclass(frozen=True)
class _Canonical:
    """An image arranged ascending along the slice normal ``row x column``."""

    array: np.ndarray  # (z, y, x), z ascending along ``normal``
    origin: np.ndarray  # LPS position of voxel (0, 0, 0) of ``array``
    row: np.ndarray
    col: np.ndarray
    normal: np.ndarray
    spacing: tuple[float, float, float]  # (x, y, z)
    flipped: bool

    def position(self, k: int) -> np.ndarray:
        return self.origin + k * self.spacing[2] * self.normal

    def grid(self) -> Image:
        """A grid-only image (right-handed) of the canonical arrangement."""
        direction = np.column_stack([self.row, self.col, self.normal]).ravel()
        zeros = np.broadcast_to(np.zeros((), dtype=bool), self.array.shape)
        return Image(zeros, self.spacing, tuple(self.origin), tuple(direction))

    def ipp(self, k: int) -> list[str]:
        return [_ds(v) for v in self.position(k)]

    def iop(self) -> list[str]:
        return [_ds(v) for v in (*self.row, *self.col)]

    def pixel_spacing(self) -> list[str]:
        return [_ds(self.spacing[1]), _ds(self.spacing[0])]


def _canonical(image: Image, arr: np.ndarray) -> _Canonical:
    dmat = image.direction_matrix
    row, col, zdir = dmat[:, 0], dmat[:, 1], dmat[:, 2]
    normal = np.cross(row, col)
    origin = np.asarray(image.origin_mm, dtype=np.float64)
    flipped = float(zdir @ normal) < 0.0
    if flipped:  # left-handed grid: z runs against the normal
        origin = origin + (arr.shape[0] - 1) * image.spacing_mm[2] * zdir
        arr = arr[::-1]
    return _Canonical(
        np.ascontiguousarray(arr), origin, row, col, normal, image.spacing_mm, flipped
    )


# ---------------------------------------------------------------------- UIDs and files
class _Uids:
    """Deterministic UIDs from a content hash, the caller's seed and a role."""

    def __init__(self, prefix: str, uid_seed: str, pixel_bytes: Sequence[bytes], facts: Any):
        if not isinstance(uid_seed, str):
            raise InputError(f"uid_seed must be text; got {uid_seed!r}.")
        digest = hashlib.sha256()
        for chunk in pixel_bytes:
            digest.update(chunk)
        digest.update(json.dumps(facts, sort_keys=True, default=str).encode())
        self.content_hash = digest.hexdigest()
        self.prefix = prefix
        self.seed = uid_seed

    def __call__(self, role: str) -> str:
        return str(
            pydicom.uid.generate_uid(
                prefix=self.prefix, entropy_srcs=[self.content_hash, self.seed, role]
            )
        )


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"NETDOSE_{netdose.__version__}"[:16]
    return meta


def _save(ds: Dataset, path: Path) -> None:
    """Write one DICOM file (Part 10, explicit VR little endian)."""
    if _PYDICOM_MAJOR >= 3:
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
    else:  # pragma: no cover - pydicom 2.x
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.preamble = b"\x00" * 128
        pydicom.dcmwrite(path, ds, write_like_original=False)


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike[str], overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder next to ``folder``; rename it to ``folder`` on success.

    The atomic output of a whole folder (a DICOM series, an export): on any exception the
    temporary folder (a hidden ``.NAME.*.part`` sibling) is removed and ``folder`` is left
    as it was. An existing non-empty ``folder`` is refused (InputError) unless
    ``overwrite``, which replaces it only once the new one is complete.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} is a file; give a folder for the DICOM series.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(
            f"output folder {out} exists and is not empty; give a new folder, or "
            "overwrite=True to replace it."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    except OSError as exc:
        raise InputError(
            f"cannot create the output folder next to {out}: {exc.strerror or exc}. Check that "
            "the folder is writable."
        ) from exc
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if out.exists():
            if any(out.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
                os.rmdir(old)
                os.rename(out, old)
                try:
                    os.rename(tmp, out)
                except BaseException:
                    os.rename(old, out)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rmdir(out)
                os.rename(tmp, out)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_series(
    folder: str | os.PathLike[str],
    datasets: Iterator[tuple[str, Dataset]],
    overwrite: bool,
) -> list[Path]:
    """Write (file name, data set) pairs as one series folder, atomically."""
    out = Path(folder)
    names: list[str] = []
    try:
        with staged_folder(out, overwrite) as tmp:
            for name, ds in datasets:
                _save(ds, tmp / name)
                names.append(name)
    except OSError as exc:
        raise InputError(
            f"cannot write the DICOM series to {out}: {exc.strerror or exc}. Check that the "
            "folder is writable and the disk is not full."
        ) from exc
    return [out / n for n in names]


# ---------------------------------------------------------------------- common modules
def _patient_study(ds: Dataset, study: StudyInfo) -> None:
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = _da(study.patient_birth_date) if study.patient_birth_date else ""
    ds.PatientSex = study.patient_sex
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = _da(study.study_date)
    ds.StudyTime = _tm(study.study_time)
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.StudyDescription = study.study_description


def _base_dataset(
    *,
    sop_class: str,
    sop_uid: str,
    modality: str,
    study: StudyInfo,
    series_uid: str,
    series_number: int,
    series_description: str,
    frame_of_reference_uid: str,
    instance_number: int,
) -> Dataset:
    """SOP Common, Patient, General Study, General Series, Frame of Reference, General
    Equipment and General Image identification."""
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, sop_uid)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    _patient_study(ds, study)
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = int(series_number)
    ds.SeriesDescription = series_description
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "netdose"
    ds.ManufacturerModelName = "netdose.io.dicom_write"
    ds.SoftwareVersions = str(netdose.__version__)
    ds.InstanceNumber = int(instance_number)
    if modality in ("CT", "PT", "NM"):
        if study.body_part_examined:
            ds.BodyPartExamined = study.body_part_examined
        else:
            ds.Laterality = ""  # unknown (PS3.3 C.7.3.1: Type 2C)
    return ds


def _set_times(ds: Dataset, acquisition: datetime.datetime) -> None:
    """Series, acquisition and content date/time = the acquisition start."""
    ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = _da(acquisition)
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = _tm(acquisition)
    ds.AcquisitionDateTime = _dt(acquisition)
    offset = acquisition.utcoffset()
    if offset is not None:
        ds.TimezoneOffsetFromUTC = _tz_offset(offset)


def _image_plane(ds: Dataset, geo: _Canonical, k: int) -> None:
    ds.ImagePositionPatient = geo.ipp(k)
    ds.ImageOrientationPatient = geo.iop()
    ds.PixelSpacing = geo.pixel_spacing()
    ds.SliceThickness = _ds(geo.spacing[2])
    ds.SliceLocation = _ds(float(geo.position(k) @ geo.normal))


def _image_pixel(ds: Dataset, rows: int, cols: int, signed: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0


def _patient_orientation(ds: Dataset) -> None:
    """NM/PET Patient Orientation module: recumbent, supine, head first (= HFS)."""
    orient = _RECUMBENT.dataset()
    orient.PatientOrientationModifierCodeSequence = DicomSequence([_SUPINE.dataset()])
    ds.PatientOrientationCodeSequence = DicomSequence([orient])
    ds.PatientGantryRelationshipCodeSequence = DicomSequence([_HEADFIRST.dataset()])


def _body(ds: Dataset, weight_kg: float | None, height_m: float | None) -> None:
    if weight_kg is not None:
        ds.PatientWeight = _ds(weight_kg)
    if height_m is not None:
        ds.PatientSize = _ds(height_m)


def _radiopharmaceutical_item(
    *,
    radiopharmaceutical: str,
    nuclide: str,
    code: CodedConcept,
    injection: datetime.datetime,
    total_dose: float,
    positron_fraction: float | None,
) -> Dataset:
    item = Dataset()
    item.Radiopharmaceutical = radiopharmaceutical
    item.RadiopharmaceuticalRoute = "intravenous"
    item.RadiopharmaceuticalStartTime = _tm(injection)
    item.RadiopharmaceuticalStartDateTime = _dt(injection)
    item.RadionuclideTotalDose = _ds(total_dose)
    item.RadionuclideHalfLife = _ds(get_nuclide(nuclide).half_life_s)
    if positron_fraction is not None:
        item.RadionuclidePositronFraction = _ds(positron_fraction)
    item.RadionuclideCodeSequence = DicomSequence([code.dataset()])
    return item


# ---------------------------------------------------------------------- CT
def _ct_intercept(hu_min: float, hu_max: float) -> int:
    """RescaleIntercept: -1024 when the rounded HU fit int16 with it, else the mid-range."""
    if hu_min - _CT_INTERCEPT >= _INT16_MIN and hu_max - _CT_INTERCEPT <= _INT16_MAX:
        return _CT_INTERCEPT
    if hu_max - hu_min > _INT16_MAX - _INT16_MIN:
        raise InputError(
            f"the CT spans {hu_min:g} to {hu_max:g} HU, more than the 65535 HU a 16-bit CT can "
            "hold with RescaleSlope 1; is this image in HU?"
        )
    return math.floor((hu_min + hu_max) / 2.0)


def write_ct_series(
    image_hu: Image,
    folder: str | os.PathLike[str],
    *,
    study: StudyInfo | None = None,
    series_description: str = "CT",
    series_number: int = 1,
    acquisition_datetime: datetime.datetime | None = None,
    kvp: float = 120.0,
    uid_seed: str = DEFAULT_UID_SEED,
    uid_prefix: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write a CT volume (HU) as a CT Image Storage series, one file per slice.

    Stored values are int16 with ``RescaleSlope`` 1 and ``RescaleIntercept`` -1024 (another
    integer intercept when the HU range does not fit int16 with -1024, e.g. HU below
    -33792); HU are rounded to the nearest integer with ties to even (``numpy.rint``), so a
    read-back value differs from the input by at most 0.5 HU.

    Parameters
    ----------
    image_hu : Image
        CT in Hounsfield units, shape (z, y, x); finite.
    folder : path-like
        The series folder to create (files ``CT_0001.dcm`` ... in slice order ascending
        along the slice normal). Written atomically.
    study : StudyInfo, optional
        Patient, study and frame of reference; default ``StudyInfo()``.
    series_description : str
        At most 64 characters.
    series_number : int
    acquisition_datetime : datetime.datetime, optional
        Series/acquisition/content date and time; default the study date and time.
    kvp : float
        Peak kilovoltage recorded (KVP).
    uid_seed : str
        Mixed into every UID hash (use different seeds to get different UIDs for the same
        content).
    uid_prefix : str, optional
        UID root ending in ``"."``; default pydicom's root.
    overwrite : bool
        Replace an existing non-empty ``folder``.

    Returns
    -------
    list of pathlib.Path
        The files, in slice order.

    Raises
    ------
    InputError
        Non-numeric or non-finite values, HU out of the 16-bit range, bad text or UID
        arguments, an existing folder (without ``overwrite``), a folder that cannot be written.
    """
    arr = _numeric(image_hu, "the CT (HU)")
    study = study or StudyInfo()
    _check_series_args(series_description, series_number)
    prefix = _check_prefix(uid_prefix)
    acq = acquisition_datetime or study.study_datetime
    if not isinstance(acq, datetime.datetime):
        raise InputError(f"acquisition_datetime must be a datetime.datetime; got {acq!r}.")
    kvp = _positive(kvp, "kvp", "kV")
    geo = _canonical(image_hu, arr)
    rounded = np.rint(geo.array)
    intercept = _ct_intercept(float(rounded.min()), float(rounded.max()))
    stored = (rounded - intercept).astype("<i2")
    nz, ny, nx = stored.shape
    facts = {
        "kind": "CT",
        "ipp0": geo.ipp(0),
        "iop": geo.iop(),
        "spacing": [*geo.pixel_spacing(), _ds(geo.spacing[2])],
        "shape": [nz, ny, nx],
        "intercept": intercept,
        "study": study.study_uid,
        "for": study.frame_of_reference_uid,
        "series": [series_description, int(series_number)],
        "acquisition": _dt(acq),
        "kvp": kvp,
    }
    uids = _Uids(prefix, uid_seed, [stored.tobytes()], facts)
    series_uid = uids("series")

    def datasets() -> Iterator[tuple[str, Dataset]]:
        for k in range(nz):
            ds = _base_dataset(
                sop_class=pydicom.uid.CTImageStorage,
                sop_uid=uids(f"sop-{k}"),
                modality="CT",
                study=study,
                series_uid=series_uid,
                series_number=series_number,
                series_description=series_description,
                frame_of_reference_uid=str(study.frame_of_reference_uid),
                instance_number=k + 1,
            )
            _set_times(ds, acq)
            ds.PatientPosition = "HFS"
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.AcquisitionNumber = 1
            ds.KVP = _ds(kvp)
            _image_plane(ds, geo, k)
            _image_pixel(ds, ny, nx, signed=True)
            ds.RescaleIntercept = str(intercept)
            ds.RescaleSlope = "1"
            ds.RescaleType = "HU"
            ds.PixelData = stored[k].tobytes()
            ds["PixelData"].VR = "OW"
            yield f"CT_{k + 1:04d}.dcm", ds

    return _write_series(folder, datasets(), overwrite)


# ---------------------------------------------------------------------- PET
DecayCorrection = Literal["START", "ADMIN", "NONE"]


def _frame_reference_s(decay_constant_per_s: float, duration_s: float) -> float:
    """Time after the frame start at which the activity equals its frame average:
    ``ln(lambda T / (1 - exp(-lambda T))) / lambda`` (-> T/2 for lambda T -> 0)."""
    x = decay_constant_per_s * duration_s
    if x < 1e-8:
        return duration_s / 2.0
    return math.log(x / -math.expm1(-x)) / decay_constant_per_s


def write_pt_series(
    image_bq_ml: Image,
    folder: str | os.PathLike[str],
    *,
    study: StudyInfo | None = None,
    radiopharmaceutical: str,
    nuclide: str,
    injected_bq: float,
    injection_datetime: datetime.datetime,
    acquisition_datetime: datetime.datetime,
    patient_weight_kg: float,
    patient_height_m: float | None = None,
    decay_correction: DecayCorrection = "START",
    frame_duration_s: float = 300.0,
    corrected_image: Sequence[str] = ("NORM", "DTIM", "ATTN", "SCAT", "DECY", "RAN"),
    reconstruction_method: str = "OSEM",
    series_description: str = "PET AC",
    series_number: int = 2,
    uid_seed: str = DEFAULT_UID_SEED,
    uid_prefix: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write an activity-concentration volume as a PET Image Storage series (Units BQML).

    One static frame (one file per slice). Stored values are uint16 with a per-slice
    ``RescaleSlope`` = slice max / 65535 (``RescaleIntercept`` 0, as PET requires); the
    quantisation error is at most half a slope, 7.7e-6 of the slice maximum.

    Header facts (what an SUV computation reads, following DICOM PS3.3 C.8.9 and the QIBA
    FDG-PET profile): ``Units`` BQML, ``DecayCorrection``, ``CorrectedImage``,
    ``SeriesDate/Time`` = ``AcquisitionDate/Time`` = the acquisition start,
    ``ActualFrameDuration`` (ms), ``FrameReferenceTime`` (ms, from the decay-correction
    reference time to the moment the activity equals its frame average), ``DecayFactor``
    (``2^(FrameReferenceTime / T1/2)``; not written for NONE), ``PatientWeight`` (kg),
    ``PatientSize`` (m, if given), and one RadiopharmaceuticalInformationSequence item with
    ``Radiopharmaceutical``, ``RadiopharmaceuticalStartDateTime`` and ``StartTime`` (the
    injection), ``RadionuclideTotalDose`` (Bq at the injection), ``RadionuclideHalfLife`` (s,
    ICRP-107), ``RadionuclidePositronFraction`` (ICRP-107 beta+ yield; Y-90:
    :data:`Y90_POSITRON_FRACTION`) and ``RadionuclideCodeSequence`` (CID 4020,
    :data:`PET_RADIONUCLIDES`).

    Parameters
    ----------
    image_bq_ml : Image
        Activity concentration in Bq/mL, decay corrected to the reference that
        ``decay_correction`` names (START: the acquisition start; ADMIN: the injection;
        NONE: not corrected). Finite and >= 0.
    folder : path-like
        Series folder to create (``PT_0001.dcm`` ...), written atomically.
    study : StudyInfo, optional
    radiopharmaceutical : str
        E.g. ``"Fludeoxyglucose"``, ``"Ga-68 DOTATATE"`` (at most 64 characters).
    nuclide : str
        A CID 4020 PET nuclide (``"F-18"``, ``"Ga-68"``, ``"Y-90"``, ...).
    injected_bq : float
        Net injected activity at ``injection_datetime``, Bq.
    injection_datetime, acquisition_datetime : datetime.datetime
        Injection and acquisition start; both naive or both with a time zone (then the
        acquisition's offset is written as TimezoneOffsetFromUTC and the injection converted
        to it). The injection must not be after the acquisition.
    patient_weight_kg : float
    patient_height_m : float, optional
    decay_correction : "START", "ADMIN" or "NONE"
    frame_duration_s : float
        Frame (bed) duration, s; written in whole ms.
    corrected_image : sequence of str
        CorrectedImage values; ``DECY`` is added for START/ADMIN and removed for NONE.
    reconstruction_method : str
    series_description, series_number, uid_seed, uid_prefix, overwrite
        As for :func:`write_ct_series`.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    InputError
        NaN/infinite or negative values; a nuclide that is unknown or not a PET nuclide;
        non-positive injected activity, weight or frame duration; an injection after the
        acquisition; an unknown decay correction; bad text, UID or folder arguments.
    """
    arr = _numeric(image_bq_ml, "the PET activity concentration (Bq/mL)")
    image_bq_ml.require_non_negative(
        "the PET activity concentration",
        unit="Bq/mL",
        fix=_NON_NEGATIVE_FIX,
    )
    name = _nuclide_name(nuclide)
    if name not in PET_RADIONUCLIDES:
        raise InputError(
            f"{name} is not a PET radionuclide (DICOM CID 4020: "
            f"{', '.join(PET_RADIONUCLIDES)}); write SPECT with write_nm_series."
        )
    injected = _positive(injected_bq, "injected_bq", "Bq")
    injection, acq = _check_times(injection_datetime, acquisition_datetime)
    weight, height = _check_body(patient_weight_kg, patient_height_m)
    if weight is None:
        raise InputError("patient_weight_kg is required for PET (SUV needs it).")
    correction = str(decay_correction).upper()
    if correction not in ("START", "ADMIN", "NONE"):
        raise InputError(
            f"decay_correction must be 'START', 'ADMIN' or 'NONE'; got {decay_correction!r}."
        )
    duration_ms = round(_positive(frame_duration_s, "frame_duration_s", "s") * 1000.0)
    if duration_ms < 1:
        raise InputError(f"frame_duration_s = {frame_duration_s!r} is shorter than 1 ms.")
    _check_text(radiopharmaceutical, "radiopharmaceutical", 64)
    _check_series_args(series_description, series_number)
    prefix = _check_prefix(uid_prefix)
    study = study or StudyInfo()
    corrections = [str(c).upper() for c in corrected_image if str(c).upper() != "DECY"]
    if correction != "NONE":
        corrections.append("DECY")

    nuc = get_nuclide(name)
    lam = nuc.decay_constant_per_s
    t_in_frame_s = _frame_reference_s(lam, duration_ms / 1000.0)
    if correction == "ADMIN":
        frame_ref_s = (acq - injection).total_seconds() + t_in_frame_s
    else:
        frame_ref_s = t_in_frame_s
    decay_factor = math.exp(lam * frame_ref_s)

    geo = _canonical(image_bq_ml, arr)
    nz, ny, nx = geo.array.shape
    scales = [_fit_scale(float(geo.array[k].max()), _UINT16_MAX) for k in range(nz)]
    stored = np.empty(geo.array.shape, dtype="<u2")
    for k, (scale, _) in enumerate(scales):
        stored[k] = np.clip(np.rint(geo.array[k] / scale), 0, _UINT16_MAX)
    positron_fraction = _positron_fraction(name)
    facts = {
        "kind": "PT",
        "ipp0": geo.ipp(0),
        "iop": geo.iop(),
        "spacing": [*geo.pixel_spacing(), _ds(geo.spacing[2])],
        "shape": [nz, ny, nx],
        "slopes": [t for _, t in scales],
        "study": study.study_uid,
        "for": study.frame_of_reference_uid,
        "series": [series_description, int(series_number)],
        "nuclide": name,
        "radiopharmaceutical": radiopharmaceutical,
        "injection": _dt(injection),
        "acquisition": _dt(acq),
        "injected_bq": _ds(injected),
        "weight": weight,
        "height": height,
        "decay": [correction, duration_ms, corrections, reconstruction_method],
    }
    uids = _Uids(prefix, uid_seed, [stored.tobytes()], facts)
    series_uid = uids("series")

    def datasets() -> Iterator[tuple[str, Dataset]]:
        for k in range(nz):
            ds = _base_dataset(
                sop_class=pydicom.uid.PositronEmissionTomographyImageStorage,
                sop_uid=uids(f"sop-{k}"),
                modality="PT",
                study=study,
                series_uid=series_uid,
                series_number=series_number,
                series_description=series_description,
                frame_of_reference_uid=str(study.frame_of_reference_uid),
                instance_number=k + 1,
            )
            _set_times(ds, acq)
            _body(ds, weight, height)
            # PET Series
            ds.Units = "BQML"
            ds.CountsSource = "EMISSION"
            ds.SeriesType = ["STATIC", "IMAGE"]
            ds.NumberOfSlices = nz
            ds.CorrectedImage = corrections
            ds.DecayCorrection = correction
            ds.ReconstructionMethod = reconstruction_method
            ds.AttenuationCorrectionMethod = "CT-based"
            ds.ScatterCorrectionMethod = "model-based"
            ds.RandomsCorrectionMethod = "DLYD"
            ds.CollimatorType = "NONE"
            # PET Isotope
            ds.RadiopharmaceuticalInformationSequence = DicomSequence(
                [
                    _radiopharmaceutical_item(
                        radiopharmaceutical=radiopharmaceutical,
                        nuclide=name,
                        code=PET_RADIONUCLIDES[name],
                        injection=injection,
                        total_dose=injected,
                        positron_fraction=positron_fraction,
                    )
                ]
            )
            _patient_orientation(ds)
            # PET Image
            ds.ImageType = ["ORIGINAL", "PRIMARY"]
            ds.AcquisitionNumber = 1
            ds.FrameReferenceTime = _ds(frame_ref_s * 1000.0)
            ds.ActualFrameDuration = duration_ms
            if correction != "NONE":
                ds.DecayFactor = _ds(decay_factor)
            ds.ImageIndex = k + 1
            _image_plane(ds, geo, k)
            _image_pixel(ds, ny, nx, signed=False)
            ds.RescaleIntercept = "0"
            ds.RescaleSlope = scales[k][1]
            ds.LossyImageCompression = "00"
            ds.PixelData = stored[k].tobytes()
            ds["PixelData"].VR = "OW"
            yield f"PT_{k + 1:04d}.dcm", ds

    return _write_series(folder, datasets(), overwrite)


# ---------------------------------------------------------------------- NM (SPECT)
NmQuantity = Literal["activity_bq_ml", "counts"]


def _rwvm_item(
    label: str, explanation: str, units: CodedConcept, slope: float, last_stored: int
) -> Dataset:
    item = Dataset()
    item.LUTLabel = label
    item.LUTExplanation = explanation
    item.MeasurementUnitsCodeSequence = DicomSequence([units.dataset()])
    item.add(DataElement(Tag("RealWorldValueFirstValueMapped"), "US", 0))
    item.add(DataElement(Tag("RealWorldValueLastValueMapped"), "US", int(last_stored)))
    item.RealWorldValueIntercept = 0.0
    item.RealWorldValueSlope = float(slope)
    return item


def write_nm_series(
    image: Image,
    folder: str | os.PathLike[str],
    *,
    study: StudyInfo | None = None,
    nuclide: str,
    quantity: NmQuantity = "activity_bq_ml",
    acquisition_datetime: datetime.datetime,
    injection_datetime: datetime.datetime,
    injected_bq: float,
    radiopharmaceutical: str,
    calibration_cps_per_mbq: float | None = None,
    view_duration_s: float = 20.0,
    n_views: int = 120,
    n_heads: int = 2,
    patient_weight_kg: float | None = None,
    patient_height_m: float | None = None,
    protocol: SpectProtocol | None = None,
    corrected_image: Sequence[str] = ("UNIF", "COR", "ATTN", "SCAT"),
    series_description: str = "SPECT",
    series_number: int = 3,
    uid_seed: str = DEFAULT_UID_SEED,
    uid_prefix: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write a reconstructed SPECT as ONE multi-frame NM Image Storage object (RECON TOMO).

    Stored values are uint16; the calibration is carried by a RealWorldValueMappingSequence
    (PS3.3 C.7.6.16.2.11), as quantitative SPECT reconstructions are exported:

    - ``quantity="activity_bq_ml"``: stored = rint(activity / s) with s = max / 65535; one
      mapping ``LUTLabel "BQML"``, units ``Bq/ml`` (UCUM, CID 84), slope s, intercept 0.
      Quantisation error <= s / 2 = 7.6e-6 of the volume maximum.
    - ``quantity="counts"``: reconstructed counts, stored exactly when they are integers
      <= 65535, else as rint(counts / c) with c = max / 65535; a mapping ``"COUNTS"``
      (units ``{counts}``, slope c) and, with ``calibration_cps_per_mbq``, a ``"BQML"``
      mapping with slope ``c * 1e6 / (calibration_cps_per_mbq * T_acq * V_voxel_ml)``,
      where ``T_acq = view_duration_s * n_views / n_heads`` is the elapsed acquisition time.

    :func:`netdose.io.dicom.read_dicom_image` reads the stored values; its ``meta`` exposes
    the mapping (``real_world_value_slope`` ...) and
    :func:`netdose.io.dicom.to_activity_bq_ml` applies it.

    The object holds: ImageType ``ORIGINAL\\PRIMARY\\RECON TOMO\\EMISSION``;
    NumberOfFrames, FrameIncrementPointer = SliceVector, SliceVector 1..n, NumberOfSlices;
    DetectorInformationSequence (one item: ImagePositionPatient of the first frame,
    ImageOrientationPatient, collimator); PixelSpacing, SpacingBetweenSlices and
    SliceThickness (= z spacing); RotationInformationSequence (one item: ``n_views / n_heads``
    views (NumberOfFramesInRotation) of ``view_duration_s`` (ActualFrameDuration, ms) over
    ``360 / n_heads`` degrees; the elapsed acquisition time is views x duration, which the
    reader reports as ``meta["acquisition_duration_s"]``); EnergyWindowInformationSequence
    (``protocol``, by default :data:`SPECT_PROTOCOLS`, e.g. Lu-177 208 keV +-10 %, Tc-99m
    140.5 keV +-10 %); RadiopharmaceuticalInformationSequence (Radiopharmaceutical,
    RadiopharmaceuticalStartTime, RadionuclideTotalDose in **MBq** as the NM Isotope module
    prescribes (PET uses Bq), RadionuclideCodeSequence from CID 18,
    :data:`SPECT_RADIONUCLIDES`, and -- standard attributes that the NM IOD does not list,
    written because a SPECT days after the injection needs the injection *date* --
    RadiopharmaceuticalStartDateTime and RadionuclideHalfLife in s);
    Series/Acquisition/Content date and time = the acquisition start (AcquisitionDateTime
    too); PatientWeight/PatientSize when given. dciodvfy (dicom3tools) finds no errors; it
    warns about those two extra attributes (and an empty Laterality when
    ``study.body_part_examined`` is not given).

    Parameters
    ----------
    image : Image
        Reconstructed SPECT, (z, y, x), finite and >= 0: activity concentration in Bq/mL at
        the acquisition start (``quantity="activity_bq_ml"``) or counts.
    folder : path-like
        Series folder to create, holding ``NM_0001.dcm``; written atomically.
    study : StudyInfo, optional
    nuclide : str
        A SPECT nuclide of :data:`SPECT_RADIONUCLIDES` (Tc-99m, Lu-177, I-131, ...).
    quantity : "activity_bq_ml" or "counts"
    acquisition_datetime, injection_datetime : datetime.datetime
        Acquisition start and injection (injection not after the acquisition).
    injected_bq : float
        Administered activity at ``injection_datetime``, Bq (written in MBq).
    radiopharmaceutical : str
        E.g. ``"Lu-177 DOTATATE"``, ``"Tc-99m MAA"``.
    calibration_cps_per_mbq : float, optional
        Only for counts: tomographic calibration factor, reconstructed counts per second of
        acquisition per MBq (adds the Bq/mL mapping).
    view_duration_s, n_views, n_heads
        Duration of one projection view (s), number of views over all heads, number of
        camera heads.
    patient_weight_kg, patient_height_m : float, optional
    protocol : SpectProtocol, optional
        Energy windows and collimator; default :data:`SPECT_PROTOCOLS` of the nuclide.
    corrected_image : sequence of str
        CorrectedImage (NM values: UNIF, COR, NCO, DECY, ATTN, SCAT, DTIM, ...).
    series_description, series_number, uid_seed, uid_prefix, overwrite
        As for :func:`write_ct_series`.

    Returns
    -------
    list of pathlib.Path
        The one file.

    Raises
    ------
    InputError
        NaN/infinite or negative values; an unknown nuclide or one without a SPECT protocol;
        an unknown quantity; a calibration given for activity; non-positive injected
        activity, durations or calibration; an injection after the acquisition; bad text,
        UID or folder arguments.
    """
    arr = _numeric(image, "the SPECT image")
    if quantity not in ("activity_bq_ml", "counts"):
        raise InputError(f"quantity must be 'activity_bq_ml' or 'counts'; got {quantity!r}.")
    unit = "Bq/mL" if quantity == "activity_bq_ml" else "counts"
    image.require_non_negative("the SPECT image", unit=unit, fix=_NON_NEGATIVE_FIX)
    name = _nuclide_name(nuclide)
    if protocol is None:
        if name not in SPECT_PROTOCOLS:
            hint = " (it is a PET nuclide: use write_pt_series)" if name in PET_RADIONUCLIDES else ""
            raise InputError(
                f"netdose has no SPECT energy windows for {name}{hint}; known: "
                f"{', '.join(SPECT_PROTOCOLS)}. Pass protocol=SpectProtocol(...)."
            )
        protocol = SPECT_PROTOCOLS[name]
    code = SPECT_RADIONUCLIDES.get(name) or PET_RADIONUCLIDES.get(name)
    if code is None:
        raise InputError(f"netdose has no DICOM radionuclide code for {name}.")
    injected = _positive(injected_bq, "injected_bq", "Bq")
    injection, acq = _check_times(injection_datetime, acquisition_datetime)
    weight, height = _check_body(patient_weight_kg, patient_height_m)
    view_ms = round(_positive(view_duration_s, "view_duration_s", "s") * 1000.0)
    if not isinstance(n_views, (int, np.integer)) or not isinstance(n_heads, (int, np.integer)):
        raise InputError(f"n_views and n_heads must be integers; got {n_views!r}, {n_heads!r}.")
    if n_heads < 1 or n_views < n_heads or n_views % n_heads:
        raise InputError(
            f"n_views ({n_views}) must be a positive multiple of n_heads ({n_heads})."
        )
    if calibration_cps_per_mbq is not None and quantity != "counts":
        raise InputError(
            "calibration_cps_per_mbq applies to counts only; an activity image is already "
            "calibrated."
        )
    _check_text(radiopharmaceutical, "radiopharmaceutical", 64)
    _check_series_args(series_description, series_number)
    prefix = _check_prefix(uid_prefix)
    study = study or StudyInfo()

    geo = _canonical(image, arr)
    nz, ny, nx = geo.array.shape
    vmax = float(geo.array.max())
    acquisition_s = view_ms / 1000.0 * n_views / n_heads
    voxel_ml = geo.spacing[0] * geo.spacing[1] * geo.spacing[2] / MM3_PER_ML
    mappings: list[Dataset] = []
    if quantity == "counts":
        integral = bool(np.all(geo.array == np.rint(geo.array)))
        scale = 1.0 if integral and vmax <= _UINT16_MAX else (vmax / _UINT16_MAX if vmax > 0 else 1.0)
        stored = np.clip(np.rint(geo.array / scale), 0, _UINT16_MAX).astype("<u2")
        mappings.append(
            _rwvm_item("COUNTS", "reconstructed counts", _UNITS_COUNTS, scale, _UINT16_MAX)
        )
        if calibration_cps_per_mbq is not None:
            cal = _positive(calibration_cps_per_mbq, "calibration_cps_per_mbq", "cps/MBq")
            bq_per_count = BQ_PER_MBQ / (cal * acquisition_s * voxel_ml)
            mappings.insert(
                0,
                _rwvm_item(
                    "BQML",
                    f"counts / ({cal:.6g} cps/MBq x {acquisition_s:g} s x voxel mL)"[:64],
                    _UNITS_BQ_ML,
                    scale * bq_per_count,
                    _UINT16_MAX,
                ),
            )
    else:
        scale = vmax / _UINT16_MAX if vmax > 0 else 1.0
        stored = np.clip(np.rint(geo.array / scale), 0, _UINT16_MAX).astype("<u2")
        mappings.append(
            _rwvm_item(
                "BQML", "activity concentration at acquisition start", _UNITS_BQ_ML, scale,
                _UINT16_MAX,
            )
        )
    windows = []
    for wname, centre, half in protocol.windows:
        win = Dataset()
        win.EnergyWindowName = wname
        rng = Dataset()
        rng.EnergyWindowLowerLimit = _ds(round(centre * (1.0 - half), 4))
        rng.EnergyWindowUpperLimit = _ds(round(centre * (1.0 + half), 4))
        win.EnergyWindowRangeSequence = DicomSequence([rng])
        windows.append(win)

    facts = {
        "kind": "NM",
        "ipp0": geo.ipp(0),
        "iop": geo.iop(),
        "spacing": [*geo.pixel_spacing(), _ds(geo.spacing[2])],
        "shape": [nz, ny, nx],
        "rwvm": [[m.LUTLabel, m.RealWorldValueSlope] for m in mappings],
        "study": study.study_uid,
        "for": study.frame_of_reference_uid,
        "series": [series_description, int(series_number)],
        "nuclide": name,
        "radiopharmaceutical": radiopharmaceutical,
        "injection": _dt(injection),
        "acquisition": _dt(acq),
        "injected_bq": _ds(injected),
        "body": [weight, height],
        "views": [view_ms, int(n_views), int(n_heads)],
        "protocol": dataclasses.asdict(protocol),
        "corrected": list(corrected_image),
    }
    uids = _Uids(prefix, uid_seed, [stored.tobytes()], facts)
    series_uid = uids("series")

    def datasets() -> Iterator[tuple[str, Dataset]]:
        ds = _base_dataset(
            sop_class=pydicom.uid.NuclearMedicineImageStorage,
            sop_uid=uids("sop-0"),
            modality="NM",
            study=study,
            series_uid=series_uid,
            series_number=series_number,
            series_description=series_description,
            frame_of_reference_uid=str(study.frame_of_reference_uid),
            instance_number=1,
        )
        _set_times(ds, acq)
        _body(ds, weight, height)
        # NM Image
        ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
        ds.CorrectedImage = [str(c).upper() for c in corrected_image]
        ds.CountsAccumulated = int(geo.array.sum()) if quantity == "counts" else ""
        ds.LossyImageCompression = "00"
        # NM Multi-frame
        ds.NumberOfFrames = nz
        ds.FrameIncrementPointer = Tag("SliceVector")
        ds.SliceVector = list(range(1, nz + 1))
        ds.NumberOfSlices = nz
        ds.NumberOfEnergyWindows = len(windows)
        ds.NumberOfDetectors = 1
        ds.NumberOfRotations = 1
        # NM Isotope
        ds.EnergyWindowInformationSequence = DicomSequence(windows)
        ds.RadiopharmaceuticalInformationSequence = DicomSequence(
            [
                _radiopharmaceutical_item(
                    radiopharmaceutical=radiopharmaceutical,
                    nuclide=name,
                    code=code,
                    injection=injection,
                    total_dose=injected / BQ_PER_MBQ,
                    positron_fraction=None,
                )
            ]
        )
        # NM Detector (one item for a reconstruction) and NM TOMO Acquisition
        det = Dataset()
        det.CollimatorGridName = protocol.collimator
        det.CollimatorType = "PARA"
        det.FocalDistance = ""
        det.XFocusCenter = ""
        det.YFocusCenter = ""
        det.ImagePositionPatient = geo.ipp(0)
        det.ImageOrientationPatient = geo.iop()
        ds.DetectorInformationSequence = DicomSequence([det])
        rot = Dataset()
        rot.StartAngle = "0"
        arc = 360.0 / n_heads
        per_head = n_views // n_heads
        rot.AngularStep = _ds(arc / per_head)
        rot.RotationDirection = "CW"
        rot.ScanArc = _ds(arc)
        rot.ActualFrameDuration = view_ms
        rot.NumberOfFramesInRotation = per_head
        ds.RotationInformationSequence = DicomSequence([rot])
        ds.TypeOfDetectorMotion = "STEP AND SHOOT"
        # NM Reconstruction
        ds.SpacingBetweenSlices = _ds(geo.spacing[2])
        ds.SliceThickness = _ds(geo.spacing[2])
        _patient_orientation(ds)
        ds.AcquisitionContextSequence = DicomSequence([])
        # NM Image Pixel
        ds.PixelSpacing = geo.pixel_spacing()
        _image_pixel(ds, ny, nx, signed=False)
        ds.RealWorldValueMappingSequence = DicomSequence(mappings)
        ds.PixelData = stored.tobytes()
        ds["PixelData"].VR = "OW"
        yield "NM_0001.dcm", ds

    return _write_series(folder, datasets(), overwrite)


# ---------------------------------------------------------------------- references
@dataclasses.dataclass(frozen=True)
class _Reference:
    """The image series a SEG or RTSTRUCT refers to."""

    grid: Image  # right-handed canonical grid, with the reader's meta
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    sop_class_uid: str
    slices: tuple[tuple[str, int | None], ...]  # per slice: (SOP instance UID, frame number)
    first: Dataset  # a header of the series (patient, study)


ReferenceSeries = Sequence[str | os.PathLike[str]] | str | os.PathLike[str]


def _reference_files(reference_series: ReferenceSeries) -> list[Path]:
    if isinstance(reference_series, (str, os.PathLike)):
        reference_series = [reference_series]
    files: list[Path] = []
    for entry in reference_series:
        p = Path(entry)
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"reference series file {p} does not exist.")
    if not files:
        raise InputError("reference_series is empty; give the files of the image series.")
    return files


def _frame_order(ds: Dataset, n_frames: int) -> list[int]:
    """0-based frame indices of a multi-frame object in slice order (ascending normal)."""
    iop = None
    positions: list[float] = []
    if "PerFrameFunctionalGroupsSequence" in ds:
        shared = ds.get("SharedFunctionalGroupsSequence")
        shared0 = shared[0] if shared else None
        for fg in ds.PerFrameFunctionalGroupsSequence:
            pos = fg.PlanePositionSequence[0].ImagePositionPatient
            if iop is None:
                src = fg if "PlaneOrientationSequence" in fg else shared0
                iop = [float(v) for v in src.PlaneOrientationSequence[0].ImageOrientationPatient]
            normal = np.cross(iop[:3], iop[3:])
            positions.append(float(np.asarray([float(v) for v in pos]) @ normal))
    else:
        step = float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0)
        vector = ds.get("SliceVector")
        index = [int(v) for v in vector] if vector else list(range(1, n_frames + 1))
        positions = [(s - 1) * step for s in index]
    return [int(i) for i in np.argsort(np.asarray(positions), kind="stable")]


def _load_reference(reference_series: ReferenceSeries) -> _Reference:
    from netdose.io.dicom import read_dicom_image

    files = _reference_files(reference_series)
    headers = []
    for f in files:
        try:
            headers.append(pydicom.dcmread(f, stop_before_pixels=True))
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            raise InputError(f"reference file {f} is not a readable DICOM file ({exc}).") from exc
    series = {str(h.get("SeriesInstanceUID", "")) for h in headers}
    if len(series) != 1 or "" in series:
        raise InputError(
            f"reference_series must be the files of ONE image series; they hold "
            f"{len(series)} series ({', '.join(sorted(series))})."
        )
    series_uid = series.pop()
    parents = {f.resolve().parent for f in files}
    if len(parents) != 1:
        raise InputError(
            "the reference series files must be in one folder (as netdose writes series); "
            f"they are in {len(parents)} folders."
        )
    grid = read_dicom_image(parents.pop(), series_uid=series_uid)
    sop_uids = list(grid.meta["sop_instance_uids"])
    given = {str(h.SOPInstanceUID) for h in headers}
    if not given <= set(sop_uids):
        raise InputError("the reference series files are not all part of the series read back.")
    n_frames = int(grid.meta.get("number_of_frames") or 1)
    if len(sop_uids) == 1 and n_frames > 1:
        full = pydicom.dcmread(Path(grid.meta["source_files"][0]), stop_before_pixels=True)
        order = _frame_order(full, n_frames)
        slices = tuple((sop_uids[0], i + 1) for i in order)
    else:
        slices = tuple((uid, None) for uid in sop_uids)
    first = headers[0]
    return _Reference(
        grid=grid,
        series_uid=series_uid,
        study_uid=str(first.get("StudyInstanceUID", "")),
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
        sop_class_uid=str(first.SOPClassUID),
        slices=slices,
        first=first,
    )


def _check_masks(
    masks: Mapping[str, Image], reference: _Reference | None
) -> tuple[list[str], list[np.ndarray], _Canonical]:
    """Validate masks; return names, canonical boolean arrays and the canonical geometry."""
    if not isinstance(masks, Mapping) or not masks:
        raise InputError("masks must be a non-empty mapping name -> boolean Image.")
    names: list[str] = []
    arrays: list[np.ndarray] = []
    geo: _Canonical | None = None
    first_name = ""
    for name, mask in masks.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"mask names must be non-empty text; got {name!r}.")
        _check_text(name, f"mask name {name!r}", 64)
        if not isinstance(mask, Image):
            raise InputError(f"mask {name!r} must be a netdose Image; got {type(mask).__name__}.")
        arr = np.asarray(mask.array)
        if arr.dtype != np.bool_:
            if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isin(arr, (0, 1))):
                raise InputError(
                    f"mask {name!r} must be boolean (or 0/1); it has dtype {arr.dtype} and "
                    "other values. Threshold it first (e.g. image.array > 0.5)."
                )
            arr = arr.astype(bool)
        if not arr.any():
            raise InputError(
                f"mask {name!r} is empty (0 voxels); leave it out of the segmentation."
            )
        if geo is None:
            geo = _canonical(mask, arr)
            first_name = name
        else:
            geo.grid().require_same_grid(
                _canonical(mask, arr).grid(), f"mask {first_name!r}", f"mask {name!r}"
            )
        names.append(name)
        arrays.append(_canonical(mask, arr).array)
    assert geo is not None
    if reference is not None:
        reference.grid.require_same_grid(
            geo.grid(), f"the reference series {reference.series_uid}", "the masks"
        )
    if len(set(names)) != len(names):
        raise InputError(f"mask names must be unique; got {names}.")
    return names, arrays, geo


def _study_for(study: StudyInfo | None, reference: _Reference | None) -> StudyInfo:
    if reference is None:
        return study or StudyInfo()
    if study is None:
        return StudyInfo.from_dataset(reference.first)
    if study.study_uid != reference.study_uid:
        raise InputError(
            f"study.study_uid {study.study_uid} differs from the reference series' study "
            f"{reference.study_uid}; a segmentation belongs to the study of its image. Pass "
            "study=None to copy the reference's patient and study."
        )
    return study


def _source_item(reference: _Reference, k: int) -> Dataset:
    sop_uid, frame = reference.slices[k]
    item = Dataset()
    item.ReferencedSOPClassUID = reference.sop_class_uid
    item.ReferencedSOPInstanceUID = sop_uid
    if frame is not None:
        item.ReferencedFrameNumber = frame
    return item


# ---------------------------------------------------------------------- SEG
def write_seg(
    masks: Mapping[str, Image],
    folder_or_path: str | os.PathLike[str],
    *,
    reference_series: ReferenceSeries | None = None,
    study: StudyInfo | None = None,
    series_description: str = "netdose segmentation",
    series_number: int = 100,
    algorithm_name: str | None = "netdose",
    uid_seed: str = DEFAULT_UID_SEED,
    uid_prefix: str | None = None,
) -> Path:
    """Write named masks as one DICOM Segmentation (SEG, BINARY) object.

    One segment per mask (SegmentNumber 1, 2, ... in mapping order, SegmentLabel = the
    name, generic coded property: category and type ``(85756007, SCT, "Tissue")``, CID
    7150/7151); SegmentAlgorithmType AUTOMATIC with ``algorithm_name`` (MANUAL when None).
    Only frames with mask content are written (a segment occupies the slices it touches):
    one frame per (segment, slice), ordered by segment, then ascending along the slice
    normal. Each frame has PerFrameFunctionalGroups with FrameContent (DimensionIndexValues
    = segment number, slice index), PlanePosition, SegmentIdentification and -- with a
    reference series -- DerivationImage (SourceImageSequence to the slice's instance, and
    frame number for a multi-frame reference). SharedFunctionalGroups hold PlaneOrientation
    and PixelMeasures (PixelSpacing, SliceThickness and SpacingBetweenSlices = the z
    spacing). The Frame of Reference is the reference series' (else ``study``'s).

    Parameters
    ----------
    masks : mapping name -> Image
        Boolean (or 0/1) masks on one grid; each non-empty. With ``reference_series``, that
        series' grid (or its z-flipped equivalent).
    folder_or_path : path-like
        A ``.dcm`` file, or a folder to write ``SEG.dcm`` into. Written atomically.
    reference_series : list of paths (or a folder), optional
        The files of the image series the masks were drawn on (e.g. what
        :func:`write_ct_series` returned).
    study : StudyInfo, optional
        Default: copied from the reference series (or ``StudyInfo()`` without one). Must be
        the reference's study when both are given.
    series_description, series_number, uid_seed, uid_prefix
        As for :func:`write_ct_series`.
    algorithm_name : str or None

    Returns
    -------
    pathlib.Path
        The SEG file.

    Raises
    ------
    InputError
        Empty mapping, a non-boolean or empty mask, duplicate or too long names, an
        unreadable reference series, a study that is not the reference's.
    GeometryError
        Masks on different grids, or not on the reference series' grid.
    """
    reference = None if reference_series is None else _load_reference(reference_series)
    names, arrays, geo = _check_masks(masks, reference)
    study = _study_for(study, reference)
    _check_series_args(series_description, series_number)
    prefix = _check_prefix(uid_prefix)
    if algorithm_name is not None:
        _check_text(algorithm_name, "algorithm_name", 64)
    for_uid = reference.frame_of_reference_uid if reference else str(study.frame_of_reference_uid)
    nz, ny, nx = geo.array.shape

    frames: list[tuple[int, int]] = []  # (segment number, slice k)
    for number, arr in enumerate(arrays, start=1):
        for k in np.flatnonzero(arr.any(axis=(1, 2))):
            frames.append((number, int(k)))
    pixels = np.stack([arrays[n - 1][k] for n, k in frames]).astype(np.uint8)
    packed = pydicom.pixels.pack_bits(pixels)
    stack = np.stack(arrays)
    overlap = bool(np.any(stack.sum(axis=0) > 1))
    facts = {
        "kind": "SEG",
        "names": names,
        "frames": frames,
        "ipp0": geo.ipp(0),
        "iop": geo.iop(),
        "spacing": [*geo.pixel_spacing(), _ds(geo.spacing[2])],
        "shape": [nz, ny, nx],
        "study": study.study_uid,
        "for": for_uid,
        "reference": reference.series_uid if reference else None,
        "series": [series_description, int(series_number)],
        "algorithm": algorithm_name,
    }
    uids = _Uids(prefix, uid_seed, [packed], facts)
    sop_uid = uids("sop-0")
    ds = _base_dataset(
        sop_class=pydicom.uid.SegmentationStorage,
        sop_uid=sop_uid,
        modality="SEG",
        study=study,
        series_uid=uids("series"),
        series_number=series_number,
        series_description=series_description,
        frame_of_reference_uid=for_uid,
        instance_number=1,
    )
    ds.ContentDate = _da(study.study_date)
    ds.ContentTime = _tm(study.study_time)
    ds.SeriesDate = ds.ContentDate
    ds.SeriesTime = ds.ContentTime
    ds.DeviceSerialNumber = "0"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ContentLabel = "NETDOSE_SEG"
    ds.ContentDescription = series_description
    ds.ContentCreatorName = ""
    ds.SegmentationType = "BINARY"
    ds.SegmentsOverlap = "YES" if overlap else "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ny
    ds.Columns = nx
    ds.BitsAllocated = 1
    ds.BitsStored = 1
    ds.HighBit = 0
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    ds.NumberOfFrames = len(frames)

    segments = []
    for number, name in enumerate(names, start=1):
        seg = Dataset()
        seg.SegmentNumber = number
        seg.SegmentLabel = name
        seg.SegmentAlgorithmType = "AUTOMATIC" if algorithm_name else "MANUAL"
        if algorithm_name:
            seg.SegmentAlgorithmName = algorithm_name
        seg.SegmentedPropertyCategoryCodeSequence = DicomSequence([_TISSUE.dataset()])
        seg.SegmentedPropertyTypeCodeSequence = DicomSequence([_TISSUE.dataset()])
        segments.append(seg)
    ds.SegmentSequence = DicomSequence(segments)

    dim_uid = uids("dimension-organization")
    org = Dataset()
    org.DimensionOrganizationUID = dim_uid
    ds.DimensionOrganizationSequence = DicomSequence([org])
    ds.DimensionOrganizationType = "3D"
    index_items = []
    for pointer, group, label in (
        ("ReferencedSegmentNumber", "SegmentIdentificationSequence", "Segment Number"),
        ("ImagePositionPatient", "PlanePositionSequence", "Image Position Patient"),
    ):
        idx = Dataset()
        idx.DimensionOrganizationUID = dim_uid
        idx.DimensionIndexPointer = Tag(pointer)
        idx.FunctionalGroupPointer = Tag(group)
        idx.DimensionDescriptionLabel = label
        index_items.append(idx)
    ds.DimensionIndexSequence = DicomSequence(index_items)

    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = geo.iop()
    shared.PlaneOrientationSequence = DicomSequence([orient])
    measures = Dataset()
    measures.PixelSpacing = geo.pixel_spacing()
    measures.SliceThickness = _ds(geo.spacing[2])
    measures.SpacingBetweenSlices = _ds(geo.spacing[2])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    per_frame = []
    for number, k in frames:
        fg = Dataset()
        content = Dataset()
        content.DimensionIndexValues = [number, k + 1]
        fg.FrameContentSequence = DicomSequence([content])
        pos = Dataset()
        pos.ImagePositionPatient = geo.ipp(k)
        fg.PlanePositionSequence = DicomSequence([pos])
        ident = Dataset()
        ident.ReferencedSegmentNumber = number
        fg.SegmentIdentificationSequence = DicomSequence([ident])
        if reference is not None:
            deriv = Dataset()
            deriv.DerivationCodeSequence = DicomSequence([_DERIVATION_SEGMENTATION.dataset()])
            src = _source_item(reference, k)
            src.PurposeOfReferenceCodeSequence = DicomSequence([_SOURCE_IMAGE_PURPOSE.dataset()])
            deriv.SourceImageSequence = DicomSequence([src])
            fg.DerivationImageSequence = DicomSequence([deriv])
        per_frame.append(fg)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)

    if reference is not None:
        ref_series = Dataset()
        ref_series.SeriesInstanceUID = reference.series_uid
        instances = []
        for uid in dict.fromkeys(u for u, _ in reference.slices):
            inst = Dataset()
            inst.ReferencedSOPClassUID = reference.sop_class_uid
            inst.ReferencedSOPInstanceUID = uid
            instances.append(inst)
        ref_series.ReferencedInstanceSequence = DicomSequence(instances)
        ds.ReferencedSeriesSequence = DicomSequence([ref_series])

    ds.PixelData = packed
    ds["PixelData"].VR = "OB"
    return _write_single(ds, folder_or_path, "SEG.dcm", "SEG")


def _write_single(
    ds: Dataset, folder_or_path: str | os.PathLike[str], default_name: str, what: str
) -> Path:
    target = Path(folder_or_path)
    out = target if target.suffix.lower() == ".dcm" else target / default_name
    try:
        with atomic_path(out) as tmp:
            _save(ds, tmp)
    except OSError as exc:
        raise InputError(
            f"cannot write the {what} file {out}: {exc.strerror or exc}. Check that the folder "
            "is writable."
        ) from exc
    return out


# ---------------------------------------------------------------------- RTSTRUCT
#: Turn preference when tracing: boundary edges keep the inside on their left (x right, y
#: up); at a corner where two regions touch diagonally, the walk turns left first (towards
#: the region it follows), so such regions are traced as separate loops and no loop crosses
#: itself. Offsets are added to the incoming direction index.
_TURN_ORDER = (1, 0, 3)  # left, straight, right
_DIRS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # +x, +y, -x, -y on the corner lattice


def _trace_slice(mask: np.ndarray) -> list[np.ndarray]:
    """Closed polygons along the voxel edges of a 2-D mask (rows y, columns x).

    A marching-squares walk on the lattice of voxel corners: every edge between an inside
    and an outside voxel is a directed boundary edge (inside on its left); the edges are
    chained into closed loops. Returns loops of corner positions ``(x, y)`` in voxel index
    units (voxel ``(i, j)`` spans ``[i - 0.5, i + 0.5] x [j - 0.5, j + 0.5]``), without
    collinear vertices; every loop is a simple polygon (a walk that meets itself at a corner
    is split there). Outer boundaries and holes are separate loops; an even-odd fill (as
    netdose's RTSTRUCT reader does) gives back exactly the input mask.
    """
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    edges: dict[tuple[int, int], list[int]] = {}  # corner -> outgoing direction indices

    # Edges between rows jj and jj + 1 lie on y = jj + 1 (padded corner units).
    for jj, i in zip(*np.nonzero(m[1:, :] != m[:-1, :]), strict=True):
        if m[jj, i]:  # inside at smaller y: walk -x
            edges.setdefault((int(i) + 1, int(jj) + 1), []).append(2)
        else:  # inside at larger y: walk +x
            edges.setdefault((int(i), int(jj) + 1), []).append(0)
    # Edges between columns ii and ii + 1 lie on x = ii + 1.
    for j, ii in zip(*np.nonzero(m[:, 1:] != m[:, :-1]), strict=True):
        if m[j, ii]:  # inside at smaller x: walk +y
            edges.setdefault((int(ii) + 1, int(j)), []).append(1)
        else:  # inside at larger x: walk -y
            edges.setdefault((int(ii) + 1, int(j) + 1), []).append(3)

    loops: list[np.ndarray] = []
    while edges:
        start = min(edges)
        d0 = edges[start][0]
        x, y, d = start[0], start[1], d0
        vertices: list[tuple[int, int]] = []
        directions: list[int] = []
        while True:
            outs = edges[(x, y)]
            outs.remove(d)
            if not outs:
                del edges[(x, y)]
            vertices.append((x, y))
            directions.append(d)
            x, y = x + _DIRS[d][0], y + _DIRS[d][1]
            candidates = list(edges.get((x, y), []))
            if (x, y) == start:
                candidates.append(d0)
            d = next((d + t) % 4 for t in _TURN_ORDER if (d + t) % 4 in candidates)
            if (x, y) == start and d == d0:
                break
        # A loop that passes a vertex twice (regions touching at a corner) is split there
        # into simple loops; the even-odd fill is unchanged (crossing parities add up).
        stack: list[tuple[tuple[int, int], int]] = []
        index: dict[tuple[int, int], int] = {}
        cycles: list[list[tuple[tuple[int, int], int]]] = []
        for vertex, direction in zip(vertices, directions, strict=True):
            if vertex in index:
                i = index[vertex]
                cycles.append(stack[i:])
                for u, _ in stack[i:]:
                    del index[u]
                stack = stack[:i]
            index[vertex] = len(stack)
            stack.append((vertex, direction))
        cycles.append(stack)
        for cycle in cycles:
            keep = [v for i, (v, d) in enumerate(cycle) if cycle[i - 1][1] != d]
            loops.append(np.asarray(keep, dtype=np.float64) - 1.5)
    return loops


def write_rtstruct(
    masks: Mapping[str, Image],
    path: str | os.PathLike[str],
    *,
    reference_series: ReferenceSeries | None = None,
    study: StudyInfo | None = None,
    series_description: str = "netdose structures",
    series_number: int = 101,
    uid_seed: str = DEFAULT_UID_SEED,
    uid_prefix: str | None = None,
) -> Path:
    """Write named masks as a DICOM RT Structure Set with CLOSED_PLANAR contours.

    Contours are traced per slice along the voxel edges (:func:`_trace_slice`, a
    marching-squares walk on the voxel-corner lattice; no smoothing), outer boundaries and
    holes as separate contours. Rasterised back on the reference grid with an even-odd fill
    (:func:`netdose.io.masks.masks_from_rtstruct`) they give the input masks exactly; other
    software that treats every contour as an outer boundary fills holes (a documented
    limitation of RTSTRUCT). Each contour references its slice's image instance.

    Parameters
    ----------
    masks, reference_series, study, series_description, series_number, uid_seed, uid_prefix
        As for :func:`write_seg`.
    path : path-like
        A ``.dcm`` file, or a folder to write ``RTSTRUCT.dcm`` into. Written atomically.

    Returns
    -------
    pathlib.Path
    """
    reference = None if reference_series is None else _load_reference(reference_series)
    names, arrays, geo = _check_masks(masks, reference)
    study = _study_for(study, reference)
    _check_series_args(series_description, series_number)
    prefix = _check_prefix(uid_prefix)
    for_uid = reference.frame_of_reference_uid if reference else str(study.frame_of_reference_uid)
    grid = geo.grid()

    contours: list[list[tuple[int, np.ndarray]]] = []  # per ROI: (slice k, points (n, 3))
    digest_parts: list[bytes] = []
    for arr in arrays:
        roi = []
        for k in np.flatnonzero(arr.any(axis=(1, 2))):
            for loop in _trace_slice(arr[k]):
                idx = np.column_stack([loop, np.full(len(loop), float(k))])
                pts = grid.physical_points(idx)
                roi.append((int(k), pts))
                digest_parts.append(np.round(pts, 6).tobytes())
        contours.append(roi)
    facts = {
        "kind": "RTSTRUCT",
        "names": names,
        "study": study.study_uid,
        "for": for_uid,
        "reference": reference.series_uid if reference else None,
        "series": [series_description, int(series_number)],
    }
    uids = _Uids(prefix, uid_seed, digest_parts, facts)
    ds = _base_dataset(
        sop_class=pydicom.uid.RTStructureSetStorage,
        sop_uid=uids("sop-0"),
        modality="RTSTRUCT",
        study=study,
        series_uid=uids("series"),
        series_number=series_number,
        series_description=series_description,
        frame_of_reference_uid=for_uid,
        instance_number=1,
    )
    ds.OperatorsName = ""
    ds.SeriesDate = ds.StructureSetDate = _da(study.study_date)
    ds.SeriesTime = ds.StructureSetTime = _tm(study.study_time)
    ds.StructureSetLabel = "NETDOSE"
    ds.StructureSetName = series_description[:64]
    ref_for = Dataset()
    ref_for.FrameOfReferenceUID = for_uid
    if reference is not None:
        rt_study = Dataset()
        rt_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Study Component Mgmt
        rt_study.ReferencedSOPInstanceUID = study.study_uid
        rt_series = Dataset()
        rt_series.SeriesInstanceUID = reference.series_uid
        rt_series.ContourImageSequence = DicomSequence(
            [_source_item(reference, k) for k in range(len(reference.slices))]
        )
        rt_study.RTReferencedSeriesSequence = DicomSequence([rt_series])
        ref_for.RTReferencedStudySequence = DicomSequence([rt_study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref_for])

    roi_items, contour_items, observations = [], [], []
    palette = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
               (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))
    for number, (name, roi) in enumerate(zip(names, contours, strict=True), start=1):
        item = Dataset()
        item.ROINumber = number
        item.ReferencedFrameOfReferenceUID = for_uid
        item.ROIName = name
        item.ROIGenerationAlgorithm = "AUTOMATIC"
        roi_items.append(item)
        rc = Dataset()
        rc.ROIDisplayColor = list(palette[(number - 1) % len(palette)])
        rc.ReferencedROINumber = number
        seq = []
        for k, pts in roi:
            c = Dataset()
            if reference is not None:
                c.ContourImageSequence = DicomSequence([_source_item(reference, k)])
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [_ds(v) for v in pts.ravel()]
            seq.append(c)
        rc.ContourSequence = DicomSequence(seq)
        contour_items.append(rc)
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = "ORGAN"
        obs.ROIInterpreter = ""
        observations.append(obs)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"
    return _write_single(ds, path, "RTSTRUCT.dcm", "RTSTRUCT")

