"""Small synthetic DICOM objects for tests of the reading path (valid, and broken on purpose).

Everything is built from scratch with pydicom so that each test controls exactly which tag
is present, missing or wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence


def file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return meta


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def pet_or_ct_slice(
    series_uid: str,
    position: Sequence[float],
    pixels: np.ndarray,
    *,
    modality: str = "PT",
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    pixel_spacing: Sequence[float] = (2.0, 3.0),
    slope: float = 1.0,
    intercept: float = 0.0,
    description: str = "synthetic",
    instance: int = 1,
) -> Dataset:
    sop_class = {"PT": pydicom.uid.PositronEmissionTomographyImageStorage,
                 "CT": pydicom.uid.CTImageStorage}[modality]
    sop_uid = pydicom.uid.generate_uid(entropy_srcs=[series_uid, str(instance), str(position)])
    ds = Dataset()
    ds.file_meta = file_meta(sop_class, sop_uid)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesDescription = description
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in pixel_spacing]
    ds.SliceThickness = 4.0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.Units = "BQML"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def write_series(
    folder: Path,
    positions: Sequence[Sequence[float]],
    *,
    series_uid: str = "1.2.826.0.1.3680043.8.498.100",
    shape: tuple[int, int] = (6, 5),
    slopes: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[Path]:
    """Write one single-frame slice per position; pixel value = 100*k + 10*row + column."""
    out = []
    rows, cols = shape
    for k, pos in enumerate(positions):
        pix = 100 * k + 10 * np.arange(rows)[:, None] + np.arange(cols)[None, :]
        slope = 1.0 if slopes is None else slopes[k]
        ds = pet_or_ct_slice(series_uid, pos, pix, slope=slope, instance=k + 1, **kwargs)
        name = names[k] if names is not None else f"slice_{k:03d}.dcm"
        out.append(save(ds, folder / name))
    return out


def nm_dataset(
    *,
    n_slices: int = 5,
    shape: tuple[int, int] = (4, 6),
    image_type: Sequence[str] | None = ("ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"),
    ipp: Sequence[float] = (-10.0, -20.0, -30.0),
    iop: Sequence[float] = (1, 0, 0, 0, 1, 0),
    spacing_between_slices: float | None = 4.5,
    slice_thickness: float | None = 4.5,
    slope: float | None = 0.5,
    detectors: int = 1,
    energy_window_vector: Sequence[int] | None = None,
    rotation: bool = False,
) -> Dataset:
    """A multi-frame NM data set; stored value of frame k = 1000*k + 10*row + column."""
    sop_uid = pydicom.uid.generate_uid(entropy_srcs=["nm", str(n_slices), str(image_type)])
    ds = Dataset()
    ds.file_meta = file_meta(pydicom.uid.NuclearMedicineImageStorage, sop_uid)
    ds.SOPClassUID = pydicom.uid.NuclearMedicineImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "NM"
    ds.Manufacturer = "Synthetic"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.300"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesDescription = "SPECT recon"
    if image_type is not None:
        ds.ImageType = list(image_type)
    ds.NumberOfFrames = n_slices
    ds.FrameIncrementPointer = pydicom.tag.Tag("SliceVector")
    ds.SliceVector = list(range(1, n_slices + 1))
    ds.NumberOfSlices = n_slices
    if energy_window_vector is not None:
        ds.EnergyWindowVector = list(energy_window_vector)
    ew = Dataset()
    ew.EnergyWindowName = "Tc99m"
    rng = Dataset()
    rng.EnergyWindowLowerLimit = 126.45
    rng.EnergyWindowUpperLimit = 154.55
    ew.EnergyWindowRangeSequence = DicomSequence([rng])
    ds.EnergyWindowInformationSequence = DicomSequence([ew])
    items = []
    for _ in range(detectors):
        det = Dataset()
        det.ImagePositionPatient = [float(v) for v in ipp]
        det.ImageOrientationPatient = [float(v) for v in iop]
        det.CollimatorGridName = "LEHR"
        det.CollimatorType = "PARA"
        items.append(det)
    ds.DetectorInformationSequence = DicomSequence(items)
    if rotation:
        rot = Dataset()
        rot.StartAngle = 0.0
        ds.RotationInformationSequence = DicomSequence([rot])
    ds.PixelSpacing = [3.0, 2.0]
    if spacing_between_slices is not None:
        ds.SpacingBetweenSlices = spacing_between_slices
    if slice_thickness is not None:
        ds.SliceThickness = slice_thickness
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = 0.0
    rows, cols = shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    pix = (
        1000 * np.arange(n_slices)[:, None, None]
        + 10 * np.arange(rows)[None, :, None]
        + np.arange(cols)[None, None, :]
    )
    ds.PixelData = pix.astype("<u2").tobytes()
    return ds


def enhanced_dataset(positions: Sequence[Sequence[float]], slopes: Sequence[float]) -> Dataset:
    """An enhanced (per-frame functional groups) multi-frame PET-like data set."""
    n = len(positions)
    sop_uid = pydicom.uid.generate_uid(entropy_srcs=["enhanced", str(positions)])
    ds = Dataset()
    ds.file_meta = file_meta(pydicom.uid.EnhancedPETImageStorage, sop_uid)
    ds.SOPClassUID = pydicom.uid.EnhancedPETImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "PT"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.400"
    ds.NumberOfFrames = n
    shared = Dataset()
    ori = Dataset()
    ori.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    shared.PlaneOrientationSequence = DicomSequence([ori])
    meas = Dataset()
    meas.PixelSpacing = [2.0, 2.5]
    meas.SliceThickness = 3.0
    shared.PixelMeasuresSequence = DicomSequence([meas])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for pos, slope in zip(positions, slopes):
        fg = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [float(v) for v in pos]
        fg.PlanePositionSequence = DicomSequence([pp])
        pvt = Dataset()
        pvt.RescaleSlope = slope
        pvt.RescaleIntercept = 0.0
        fg.PixelValueTransformationSequence = DicomSequence([pvt])
        per_frame.append(fg)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = 3, 4
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    pix = 100 * np.arange(n)[:, None, None] + np.arange(12).reshape(3, 4)[None]
    ds.PixelData = pix.astype("<u2").tobytes()
    return ds



def drop_tags(paths: Sequence[Path], *keywords: str) -> None:
    """Delete the given tags (by keyword) from every file, in place."""
    for path in paths:
        ds = pydicom.dcmread(path)
        for kw in keywords:
            if kw in ds:
                delattr(ds, kw)
        ds.save_as(path, enforce_file_format=True)
