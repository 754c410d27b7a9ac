"""Reading and writing volume files SimpleITK understands (NIfTI, NRRD, MHA/MHD).

DICOM is read by :mod:`netdose.io.dicom`; :func:`netdose.io.read_image` chooses between them.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from netdose.errors import InputError
from netdose.image import Image
from netdose.io.atomic import atomic_path

__all__ = ["VOLUME_SUFFIXES", "read_volume", "write_volume"]

#: File endings written by :func:`write_volume`.
VOLUME_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suf in VOLUME_SUFFIXES:
        if name.endswith(suf):
            return suf
    return path.suffix.lower()


_NIFTI_FLOAT_DTYPES = {16: "f4", 64: "f8"}


def _nifti_nonfinite_count(path: Path) -> int:
    """Count NaN/inf voxels in a float NIfTI-1/-2 file by reading its raw data.

    ITK's NIfTI reader replaces NaN voxels by 0 without warning, which would let a broken
    reconstruction through as a plausible image; this check reads the stored values directly.
    Returns 0 for integer data or a file it does not recognise.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(540)
    for endian in ("<", ">"):
        (size,) = struct.unpack(endian + "i", head[:4])
        if size == 348:  # NIfTI-1
            datatype = struct.unpack(endian + "h", head[70:72])[0]
            dims = struct.unpack(endian + "8h", head[40:56])
            offset = int(struct.unpack(endian + "f", head[108:112])[0])
            break
        if size == 540:  # NIfTI-2
            datatype = struct.unpack(endian + "h", head[12:14])[0]
            dims = struct.unpack(endian + "8q", head[16:80])
            offset = int(struct.unpack(endian + "q", head[168:176])[0])
            break
    else:
        return 0
    if datatype not in _NIFTI_FLOAT_DTYPES:
        return 0
    n_voxels = int(np.prod([max(int(d), 1) for d in dims[1 : 1 + max(int(dims[0]), 1)]]))
    dtype = np.dtype(endian + _NIFTI_FLOAT_DTYPES[datatype])
    with opener(path, "rb") as fh:
        fh.seek(offset)  # gzip streams support forward seeks
        data = fh.read(n_voxels * dtype.itemsize)
    values = np.frombuffer(data, dtype=dtype)
    return int(np.count_nonzero(~np.isfinite(values)))


def read_volume(path: str | os.PathLike[str]) -> Image:
    """Read a 3-D scalar volume (NIfTI, NRRD, MHA/MHD, or anything SimpleITK reads).

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    Image
        Geometry exactly as in the file (LPS); ``meta`` holds ``source_path`` and ``format``.

    Raises
    ------
    InputError
        Missing file, unreadable file, a 2-D image, a multi-component image, or NaN/infinite
        voxels (also in NIfTI files, whose NaNs ITK would silently read as 0).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file. Check the path.")
    if p.is_dir():
        raise InputError(f"{p} is a folder; give a volume file (NIfTI, NRRD, MHA) or a DICOM series.")
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown reason"
        raise InputError(
            f"{p}: cannot read this file as an image volume ({first[:200]}). netdose reads NIfTI "
            "(.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd) and DICOM series folders."
        ) from exc
    if img.GetDimension() == 4 and img.GetSize()[3] == 1:
        img = img[:, :, :, 0]
    if img.GetDimension() == 2:
        raise InputError(
            f"{p}: a 3-D volume is needed but the file holds a 2-D image of size {img.GetSize()}."
        )
    if img.GetDimension() != 3:
        raise InputError(
            f"{p}: a 3-D volume is needed but the file is {img.GetDimension()}-D (size "
            f"{img.GetSize()}). Split time frames or channels into separate 3-D files."
        )
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{p}: holds {img.GetNumberOfComponentsPerPixel()} values per voxel (a multi-layer "
            "segmentation or a colour image?). Load segmentations with netdose.io.masks.load_masks."
        )
    if _suffix(p) in (".nii", ".nii.gz"):
        n_bad = _nifti_nonfinite_count(p)
        if n_bad:
            raise InputError(
                f"{p}: {n_bad} voxel(s) are NaN or infinite. Fix the reconstruction or export, "
                "or set those voxels to 0 explicitly before passing the image to netdose."
            )
    meta = {"source_path": str(p), "format": _suffix(p).lstrip(".") or "unknown"}
    try:
        image = Image.from_sitk(img, meta=meta)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from exc
    image.require_finite(str(p))
    return image


def write_volume(image: Image, path: str | os.PathLike[str]) -> Path:
    """Write ``image`` to a NIfTI/NRRD/MHA file, atomically (no partial file on failure).

    Booleans are written as uint8. The format follows the extension; compression is on for
    ``.nii.gz``, ``.nrrd`` and ``.mha``. NIfTI stores geometry in RAS, SimpleITK converts:
    reading the file back gives the same LPS geometry.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = Path(path)
    suf = _suffix(out)
    if suf not in VOLUME_SUFFIXES:
        raise InputError(
            f"{out}: unknown output format {suf or '(no extension)'!r}; use one of "
            f"{', '.join(VOLUME_SUFFIXES)}."
        )
    if np.issubdtype(image.array.dtype, np.floating) and not np.all(np.isfinite(image.array)):
        raise InputError(f"refusing to write {out}: the image has NaN or infinite voxels.")
    img = image.to_sitk()
    with atomic_path(out) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=suf in (".nii.gz", ".nrrd", ".mha"))
    return out
