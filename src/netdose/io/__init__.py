"""Reading and writing images, masks and DICOM objects.

- :func:`read_image` reads any supported image: a DICOM series (folder or file) or a volume
  file (NIfTI, NRRD, MHA).
- :mod:`netdose.io.volume`: volume files; :mod:`netdose.io.dicom`: DICOM CT/PT/NM/MR series;
  :mod:`netdose.io.masks`: named masks from label maps, 3D Slicer segmentations, RTSTRUCT,
  DICOM SEG and TotalSegmentator; :mod:`netdose.io.rtdose`: DICOM RT Dose;
  :mod:`netdose.io.dicom_write`: CT, PT, quantitative NM, SEG and RTSTRUCT writers.
- Every writer is atomic (:mod:`netdose.io.atomic`).
"""

from __future__ import annotations

import os
from pathlib import Path

from netdose.errors import InputError
from netdose.image import Image

__all__ = ["is_dicom_file", "read_image"]


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """True when the file has the DICOM Part 10 preamble ("DICM" at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_image(path: str | os.PathLike[str], *, series_uid: str | None = None) -> Image:
    """Read an image: a DICOM series (folder, or one file of it) or a volume file.

    Parameters
    ----------
    path : path-like
        A folder of DICOM files, a DICOM file, or a NIfTI/NRRD/MHA file.
    series_uid : str, optional
        SeriesInstanceUID to pick when a DICOM folder holds several image series.

    Returns
    -------
    Image
        With header facts in ``meta`` (``source_path`` at least).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder. Check the path.")
    if p.is_dir() or is_dicom_file(p) or p.suffix.lower() in (".dcm", ".ima"):
        from netdose.io.dicom import read_dicom_image

        return read_dicom_image(p, series_uid=series_uid)
    if series_uid is not None:
        raise InputError(f"{p} is not DICOM; a series UID only applies to DICOM folders.")
    from netdose.io.volume import read_volume

    return read_volume(p)
