"""DICOM RT Dose: write a dose map (Gy) for treatment-planning systems and viewers, and read
RT Dose files back as :class:`~netdose.image.Image`.

The writer produces one RT Dose Storage object with multi-frame, 32-bit unsigned pixel data
and ``DoseGridScaling = max / (2^32 - 1)`` (rounded up to what the DS value can hold), so a
stored dose differs from the input by at most ``DoseGridScaling / 2``. Frames are ordered
ascending along the slice normal (row x column direction), as viewers expect: an image whose
z axis points against the normal (a left-handed direction such as ``diag(1, 1, -1)``) is
flipped along z on the way out -- the physical position of every voxel is unchanged.

Output is deterministic: UIDs are derived from a SHA-256 of the pixel data, the geometry and
the options (``pydicom.uid.generate_uid(entropy_srcs=...)``), and no wall-clock date or time
is written, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.valuerep import format_number_as_ds

import netdose
from netdose.errors import InputError, NetdoseWarning, UnitsError
from netdose.image import Image
from netdose.io.atomic import atomic_path

__all__ = ["DOSE_SUMMATION_TYPES", "MAX_STORED_VALUE", "read_rtdose", "write_rtdose"]

#: Largest stored value of 32-bit unsigned pixel data.
MAX_STORED_VALUE: int = 2**32 - 1

#: Enumerated values of Dose Summation Type (3004,000A), DICOM PS3.3 C.8.8.3.
DOSE_SUMMATION_TYPES: frozenset[str] = frozenset(
    {
        "PLAN", "MULTI_PLAN", "PLAN_OVERVIEW", "FRACTION", "BEAM", "BRACHY",
        "FRACTION_SESSION", "BEAM_SESSION", "BRACHY_SESSION", "CONTROL_POINT", "RECORD",
    }
)

#: Patient and study attributes copied from ``source`` (when present there).
_PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)

_PYDICOM_MAJOR = int(pydicom.__version__.split(".")[0])
#: Largest deviation of a frame gap from the mean gap, relative to the mean gap.
_GAP_TOLERANCE = 0.01


def _ds_number(value: float) -> str:
    """A DS string (at most 16 characters) for ``value``; ``-0`` written as ``0``."""
    if value == 0.0:
        return "0"
    return format_number_as_ds(float(value))


def _load_source(source: Dataset | str | os.PathLike[str]) -> Dataset:
    if isinstance(source, Dataset):
        return source
    path = Path(source)
    if path.is_dir():
        from netdose.io.dicom import list_series

        series = list_series(path)
        if not series:
            raise InputError(
                f"source {path} holds no DICOM image; give one DICOM file of the study whose "
                "patient and study the dose belongs to."
            )
        firsts = [_read_source_file(s.files[0]) for s in series]
        studies = {str(ds.get("StudyInstanceUID", "")) for ds in firsts}
        if len(studies) > 1:
            raise InputError(
                f"source folder {path} holds {len(studies)} studies; give one DICOM file of "
                "the study the dose belongs to."
            )
        return firsts[0]
    return _read_source_file(path)


def _read_source_file(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except FileNotFoundError as exc:
        raise InputError(f"source {path} does not exist; give a DICOM file of the study.") from exc
    except InvalidDicomError as exc:
        raise InputError(
            f"source {path} is not a DICOM file; give a DICOM file of the study (e.g. one slice "
            "of the SPECT or CT) so that the dose carries its patient and study."
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read source {path}: {exc.strerror or exc}.") from exc


def _check_dose(dose_gy: Image) -> np.ndarray:
    arr = np.asarray(dose_gy.array)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"dose must be a numeric array in Gy; got dtype {arr.dtype}.")
    if np.iscomplexobj(arr):
        raise InputError("dose must be real-valued (Gy); got a complex array.")
    dose_gy.require_finite("the dose map (RT Dose cannot store NaN or infinity)")
    arr = arr.astype(np.float64, copy=False)
    dose_gy.require_non_negative(
        "the dose map",
        unit="Gy",
        fix="; a physical dose is >= 0. Check the activity map (negative reconstructed "
        "values?) and clip explicitly if that is intended.",
    )
    return arr


def _scaling(max_gy: float) -> float:
    """The DoseGridScaling (as written, a DS number) for a dose maximum ``max_gy``.

    ``max / (2^32 - 1)`` rounded to 10 significant digits (what is written), nudged up if
    the rounding went down, so that the maximum stores within range and the quantisation
    step is as fine as possible.
    """
    if max_gy <= 0.0:
        return 1.0
    scale = max_gy / MAX_STORED_VALUE
    for bump in (1.0, 1.0 + 1e-9, 1.0 + 1e-8, 1.0 + 1e-7):
        text = f"{scale * bump:.9e}"
        value = float(text)
        if max_gy / value <= MAX_STORED_VALUE:
            return value
    return float(f"{scale * 1.000001:.9e}")  # pragma: no cover - unreachable in practice


def _canonical_grid(
    arr: np.ndarray, dose_gy: Image
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrange the frames ascending along the slice normal ``row x column``.

    Returns the (possibly z-flipped) array, the position of its first voxel (LPS mm) and
    the row and column directions. Physical voxel positions are unchanged.
    """
    dmat = dose_gy.direction_matrix
    row, col, zdir = dmat[:, 0], dmat[:, 1], dmat[:, 2]
    normal = np.cross(row, col)
    origin = np.asarray(dose_gy.origin_mm, dtype=np.float64)
    if float(zdir @ normal) < 0.0:  # left-handed grid: z runs against the normal
        nz = arr.shape[0]
        origin = origin + (nz - 1) * dose_gy.spacing_mm[2] * zdir
        arr = arr[::-1]
    return np.ascontiguousarray(arr), origin, row, col


def write_rtdose(
    dose_gy: Image,
    path: str | os.PathLike[str],
    *,
    source: Dataset | str | os.PathLike[str] | None = None,
    dose_summation_type: str = "PLAN",
    description: str = "netdose dose",
    uid_prefix: str | None = None,
) -> Path:
    """Write a dose map as a DICOM RT Dose file.

    Parameters
    ----------
    dose_gy : Image
        Absorbed dose in Gy, array shape (z, y, x); finite and >= 0. Any orthonormal
        direction is honoured (the frames are written ascending along the slice normal).
    path : str or os.PathLike
        Output file (``.dcm``); written atomically (no partial file on failure).
    source : pydicom.Dataset or path, optional
        A DICOM data set or file of the study the dose belongs to (e.g. one slice of the
        SPECT/CT); its patient module, study identification and Frame of Reference UID are
        copied, so viewers overlay the dose on that study. A folder is accepted if it holds a
        single study. Without ``source`` a new study and frame of reference are created and
        the patient is ``netdose^anonymous``.
    dose_summation_type : str
        Dose Summation Type (3004,000A), e.g. ``"PLAN"`` (default) or ``"RECORD"``.
    description : str
        Series Description (at most 64 characters).
    uid_prefix : str, optional
        Root for the generated UIDs (ending in ``"."``); default the pydicom root. UIDs are
        derived from a SHA-256 of the content, so the same inputs give the same UIDs.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        NaN, infinite or negative dose; an unknown summation type; a description longer
        than 64 characters; an unreadable ``source``; a file that cannot be written.
    """
    arr = _check_dose(dose_gy)
    summation = str(dose_summation_type).strip().upper()
    if summation not in DOSE_SUMMATION_TYPES:
        raise InputError(
            f"dose_summation_type {dose_summation_type!r} is not a DICOM Dose Summation Type; "
            f"use one of {', '.join(sorted(DOSE_SUMMATION_TYPES))}."
        )
    if len(description) > 64:
        raise InputError(
            f"description has {len(description)} characters; DICOM Series Description holds "
            "at most 64."
        )
    if uid_prefix is not None and (
        not uid_prefix.endswith(".") or not pydicom.uid.UID(uid_prefix[:-1]).is_valid
    ):
        raise InputError(
            f"uid_prefix {uid_prefix!r} is not a valid UID root ending in '.', e.g. "
            "'1.2.826.0.1.3680043.8.498.'."
        )
    src = _load_source(source) if source is not None else None

    arr, origin, row, col = _canonical_grid(arr, dose_gy)
    nz, ny, nx = arr.shape
    sx, sy, sz = dose_gy.spacing_mm
    max_gy = float(arr.max())
    scaling = _scaling(max_gy)
    stored = np.rint(arr / scaling)
    np.clip(stored, 0, MAX_STORED_VALUE, out=stored)
    pixel_bytes = stored.astype("<u4").tobytes()

    ipp = [_ds_number(v) for v in origin]
    iop = [_ds_number(v) for v in (*row, *col)]
    pixel_spacing = [_ds_number(sy), _ds_number(sx)]
    offsets = [_ds_number(k * sz) for k in range(nz)]
    scaling_text = f"{scaling:.9e}" if max_gy > 0 else "1"

    def src_value(keyword: str) -> Any:
        if src is None or keyword not in src:
            return None
        return src[keyword].value

    # Deterministic UIDs from the content.
    digest = hashlib.sha256()
    digest.update(pixel_bytes)
    digest.update(
        json.dumps(
            {
                "shape": [nz, ny, nx],
                "ipp": ipp,
                "iop": iop,
                "spacing": pixel_spacing,
                "offsets_mm": offsets[-1:],
                "scaling": scaling_text,
                "summation": summation,
                "description": description,
                "study": str(src_value("StudyInstanceUID") or ""),
                "for": str(src_value("FrameOfReferenceUID") or ""),
                "patient": str(src_value("PatientID") or ""),
            },
            sort_keys=True,
        ).encode()
    )
    content_hash = digest.hexdigest()
    prefix = uid_prefix or pydicom.uid.PYDICOM_ROOT_UID

    def uid(role: str) -> pydicom.uid.UID:
        return pydicom.uid.generate_uid(prefix=prefix, entropy_srcs=[content_hash, role])

    sop_uid = uid("sop-instance")
    ds = Dataset()
    # SOP common
    ds.SOPClassUID = pydicom.uid.RTDoseStorage
    ds.SOPInstanceUID = sop_uid
    ds.SpecificCharacterSet = "ISO_IR 192"
    # Patient, general study
    ds.PatientName = "netdose^anonymous"
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = uid("study")
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    if src is not None:
        for kw in _PATIENT_STUDY_KEYWORDS:
            value = src_value(kw)
            if value is not None:
                setattr(ds, kw, value)
    # RT series, general equipment
    ds.Modality = "RTDOSE"
    ds.SeriesInstanceUID = uid("series")
    ds.SeriesNumber = 1
    ds.SeriesDescription = description
    ds.Manufacturer = "netdose"
    ds.SoftwareVersions = str(netdose.__version__)
    # Frame of reference
    for_uid = src_value("FrameOfReferenceUID")
    ds.FrameOfReferenceUID = str(for_uid) if for_uid else uid("frame-of-reference")
    ds.PositionReferenceIndicator = src_value("PositionReferenceIndicator") or ""
    # General image, content date/time: from the source only (no wall-clock time stamps).
    ds.InstanceNumber = 1
    ds.ContentDate = src_value("StudyDate") or ""
    ds.ContentTime = src_value("StudyTime") or ""
    # Image plane
    ds.ImagePositionPatient = ipp
    ds.ImageOrientationPatient = iop
    ds.PixelSpacing = pixel_spacing
    ds.SliceThickness = _ds_number(sz)
    # Image pixel + multi-frame
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.Rows = ny
    ds.Columns = nx
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    # RT dose
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = summation
    ds.GridFrameOffsetVector = offsets
    ds.DoseGridScaling = scaling_text
    ds.PixelData = pixel_bytes
    ds["PixelData"].VR = "OW"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.RTDoseStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"NETDOSE_{netdose.__version__}"[:16]
    ds.file_meta = meta

    out = Path(path)
    try:
        with atomic_path(out) as tmp:
            if _PYDICOM_MAJOR >= 3:
                pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
            else:  # pragma: no cover - pydicom 2.x
                ds.is_little_endian = True
                ds.is_implicit_VR = False
                ds.preamble = b"\x00" * 128
                pydicom.dcmwrite(tmp, ds, write_like_original=False)
    except OSError as exc:
        raise InputError(
            f"cannot write the RT Dose file {out}: {exc.strerror or exc}. Check that the folder "
            "exists and is writable."
        ) from exc
    return out


# ---------------------------------------------------------------------- reading
def _floats(ds: Dataset, keyword: str, path: Path, n: int | None = None) -> np.ndarray:
    if keyword not in ds or ds[keyword].value in (None, ""):
        raise InputError(
            f"{path} has no {keyword} ({pydicom.tag.Tag(keyword)}); it is needed to place the "
            "dose grid in space. Export the RT Dose again from the planning system."
        )
    value = ds[keyword].value
    items = list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]
    try:
        out = np.array([float(v) for v in items], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {keyword} is not numeric: {value!r}.") from exc
    if (n is not None and out.size != n) or not np.all(np.isfinite(out)):
        raise InputError(f"{path}: {keyword} must hold {n or 'finite'} finite numbers; got {value!r}.")
    return out


def read_rtdose(path: str | os.PathLike[str]) -> Image:
    """Read a DICOM RT Dose file.

    Parameters
    ----------
    path : str or os.PathLike
        An RT Dose Storage file.

    Returns
    -------
    Image
        Dose (stored values x DoseGridScaling), float32, array shape (z, y, x), in Gy when
        ``meta["dose_units"] == "GY"``; for ``"RELATIVE"`` doses the values are relative (a
        :class:`~netdose.errors.NetdoseWarning` is issued). Frames are ordered ascending
        along the slice normal whatever the order of GridFrameOffsetVector, so the direction
        is right-handed. ``meta``: ``source_path``, ``modality``, ``dose_units``,
        ``dose_type``, ``dose_summation_type``, ``dose_grid_scaling``,
        ``grid_frame_offsets_mm`` (as stored), ``series_uid``, ``study_uid``,
        ``frame_of_reference_uid``, ``sop_instance_uid``, ``series_description``,
        ``manufacturer``.

    Raises
    ------
    InputError
        Not a DICOM file, not an RT Dose, missing geometry, non-uniform or duplicate frame
        offsets.
    UnitsError
        Dose Units other than ``GY`` or ``RELATIVE`` (e.g. a vendor's ``CGY``).
    """
    p = Path(path)
    try:
        ds = pydicom.dcmread(p)
    except FileNotFoundError as exc:
        raise InputError(f"{p} does not exist; give an RT Dose file.") from exc
    except InvalidDicomError as exc:
        raise InputError(f"{p} is not a DICOM file; give an RT Dose (.dcm) file.") from exc
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}.") from exc
    except (EOFError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{p} is a damaged DICOM file ({exc}); export it again.") from exc
    sop_class = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", "")).upper()
    if sop_class != pydicom.uid.RTDoseStorage and modality != "RTDOSE":
        raise InputError(
            f"{p} is not an RT Dose (Modality '{modality}', SOP Class {sop_class}); to read an "
            "image series use netdose.io.dicom.read_dicom_image."
        )
    units = str(ds.get("DoseUnits", "") or "").strip().upper()
    if units not in ("GY", "RELATIVE"):
        raise UnitsError(
            f"{p} has Dose Units (3004,0002) '{units or '(missing)'}'; netdose reads GY "
            "(or RELATIVE) doses. Export the dose in Gy from the planning system."
        )
    if units == "RELATIVE":
        warnings.warn(
            f"{p} holds a RELATIVE dose; the values are not in Gy.", NetdoseWarning, stacklevel=2
        )
    if "PixelData" not in ds:
        raise InputError(f"{p} has no PixelData (7FE0,0010); it holds no dose grid (a DVH-only RT Dose?).")
    try:
        stored = np.asarray(ds.pixel_array)
    except ValueError as exc:
        raise InputError(f"{p}: the dose grid cannot be read ({exc}); the file is probably truncated.") from exc
    except (RuntimeError, NotImplementedError, AttributeError) as exc:
        raise InputError(f"{p}: the dose grid cannot be decoded ({exc}).") from exc
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if stored.ndim == 2:
        stored = stored[None]
    if stored.shape[0] != n_frames:
        raise InputError(f"{p}: {stored.shape[0]} frames decoded but NumberOfFrames is {n_frames}.")
    if ds.get("DoseGridScaling") in (None, ""):
        raise InputError(f"{p} has no DoseGridScaling (3004,000E); the dose values cannot be scaled.")
    scaling = float(ds.DoseGridScaling)

    ipp = _floats(ds, "ImagePositionPatient", p, 3)
    iop = _floats(ds, "ImageOrientationPatient", p, 6)
    ps = _floats(ds, "PixelSpacing", p, 2)
    row, col = iop[:3] / np.linalg.norm(iop[:3]), iop[3:] / np.linalg.norm(iop[3:])
    if abs(float(row @ col)) > 1e-3:
        raise InputError(f"{p}: ImageOrientationPatient {iop.tolist()} is not orthogonal.")
    col = col - float(row @ col) * row
    col /= np.linalg.norm(col)
    normal = np.cross(row, col)

    if n_frames == 1:
        offsets = np.zeros(1)
        thickness = ds.get("SliceThickness")
        if thickness in (None, "") or float(thickness) <= 0:
            raise InputError(
                f"{p} has a single frame and no positive SliceThickness (0018,0050); the dose "
                "grid's z spacing is unknown."
            )
        dz = float(thickness)
    else:
        offsets = _floats(ds, "GridFrameOffsetVector", p, n_frames)
        if offsets[0] != 0.0:
            # Type (b) offsets: patient z coordinates, valid for axial grids only.
            if abs(abs(normal[2]) - 1.0) > 1e-6:
                raise InputError(
                    f"{p}: GridFrameOffsetVector starts at {offsets[0]} (absolute positions) but "
                    "the grid is not axial; such offsets are undefined."
                )
            offsets = (offsets - offsets[0]) * normal[2]
        relative = offsets
        order = np.argsort(relative, kind="stable")
        relative = relative[order]
        stored = stored[order]
        gaps = np.diff(relative)
        if np.any(gaps < 1e-3):
            raise InputError(f"{p}: GridFrameOffsetVector has duplicate frame positions.")
        dz = (relative[-1] - relative[0]) / (n_frames - 1)
        if np.max(np.abs(gaps - dz)) > _GAP_TOLERANCE * dz:
            raise InputError(
                f"{p}: the frames are not evenly spaced (GridFrameOffsetVector gaps from "
                f"{gaps.min():g} to {gaps.max():g} mm); netdose needs a regular dose grid."
            )
        ipp = ipp + relative[0] * normal
    dose = (stored.astype(np.float64) * scaling).astype(np.float32)
    direction = tuple(float(v) for v in np.column_stack([row, col, normal]).ravel())

    def s(keyword: str) -> str | None:
        v = ds.get(keyword)
        return None if v in (None, "") else str(v).strip()

    meta = {
        "source_path": str(p),
        "modality": "RTDOSE",
        "dose_units": units,
        "units": "Gy" if units == "GY" else "RELATIVE",
        "dose_type": s("DoseType"),
        "dose_summation_type": s("DoseSummationType"),
        "dose_grid_scaling": scaling,
        "grid_frame_offsets_mm": [float(v) for v in offsets],
        "series_uid": s("SeriesInstanceUID"),
        "study_uid": s("StudyInstanceUID"),
        "frame_of_reference_uid": s("FrameOfReferenceUID"),
        "sop_instance_uid": s("SOPInstanceUID"),
        "series_description": s("SeriesDescription"),
        "manufacturer": s("Manufacturer"),
    }
    return Image(dose, (float(ps[1]), float(ps[0]), float(dz)), tuple(ipp), direction, meta)
