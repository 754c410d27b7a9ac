"""Small synthetic DICOM objects for tests of the reading path (valid, and broken on purpose).

Everything is built from scratch with pydicom so that each test controls exactly which tag
is present, missing or wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
NM_STORAGE = "1.2.840.10008.5.1.4.1.1.20"


def _base(sop_class: str, modality: str, series_uid: str, study_uid: str, for_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Test^Phantom"
    ds.PatientID = "T1"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = for_uid
    ds.SeriesDescription = f"synthetic {modality}"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20250101"
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = "120000"
    ds.Manufacturer = "netdose-tests"
    return ds


def _pixels(ds: Dataset, arr: np.ndarray) -> None:
    arr = np.asarray(arr, dtype=np.int16)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    if arr.ndim == 2:
        ds.Rows, ds.Columns = arr.shape
    else:
        ds.NumberOfFrames = arr.shape[0]
        ds.Rows, ds.Columns = arr.shape[1:]
    ds.PixelData = arr.tobytes()


def write_ct_series(
    folder: Path,
    n_slices: int = 4,
    *,
    rows: int = 6,
    cols: int = 5,
    spacing: Sequence[float] = (2.0, 1.5),
    z_positions: Sequence[float] | None = None,
    modality: str = "CT",
    series_uid: str | None = None,
    drop: Sequence[str] = (),
    value: float = 100.0,
) -> list[Path]:
    """Write a CT (or PT) series of ``n_slices`` files into ``folder``; return the paths.

    ``drop`` lists tag keywords to delete from every slice (to make it broken on purpose).
    Slice ``k`` holds ``value + k`` in every pixel (before rescale slope 1, intercept 0).
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid, for_uid = generate_uid(), generate_uid()
    zs = list(z_positions) if z_positions is not None else [2.5 * k for k in range(n_slices)]
    sop = CT_STORAGE if modality == "CT" else PET_STORAGE
    paths = []
    for k, z in enumerate(zs):
        ds = _base(sop, modality, series_uid, study_uid, for_uid)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-10.0, -20.0, float(z)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = list(spacing)
        ds.SliceThickness = 2.5
        ds.RescaleSlope = 1
        ds.RescaleIntercept = 0
        if modality == "PT":
            ds.Units = "BQML"
        _pixels(ds, np.full((rows, cols), value + k))
        for kw in drop:
            if kw in ds:
                delattr(ds, kw)
        path = folder / f"{modality}{k:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_nm(
    path: Path,
    *,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"),
    n_frames: int = 4,
    rows: int = 8,
    cols: int = 8,
) -> Path:
    """Write one multi-frame NM object (reconstructed SPECT by default, or projections)."""
    ds = _base(NM_STORAGE, "NM", generate_uid(), generate_uid(), generate_uid())
    ds.ImageType = list(image_type)
    ds.PixelSpacing = [4.42, 4.42]
    ds.SliceThickness = 4.42
    ds.SpacingBetweenSlices = 4.42
    det = Dataset()
    det.ImagePositionPatient = [-17.68, -17.68, 0.0]
    det.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.DetectorInformationSequence = DicomSequence([det])
    ds.FrameIncrementPointer = pydicom.tag.Tag("SliceVector")
    ds.SliceVector = list(range(1, n_frames + 1))
    ds.NumberOfSlices = n_frames
    ds.Units = "CNTS"
    _pixels(ds, np.arange(n_frames * rows * cols).reshape(n_frames, rows, cols) % 100)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
