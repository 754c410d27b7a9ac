"""Reading DICOM image series (CT, PET, MR, reconstructed SPECT) into :class:`~netdose.image.Image`.

What this module does:

- :func:`list_series` scans a folder (recursively) or one file and groups the image
  instances by Series Instance UID. Files that are not DICOM are skipped (and counted);
  non-image objects (RTSTRUCT, RTDOSE, RTPLAN, SEG, SR, ...) are not image series.
- :func:`read_dicom_image` reads one image series into a float32 :class:`Image` in patient
  LPS space, with the stored values rescaled slice by slice (``RescaleSlope`` and
  ``RescaleIntercept`` of each slice; PET slices often each have their own slope) and the
  header facts that later steps need (units, times, radiopharmaceutical, vendor private
  scale factors, NM energy windows, Real World Value Mappings) in :attr:`Image.meta`.
- :func:`to_activity_bq_ml` turns a quantitative image into Bq/mL: PET in BQML as it is,
  NM (SPECT) through its Real World Value Mapping in Bq/mL.

Supported are series of single-frame slices (CT, PT, MR, NM), enhanced multi-frame files
(per-frame functional groups with Plane Position / Plane Orientation) and reconstructed NM
multi-frame files (``RECON TOMO``; geometry in the Detector Information Sequence). NM
projection data (``TOMO``, ``STATIC``, ``WHOLE BODY``, ``DYNAMIC``, ``GATED``) is refused:
netdose needs a reconstructed SPECT.

Geometry
--------
Slices are sorted by the projection of ``ImagePositionPatient`` on the slice normal
``n = row x column`` of ``ImageOrientationPatient``, ascending, so the third column of the
direction matrix is always ``n`` (a right-handed grid) and the origin is the position of the
first slice after sorting. The slice spacing comes from the positions (not from
``SliceThickness``) and must be uniform within 1 %.

For NM multi-frame files the first frame lies at the Detector Information Sequence's
``ImagePositionPatient`` and frame ``k`` (slice index ``s_k`` from ``SliceVector``, else
``k + 1``) at ``IPP + (s_k - 1) * dz * n`` with ``dz = SpacingBetweenSlices`` (its sign is
honoured) or, if absent, ``SliceThickness``; this is the convention of GDCM/ITK.

Header facts that are missing are ``None`` in ``meta``; the steps that need them (SUV,
calibration) raise their own errors.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import struct
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.datadict
import pydicom.dataset
import pydicom.sequence
import pydicom.uid
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from netdose.errors import InputError, UnitsError
from netdose.image import Image
from netdose.units import BQ_PER_MBQ

__all__ = [
    "BQ_PER_ML_UNIT_CODES",
    "NON_IMAGE_MODALITIES",
    "SLICE_GAP_TOLERANCE",
    "SUPPORTED_MODALITIES",
    "SeriesInfo",
    "list_series",
    "read_dicom_image",
    "to_activity_bq_ml",
]

#: Modalities :func:`read_dicom_image` turns into an :class:`Image`.
SUPPORTED_MODALITIES: frozenset[str] = frozenset({"CT", "PT", "MR", "NM"})

#: Modalities of DICOM objects that are not image series (ignored when grouping).
NON_IMAGE_MODALITIES: frozenset[str] = frozenset(
    {
        "RTSTRUCT", "RTDOSE", "RTPLAN", "RTRECORD", "RTIMAGE", "SEG", "SR", "KO", "PR",
        "REG", "RWV", "DOC", "PLAN", "FID", "AU", "ECG", "HD", "RESP",
    }
)

#: UCUM code values (compared case-insensitively) of a Real World Value Mapping in Bq/mL:
#: DICOM PS3.16 CID 84 writes "Bq/ml" (meaning "Becquerels/milliliter"); "Bq/mL" is the
#: canonical case-sensitive UCUM spelling. Both are accepted.
BQ_PER_ML_UNIT_CODES: frozenset[str] = frozenset({"bq/ml"})

#: Largest allowed deviation of a slice gap from the mean gap, relative to the mean gap.
SLICE_GAP_TOLERANCE: float = 0.01
#: Two slices closer than this along the normal (mm) are at the same position.
_DUPLICATE_GAP_MM: float = 1.0e-3
#: Largest allowed difference between the orientation cosines of two slices.
_ORIENTATION_TOLERANCE: float = 1.0e-4
#: Largest allowed in-plane offset between slices (gantry tilt), relative to the pixel size.
_IN_PLANE_TOLERANCE: float = 0.05

#: NM Image Type value 3 of reconstructed volumes / of acquisitions (projections).
_NM_RECONSTRUCTED = frozenset({"RECON TOMO", "RECON GATED TOMO"})
_NM_PROJECTIONS = frozenset({"TOMO", "GATED TOMO", "STATIC", "WHOLE BODY", "DYNAMIC", "GATED"})
#: NM frame index vectors other than SliceVector; more than one distinct value in any of
#: them means the file holds several volumes (or projections).
_NM_OTHER_VECTORS = (
    "EnergyWindowVector",
    "DetectorVector",
    "PhaseVector",
    "RotationVector",
    "RRIntervalVector",
    "TimeSlotVector",
    "AngularViewVector",
    "TimeSliceVector",
)

# Vendor private tags: (group, private creator, element offset within the block).
_PHILIPS_CREATOR = "Philips PET Private Group"
_PHILIPS_SUV_FACTOR = (0x7053, _PHILIPS_CREATOR, 0x00)  # (7053,xx00) SUV scale factor
_PHILIPS_ACTIVITY_FACTOR = (0x7053, _PHILIPS_CREATOR, 0x09)  # (7053,xx09) Bq/ml per count
_GE_PETD_CREATOR = "GEMS_PETD_01"
_GE_SCAN_DATETIME = (0x0009, _GE_PETD_CREATOR, 0x0D)  # (0009,xx0d) scan date-time

#: Errors pydicom may raise on a damaged file.
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    InvalidDicomError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    NotImplementedError,
    UnicodeError,
    struct.error,
)


# ---------------------------------------------------------------------- public types
@dataclasses.dataclass(frozen=True)
class SeriesInfo:
    """One image series found by :func:`list_series`.

    Attributes
    ----------
    series_uid : str
        Series Instance UID (0020,000E).
    modality : str
        Modality (0008,0060), e.g. ``"PT"``, ``"CT"``, ``"NM"``; ``""`` if missing.
    description : str
        Series Description (0008,103E); ``""`` if missing.
    n_files : int
        Number of files (instances) in the series.
    files : tuple of pathlib.Path
        The files, sorted by path.
    sop_class_uid : str
        SOP Class UID of the first file (e.g. PET Image Storage).
    """

    series_uid: str
    modality: str
    description: str
    n_files: int
    files: tuple[Path, ...]
    sop_class_uid: str

    def describe(self) -> str:
        """One line for messages: UID, modality, description and number of files."""
        desc = f"'{self.description}'" if self.description else "no description"
        unit = "file" if self.n_files == 1 else "files"
        return f"{self.series_uid} ({self.modality or 'no modality'}, {desc}, {self.n_files} {unit})"


@dataclasses.dataclass
class _Scan:
    """What a folder scan found."""

    root: Path
    series: list[SeriesInfo]
    non_image: Counter[str]
    n_non_dicom: int
    n_files: int


@dataclasses.dataclass
class _Frame:
    """One 2-D frame of a volume, before sorting."""

    ds: Dataset
    file: Path
    frame_index: int | None  # index in a multi-frame file, None for a single-frame file
    position: np.ndarray  # ImagePositionPatient, LPS mm, shape (3,)
    orientation: np.ndarray  # ImageOrientationPatient (row cosines, column cosines), (6,)
    pixel_spacing: tuple[float, float]  # (row spacing = y, column spacing = x), mm
    slope: float
    intercept: float
    acquisition: tuple[str | None, str | None]  # ISO (date, time) of this frame
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}" if self.frame_index is None else f"{self.file} frame {self.frame_index + 1}"


# ---------------------------------------------------------------------- small helpers
def _tag_name(keyword: str) -> str:
    tag = pydicom.datadict.tag_for_keyword(keyword)
    return f"{keyword} {Tag(tag)}" if tag is not None else keyword


def _value(ds: Dataset, keyword: str | int) -> Any:
    """The value of ``keyword`` (or tag) in ``ds``, or None when missing or empty."""
    if keyword not in ds:
        return None
    value = ds[keyword].value
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, bytes) and not value.strip(b"\x00 "):
        return None
    if isinstance(value, (MultiValue, list, tuple, pydicom.sequence.Sequence)) and len(value) == 0:
        return None
    return value


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1").strip("\x00 ")
    if isinstance(value, (MultiValue, list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _float(ds: Dataset, keyword: str) -> float | None:
    return _as_float(_value(ds, keyword))


def _int(ds: Dataset, keyword: str) -> int | None:
    v = _float(ds, keyword)
    return None if v is None else int(round(v))


def _str(ds: Dataset, keyword: str) -> str | None:
    v = _value(ds, keyword)
    if v is None:
        return None
    if isinstance(v, (MultiValue, list, tuple)):
        return "\\".join(str(x).strip() for x in v)
    if isinstance(v, bytes):
        return v.decode("latin-1").strip("\x00 ")
    return str(v).strip()


def _str_list(ds: Dataset, keyword: str) -> list[str] | None:
    v = _value(ds, keyword)
    if v is None:
        return None
    if isinstance(v, (MultiValue, list, tuple)):
        return [str(x).strip() for x in v]
    return [s.strip() for s in str(v).split("\\")]


def _first_item(ds: Dataset, keyword: str) -> Dataset | None:
    seq = _value(ds, keyword)
    if seq is None:
        return None
    return seq[0]


def _code(item: Dataset | None) -> dict[str, str | None] | None:
    if item is None:
        return None
    return {
        "value": _str(item, "CodeValue"),
        "scheme": _str(item, "CodingSchemeDesignator"),
        "meaning": _str(item, "CodeMeaning"),
    }


_TIME_RE = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$")
_DATETIME_RE = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$"
)


def _iso_date(value: Any) -> str | None:
    """DICOM DA ('YYYYMMDD', also old 'YYYY.MM.DD') to ISO 'YYYY-MM-DD'; None if invalid."""
    if value is None:
        return None
    s = str(value).strip().replace(".", "").replace("-", "")
    if not re.fullmatch(r"\d{8}", s):
        return None
    try:
        return datetime.date(int(s[:4]), int(s[4:6]), int(s[6:8])).isoformat()
    except ValueError:
        return None


def _iso_time(value: Any) -> str | None:
    """DICOM TM ('HHMMSS.FFFFFF', also 'HH:MM:SS') to ISO 'HH:MM:SS[.ffffff]'; None if invalid."""
    if value is None:
        return None
    m = _TIME_RE.match(str(value).strip().replace(":", ""))
    if m is None:
        return None
    hh, mm, ss, frac = m.groups()
    try:
        t = datetime.time(
            int(hh), int(mm or 0), min(int(ss or 0), 59), int((frac or "0").ljust(6, "0"))
        )
    except ValueError:
        return None
    return t.isoformat()


def _iso_datetime(value: Any) -> str | None:
    """DICOM DT ('YYYYMMDDHHMMSS.FFFFFF&ZZXX') to an ISO date-time string; None if invalid."""
    if value is None:
        return None
    m = _DATETIME_RE.match(str(value).strip())
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        tzinfo = None
        if tz:
            sign = 1 if tz[0] == "+" else -1
            tzinfo = datetime.timezone(
                sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
            )
        dt = datetime.datetime(
            int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mi or 0),
            min(int(ss or 0), 59), int((frac or "0").ljust(6, "0")), tzinfo=tzinfo,
        )
    except ValueError:
        return None
    return dt.isoformat()


def _private_value(ds: Dataset, spec: tuple[int, str, int]) -> Any:
    """A vendor private element, found through its private creator.

    Files without the private creator element (some anonymisers and synthetic files drop
    it) are read at the conventional block ``0x10`` -- but only if no other creator has
    reserved that block, so that a different vendor's element is never misread.
    """
    group, creator, offset = spec
    try:
        block = ds.private_block(group, creator)
    except KeyError:
        block = None
    if block is not None:
        tag = block.get_tag(offset)
    elif Tag(group, 0x0010) in ds:
        return None
    else:
        tag = Tag(group, 0x1000 + offset)
    value = _value(ds, tag)
    if isinstance(value, bytes):  # implicit VR or unknown private dictionary entry: VR UN
        value = value.decode("latin-1").strip("\x00 ") or None
    return value


def _plain(value: Any) -> Any:
    """Convert pydicom values to JSON-serialisable Python types."""
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (MultiValue, list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00 ")
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return str(value)


# ---------------------------------------------------------------------- scanning
def _looks_like_dicom_without_preamble(path: Path) -> bool:
    """True when a file starts like a DICOM data set without the 128-byte preamble."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head[:2] in (b"\x02\x00", b"\x08\x00") and len(head) == 4


def _dcmread(path: Path, stop_before_pixels: bool) -> Dataset | None:
    """Read a DICOM file; None if it is not DICOM.

    Data sets without the 128-byte preamble and file meta group (old ACR-NEMA style
    exports) are read too; their transfer syntax is set from the encoding pydicom found.
    """
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        if not _looks_like_dicom_without_preamble(path):
            return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
    except _PARSE_ERRORS:
        return None
    if "SOPClassUID" not in ds:
        return None
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = pydicom.dataset.FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        implicit, little = getattr(ds, "original_encoding", (True, True))
        if implicit:
            meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        elif little:
            meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        else:
            meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    return ds


def _read_header(path: Path) -> Dataset | None:
    """The header of a DICOM file (without pixels); None if the file is not DICOM."""
    try:
        return _dcmread(path, stop_before_pixels=True)
    except IsADirectoryError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    except _PARSE_ERRORS as exc:
        raise InputError(
            f"{path} is a damaged DICOM file ({exc}); it may be truncated. Copy it again from "
            "the archive or remove it from the folder."
        ) from exc


def _is_image(ds: Dataset) -> bool:
    """True for image instances (by SOP class or image attributes), False for RTSTRUCT,
    RTDOSE, SEG, SR, DICOMDIR and the like."""
    modality = (_str(ds, "Modality") or "").upper()
    if modality in NON_IMAGE_MODALITIES:
        return False
    sop_class = ds.get("SOPClassUID")
    if sop_class == pydicom.uid.MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        return False
    name = str(getattr(sop_class, "name", "") or "")
    return "Image Storage" in name or "Rows" in ds


def _non_image_label(ds: Dataset) -> str:
    modality = (_str(ds, "Modality") or "").upper()
    if modality:
        return modality
    sop_class = ds.get("SOPClassUID")
    if sop_class == pydicom.uid.MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds:
        return "DICOMDIR"
    name = getattr(sop_class, "name", None)
    return str(name) if name else "non-image"


def _files_under(path: Path) -> list[Path]:
    if not path.exists():
        raise InputError(f"{path} does not exist; give a DICOM folder or file.")
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def _scan(path: str | Path) -> _Scan:
    root = Path(path)
    files = _files_under(root)
    groups: dict[str, list[tuple[Path, Dataset]]] = {}
    non_image: Counter[str] = Counter()
    n_non_dicom = 0
    for f in files:
        ds = _read_header(f)
        if ds is None:
            n_non_dicom += 1
            continue
        if not _is_image(ds):
            non_image[_non_image_label(ds)] += 1
            continue
        uid = _str(ds, "SeriesInstanceUID")
        if uid is None:
            raise InputError(
                f"{f} is an image without a SeriesInstanceUID (0020,000E); the file is "
                "damaged or truncated. Copy it again from the archive or remove it."
            )
        groups.setdefault(uid, []).append((f, ds))
    series = []
    for uid, members in groups.items():
        _, ds0 = members[0]
        series.append(
            SeriesInfo(
                series_uid=uid,
                modality=(_str(ds0, "Modality") or "").upper(),
                description=_str(ds0, "SeriesDescription") or "",
                n_files=len(members),
                files=tuple(sorted(f for f, _ in members)),
                sop_class_uid=str(ds0.get("SOPClassUID", "")),
            )
        )
    series.sort(key=lambda s: (s.modality, s.description, s.series_uid))
    return _Scan(root, series, non_image, n_non_dicom, len(files))


def list_series(path: str | Path) -> list[SeriesInfo]:
    """List the image series in a folder (searched recursively) or in one file.

    Parameters
    ----------
    path : str or pathlib.Path
        A folder or a single DICOM file.

    Returns
    -------
    list of SeriesInfo
        One entry per Series Instance UID, sorted by modality, description and UID. Files
        that are not DICOM and non-image objects (RTSTRUCT, RTDOSE, SEG, ...) are left out;
        an empty list means no image series was found.

    Raises
    ------
    InputError
        If ``path`` does not exist, if ``path`` is a single file that is not DICOM, or if a
        DICOM file is damaged.
    """
    scan = _scan(path)
    if Path(path).is_file() and scan.n_non_dicom:
        raise InputError(f"{path} is not a DICOM file; give a DICOM file or a folder of them.")
    return scan.series


# ---------------------------------------------------------------------- choosing a series
def _choose_series(scan: _Scan, series_uid: str | None) -> SeriesInfo:
    root = scan.root
    is_file = root.is_file()
    if not scan.series:
        if is_file and scan.n_non_dicom:
            raise InputError(f"{root} is not a DICOM file; give a DICOM image file or folder.")
        if scan.non_image:
            kinds = "/".join(sorted(scan.non_image))
            place = "the file" if is_file else f"the folder {root}"
            raise InputError(
                f"{place} holds only {kinds} objects and no image series; give the image "
                "series (the CT, PET, MR or reconstructed SPECT folder) instead."
            )
        extra = f" ({scan.n_non_dicom} file(s) that are not DICOM)" if scan.n_non_dicom else ""
        raise InputError(
            f"no DICOM image files found in {root}{extra}; check the path, or unpack the "
            "archive first."
        )
    listing = "; ".join(s.describe() for s in scan.series)
    if series_uid is not None:
        uid = series_uid.strip()
        for s in scan.series:
            if s.series_uid == uid:
                return s
        raise InputError(
            f"series {uid} is not in {root}. Available image series: {listing}. Pass one of "
            "these UIDs (--series UID on the command line)."
        )
    if len(scan.series) == 1:
        return scan.series[0]
    supported = [s for s in scan.series if s.modality in SUPPORTED_MODALITIES]
    if len(supported) == 1:
        return supported[0]
    raise InputError(
        f"{root} holds {len(scan.series)} image series: {listing}. Say which one to read by "
        "passing its series UID (series_uid=... in Python, --series UID on the command line)."
    )


# ---------------------------------------------------------------------- reading pixels
def _read_full(path: Path) -> Dataset:
    try:
        ds = _dcmread(path, stop_before_pixels=False)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    except _PARSE_ERRORS as exc:
        raise InputError(
            f"{path} is a damaged DICOM file ({exc}); it may be truncated. Copy it again from "
            "the archive."
        ) from exc
    if ds is None:
        raise InputError(f"{path} is no longer a readable DICOM file; was it changed meanwhile?")
    return ds


def _pixels(ds: Dataset, path: Path) -> np.ndarray:
    """Stored pixel values, shape (frames, rows, columns)."""
    for kw in ("Rows", "Columns"):
        if _value(ds, kw) is None:
            raise InputError(
                f"{path} has no {_tag_name(kw)}; the image size is unknown. The file is damaged "
                "or not an image; copy it again from the archive."
            )
    if "PixelData" not in ds:
        raise InputError(
            f"{path} has no {_tag_name('PixelData')}; the file is truncated or holds no image. "
            "Copy it again from the archive or remove it from the folder."
        )
    samples = _int(ds, "SamplesPerPixel") or 1
    if samples != 1:
        raise InputError(
            f"{path} has {samples} samples per pixel (a colour image?); netdose reads "
            "grey-scale CT, PET, MR and SPECT images."
        )
    try:
        arr = np.asarray(ds.pixel_array)
    except ValueError as exc:
        raise InputError(
            f"{path}: the pixel data cannot be read ({exc}). The file is probably truncated; "
            "copy it again from the archive."
        ) from exc
    except (RuntimeError, NotImplementedError, AttributeError, TypeError) as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise InputError(
            f"{path}: the pixel data cannot be decoded (transfer syntax {name}): {exc}. "
            "Decompress the file first (e.g. 'gdcmconv --raw' or 'dcmdjpeg') or install a "
            "pydicom pixel-data plugin."
        ) from exc
    n_frames = _int(ds, "NumberOfFrames") or 1
    rows, cols = int(ds.Rows), int(ds.Columns)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape != (n_frames, rows, cols):
        raise InputError(
            f"{path}: the pixel data has shape {arr.shape} but the header says {n_frames} "
            f"frame(s) of {rows} x {cols}; the file is damaged."
        )
    return arr


# ---------------------------------------------------------------------- geometry tags
def _require_floats(
    ds: Dataset, keyword: str, n: int, file: Path, where: str = ""
) -> np.ndarray:
    value = _value(ds, keyword)
    location = f"{where}{_tag_name(keyword)}"
    if value is None:
        raise InputError(
            f"{file} has no {location}; netdose needs it to place the image in space. Export "
            "the series again with its full header (anonymisers sometimes strip geometry tags)."
        )
    items = list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]
    try:
        arr = np.array([float(v) for v in items], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{file}: {location} is not numeric: {value!r}.") from exc
    if arr.size != n or not np.all(np.isfinite(arr)):
        raise InputError(f"{file}: {location} must hold {n} finite numbers; got {value!r}.")
    return arr


def _pixel_spacing(ds: Dataset, file: Path, where: str = "") -> tuple[float, float]:
    ps = _require_floats(ds, "PixelSpacing", 2, file, where)
    if np.any(ps <= 0):
        raise InputError(f"{file}: {where}PixelSpacing (0028,0030) must be positive; got {ps.tolist()}.")
    return float(ps[0]), float(ps[1])


def _rescale(ds: Dataset) -> tuple[float, float]:
    slope = _float(ds, "RescaleSlope")
    intercept = _float(ds, "RescaleIntercept")
    return (1.0 if slope is None else slope), (0.0 if intercept is None else intercept)


def _acquisition(ds: Dataset) -> tuple[str | None, str | None]:
    dt = _iso_datetime(_value(ds, "AcquisitionDateTime"))
    if dt is not None:
        date, _, time = dt.partition("T")
        return date, time or None
    return _iso_date(_value(ds, "AcquisitionDate")), _iso_time(_value(ds, "AcquisitionTime"))


# ---------------------------------------------------------------------- NM checks
def _check_nm_reconstructed(ds: Dataset, file: Path) -> None:
    """Refuse NM projection (acquisition) data."""
    image_type = [v.upper() for v in (_str_list(ds, "ImageType") or [])]
    hint = (
        "netdose needs a reconstructed SPECT (Image Type 'RECON TOMO'); reconstruct the "
        "projections on the camera workstation (with attenuation and scatter correction) and "
        "export the reconstructed volume."
    )
    if len(image_type) >= 3:
        kind = image_type[2]
        if kind in _NM_RECONSTRUCTED:
            return
        if kind in _NM_PROJECTIONS:
            raise InputError(
                f"{file} is NM projection (raw acquisition) data (Image Type {image_type}, "
                f"value 3 '{kind}'), not a reconstructed volume; {hint}"
            )
        raise InputError(
            f"{file} is NM data with Image Type value 3 '{kind}' ({image_type}), which is not a "
            f"reconstructed tomographic volume; {hint}"
        )
    detectors = _value(ds, "DetectorInformationSequence")
    if (
        _value(ds, "RotationInformationSequence") is not None
        or _value(ds, "AngularViewVector") is not None
        or (detectors is not None and len(detectors) > 1)
    ):
        raise InputError(
            f"{file} is NM projection (raw acquisition) data (no Image Type, but it has "
            f"rotation/detector information of an acquisition); {hint}"
        )


# ---------------------------------------------------------------------- frames
def _frame_extra(ds: Dataset) -> dict[str, Any]:
    """Per-frame timing facts kept in meta (PET decay and frame times, instance UID)."""
    return {
        "decay_factor": _float(ds, "DecayFactor"),
        "frame_reference_time_ms": _float(ds, "FrameReferenceTime"),
        "actual_frame_duration_ms": _float(ds, "ActualFrameDuration"),
        "sop_instance_uid": _str(ds, "SOPInstanceUID"),
    }


def _frames_single(datasets: Sequence[tuple[Path, Dataset]]) -> list[_Frame]:
    frames = []
    for file, ds in datasets:
        slope, intercept = _rescale(ds)
        frames.append(
            _Frame(
                ds=ds,
                file=file,
                frame_index=None,
                position=_require_floats(ds, "ImagePositionPatient", 3, file),
                orientation=_require_floats(ds, "ImageOrientationPatient", 6, file),
                pixel_spacing=_pixel_spacing(ds, file),
                slope=slope,
                intercept=intercept,
                acquisition=_acquisition(ds),
                extra={
                    **_frame_extra(ds),
                    "philips_suv_factor": _as_float(_private_value(ds, _PHILIPS_SUV_FACTOR)),
                    "philips_activity_concentration_factor": _as_float(
                        _private_value(ds, _PHILIPS_ACTIVITY_FACTOR)
                    ),
                },
            )
        )
    return frames


def _functional_group(
    per_frame: Dataset | None, shared: Dataset | None, keyword: str
) -> Dataset | None:
    for grp in (per_frame, shared):
        if grp is not None:
            item = _first_item(grp, keyword)
            if item is not None:
                return item
    return None


def _frames_enhanced(file: Path, ds: Dataset, n_frames: int) -> list[_Frame]:
    per_frame_seq = ds.PerFrameFunctionalGroupsSequence
    if len(per_frame_seq) != n_frames:
        raise InputError(
            f"{file}: PerFrameFunctionalGroupsSequence (5200,9230) has {len(per_frame_seq)} "
            f"items but NumberOfFrames is {n_frames}; the file is damaged."
        )
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    top_slope, top_intercept = _rescale(ds)
    frames = []
    for i, pf in enumerate(per_frame_seq):
        where = f"frame {i + 1} "
        pos_item = _functional_group(pf, shared, "PlanePositionSequence")
        ori_item = _functional_group(pf, shared, "PlaneOrientationSequence")
        meas_item = _functional_group(pf, shared, "PixelMeasuresSequence")
        if pos_item is None:
            raise InputError(
                f"{file} has no PlanePositionSequence (0020,9113) for {where.strip()}; the "
                "position of the frame is unknown. Export the series again with full headers."
            )
        if ori_item is None:
            raise InputError(
                f"{file} has no PlaneOrientationSequence (0020,9116) for {where.strip()}; the "
                "orientation of the frame is unknown."
            )
        spacing_src = meas_item if meas_item is not None and "PixelSpacing" in meas_item else ds
        pvt = _functional_group(pf, shared, "PixelValueTransformationSequence")
        slope, intercept = _rescale(pvt) if pvt is not None else (top_slope, top_intercept)
        content = _functional_group(pf, None, "FrameContentSequence")
        acq = (None, None)
        if content is not None:
            dt = _iso_datetime(_value(content, "FrameAcquisitionDateTime"))
            if dt is not None:
                date, _, time = dt.partition("T")
                acq = (date, time or None)
        if acq == (None, None):
            acq = _acquisition(ds)
        frames.append(
            _Frame(
                ds=ds,
                file=file,
                frame_index=i,
                position=_require_floats(
                    pos_item, "ImagePositionPatient", 3, file, f"{where}PlanePositionSequence "
                ),
                orientation=_require_floats(
                    ori_item, "ImageOrientationPatient", 6, file, f"{where}PlaneOrientationSequence "
                ),
                pixel_spacing=_pixel_spacing(spacing_src, file, f"{where}PixelMeasuresSequence "),
                slope=slope,
                intercept=intercept,
                acquisition=acq,
                extra=_frame_extra(ds),
            )
        )
    return frames


def _frames_nm(file: Path, ds: Dataset, n_frames: int) -> list[_Frame]:
    detectors = _value(ds, "DetectorInformationSequence")
    if detectors is None:
        raise InputError(
            f"{file} is an NM multi-frame file without DetectorInformationSequence (0054,0022), "
            "which holds ImagePositionPatient and ImageOrientationPatient; the position of the "
            "volume is unknown. Export the reconstructed SPECT again with full headers."
        )
    det = detectors[0]
    where = "DetectorInformationSequence[0] "
    ipp = _require_floats(det, "ImagePositionPatient", 3, file, where)
    iop = _require_floats(det, "ImageOrientationPatient", 6, file, where)
    for other in list(detectors)[1:]:
        for kw, ref in (("ImagePositionPatient", ipp), ("ImageOrientationPatient", iop)):
            val = _value(other, kw)
            if val is not None and not np.allclose([float(v) for v in val], ref, atol=1e-3):
                raise InputError(
                    f"{file}: the items of DetectorInformationSequence disagree on {kw}; the "
                    "file does not hold a single reconstructed volume."
                )
    step = _float(ds, "SpacingBetweenSlices")  # signed: a negative value stacks against n
    if step is None or step == 0.0:
        step = _float(ds, "SliceThickness")
        if step is not None and step <= 0.0:
            step = None
    if step is None:
        raise InputError(
            f"{file} has neither SpacingBetweenSlices (0018,0088) nor a positive SliceThickness "
            "(0018,0050); the distance between the slices of the NM volume is unknown."
        )
    # Several volumes in one file (energy windows, gates, heads)?
    for kw in _NM_OTHER_VECTORS:
        vec = _value(ds, kw)
        if vec is not None:
            values = list(vec) if isinstance(vec, (MultiValue, list, tuple)) else [vec]
            if len(set(int(v) for v in values)) > 1:
                raise InputError(
                    f"{file} holds several NM volumes ({kw} has {len(set(values))} different "
                    "values, e.g. energy windows or gates); export one reconstructed volume "
                    "(e.g. the summed or the photopeak reconstruction) and read that."
                )
    slice_vec = _value(ds, "SliceVector")
    if slice_vec is not None:
        slice_index = [int(v) for v in (slice_vec if isinstance(slice_vec, (MultiValue, list)) else [slice_vec])]
        if len(slice_index) != n_frames:
            raise InputError(
                f"{file}: SliceVector (0054,0080) has {len(slice_index)} values but there are "
                f"{n_frames} frames; the file is damaged."
            )
    else:
        n_slices = _int(ds, "NumberOfSlices")
        if n_slices is not None and n_slices != n_frames:
            raise InputError(
                f"{file}: NumberOfSlices (0054,0081) is {n_slices} but there are {n_frames} "
                "frames and no SliceVector; the file holds more than one volume."
            )
        slice_index = list(range(1, n_frames + 1))
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    if norm < 0.5:
        raise InputError(
            f"{file}: {where}ImageOrientationPatient {iop.tolist()} does not describe two "
            "orthogonal directions."
        )
    normal = normal / norm
    spacing = _pixel_spacing(ds, file)
    slope, intercept = _rescale(ds)
    acq = _acquisition(ds)
    return [
        _Frame(
            ds=ds,
            file=file,
            frame_index=k,
            position=ipp + (s - 1) * step * normal,
            orientation=iop,
            pixel_spacing=spacing,
            slope=slope,
            intercept=intercept,
            acquisition=acq,
            extra=_frame_extra(ds),
        )
        for k, s in enumerate(slice_index)
    ]


# ---------------------------------------------------------------------- assembling
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _orientation(frames: Sequence[_Frame], series: SeriesInfo) -> tuple[np.ndarray, np.ndarray]:
    ref = frames[0].orientation
    for fr in frames[1:]:
        if np.max(np.abs(fr.orientation - ref)) > _ORIENTATION_TOLERANCE:
            raise InputError(
                f"series {series.series_uid} mixes slice orientations ({fr.where} has "
                f"ImageOrientationPatient {fr.orientation.tolist()}, {frames[0].where} has "
                f"{ref.tolist()}); it is not a single volume (a localizer or a multi-planar "
                "series?). Select a series with one orientation."
            )
    row, col = ref[:3], ref[3:]
    if min(np.linalg.norm(row), np.linalg.norm(col)) < 0.5:
        raise InputError(
            f"{frames[0].where}: ImageOrientationPatient {ref.tolist()} has a zero direction."
        )
    row = _unit(row)
    col = _unit(col)
    dot = float(row @ col)
    if abs(dot) > 1.0e-3:
        raise InputError(
            f"{frames[0].where}: the row and column directions of ImageOrientationPatient "
            f"{ref.tolist()} are not orthogonal (cosine {dot:.4f}); netdose needs a rigid grid."
        )
    col = _unit(col - dot * row)
    return row, col


def _assemble(
    frames: list[_Frame], pixels: dict[Path, np.ndarray], series: SeriesInfo
) -> tuple[np.ndarray, tuple[float, float, float], tuple[float, float, float], tuple[float, ...], list[_Frame], np.ndarray]:
    row, col = _orientation(frames, series)
    normal = np.cross(row, col)
    spacing0 = frames[0].pixel_spacing
    shape0 = pixels[frames[0].file].shape[1:]
    for fr in frames[1:]:
        if not np.allclose(fr.pixel_spacing, spacing0, rtol=1e-4, atol=0):
            raise InputError(
                f"series {series.series_uid}: {fr.where} has PixelSpacing {list(fr.pixel_spacing)} "
                f"but {frames[0].where} has {list(spacing0)}; the slices do not form one grid."
            )
        if pixels[fr.file].shape[1:] != shape0:
            raise InputError(
                f"series {series.series_uid}: {fr.where} has {pixels[fr.file].shape[1:]} rows x "
                f"columns but {frames[0].where} has {shape0}; the slices do not form one grid."
            )
    proj = np.array([float(fr.position @ normal) for fr in frames])
    order = np.argsort(proj, kind="stable")
    frames = [frames[i] for i in order]
    proj = proj[order]
    gaps = np.diff(proj)
    dup = np.nonzero(gaps < _DUPLICATE_GAP_MM)[0]
    if dup.size:
        i = int(dup[0])
        n_dup = int(dup.size)
        raise InputError(
            f"series {series.series_uid} has {n_dup + 1 if n_dup == 1 else n_dup} slices at "
            f"duplicate positions ({frames[i].where} and {frames[i + 1].where} are both at "
            f"{proj[i]:.3f} mm along the slice normal). The series probably holds several "
            "time frames, gates or reconstructions; export a single volume, or put each in its "
            "own folder."
        )
    span = proj[-1] - proj[0]
    dz = span / (len(frames) - 1)
    worst = int(np.argmax(np.abs(gaps - dz)))
    if abs(gaps[worst] - dz) > SLICE_GAP_TOLERANCE * dz:
        raise InputError(
            f"series {series.series_uid} has non-uniform slice spacing: the gap between "
            f"{frames[worst].where} ({proj[worst]:.3f} mm) and {frames[worst + 1].where} "
            f"({proj[worst + 1]:.3f} mm) is {gaps[worst]:.3f} mm, but the mean gap is "
            f"{dz:.3f} mm (tolerance {SLICE_GAP_TOLERANCE:.0%}). Slices are missing or the "
            "series mixes volumes; re-export the complete series."
        )
    origin = frames[0].position
    in_plane_tol = _IN_PLANE_TOLERANCE * min(spacing0)
    for fr in frames[1:]:
        delta = fr.position - origin
        off = delta - float(delta @ normal) * normal
        if float(np.linalg.norm(off)) > in_plane_tol:
            raise InputError(
                f"series {series.series_uid}: the slices are not stacked along the slice normal "
                f"({fr.where} is offset {np.linalg.norm(off):.3f} mm in-plane from the first "
                "slice). This is a gantry-tilted or sheared acquisition, which netdose cannot "
                "represent; reconstruct without tilt or resample to an orthogonal grid first."
            )
    rows, cols = shape0
    volume = np.empty((len(frames), rows, cols), dtype=np.float32)
    for k, fr in enumerate(frames):
        raw = pixels[fr.file][0 if fr.frame_index is None else fr.frame_index]
        volume[k] = raw.astype(np.float64) * fr.slope + fr.intercept
    spacing_mm = (spacing0[1], spacing0[0], float(dz))
    direction = tuple(float(v) for v in np.column_stack([row, col, normal]).ravel())
    origin_mm = tuple(float(v) for v in origin)
    return volume, spacing_mm, origin_mm, direction, frames, proj  # type: ignore[return-value]


# ---------------------------------------------------------------------- meta
def _radiopharmaceutical(ds: Dataset) -> dict[str, Any] | None:
    item = _first_item(ds, "RadiopharmaceuticalInformationSequence")
    if item is None:
        return None
    total = _float(item, "RadionuclideTotalDose")
    # PS3.3 C.8.9.4 (PET Isotope): Bq; C.8.4.10 (NM Isotope): MBq.
    is_nm = (_str(ds, "Modality") or "").upper() == "NM"
    return {
        "total_dose_bq": None if total is None else (total * BQ_PER_MBQ if is_nm else total),
        "radiopharmaceutical": _str(item, "Radiopharmaceutical"),
        "start_time": _iso_time(_value(item, "RadiopharmaceuticalStartTime")),
        "start_datetime": _iso_datetime(_value(item, "RadiopharmaceuticalStartDateTime")),
        "stop_time": _iso_time(_value(item, "RadiopharmaceuticalStopTime")),
        "stop_datetime": _iso_datetime(_value(item, "RadiopharmaceuticalStopDateTime")),
        "total_dose": _float(item, "RadionuclideTotalDose"),
        "half_life_s": _float(item, "RadionuclideHalfLife"),
        "positron_fraction": _float(item, "RadionuclidePositronFraction"),
        "volume_ml": _float(item, "RadiopharmaceuticalVolume"),
        "specific_activity": _float(item, "RadiopharmaceuticalSpecificActivity"),
        "route": _str(item, "RadiopharmaceuticalRoute"),
        "radionuclide_code": _code(_first_item(item, "RadionuclideCodeSequence")),
        "radiopharmaceutical_code": _code(_first_item(item, "RadiopharmaceuticalCodeSequence")),
        "n_items": len(ds.RadiopharmaceuticalInformationSequence),
    }


def _energy_windows(ds: Dataset) -> list[dict[str, Any]] | None:
    seq = _value(ds, "EnergyWindowInformationSequence")
    if seq is None:
        return None
    out = []
    for item in seq:
        ranges = _value(item, "EnergyWindowRangeSequence") or []
        out.append(
            {
                "name": _str(item, "EnergyWindowName"),
                "ranges_kev": [
                    [_float(r, "EnergyWindowLowerLimit"), _float(r, "EnergyWindowUpperLimit")]
                    for r in ranges
                ],
                "lower_kev": _float(ranges[0], "EnergyWindowLowerLimit") if ranges else None,
                "upper_kev": _float(ranges[0], "EnergyWindowUpperLimit") if ranges else None,
            }
        )
    return out


def _real_world_value_mappings(ds: Dataset) -> list[dict[str, Any]] | None:
    seq = _value(ds, "RealWorldValueMappingSequence")
    if seq is None:
        return None
    return [
        {
            "label": _str(item, "LUTLabel"),
            "explanation": _str(item, "LUTExplanation"),
            "units": _code(_first_item(item, "MeasurementUnitsCodeSequence")),
            "slope": _float(item, "RealWorldValueSlope"),
            "intercept": _float(item, "RealWorldValueIntercept"),
            "first_value_mapped": _plain(_value(item, "RealWorldValueFirstValueMapped")),
            "last_value_mapped": _plain(_value(item, "RealWorldValueLastValueMapped")),
        }
        for item in seq
    ]


def _is_bq_per_ml(mapping: dict[str, Any]) -> bool:
    units = mapping.get("units") or {}
    value = units.get("value") or ""
    return value.strip().casefold() in BQ_PER_ML_UNIT_CODES


def _real_world_value_facts(mappings: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The Real World Value Mapping netdose uses: the first one in Bq/mL, else the first."""
    chosen = None
    if mappings:
        chosen = next((m for m in mappings if _is_bq_per_ml(m)), mappings[0])
    units = (chosen or {}).get("units") or {}
    return {
        "real_world_value_slope": None if chosen is None else chosen["slope"],
        "real_world_value_intercept": None if chosen is None else chosen["intercept"],
        "real_world_value_units": units.get("value"),
        "real_world_value_label": None if chosen is None else chosen["label"],
    }


def _rotation_facts(ds: Dataset) -> dict[str, Any]:
    """NM TOMO acquisition (RotationInformationSequence): views and their duration."""
    seq = _value(ds, "RotationInformationSequence")
    if seq is None:
        return {"rotations": None, "acquisition_duration_s": None}
    rotations = [
        {
            "start_angle_deg": _float(item, "StartAngle"),
            "angular_step_deg": _float(item, "AngularStep"),
            "scan_arc_deg": _float(item, "ScanArc"),
            "direction": _str(item, "RotationDirection"),
            "number_of_views": _int(item, "NumberOfFramesInRotation"),
            "view_duration_ms": _float(item, "ActualFrameDuration"),
        }
        for item in seq
    ]
    durations = [
        r["number_of_views"] * r["view_duration_ms"] / 1000.0
        for r in rotations
        if r["number_of_views"] is not None and r["view_duration_ms"] is not None
    ]
    total = float(sum(durations)) if durations and len(durations) == len(rotations) else None
    return {"rotations": rotations, "acquisition_duration_s": total}


def _detector_facts(ds: Dataset) -> dict[str, Any]:
    seq = _value(ds, "DetectorInformationSequence")
    if seq is None:
        return {"number_of_detectors": _int(ds, "NumberOfDetectors"), "collimators": None}
    return {
        "number_of_detectors": _int(ds, "NumberOfDetectors") or len(seq),
        "collimators": [
            {
                "name": _str(item, "CollimatorGridName"),
                "type": _str(item, "CollimatorType"),
                "zoom_factor": _plain(_value(item, "ZoomFactor")),
            }
            for item in seq
        ],
    }


def _build_meta(
    root: Path, series: SeriesInfo, frames: list[_Frame], positions_mm: np.ndarray
) -> dict[str, Any]:
    ds = frames[0].ds
    acq = [fr.acquisition for fr in frames]
    acq_strings = [
        None if (d is None and t is None) else (f"{d}T{t}" if d and t else (d or t)) for d, t in acq
    ]
    known = [(d or "", t or "") for d, t in acq if d is not None or t is not None]
    earliest = min(known) if known else ("", "")
    files = []
    for fr in frames:
        if not files or files[-1] != str(fr.file):
            files.append(str(fr.file))

    def per_frame(key: str) -> list[Any]:
        return [fr.extra.get(key) for fr in frames]

    decay_factors = per_frame("decay_factor")
    ref_times = per_frame("frame_reference_time_ms")
    durations = per_frame("actual_frame_duration_ms")
    modality = (_str(ds, "Modality") or "").upper()
    ge_raw = _str_or_none(_private_value(ds, _GE_SCAN_DATETIME))
    meta: dict[str, Any] = {
        "source_path": str(root),
        "source_files": files,
        "series_uid": series.series_uid,
        "study_uid": _str(ds, "StudyInstanceUID"),
        "frame_of_reference_uid": _str(ds, "FrameOfReferenceUID"),
        "sop_class_uid": series.sop_class_uid,
        "sop_instance_uids": list(dict.fromkeys(v for v in per_frame("sop_instance_uid") if v)),
        "modality": modality,
        "manufacturer": _str(ds, "Manufacturer"),
        "manufacturer_model_name": _str(ds, "ManufacturerModelName"),
        "series_description": _str(ds, "SeriesDescription"),
        "series_number": _int(ds, "SeriesNumber"),
        "image_type": _str_list(ds, "ImageType"),
        "units": _str(ds, "Units"),
        "suv_type": _str(ds, "SUVType"),
        "series_type": _str_list(ds, "SeriesType"),
        "counts_source": _str(ds, "CountsSource"),
        "decay_correction": _str(ds, "DecayCorrection"),
        "corrected_image": _str_list(ds, "CorrectedImage"),
        "reconstruction_method": _str(ds, "ReconstructionMethod"),
        "attenuation_correction_method": _str(ds, "AttenuationCorrectionMethod"),
        "scatter_correction_method": _str(ds, "ScatterCorrectionMethod"),
        "study_date": _iso_date(_value(ds, "StudyDate")),
        "study_time": _iso_time(_value(ds, "StudyTime")),
        "series_date": _iso_date(_value(ds, "SeriesDate")),
        "series_time": _iso_time(_value(ds, "SeriesTime")),
        "acquisition_date": earliest[0] or None,
        "acquisition_time": earliest[1] or None,
        "acquisition_datetimes": acq_strings,
        "acquisition_times_differ": len(set(acq_strings)) > 1,
        "patient_weight_kg": _float(ds, "PatientWeight"),
        "patient_height_m": _float(ds, "PatientSize"),
        "patient_sex": _str(ds, "PatientSex"),
        "patient_age": _str(ds, "PatientAge"),
        "decay_factor": decay_factors[0],
        "decay_factors": decay_factors,
        "frame_reference_time_ms": ref_times[0],
        "frame_reference_times_ms": ref_times,
        "actual_frame_duration_ms": durations[0],
        "actual_frame_durations_ms": durations,
        "radiopharmaceutical": _radiopharmaceutical(ds),
        "rescale_slopes": [fr.slope for fr in frames],
        "rescale_intercepts": [fr.intercept for fr in frames],
        "rescale_type": _str(ds, "RescaleType"),
        "slice_thickness_mm": _float(ds, "SliceThickness"),
        "slice_positions_mm": [float(p) for p in positions_mm],
        "philips_suv_factor": _as_float(_private_value(ds, _PHILIPS_SUV_FACTOR)),
        "philips_suv_factors": _list_if_any(per_frame("philips_suv_factor")),
        "philips_activity_concentration_factor": _as_float(
            _private_value(ds, _PHILIPS_ACTIVITY_FACTOR)
        ),
        "philips_activity_concentration_factors": _list_if_any(
            per_frame("philips_activity_concentration_factor")
        ),
        "ge_private_scan_datetime": _iso_datetime(ge_raw) or ge_raw,
        "ge_private_scan_datetime_raw": ge_raw,
        "number_of_frames": _int(ds, "NumberOfFrames") or 1,
        "n_slices": len(frames),
        "real_world_value_mappings": _real_world_value_mappings(ds),
    }
    meta.update(_real_world_value_facts(meta["real_world_value_mappings"]))
    if modality == "NM":
        meta["energy_windows"] = _energy_windows(ds)
        meta["number_of_slices"] = _int(ds, "NumberOfSlices")
        meta.update(_detector_facts(ds))
        meta.update(_rotation_facts(ds))
    return {k: _plain(v) for k, v in meta.items()}


def _list_if_any(values: list[Any]) -> list[Any] | None:
    """The per-slice list when any slice has a value, else None."""
    return values if any(v is not None for v in values) else None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------------- public reader
def read_dicom_image(path: str | Path, series_uid: str | None = None) -> Image:
    """Read one DICOM image series (CT, PET, MR or reconstructed SPECT) as an :class:`Image`.

    Parameters
    ----------
    path : str or pathlib.Path
        A folder (searched recursively) or a single DICOM file (e.g. a multi-frame NM file).
    series_uid : str, optional
        Series Instance UID of the series to read. Needed when the folder holds several
        image series (non-image objects such as RTSTRUCT do not count).

    Returns
    -------
    Image
        ``array`` shape (z, y, x), float32, the stored values rescaled per slice with that
        slice's ``RescaleSlope`` and ``RescaleIntercept`` (e.g. HU for CT, the unit in
        ``meta["units"]`` for PET -- typically Bq/mL). Vendor private scale factors
        (Philips) are *not* applied; they are in ``meta``. ``spacing_mm`` (x, y, z) with
        the z spacing from the slice positions; ``origin_mm`` the centre of the first voxel
        (LPS, mm); ``direction`` with columns row direction, column direction and slice
        normal (always right-handed). ``meta`` holds JSON-serialisable header facts:
        identifiers (``series_uid``, ``study_uid``, ``frame_of_reference_uid``), ``modality``,
        ``manufacturer``, ``units``, ``decay_correction``, ``corrected_image``, dates and
        times as ISO strings (``acquisition_date``/``acquisition_time`` are the earliest over
        the slices, ``acquisition_datetimes`` one per slice in array order), patient
        ``patient_weight_kg``/``patient_height_m``/``patient_sex``, ``radiopharmaceutical``
        (dict: ``total_dose`` as stored -- Bq by the standard --, ``half_life_s``,
        ``start_time``, ``start_datetime``, ...), per-slice ``rescale_slopes``,
        ``rescale_intercepts``, ``decay_factors``, ``frame_reference_times_ms``,
        ``actual_frame_durations_ms``, ``slice_positions_mm`` (along the normal, relative
        to the first slice), ``source_files`` and ``sop_instance_uids`` (array order); vendor
        private ``philips_suv_factor`` (7053,xx00) and
        ``philips_activity_concentration_factor`` (7053,xx09) of the first slice (and
        per-slice lists ``philips_suv_factors``, ``philips_activity_concentration_factors``),
        ``ge_private_scan_datetime`` (0009,xx0D, ISO; ``..._raw`` as stored); for NM
        ``energy_windows`` (name, lower/upper keV), ``collimators``, ``number_of_frames``,
        ``rotations`` (RotationInformationSequence: views, view duration) and
        ``acquisition_duration_s`` (sum over rotations of views x view duration);
        ``real_world_value_mappings`` (every item: label, units code, slope, intercept) and
        the one netdose uses -- the first in Bq/mL, else the first --
        as ``real_world_value_slope``, ``real_world_value_intercept``,
        ``real_world_value_units`` (UCUM code value, e.g. ``"Bq/ml"``) and
        ``real_world_value_label`` (``None`` without a mapping; apply it with
        :func:`to_activity_bq_ml`). ``radiopharmaceutical["total_dose_bq"]`` is the total
        dose in Bq whatever the modality (NM stores MBq, PET Bq). Missing tags are ``None``.

    Raises
    ------
    InputError
        No DICOM image found; several series and no ``series_uid``; unknown ``series_uid``;
        a file that is not DICOM or is damaged/truncated; a missing geometry tag (the
        message names the tag and the file); NM projection data; a single slice; duplicate
        or non-uniform slice positions; mixed orientations; gantry tilt; an unsupported
        modality.
    """
    scan = _scan(path)
    series = _choose_series(scan, series_uid)
    if series.modality not in SUPPORTED_MODALITIES:
        raise InputError(
            f"series {series.describe()} has modality '{series.modality}'; netdose reads CT, "
            "PT (PET), MR and NM (reconstructed SPECT) volumes. Choose another series."
        )
    loaded = [(f, _read_full(f)) for f in series.files]
    if series.modality == "NM":
        for f, ds in loaded:
            _check_nm_reconstructed(ds, f)
    pixels: dict[Path, np.ndarray] = {}
    for f, ds in loaded:
        pixels[f] = _pixels(ds, f)
        del ds.PixelData  # keep the decoded array only (halves the memory of large CTs)
    n_frames = {f: pixels[f].shape[0] for f, _ in loaded}
    if sum(n_frames.values()) < 2:
        raise InputError(
            f"a 3-D volume is needed; the series has a single slice ({series.describe()}: "
            f"{series.files[0]}). Give a tomographic series with all its slices."
        )
    multi = [f for f, n in n_frames.items() if n > 1]
    if multi and len(loaded) > 1:
        raise InputError(
            f"series {series.describe()} holds {len(multi)} multi-frame file(s) among "
            f"{len(loaded)} files; netdose reads one multi-frame file or a series of "
            f"single-frame slices. Give one file directly, e.g. {multi[0]}."
        )
    if multi:
        file, ds = loaded[0]
        if _value(ds, "PerFrameFunctionalGroupsSequence") is not None:
            frames = _frames_enhanced(file, ds, n_frames[file])
        elif series.modality == "NM" or _value(ds, "DetectorInformationSequence") is not None:
            frames = _frames_nm(file, ds, n_frames[file])
        else:
            raise InputError(
                f"{file} is a multi-frame {series.modality} file without per-frame geometry "
                "(no PerFrameFunctionalGroupsSequence or DetectorInformationSequence); netdose "
                "cannot place its frames in space."
            )
    else:
        frames = _frames_single(loaded)
    volume, spacing_mm, origin_mm, direction, frames, positions = _assemble(frames, pixels, series)
    root = scan.root
    meta = _build_meta(root, series, frames, positions - positions[0])
    return Image(volume, spacing_mm, origin_mm, direction, meta)


# ---------------------------------------------------------------------- calibration
def to_activity_bq_ml(image: Image) -> Image:
    """The image in activity concentration (Bq/mL), using its DICOM calibration.

    - A PET image whose ``meta["units"]`` is ``"BQML"`` already is in Bq/mL (the per-slice
      ``RescaleSlope`` was applied when reading); it is returned unchanged.
    - Otherwise the first Real World Value Mapping in Bq/mL (``meta["real_world_value_mappings"]``,
      units code ``Bq/ml`` or ``Bq/mL``) is applied: ``value = slope * stored + intercept``,
      where ``stored`` is the stored pixel value (the image values with any
      ``RescaleSlope``/``RescaleIntercept`` undone). This is how quantitative SPECT (NM) is
      calibrated, e.g. the files of :func:`netdose.io.dicom_write.write_nm_series`.

    Parameters
    ----------
    image : Image
        An image read by :func:`read_dicom_image` (its ``meta`` carries the calibration).

    Returns
    -------
    Image
        float32 Bq/mL on the same grid; ``meta`` gains ``units = "BQML"``,
        ``quantity = "activity_bq_ml"`` and ``calibration`` (how the values were obtained).

    Raises
    ------
    UnitsError
        The image has no Bq/mL calibration (no ``BQML`` units and no Real World Value Mapping
        in Bq/mL), the mapping has no slope, or it cannot be applied (a series of several
        files with per-file rescale, whose mapping netdose only read from the first file).
    """
    meta = dict(image.meta)
    where = meta.get("source_path") or "the image"
    if str(meta.get("units") or "").upper() == "BQML":
        return image
    mappings = meta.get("real_world_value_mappings") or []
    bq = [m for m in mappings if _is_bq_per_ml(m)]
    if not bq:
        found = ", ".join(
            f"{m.get('label')!r} in {(m.get('units') or {}).get('value')!r}" for m in mappings
        )
        raise UnitsError(
            f"{where} has no activity calibration: its units are "
            f"{meta.get('units')!r} and it has no Real World Value Mapping in Bq/mL"
            f"{' (only ' + found + ')' if found else ''}. Calibrate the image first (e.g. with "
            "the camera's sensitivity in cps/MBq) or export it from the camera as a "
            "quantitative (Bq/mL) reconstruction."
        )
    chosen = bq[0]
    slope, intercept = chosen.get("slope"), chosen.get("intercept")
    if slope is None or not math.isfinite(slope) or slope <= 0.0:
        raise UnitsError(
            f"{where}: the Real World Value Mapping {chosen.get('label')!r} in Bq/mL has no "
            f"usable RealWorldValueSlope (0040,9225) ({slope!r}); the file is incomplete."
        )
    intercept = 0.0 if intercept is None else float(intercept)
    values = np.asarray(image.array, dtype=np.float64)
    slopes = meta.get("rescale_slopes") or []
    intercepts = meta.get("rescale_intercepts") or []
    identity = all(s == 1.0 for s in slopes) and all(b == 0.0 for b in intercepts)
    if not identity:
        if len(meta.get("source_files") or []) > 1 or len(slopes) != image.shape[0]:
            raise UnitsError(
                f"{where}: the slices have their own RescaleSlope/RescaleIntercept and the "
                "Real World Value Mapping was read from the first file only; netdose cannot "
                "apply it safely. Use the rescaled values (meta['units']) instead."
            )
        m = np.asarray(slopes, dtype=np.float64)[:, None, None]
        b = np.asarray(intercepts, dtype=np.float64)[:, None, None]
        values = (values - b) / m
    out = (values * float(slope) + intercept).astype(np.float32)
    meta.update(
        units="BQML",
        quantity="activity_bq_ml",
        calibration=(
            f"Real World Value Mapping {chosen.get('label')!r}: {float(slope):.9g} Bq/mL per "
            f"stored value + {intercept:.9g} Bq/mL"
        ),
    )
    return image.with_array(out, meta=meta)
