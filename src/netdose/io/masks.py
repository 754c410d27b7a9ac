"""Named masks from label maps, 3D Slicer segmentations, DICOM RTSTRUCT, DICOM SEG and
TotalSegmentator, carried onto the grid of the image they are used with.

Every loader returns a :class:`MaskSet`: an ordered, read-only mapping from segment name to
:class:`NamedMask`. With ``target=None`` the masks stay on their own (native) grid; with a
``target`` image they are moved onto its grid:

- voxel masks (label maps, ``.seg.nrrd``, DICOM SEG) by exact overlap: the fraction of each
  target voxel covered by the native mask is computed with
  :func:`netdose.image.coverage_fraction` and a target voxel is in the mask when at least
  :data:`MASK_COVERAGE_THRESHOLD` (0.5) of it is covered, the rule of
  :func:`netdose.image.mask_to_grid`. ``NamedMask.fraction`` keeps the coverage;
- RTSTRUCT contours are rasterised directly on the target grid (:func:`masks_from_rtstruct`).

Volumes are reported both ways (``volume_native_ml``: on the mask's own grid or, for an
RTSTRUCT, from the polygons; ``volume_target_ml``: voxel count on the target grid x voxel
volume) so that the effect of the grid change is visible (:meth:`MaskSet.volumes_table`).

Bad inputs raise :class:`~netdose.errors.InputError` or :class:`~netdose.errors.GeometryError`
naming the file and the fix; assumptions and losses are reported as
:class:`~netdose.errors.NetdoseWarning`:

- a mask partly outside the target field of view: warning with the percentage of volume lost;
- a mask entirely outside it, or smaller than half a target voxel everywhere: GeometryError
  when that mask was asked for with ``select`` or when no mask of the file overlaps the image
  (wrong study / frame of reference); otherwise (e.g. the brain of a whole-body
  TotalSegmentator map and an abdominal SPECT) a warning, and the mask is skipped;
- a segment with no voxels: warning, skipped.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import pydicom
import pydicom.pixels
import scipy.ndimage
import SimpleITK as sitk
from matplotlib.path import Path as MplPath
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import RTStructureSetStorage, SegmentationStorage

from netdose.errors import GeometryError, InputError, NetdoseWarning
from netdose.image import Image, coverage_fraction
from netdose.io import is_dicom_file
from netdose.io.totalsegmentator_classes import CLASS_MAPS
from netdose.units import ML_PER_MM3

__all__ = [
    "MASK_COVERAGE_THRESHOLD",
    "MaskSet",
    "NamedMask",
    "UnknownNameError",
    "combine",
    "load_masks",
    "masks_from_dicom_seg",
    "masks_from_labelmap",
    "masks_from_rtstruct",
    "masks_from_slicer_seg",
    "masks_from_totalsegmentator",
]

PathLike = Union[str, "os.PathLike[str]"]

#: A target voxel belongs to a mask when at least this fraction of its volume is covered
#: (the rule of :func:`netdose.image.mask_to_grid`).
MASK_COVERAGE_THRESHOLD: float = 0.5
#: Warn when more than this percentage of a mask's volume lies outside the target image.
FOV_LOSS_WARN_PCT: float = 0.1
#: In-plane supersampling of RTSTRUCT rasterisation: N x N sub-points per target pixel.
RTSTRUCT_SUPERSAMPLING: int = 4
#: A contour whose points spread more than this (mm) along the target's slice normal is not
#: in a target slice plane (oblique geometry).
CONTOUR_PLANARITY_TOL_MM: float = 0.1
#: A "label map" with more distinct non-zero values than this is an image, not a label map.
MAX_LABELS: int = 1000

_CLOSED_CONTOUR_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
_DICOM_READ_ERRORS = (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError)


class UnknownNameError(InputError, KeyError):
    """An unknown segment or mask name.

    Both an :class:`~netdose.errors.InputError` (a user error, exit code 2) and a
    :class:`KeyError`, so that ``Mapping.get`` and ``except KeyError`` work as usual.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


def _warn(message: str) -> None:
    warnings.warn(message, NetdoseWarning, stacklevel=3)


# ---------------------------------------------------------------------- names
def _resolve_name(requested: str, available: Sequence[str]) -> str | None:
    """The available name meant by ``requested``: exact match first, then the unique
    case-insensitive match; None when absent or ambiguous."""
    if requested in available:
        return requested
    folded = [a for a in available if a.casefold() == requested.casefold()]
    return folded[0] if len(folded) == 1 else None


def _closest_name(requested: str, available: Sequence[str]) -> str | None:
    """The available name most similar to ``requested`` (difflib ratio, case-insensitive),
    also comparing with the words of multi-word names ('lungs' -> 'lung_upper_lobe_left');
    None when nothing is similar (ratio < 0.6)."""
    want = requested.casefold()
    best, best_score = None, 0.6
    for name in available:
        folded = name.casefold()
        words = [w for w in re.split(r"[\s_\-]+", folded) if w]
        score = difflib.SequenceMatcher(None, want, folded).ratio()
        if len(words) > 1:  # a whole-name match beats an equally good word match
            score = max(
                [score] + [difflib.SequenceMatcher(None, want, w).ratio() - 0.01 for w in words]
            )
        if score > best_score + 1.0e-9:
            best, best_score = name, score
    return best


def _unknown_name(requested: str, available: Sequence[str], where: str) -> UnknownNameError:
    same_case = [a for a in available if a.casefold() == requested.casefold()]
    if len(same_case) > 1:
        return UnknownNameError(
            f"segment name {requested!r} matches several names in {where} that differ only "
            f"in case: {', '.join(map(repr, same_case))}. Give the exact spelling."
        )
    best = _closest_name(requested, available)
    hint = f" Did you mean {best!r}?" if best is not None else ""
    listing = ", ".join(map(repr, available)) if available else "(none)"
    return UnknownNameError(
        f"unknown segment name {requested!r} in {where}.{hint} Available names: {listing}."
    )


def _resolve_selection(
    select: Iterable[str] | None, available: Sequence[str], where: str
) -> list[str] | None:
    """Map the requested names onto available names (order of ``select`` kept)."""
    if select is None:
        return None
    if isinstance(select, str):
        select = [select]
    chosen: list[str] = []
    for req in select:
        if not isinstance(req, str):
            raise InputError(f"segment names to select must be strings; got {req!r}.")
        got = _resolve_name(req, available)
        if got is None:
            raise _unknown_name(req, available, where)
        if got not in chosen:
            chosen.append(got)
    if not chosen:
        raise InputError(f"select is empty for {where}: give at least one segment name or None.")
    return chosen


def _unique_names(names: Sequence[str], where: str) -> list[str]:
    """Make duplicate segment names unique (``name #2``), warning about it."""
    seen: dict[str, int] = {}
    out: list[str] = []
    dups: list[str] = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n} #{seen[n]}")
            dups.append(n)
        else:
            seen[n] = 1
            out.append(n)
    if dups:
        _warn(
            f"{where} has several segments named {', '.join(map(repr, sorted(set(dups))))}; "
            "the later ones are called 'NAME #2', 'NAME #3'... Rename them in the file to "
            "avoid mixing them up."
        )
    return out


# ---------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True, eq=False)
class NamedMask:
    """One named mask on the grid it is used on.

    Attributes
    ----------
    name : str
        Segment name as written in the file (case kept).
    mask : Image
        Boolean mask, shape (z, y, x), on the target grid (or the native grid when the
        loader was given no target).
    volume_native_ml : float
        Volume in mL on the mask's own grid (voxel count x voxel volume); for an RTSTRUCT the
        polygon areas (shoelace, holes subtracted) x contour slice spacing, summed.
    volume_target_ml : float
        Voxel count of ``mask`` x target voxel volume, in mL.
    fraction : Image or None
        float32 fraction (0..1) of each target voxel covered by the native mask, when the mask
        was moved to another grid; None when it was already on the target grid, and for an
        RTSTRUCT (rasterised directly on the target grid).
    source : str
        Where it came from: file path and what inside it (label value, layer, ROI number).
    """

    name: str
    mask: Image
    volume_native_ml: float
    volume_target_ml: float
    fraction: Image | None
    source: str

    def __post_init__(self) -> None:
        if self.mask.array.dtype != np.bool_:
            raise InputError(f"mask {self.name!r} must be boolean; got {self.mask.array.dtype}.")
        if self.fraction is not None:
            self.mask.require_same_grid(self.fraction, f"mask {self.name!r}", "its fraction")

    @property
    def n_voxels(self) -> int:
        """Number of voxels in ``mask``."""
        return int(np.count_nonzero(self.mask.array))

    @property
    def relative_difference_pct(self) -> float:
        """100 x (target volume - native volume) / native volume."""
        return 100.0 * (self.volume_target_ml - self.volume_native_ml) / self.volume_native_ml


#: Column names of :meth:`MaskSet.volumes_table` rows.
VOLUMES_TABLE_COLUMNS: tuple[str, str, str, str] = (
    "name",
    "volume_native_ml",
    "volume_target_ml",
    "difference_pct",
)


class MaskSet(Mapping[str, NamedMask]):
    """An ordered, read-only mapping segment name -> :class:`NamedMask`.

    Look-ups are by exact name first, then case-insensitive; an unknown name raises
    :class:`UnknownNameError` (an :class:`~netdose.errors.InputError`) listing the available
    names and the closest one.

    Parameters
    ----------
    masks : iterable of NamedMask
        In the order to keep; names must be unique.
    source : str
        Where the set came from (file path), used in messages.
    """

    def __init__(self, masks: Iterable[NamedMask] = (), *, source: str = "") -> None:
        self._masks: dict[str, NamedMask] = {}
        self.source = source
        for m in masks:
            if not isinstance(m, NamedMask):
                raise InputError(f"a MaskSet holds NamedMask objects; got {type(m).__name__}.")
            if m.name in self._masks:
                raise InputError(f"duplicate mask name {m.name!r} in {source or 'a MaskSet'}.")
            self._masks[m.name] = m

    def _where(self) -> str:
        return self.source or "this mask set"

    def __getitem__(self, name: str) -> NamedMask:
        if not isinstance(name, str):
            raise UnknownNameError(f"mask names are strings; got {name!r}.")
        got = _resolve_name(name, list(self._masks))
        if got is None:
            raise _unknown_name(name, list(self._masks), self._where())
        return self._masks[got]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _resolve_name(name, list(self._masks)) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __repr__(self) -> str:
        return f"MaskSet({list(self._masks)!r}, source={self.source!r})"

    @property
    def names(self) -> tuple[str, ...]:
        """The mask names in order."""
        return tuple(self._masks)

    def volumes_table(self) -> list[tuple[str, float, float, float]]:
        """One row per mask: (name, native volume mL, target-grid volume mL, relative
        difference %), columns as in :data:`VOLUMES_TABLE_COLUMNS`."""
        return [
            (m.name, m.volume_native_ml, m.volume_target_ml, m.relative_difference_pct)
            for m in self._masks.values()
        ]


@dataclasses.dataclass(frozen=True)
class _Problem:
    """A mask that could not be placed: kind is 'empty', 'outside' or 'too_small'."""

    kind: str
    name: str
    message: str


# ---------------------------------------------------------------------- grids
def _grid(
    shape_zyx: Sequence[int],
    spacing_mm: Sequence[float],
    origin_mm: Sequence[float],
    direction: Sequence[float],
) -> Image:
    """An image that only carries a grid (its array is a read-only broadcast zero)."""
    arr = np.broadcast_to(np.zeros((), dtype=bool), tuple(int(v) for v in shape_zyx))
    return Image(arr, tuple(spacing_mm), tuple(origin_mm), tuple(direction))


def _bbox(mask: np.ndarray) -> tuple[slice, slice, slice] | None:
    """Bounding box (z, y, x slices) of the True voxels of a 3-D array; None when empty."""
    out = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        if idx.size == 0:
            return None
        out.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return out[0], out[1], out[2]


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _place(
    name: str,
    source: str,
    grid: Image,
    box: tuple[slice, slice, slice],
    data: np.ndarray,
    target: Image | None,
) -> NamedMask | _Problem:
    """Put a native mask (``data`` = the ``box`` crop of a mask on ``grid``) on the target.

    The crop keeps the exact-overlap resampling cheap: voxels outside the box are empty.
    """
    count = int(np.count_nonzero(data))
    if count == 0:
        return _Problem("empty", name, f"mask {name!r} from {source} is empty (0 voxels)")
    volume_native_ml = count * grid.voxel_volume_ml
    meta = {"mask_name": name, "source": source}
    if target is None or target.same_grid(grid):
        ref = grid if target is None else target
        full = np.zeros(ref.shape, dtype=bool)
        full[box] = data
        return NamedMask(
            name,
            ref.with_array(_read_only(full), meta=meta),
            volume_native_ml,
            count * ref.voxel_volume_ml,
            None,
            source,
        )
    corner = grid.physical_points(np.array([[box[2].start, box[1].start, box[0].start]]))[0]
    crop = Image(
        _read_only(np.ascontiguousarray(data, dtype=bool)),
        grid.spacing_mm,
        tuple(corner),
        grid.direction,
    )
    frac = coverage_fraction(crop, target).array
    inside_ml = float(frac.sum()) * target.voxel_volume_ml
    return _on_target(name, source, frac, target, volume_native_ml, inside_ml)


def _on_target(
    name: str,
    source: str,
    frac: np.ndarray,
    target: Image,
    volume_native_ml: float,
    inside_ml: float,
    rasterised: bool = False,
) -> NamedMask | _Problem:
    """Threshold a coverage fraction on the target grid and check what was lost.

    ``inside_ml`` is the native volume inside the target's field of view. With
    ``rasterised`` (RTSTRUCT), ``frac`` is already the boolean mask and is not kept as the
    result's fraction.
    """
    if inside_ml <= 1.0e-9 * volume_native_ml:
        return _Problem(
            "outside",
            name,
            f"mask {name!r} from {source} lies outside the image field of view "
            f"({volume_native_ml:.3g} mL natively, 0 mL inside the image grid: "
            f"{target.describe_grid()}). Check that the masks belong to this study / frame of "
            "reference, and that the image is the one they were drawn on or registered to",
        )
    mask = frac >= MASK_COVERAGE_THRESHOLD
    count = int(np.count_nonzero(mask))
    if count == 0:
        return _Problem(
            "too_small",
            name,
            f"mask {name!r} from {source} ({volume_native_ml:.3g} mL) covers no voxel of the "
            f"image grid by {MASK_COVERAGE_THRESHOLD:.0%} or more (voxels "
            f"{target.voxel_volume_ml:.3g} mL): it is too small for this grid, or lies between "
            "its slices. Use a finer image grid, or leave it out with select",
        )
    lost_pct = 100.0 * (1.0 - inside_ml / volume_native_ml)
    if lost_pct > FOV_LOSS_WARN_PCT:
        _warn(
            f"mask {name!r} from {source} lies partly outside the image field of view: "
            f"{lost_pct:.1f} % of its {volume_native_ml:.4g} mL is lost. Doses and counts in "
            "it cover only the part inside the image; check the image field of view."
        )
    meta = {"mask_name": name, "source": source}
    return NamedMask(
        name,
        target.with_array(_read_only(mask), meta=meta),
        volume_native_ml,
        count * target.voxel_volume_ml,
        None if rasterised else target.with_array(_read_only(frac.astype(np.float32)), meta=meta),
        source,
    )


def _assemble(
    results: Sequence[NamedMask | _Problem], where: str, selected: Sequence[str] | None
) -> MaskSet:
    """Collect placed masks; report, skip or raise for the problem ones."""
    masks = [r for r in results if isinstance(r, NamedMask)]
    problems = [r for r in results if isinstance(r, _Problem)]
    for prob in problems:
        if prob.kind in ("outside", "too_small") and selected is not None:
            raise GeometryError(prob.message + ".")
    geometric = [p for p in problems if p.kind in ("outside", "too_small")]
    if geometric and not masks:
        more = f" (and {len(geometric) - 3} more)" if len(geometric) > 3 else ""
        raise GeometryError(
            f"no mask of {where} overlaps the image: "
            + "; ".join(p.message for p in geometric[:3])
            + more
            + "."
        )
    for prob in problems:
        if prob.kind == "empty":
            _warn(
                f"{prob.message}; it is skipped. Check the segmentation if it should hold voxels."
            )
        else:
            _warn(f"{prob.message}. It is skipped.")
    if not masks:
        raise InputError(
            f"{where} holds no non-empty segment; check that this is the segmentation you meant."
        )
    return MaskSet(masks, source=where)


def _check_target(target: Image | None) -> None:
    if target is not None and not isinstance(target, Image):
        raise InputError(
            f"target must be a netdose Image (the grid to put the masks on); got "
            f"{type(target).__name__}. Read the image first, e.g. with netdose.io.read_image."
        )


def _sitk_reason(exc: RuntimeError) -> str:
    """The last line of a SimpleITK exception (the reason, without the C++ trace)."""
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else repr(exc)


def _existing_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file. Check the path to the segmentation.")
    if p.is_dir():
        raise InputError(f"{p} is a folder; give the segmentation file inside it.")
    return p


# ---------------------------------------------------------------------- label maps
def _read_label_image(path_or_image: PathLike | Image) -> tuple[Image, str]:
    """Read a label map file (or take an Image); return it and a description for messages."""
    if isinstance(path_or_image, Image):
        return path_or_image, str(path_or_image.meta.get("source_path", "the given label image"))
    p = _existing_file(path_or_image)
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InputError(
            f"{p} is not a segmentation netdose can read (SimpleITK: "
            f"{_sitk_reason(exc)}). Give a "
            "label map (NIfTI, NRRD, MHA), a 3D Slicer .seg.nrrd, a DICOM RTSTRUCT or SEG."
        ) from exc
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"{p} has {img.GetNumberOfComponentsPerPixel()} components per voxel, not a single "
            "label per voxel. If it is a 3D Slicer segmentation, load it with "
            "masks_from_slicer_seg (or name it .seg.nrrd)."
        )
    if img.GetDimension() != 3:
        raise InputError(f"{p} is a {img.GetDimension()}-D image; a 3-D label map is needed.")
    return Image.from_sitk(img, meta={"source_path": str(p)}), str(p)


def _label_array(img: Image, where: str) -> np.ndarray:
    """The labels as a non-negative integer array; InputError when it is not a label map."""
    arr = img.array
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise InputError(
                f"{where} holds non-integer values: it is an image, not a label map. Give the "
                "segmentation (integer labels), not the image it was drawn on."
            )
        if arr.max() > np.iinfo(np.int32).max:
            raise InputError(f"{where}: label values above 2^31 are not supported.")
        arr = arr.astype(np.int32)
    elif not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{where} has voxel type {arr.dtype}; a label map needs integer labels.")
    if arr.size and arr.min() < 0:
        raise InputError(
            f"{where} holds negative values (min {arr.min()}): it is an image, not a label map "
            "(labels are 0 for background and positive integers). Give the segmentation file."
        )
    return arr


def _present_labels(arr: np.ndarray, where: str) -> np.ndarray:
    """Sorted non-zero label values present in ``arr``."""
    top = int(arr.max()) if arr.size else 0
    if top < 2**20:
        counts = np.bincount(arr.ravel(), minlength=top + 1)
        labels = np.flatnonzero(counts)
    else:
        labels = np.unique(arr)
    labels = labels[labels != 0]
    if labels.size > MAX_LABELS:
        raise InputError(
            f"{where} has {labels.size} distinct non-zero values: it looks like an image, not "
            f"a label map (netdose accepts up to {MAX_LABELS} labels). Give the segmentation."
        )
    return labels


def _check_name_table(names: Mapping[int, str], where: str) -> dict[int, str]:
    if not isinstance(names, Mapping):
        raise InputError(
            f"names for {where} must be a mapping label value -> name, e.g. {{1: 'liver'}}; "
            f"got {type(names).__name__}."
        )
    table: dict[int, str] = {}
    for key, value in names.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise InputError(f"label values in the name table must be integers; got {key!r}.")
        if int(key) <= 0:
            raise InputError(
                f"label {key} ({value!r}) in the name table: label values must be positive "
                "(0 is the background)."
            )
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"label {key} needs a non-empty name; got {value!r}.")
        table[int(key)] = value
    if len(set(table.values())) != len(table):
        dup = sorted({v for v in table.values() if list(table.values()).count(v) > 1})
        raise InputError(f"the name table for {where} gives several labels the name(s) {dup}.")
    return table


def masks_from_labelmap(
    path_or_image: PathLike | Image,
    names: Mapping[int, str],
    target: Image | None = None,
    *,
    select: Iterable[str] | None = None,
) -> MaskSet:
    """Named masks from an integer label map.

    Parameters
    ----------
    path_or_image : path-like or Image
        A label map file SimpleITK reads (NIfTI, NRRD, MHA...) or an :class:`Image` of
        integer labels (0 = background).
    names : mapping int -> str
        Label value -> segment name. Named labels absent from the map are not an error (no
        mask is made for them); labels present but not named are ignored with a warning.
    target : Image, optional
        Grid to put the masks on (exact-overlap coverage >= 0.5); None keeps the native grid.
    select : iterable of str, optional
        Only these names (exact, then case-insensitive match). A selected name whose label is
        absent from the map raises :class:`~netdose.errors.InputError`.

    Returns
    -------
    MaskSet
        In ascending label order (or the order of ``select``).
    """
    _check_target(target)
    img, where = _read_label_image(path_or_image)
    table = _check_name_table(names, where)
    arr = _label_array(img, where)
    return _labelmap_masks(img, arr, _present_labels(arr, where), where, table, target, select)


def _labelmap_masks(
    img: Image,
    arr: np.ndarray,
    present: np.ndarray,
    where: str,
    table: dict[int, str],
    target: Image | None,
    select: Iterable[str] | None,
) -> MaskSet:
    """Masks of the named labels of ``arr`` (the labels of ``img``; ``present`` = its
    non-zero values)."""
    present_set = {int(v) for v in present}
    by_name = {v: k for k, v in table.items()}
    chosen = _resolve_selection(select, list(table.values()), f"the name table for {where}")
    if chosen is not None:
        missing = [n for n in chosen if by_name[n] not in present_set]
        if missing:
            shown = ", ".join(
                f"{v} ({table[v]})" if v in table else str(v) for v in sorted(present_set)
            )
            raise InputError(
                f"{where} has no voxels with the label of {', '.join(map(repr, missing))} "
                f"(label {', '.join(str(by_name[n]) for n in missing)}). Labels present: "
                f"{shown or 'none'}. Check the name table, or that this is the right label map."
            )
        labels = [by_name[n] for n in chosen]
    else:
        labels = [v for v in sorted(table) if v in present_set]
        unnamed = sorted(present_set - set(table))
        if unnamed:
            _warn(
                f"{where} has labels without a name in the table, ignored: "
                f"{', '.join(map(str, unnamed[:20]))}{' ...' if len(unnamed) > 20 else ''}. "
                "Add them to the name table if they are needed (is it a label map of another "
                "task or version?)."
            )
        if not labels:
            raise InputError(
                f"none of the labels in the name table is present in {where} (labels present: "
                f"{', '.join(map(str, sorted(present_set)[:20])) or 'none'}). Check the table."
            )
    grid = _grid(arr.shape, img.spacing_mm, img.origin_mm, img.direction)
    boxes = scipy.ndimage.find_objects(arr, max_label=max(labels))
    results: list[NamedMask | _Problem] = []
    for label in labels:
        box = boxes[label - 1]
        assert box is not None  # present labels have a box
        results.append(
            _place(table[label], f"{where}: label {label}", grid, box, arr[box] == label, target)
        )
    return _assemble(results, where, chosen)


def masks_from_totalsegmentator(
    path_or_image: PathLike | Image,
    target: Image | None = None,
    *,
    select: Iterable[str] | None = None,
    task: str = "total",
) -> MaskSet:
    """Named masks from a TotalSegmentator multi-label map (``--ml`` output).

    Parameters
    ----------
    path_or_image : path-like or Image
        The label map (e.g. ``segmentations.nii.gz``) or an :class:`Image` of it.
    target : Image, optional
        Grid to put the masks on; None keeps the CT grid.
    select : iterable of str, optional
        Class names to load (e.g. ``("liver", "spleen")``); all present classes when None.
    task : str
        TotalSegmentator task whose class table applies; ``"total"`` (v2, 117 classes).

    Returns
    -------
    MaskSet
        Named by TotalSegmentator class (``liver``, ``kidney_left``, ...). Combine lobes or
        organs with :func:`combine` and the groups in
        :mod:`netdose.io.totalsegmentator_classes` (``LUNG``, ``KIDNEYS``, ``GI``).
    """
    if task not in CLASS_MAPS:
        raise InputError(
            f"unknown TotalSegmentator task {task!r}; netdose has the class table of: "
            f"{', '.join(CLASS_MAPS)}. For another task give the name table to "
            "masks_from_labelmap."
        )
    return masks_from_labelmap(path_or_image, CLASS_MAPS[task], target, select=select)


# ---------------------------------------------------------------------- 3D Slicer
_SEGMENT_KEY = re.compile(r"^Segment(\d+)_Name$")


def _slicer_segments(reader: sitk.ImageFileReader, where: str) -> list[dict[str, Any]]:
    """Segment name, label value and layer from a .seg.nrrd header, in segment order."""
    keys = set(reader.GetMetaDataKeys())
    numbers = sorted(int(m.group(1)) for k in keys if (m := _SEGMENT_KEY.match(k)))
    n_comp = reader.GetNumberOfComponents()
    segments = []

    def field(i: int, name: str, default: str | None = None) -> str | None:
        key = f"Segment{i}_{name}"
        return reader.GetMetaData(key).strip() if key in keys else default

    for i in numbers:
        try:
            label = int(field(i, "LabelValue", "1"))  # type: ignore[arg-type]
            layer_text = field(i, "Layer")
            # Old (pre-2020) files have no Layer/LabelValue: one segment per layer, value 1.
            layer = int(layer_text) if layer_text is not None else (i if n_comp > 1 else 0)
        except ValueError as exc:
            raise InputError(
                f"{where}: Segment{i}_LabelValue / Segment{i}_Layer are not integers ({exc}). "
                "Re-save the segmentation from 3D Slicer."
            ) from exc
        if not 0 <= layer < n_comp:
            raise InputError(
                f"{where}: segment {field(i, 'Name')!r} is in layer {layer} but the file has "
                f"{n_comp} layer(s). The file is inconsistent; re-save it from 3D Slicer."
            )
        segments.append(
            {"key": f"Segment{i}", "name": field(i, "Name"), "label": label, "layer": layer}
        )
    return segments


def masks_from_slicer_seg(
    path: PathLike,
    target: Image | None = None,
    *,
    select: Iterable[str] | None = None,
) -> MaskSet:
    """Named masks from a 3D Slicer segmentation (``.seg.nrrd``), single- or multi-layer.

    Segment names, label values and layers come from the header fields ``SegmentN_Name``,
    ``SegmentN_LabelValue`` and ``SegmentN_Layer``. A multi-layer file (4-D, ``kinds: list
    domain domain domain``) is read as a vector image, one component per layer; segments in
    different layers may overlap.

    Parameters
    ----------
    path : path-like
        The ``.seg.nrrd`` file.
    target : Image, optional
        Grid to put the masks on (exact-overlap coverage >= 0.5); None keeps the native grid.
    select : iterable of str, optional
        Segment names to load (exact, then case-insensitive match); all when None.

    Returns
    -------
    MaskSet
        In the file's segment order (or the order of ``select``).
    """
    _check_target(target)
    p = _existing_file(path)
    where = str(p)
    reader = sitk.ImageFileReader()
    reader.SetFileName(where)
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(
            f"{p} cannot be read as NRRD ({_sitk_reason(exc)}). Give a 3D Slicer .seg.nrrd file."
        ) from exc
    segments = _slicer_segments(reader, where)
    if not segments:
        raise InputError(
            f"{p} is not a 3D Slicer segmentation: its header has no SegmentN_Name. If it is a "
            "plain label map, load it with masks_from_labelmap and a name table."
        )
    if reader.GetDimension() != 3:
        raise InputError(f"{p}: a 3-D segmentation is needed; got {reader.GetDimension()}-D.")
    for seg, unique in zip(
        segments, _unique_names([s["name"] for s in segments], where), strict=True
    ):
        seg["name"] = unique
    chosen = _resolve_selection(select, [s["name"] for s in segments], where)
    if chosen is not None:
        segments = [next(s for s in segments if s["name"] == n) for n in chosen]
    img = reader.Execute()
    arr = sitk.GetArrayFromImage(img)  # (z, y, x) or (z, y, x, layer)
    grid = _grid(arr.shape[:3], img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    boxes_by_layer: dict[int, list[Any]] = {}
    results: list[NamedMask | _Problem] = []
    for seg in segments:
        layer_arr = arr[..., seg["layer"]] if arr.ndim == 4 else arr
        if seg["layer"] not in boxes_by_layer:
            boxes_by_layer[seg["layer"]] = scipy.ndimage.find_objects(layer_arr)
        boxes = boxes_by_layer[seg["layer"]]
        source = f"{where}: {seg['key']} (layer {seg['layer']}, label {seg['label']})"
        label = seg["label"]
        box = boxes[label - 1] if 0 < label <= len(boxes) else None
        if box is None:
            msg = f"mask {seg['name']!r} from {source} is empty (0 voxels)"
            results.append(_Problem("empty", seg["name"], msg))
            continue
        results.append(_place(seg["name"], source, grid, box, layer_arr[box] == label, target))
    return _assemble(results, where, chosen)


# ---------------------------------------------------------------------- DICOM helpers
def _read_dicom(path: PathLike, *, stop_before_pixels: bool = False) -> Dataset:
    """Read a DICOM file, also one without the Part-10 preamble; InputError otherwise."""
    p = _existing_file(path)
    try:
        return pydicom.dcmread(p, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        pass
    except _DICOM_READ_ERRORS as exc:
        raise InputError(f"{p} cannot be read as DICOM ({exc}).") from exc
    try:
        ds = pydicom.dcmread(p, force=True, stop_before_pixels=stop_before_pixels)
        ok = "SOPClassUID" in ds or "Modality" in ds
    except _DICOM_READ_ERRORS as exc:
        raise InputError(f"{p} is not a DICOM file ({exc}).") from exc
    if not ok:
        raise InputError(
            f"{p} is not a DICOM file (no SOP Class UID or Modality). Give a DICOM RTSTRUCT or "
            "SEG, a 3D Slicer .seg.nrrd or a label map."
        )
    return ds


def _dicom_kind(ds: Dataset) -> str | None:
    sop = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", "")).upper()
    if sop == RTStructureSetStorage or modality == "RTSTRUCT":
        return "rtstruct"
    if sop == SegmentationStorage or modality == "SEG":
        return "seg"
    return None


def _dataset_and_where(path_or_dataset: PathLike | Dataset) -> tuple[Dataset, str]:
    if isinstance(path_or_dataset, Dataset):
        name = getattr(path_or_dataset, "filename", None)
        where = str(name) if isinstance(name, (str, os.PathLike)) else "the given dataset"
        return path_or_dataset, where
    return _read_dicom(path_or_dataset), str(Path(path_or_dataset))


def _not_a(kind: str, ds: Dataset, where: str) -> InputError:
    return InputError(
        f"{where} is not a DICOM {kind} (Modality {ds.get('Modality', '?')!s}, SOP class "
        f"{getattr(ds.get('SOPClassUID', None), 'name', ds.get('SOPClassUID', '?'))}). Give the "
        f"{kind} file of this study."
    )


def _rtstruct_needs_target(where: str) -> InputError:
    return InputError(
        f"{where} is an RTSTRUCT: contours have no voxel grid of their own. Give the image grid "
        "to rasterise them on (target=the PET/SPECT/CT image the structures belong to)."
    )


def _check_frame_of_reference(uid: str | None, target: Image | None, what: str) -> None:
    if target is None or not uid:
        return
    want = target.meta.get("frame_of_reference_uid")
    if want and str(want) != str(uid):
        raise GeometryError(
            f"{what} is in frame of reference {uid}, but the image is in {want}: they do not "
            "share patient coordinates (another study, or another scanner session). Use the "
            "image series the segmentation was drawn on, or register the image and re-export "
            "the segmentation in its frame of reference."
        )


def _seq_item(ds: Dataset, keyword: str) -> Dataset | None:
    seq = ds.get(keyword)
    return seq[0] if seq else None


# ---------------------------------------------------------------------- RTSTRUCT
def _shoelace(poly: np.ndarray) -> float:
    """Unsigned area of a closed polygon given as (N, 2) vertices (closing edge implied)."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def _clip_half_plane(poly: np.ndarray, axis: int, bound: float, keep_above: bool) -> np.ndarray:
    """Sutherland-Hodgman clip of a polygon (N, 2) to one axis-aligned half-plane."""
    if len(poly) == 0:
        return poly
    nxt = np.roll(poly, -1, axis=0)
    a, b = poly[:, axis], nxt[:, axis]
    in_a = a >= bound if keep_above else a <= bound
    in_b = b >= bound if keep_above else b <= bound
    cross = in_a != in_b
    denom = np.where(cross, b - a, 1.0)
    t = np.where(cross, (bound - a) / denom, 0.0)
    inter = poly + t[:, None] * (nxt - poly)
    pts = np.stack([poly, inter], axis=1)  # (N, 2 candidates, 2 coords)
    keep = np.stack([in_a, cross], axis=1)
    return pts[keep]


def _clipped_area(poly: np.ndarray, lo: Sequence[float], hi: Sequence[float]) -> float:
    """Area of the part of a polygon inside the box [lo, hi] (in-plane, index units)."""
    out = poly
    for axis in (0, 1):
        out = _clip_half_plane(out, axis, lo[axis], True)
        out = _clip_half_plane(out, axis, hi[axis], False)
    return _shoelace(out) if len(out) >= 3 else 0.0


def _nesting_signs(polys: Sequence[np.ndarray]) -> list[int]:
    """+1 / -1 for each polygon of one plane: -1 when it lies inside an odd number of the
    others (a hole under the even-odd rule)."""
    if len(polys) == 1:
        return [1]
    paths = [MplPath(p) for p in polys]
    signs = []
    for i, p in enumerate(polys):
        depth = sum(
            1 for j, path in enumerate(paths) if j != i and path.contains_points(p).mean() > 0.5
        )
        signs.append(-1 if depth % 2 else 1)
    return signs


def _fill_plane(polys: Sequence[np.ndarray], nx: int, ny: int, ss: int) -> np.ndarray:
    """Covered fraction (ny, nx) of each pixel of one slice by polygons, even-odd rule.

    Polygons are (N, 2) arrays of continuous (x, y) indices; pixel (i, j) spans
    [i - 0.5, i + 0.5] x [j - 0.5, j + 0.5]. Each pixel is sampled by ss x ss sub-points; a
    sub-point is inside when a horizontal ray from it crosses the edges (of all polygons
    together, so nested contours are holes) an odd number of times. Vectorised scanline:
    crossings of every edge with every sub-row it spans, sorted, paired, then filled with a
    difference array.
    """
    out = np.zeros((ny, nx), dtype=np.float32)
    x0 = np.concatenate([p[:, 0] for p in polys])
    y0 = np.concatenate([p[:, 1] for p in polys])
    x1 = np.concatenate([np.roll(p[:, 0], -1) for p in polys])
    y1 = np.concatenate([np.roll(p[:, 1], -1) for p in polys])
    j_lo = max(0, math.floor(min(y0.min(), y1.min())))
    j_hi = min(ny - 1, math.ceil(max(y0.max(), y1.max())))
    i_lo = max(0, math.floor(min(x0.min(), x1.min())))
    i_hi = min(nx - 1, math.ceil(max(x0.max(), x1.max())))
    if j_lo > j_hi or i_lo > i_hi:
        return out
    n_rows = (j_hi - j_lo + 1) * ss
    n_cols = (i_hi - i_lo + 1) * ss

    # Sub-row r is at y_r = j_lo + (r + 0.5) / ss - 0.5. An edge crosses sub-row r when
    # min(y0, y1) <= y_r < max(y0, y1) (half-open: a shared vertex counts once).
    def first_row_at_or_above(y: np.ndarray) -> np.ndarray:
        return np.clip(np.ceil((y - j_lo + 0.5) * ss - 0.5), 0, n_rows).astype(np.int64)

    r_start = first_row_at_or_above(np.minimum(y0, y1))
    r_stop = first_row_at_or_above(np.maximum(y0, y1))
    counts = np.maximum(r_stop - r_start, 0)
    total = int(counts.sum())
    if total == 0:
        return out
    edge = np.repeat(np.arange(len(x0)), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    row = r_start[edge] + (np.arange(total) - offsets)
    y_row = j_lo + (row + 0.5) / ss - 0.5
    xe0, ye0, xe1, ye1 = x0[edge], y0[edge], x1[edge], y1[edge]
    x_cross = xe0 + (y_row - ye0) * (xe1 - xe0) / (ye1 - ye0)
    order = np.lexsort((x_cross, row))
    row, x_cross = row[order], x_cross[order]
    # Closed polygons cross every sub-row an even number of times: pair them up.
    r_in, r_out = row[0::2], row[1::2]
    if len(r_in) != len(r_out) or np.any(r_in != r_out):
        raise InputError("a contour is not closed: an odd number of edge crossings was found.")

    # Sub-column m is at x_m = i_lo + (m + 0.5) / ss - 0.5; inside when x_in <= x_m < x_out.
    def first_col_at_or_right(x: np.ndarray) -> np.ndarray:
        return np.clip(np.ceil((x - i_lo + 0.5) * ss - 0.5), 0, n_cols).astype(np.int64)

    c_in = first_col_at_or_right(x_cross[0::2])
    c_out = first_col_at_or_right(x_cross[1::2])
    width = n_cols + 1
    size = n_rows * width
    diff = np.bincount(r_in * width + c_in, minlength=size) - np.bincount(
        r_in * width + c_out, minlength=size
    )
    inside = np.cumsum(diff.reshape(n_rows, width)[:, :-1], axis=1) > 0
    cover = inside.reshape(j_hi - j_lo + 1, ss, i_hi - i_lo + 1, ss).mean(axis=(1, 3))
    out[j_lo : j_hi + 1, i_lo : i_hi + 1] = cover
    return out


def _contour_data(contour: Dataset, where: str) -> np.ndarray:
    """ContourData (3006,0050) as a flat float64 array (mm).

    Parsed straight from the raw DS text when the element has not been converted yet:
    pydicom's per-value DS validation costs seconds on large structure sets.
    """
    if "ContourData" not in contour:
        return np.empty(0)
    elem = contour.get_item("ContourData")
    value = elem.value if elem is not None else None
    try:
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).strip(b" \x00")
            return np.array(text.split(b"\\"), dtype=np.float64) if text else np.empty(0)
        if value is None:
            return np.empty(0)
        values = value if isinstance(value, (list, tuple, MultiValue)) else [value]
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError as exc:
        raise InputError(
            f"{where}: ContourData holds a value that is not a number ({exc})."
        ) from exc


def _cluster_positions(values: np.ndarray, tol: float) -> np.ndarray:
    """Group sorted positions closer than ``tol``; return one label per value (sorted input)."""
    labels = np.zeros(len(values), dtype=np.int64)
    if len(values) > 1:
        labels[1:] = np.cumsum(np.diff(values) > tol)
    return labels


def masks_from_rtstruct(
    path: PathLike | Dataset,
    target: Image,
    *,
    select: Iterable[str] | None = None,
) -> MaskSet:
    """Named masks from a DICOM RTSTRUCT, rasterised on the target grid.

    Method: the CLOSED_PLANAR contour points (LPS mm) are turned into continuous target
    indices (:meth:`Image.continuous_index`). Each contour must lie in a plane of constant
    target slice index (within :data:`CONTOUR_PLANARITY_TOL_MM`), else the geometry is
    oblique and a :class:`~netdose.errors.GeometryError` is raised. Each target slice takes
    the contours of the nearest contour plane of the ROI when that plane is within half the
    contour slice spacing (nothing is interpolated; a target finer in z than the contours
    repeats a plane on several slices, an exact tie takes the union). In the slice, all
    contours of the plane are filled together with the even-odd rule (a contour inside
    another is a hole), sampling each pixel with :data:`RTSTRUCT_SUPERSAMPLING` ^2 sub-points;
    a pixel is in the mask when >= 50 % of its sub-points are inside.

    The contour slice spacing is the median distance between neighbouring contour planes of
    the whole structure set (the target's slice spacing when all contours are on one plane).
    ``volume_native_ml`` = sum over planes of the polygon area (shoelace, holes subtracted)
    x that spacing; the part of it inside the target's field of view (polygons clipped to
    the image, planes outside its slices dropped) decides the field-of-view checks.

    Parameters
    ----------
    path : path-like or pydicom Dataset
        The RTSTRUCT file (or dataset).
    target : Image
        The image grid to rasterise on (required: an RTSTRUCT has no grid of its own). When
        its ``meta`` has ``frame_of_reference_uid``, it must match the ROIs' frame of reference.
    select : iterable of str, optional
        ROI names to load (exact, then case-insensitive match); all when None.

    Returns
    -------
    MaskSet
        In the order of the StructureSetROISequence. ROIs without closed planar contours are
        listed in a warning and not created.
    """
    ds, where = _dataset_and_where(path)
    if _dicom_kind(ds) != "rtstruct":
        raise _not_a("RTSTRUCT", ds, where)
    if target is None:
        raise _rtstruct_needs_target(where)
    _check_target(target)
    if "StructureSetROISequence" not in ds:
        raise InputError(
            f"{where}: the RTSTRUCT has no StructureSetROISequence (3006,0020), so its ROIs "
            "have no names. The file is incomplete; re-export it."
        )
    default_for = None
    ref_for = _seq_item(ds, "ReferencedFrameOfReferenceSequence")
    if ref_for is not None:
        default_for = ref_for.get("FrameOfReferenceUID")
    default_for = default_for or ds.get("FrameOfReferenceUID")

    rois: list[tuple[int, str, str | None]] = []
    for item in ds.StructureSetROISequence:
        if "ROINumber" not in item:
            raise InputError(
                f"{where}: an item of StructureSetROISequence has no ROINumber (3006,0022)."
            )
        rois.append(
            (
                int(item.ROINumber),
                str(item.get("ROIName", f"ROI_{item.ROINumber}")),
                item.get("ReferencedFrameOfReferenceUID") or default_for,
            )
        )
    unique = _unique_names([r[1] for r in rois], where)
    rois = [(num, name, uid) for (num, _, uid), name in zip(rois, unique, strict=True)]

    contours: dict[int, list[tuple[str, np.ndarray]]] = {}
    for rc in ds.get("ROIContourSequence", []):
        if "ReferencedROINumber" not in rc:
            continue
        entries = contours.setdefault(int(rc.ReferencedROINumber), [])
        for c in rc.get("ContourSequence", []):
            pts = _contour_data(c, where)
            if pts.size == 0:
                continue
            if pts.size % 3:
                raise InputError(
                    f"{where}: ContourData of ROI {rc.ReferencedROINumber} has {pts.size} "
                    "values, not a multiple of 3 (x, y, z). The file is corrupt."
                )
            entries.append((str(c.get("ContourGeometricType", "")).upper(), pts.reshape(-1, 3)))

    chosen = _resolve_selection(select, [r[1] for r in rois], where)
    if chosen is not None:
        rois = [next(r for r in rois if r[1] == n) for n in chosen]

    sx, sy, sz = target.spacing_mm
    nx, ny, nz = target.size_xyz
    tol_k = CONTOUR_PLANARITY_TOL_MM / sz

    # Closed contours in continuous target indices (x, y, z), per ROI number.
    indexed = {
        num: [
            target.continuous_index(pts)
            for kind, pts in entries
            if kind in _CLOSED_CONTOUR_TYPES and len(pts) >= 3
        ]
        for num, entries in contours.items()
    }

    def planar(num: int, name: str) -> list[tuple[float, np.ndarray]]:
        """(plane k, polygon xy in target indices) of the ROI's closed contours."""
        out = []
        for idx in indexed.get(num, []):
            k = idx[:, 2]
            spread_mm = float(k.max() - k.min()) * sz
            if spread_mm > CONTOUR_PLANARITY_TOL_MM:
                raise GeometryError(
                    f"ROI {name!r} in {where} has a contour that is not parallel to the slices "
                    f"of the image grid (its points span {spread_mm:.2f} mm along the image's "
                    f"slice axis; image: {target.describe_grid()}). netdose rasterises "
                    "RTSTRUCT contours only on grids whose slices are parallel to the contour "
                    "planes: use the image series the structure set was drawn on, or resample "
                    "the image to that orientation first."
                )
            out.append((float(k.mean()), idx[:, :2]))
        return out

    # Contour slice spacing: median distance between neighbouring contour planes of all
    # closed contours of the structure set (selected or not).
    all_k = [float(np.mean(idx[:, 2])) for lst in indexed.values() for idx in lst]
    ks = np.sort(np.asarray(all_k))
    plane_of = _cluster_positions(ks, tol_k)
    centres = (
        np.array([ks[plane_of == i].mean() for i in range(plane_of.max() + 1)]) if ks.size else ks
    )
    spacing_mm = float(np.median(np.diff(centres))) * sz if centres.size > 1 else sz

    results: list[NamedMask | _Problem] = []
    without: list[str] = []
    for num, name, uid in rois:
        source = f"{where}: ROI number {num}"
        _check_frame_of_reference(uid, target, f"ROI {name!r} in {where}")
        items = sorted(planar(num, name), key=lambda t: t[0])
        if not items:
            kinds = sorted({k for k, _ in contours.get(num, [])})
            without.append(f"{name!r} ({', '.join(kinds) if kinds else 'no contours'})")
            continue
        k_sorted = np.array([k for k, _ in items])
        labels = _cluster_positions(k_sorted, tol_k)
        planes = [
            (
                float(k_sorted[labels == i].mean()),
                [items[j][1] for j in np.flatnonzero(labels == i)],
            )
            for i in range(labels.max() + 1)
        ]
        # Native volume and the part inside the image field of view.
        volume_mm3 = 0.0
        inside_mm3 = 0.0
        lo, hi = (-0.5, -0.5), (nx - 0.5, ny - 0.5)
        for k_plane, polys in planes:
            signs = _nesting_signs(polys)
            volume_mm3 += (
                sum(s * _shoelace(p) for s, p in zip(signs, polys, strict=True))
                * sx
                * sy
                * spacing_mm
            )
            if -0.5 <= k_plane <= nz - 0.5:
                inside_mm3 += (
                    sum(s * _clipped_area(p, lo, hi) for s, p in zip(signs, polys, strict=True))
                    * sx
                    * sy
                    * spacing_mm
                )
        volume_ml = volume_mm3 * ML_PER_MM3
        if volume_ml <= 0.0:
            results.append(_Problem("empty", name, f"mask {name!r} from {source} has zero area"))
            continue
        # Target slices -> nearest contour plane within half the contour spacing.
        plane_k = np.array([k for k, _ in planes])
        dist = np.abs(np.arange(nz)[:, None] - plane_k[None, :])
        nearest = dist.min(axis=1)
        half = 0.5 * spacing_mm / sz + 1.0e-3
        mask = np.zeros((nz, ny, nx), dtype=bool)
        filled: dict[int, np.ndarray] = {}
        for k in np.flatnonzero(nearest <= half):
            for p_idx in np.flatnonzero(dist[k] <= nearest[k] + 1.0e-3):
                if p_idx not in filled:
                    cover = _fill_plane(planes[p_idx][1], nx, ny, RTSTRUCT_SUPERSAMPLING)
                    filled[p_idx] = cover >= MASK_COVERAGE_THRESHOLD
                mask[k] |= filled[p_idx]
        inside_ml = inside_mm3 * ML_PER_MM3
        results.append(_on_target(name, source, mask, target, volume_ml, inside_ml, True))
    if without:
        _warn(
            f"{where}: ROIs without closed planar contours are not created: {', '.join(without)}."
        )
        if not results:
            raise InputError(
                f"{where} has no ROI with closed planar contours ({', '.join(without)}); there is "
                "nothing to make a mask of."
            )
    return _assemble(results, where, chosen)


# ---------------------------------------------------------------------- DICOM SEG
def _functional(frame: Dataset | None, shared: Dataset | None, seq: str) -> Dataset | None:
    """An item of a functional group: per-frame first, then shared."""
    for group in (frame, shared):
        if group is not None and seq in group and len(group[seq].value):
            return group[seq][0]
    return None


def masks_from_dicom_seg(
    path: PathLike | Dataset,
    target: Image | None = None,
    *,
    select: Iterable[str] | None = None,
) -> MaskSet:
    """Named masks from a DICOM Segmentation (SEG) object, BINARY or FRACTIONAL.

    Frame ``i`` belongs to segment
    ``PerFrameFunctionalGroupsSequence[i].SegmentIdentificationSequence[0].ReferencedSegmentNumber``
    and lies at ``PlanePositionSequence[0].ImagePositionPatient``; orientation
    (``PlaneOrientationSequence``) and spacing (``PixelMeasuresSequence``: PixelSpacing,
    SpacingBetweenSlices or SliceThickness) come from the per-frame or shared functional
    groups. All segments share one native grid spanning every frame position of the object
    (sorted along the slice normal, at the slice spacing), so sparse segments stay in place.
    FRACTIONAL frames are thresholded at 0.5 x MaximumFractionalValue.

    Parameters
    ----------
    path : path-like or pydicom Dataset
        The SEG file (or dataset).
    target : Image, optional
        Grid to put the masks on (exact-overlap coverage >= 0.5); None keeps the native grid.
    select : iterable of str, optional
        Segment labels to load (exact, then case-insensitive match); all when None.

    Returns
    -------
    MaskSet
        Named by SegmentLabel, in SegmentNumber order.
    """
    _check_target(target)
    ds, where = _dataset_and_where(path)
    if _dicom_kind(ds) != "seg":
        raise _not_a("SEG", ds, where)
    seg_type = str(ds.get("SegmentationType", "BINARY")).upper()
    if seg_type not in ("BINARY", "FRACTIONAL"):
        raise InputError(
            f"{where}: SegmentationType {seg_type} is not supported (BINARY and FRACTIONAL are). "
            "Convert it to a binary SEG or a label map."
        )
    if "SegmentSequence" not in ds or "PerFrameFunctionalGroupsSequence" not in ds:
        raise InputError(
            f"{where}: the SEG has no SegmentSequence (0062,0002) or "
            "PerFrameFunctionalGroupsSequence (5200,9230); the file is incomplete."
        )
    _check_frame_of_reference(ds.get("FrameOfReferenceUID"), target, f"the SEG {where}")
    numbers = [int(s.SegmentNumber) for s in ds.SegmentSequence]
    labels = _unique_names(
        [str(s.get("SegmentLabel", f"segment_{s.SegmentNumber}")) for s in ds.SegmentSequence],
        where,
    )
    label_of = dict(zip(numbers, labels, strict=True))
    chosen = _resolve_selection(select, labels, where)
    wanted = set(numbers) if chosen is None else {n for n, lab in label_of.items() if lab in chosen}

    shared = _seq_item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.PerFrameFunctionalGroupsSequence
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if len(per_frame) != n_frames:
        _warn(
            f"{where} has {n_frames} frame(s) of pixel data but {len(per_frame)} per-frame "
            f"functional group items; the first {min(n_frames, len(per_frame))} are used."
        )
        n_frames = min(n_frames, len(per_frame))
    if n_frames == 0:
        raise InputError(f"{where}: the SEG has no frames; there is nothing to make a mask of.")

    frame_segment: list[int] = []
    frame_ipp: list[np.ndarray] = []
    orientation: np.ndarray | None = None
    pixel_spacing: tuple[float, float] | None = None
    thickness: list[float] = []
    for i in range(n_frames):
        frame = per_frame[i]
        ident = _functional(frame, shared, "SegmentIdentificationSequence")
        pos = _functional(frame, shared, "PlanePositionSequence")
        orient = _functional(frame, shared, "PlaneOrientationSequence")
        measures = _functional(frame, shared, "PixelMeasuresSequence")
        if ident is None or pos is None or orient is None or measures is None:
            raise InputError(
                f"{where}: frame {i + 1} lacks SegmentIdentificationSequence, "
                "PlanePositionSequence, PlaneOrientationSequence or PixelMeasuresSequence; "
                "netdose needs them to place the frame. Re-export the SEG (e.g. with dcmqi or "
                "highdicom)."
            )
        frame_segment.append(int(ident.ReferencedSegmentNumber))
        frame_ipp.append(np.asarray([float(v) for v in pos.ImagePositionPatient]))
        iop = np.asarray([float(v) for v in orient.ImageOrientationPatient])
        if orientation is None:
            orientation = iop
        elif not np.allclose(iop, orientation, atol=1.0e-4):
            raise InputError(
                f"{where}: frames have different orientations ({orientation} vs {iop}); netdose "
                "reads SEG objects whose frames are parallel slices of one volume."
            )
        ps = (float(measures.PixelSpacing[0]), float(measures.PixelSpacing[1]))
        if pixel_spacing is None:
            pixel_spacing = ps
        for key in ("SpacingBetweenSlices", "SliceThickness"):
            if measures.get(key) is not None and float(measures.get(key)) > 0:
                thickness.append(float(measures.get(key)))
                break
    assert orientation is not None and pixel_spacing is not None
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    ipp = np.asarray(frame_ipp)
    dist = ipp @ normal
    inplane = ipp - dist[:, None] * normal[None, :]
    if np.max(np.abs(inplane - inplane[0])) > 0.05 * min(pixel_spacing):
        raise InputError(
            f"{where}: frames are shifted against each other within their plane; netdose reads "
            "SEG objects whose frames are slices of one regular volume."
        )
    positions = np.unique(np.round(dist, 4))
    slice_mm: float | None = thickness[0] if thickness else None
    if positions.size > 1:
        step = float(np.min(np.diff(positions)))
        for candidate in ([slice_mm] if slice_mm else []) + [step]:
            resid = (positions - positions[0]) / candidate
            if np.all(np.abs(resid - np.round(resid)) < 0.1):
                if slice_mm and candidate != slice_mm:
                    _warn(
                        f"{where}: frame positions are {step:g} mm apart, not the "
                        f"{slice_mm:g} mm in PixelMeasuresSequence; the positions are used."
                    )
                slice_mm = candidate
                break
        else:
            raise InputError(
                f"{where}: frame positions along the slice normal ({positions[:6]} ... mm) are "
                "not on a regular grid; netdose cannot build a volume from them."
            )
    if slice_mm is None:
        raise InputError(
            f"{where} has frames at one position only and no SpacingBetweenSlices or "
            "SliceThickness (0018,0088 / 0018,0050) in PixelMeasuresSequence, so the slice "
            "thickness (and the mask volume) is unknown. Fix the SEG export."
        )
    d0 = float(positions[0])
    n_slices = round((float(positions[-1]) - d0) / slice_mm) + 1
    k_of_frame = np.rint((dist - d0) / slice_mm).astype(np.int64)
    rows, cols = int(ds.Rows), int(ds.Columns)
    origin = inplane[0] + d0 * normal
    direction = np.column_stack([row_dir, col_dir, normal]).ravel()
    grid = _grid(
        (n_slices, rows, cols), (pixel_spacing[1], pixel_spacing[0], slice_mm), origin, direction
    )

    max_value = float(ds.get("MaximumFractionalValue", 255)) if seg_type == "FRACTIONAL" else None
    indices = [i for i in range(n_frames) if frame_segment[i] in wanted]
    frames: dict[int, np.ndarray] = {}
    if indices:
        # Decode all frames at once: BINARY frames are packed bit-contiguously, and decoding
        # single frames (pydicom.pixels.iter_pixels) fails in pydicom 3.0 for frames whose
        # size in bits is not a multiple of 8.
        try:
            decoded = np.asarray(ds.pixel_array)
        except (ValueError, NotImplementedError, RuntimeError, AttributeError) as exc:
            raise InputError(f"{where}: cannot decode the SEG pixel data ({exc}).") from exc
        if decoded.ndim == 2:
            decoded = decoded[None]
        for i in indices:
            arr = decoded[i]
            frames[i] = arr >= 0.5 * max_value if max_value is not None else arr != 0
    results: list[NamedMask | _Problem] = []
    for number in numbers:
        if number not in wanted:
            continue
        name = label_of[number]
        source = f"{where}: segment number {number}"
        mine = [i for i in indices if frame_segment[i] == number]
        if not mine:
            results.append(_Problem("empty", name, f"mask {name!r} from {source} has no frames"))
            continue
        k_lo = int(min(k_of_frame[i] for i in mine))
        k_hi = int(max(k_of_frame[i] for i in mine))
        data = np.zeros((k_hi - k_lo + 1, rows, cols), dtype=bool)
        for i in mine:
            data[k_of_frame[i] - k_lo] |= frames[i]
        box = _bbox(data)
        if box is None:
            results.append(
                _Problem("empty", name, f"mask {name!r} from {source} is empty (0 voxels)")
            )
            continue
        full_box = (slice(k_lo + box[0].start, k_lo + box[0].stop), box[1], box[2])
        results.append(_place(name, source, grid, full_box, data[box], target))
    return _assemble(results, where, chosen)


# ---------------------------------------------------------------------- combine
def combine(masks: MaskSet, names: Iterable[str], new_name: str) -> NamedMask:
    """The union of several masks of a set, e.g. the five lung lobes as "lungs".

    Parameters
    ----------
    masks : MaskSet
        Masks on one grid.
    names : iterable of str
        The masks to unite (e.g. :data:`~netdose.io.totalsegmentator_classes.LUNG`).
    new_name : str
        Name of the result.

    Returns
    -------
    NamedMask
        ``volume_native_ml`` is the sum of the parts' native volumes, exact when the parts
        are disjoint (as the labels of one label map are). When every part has a coverage
        ``fraction`` and the parts do not overlap on the grid, the union's fraction is their
        sum (clipped to 1) and a voxel is in the union when that sum is >= 0.5 -- so a voxel
        half covered by two lobes belongs to the lungs although to neither lobe. When parts
        overlap (e.g. liver and perfused volume), the union is the plain union of the masks,
        its fraction the voxel-wise maximum, and the summed native volume is an upper bound
        (a warning says so).
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise InputError(f"combine needs at least one mask name for {new_name!r}.")
    parts: list[NamedMask] = []
    for n in names:
        part = masks[n]  # raises UnknownNameError with suggestions
        if all(part is not p for p in parts):
            parts.append(part)
    first = parts[0]
    for part in parts[1:]:
        first.mask.require_same_grid(part.mask, f"mask {first.name!r}", f"mask {part.name!r}")
    stack_count = np.zeros(first.mask.shape, dtype=np.int16)
    for part in parts:
        stack_count += part.mask.array
    union = stack_count > 0
    overlap = bool(np.any(stack_count > 1))
    fraction: np.ndarray | None = None
    if all(p.fraction is not None for p in parts):
        fracs = [p.fraction.array for p in parts]  # type: ignore[union-attr]
        if overlap:
            fraction = np.maximum.reduce(fracs)
        else:
            fraction = np.clip(np.sum(fracs, axis=0, dtype=np.float32), 0.0, 1.0)
            union = union | (fraction >= MASK_COVERAGE_THRESHOLD)
    volume_native = float(sum(p.volume_native_ml for p in parts))
    if overlap:
        _warn(
            f"masks {', '.join(repr(p.name) for p in parts)} overlap; the native volume of "
            f"{new_name!r} ({volume_native:.4g} mL) is the sum of theirs and overestimates "
            "the union."
        )
    source = "union of " + "; ".join(p.source for p in parts)
    meta = {"mask_name": new_name, "source": source}
    return NamedMask(
        new_name,
        first.mask.with_array(_read_only(union), meta=meta),
        volume_native,
        int(np.count_nonzero(union)) * first.mask.voxel_volume_ml,
        None
        if fraction is None
        else first.mask.with_array(_read_only(fraction.astype(np.float32)), meta=meta),
        source,
    )


# ---------------------------------------------------------------------- dispatcher
def _looks_like_dicom(p: Path) -> bool:
    return is_dicom_file(p) or p.suffix.lower() in _DICOM_SUFFIXES or p.suffix == ""


def _find_in_folder(folder: Path, series_uid: str | None) -> Dataset:
    """The one RTSTRUCT or SEG in a folder (optionally of a given series)."""
    found: list[tuple[Path, Dataset]] = []
    modalities: dict[str, int] = {}
    for f in sorted(folder.iterdir()):
        if not f.is_file() or not _looks_like_dicom(f):
            continue
        try:
            head = pydicom.dcmread(
                f,
                stop_before_pixels=True,
                specific_tags=["Modality", "SOPClassUID", "SeriesInstanceUID"],
            )
        except _DICOM_READ_ERRORS:
            continue
        mod = str(head.get("Modality", "?"))
        modalities[mod] = modalities.get(mod, 0) + 1
        if _dicom_kind(head) and (
            series_uid is None or str(head.get("SeriesInstanceUID")) == series_uid
        ):
            found.append((f, head))
    if not found:
        seen = ", ".join(f"{m} x{n}" for m, n in sorted(modalities.items())) or "no DICOM files"
        extra = f" with SeriesInstanceUID {series_uid}" if series_uid else ""
        raise InputError(
            f"{folder} holds no DICOM RTSTRUCT or SEG{extra} (found: {seen}). Give the "
            "segmentation file or the folder that holds it."
        )
    if len(found) > 1:
        listing = "; ".join(
            f"{f.name} ({h.get('Modality')}, series {h.get('SeriesInstanceUID')})" for f, h in found
        )
        raise InputError(
            f"{folder} holds several segmentations: {listing}. Give one file, or series_uid="
            "the SeriesInstanceUID to use."
        )
    return _read_dicom(found[0][0])


def load_masks(
    path: PathLike,
    target: Image | None = None,
    *,
    names: Mapping[int, str] | str | None = None,
    select: Iterable[str] | None = None,
    series_uid: str | None = None,
) -> MaskSet:
    """Load named masks from any supported segmentation file.

    - ``*.seg.nrrd`` (or an NRRD whose header has ``Segment0_Name``): 3D Slicer
      (:func:`masks_from_slicer_seg`);
    - a DICOM file (or a folder holding one RTSTRUCT/SEG): RTSTRUCT
      (:func:`masks_from_rtstruct`, needs ``target``) or SEG (:func:`masks_from_dicom_seg`),
      told apart by SOPClassUID / Modality;
    - any other volume: a label map (:func:`masks_from_labelmap`) named by ``names``: a
      mapping label -> name, or ``"totalsegmentator"`` for a TotalSegmentator "total" map.
      Without ``names``, masks are called ``label_<value>`` (with a warning).

    Parameters
    ----------
    path : path-like
        Segmentation file, or a folder with one DICOM RTSTRUCT/SEG.
    target : Image, optional
        Grid to put the masks on; None keeps the native grid (not possible for RTSTRUCT).
    names : mapping or "totalsegmentator", optional
        Label names for label maps; ignored for self-describing formats (a warning says so).
    select : iterable of str, optional
        Segment names to load; all when None.
    series_uid : str, optional
        For DICOM: the SeriesInstanceUID of the segmentation to use (checked for a file,
        used to choose in a folder).

    Returns
    -------
    MaskSet
    """
    _check_target(target)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder. Check the path to the segmentation.")
    ds: Dataset | None = None
    if p.is_dir():
        ds = _find_in_folder(p, series_uid)
    elif _looks_like_dicom(p):
        ds = _read_dicom(p)
        if series_uid is not None and str(ds.get("SeriesInstanceUID", "")) != series_uid:
            raise InputError(
                f"{p} belongs to series {ds.get('SeriesInstanceUID')}, not the requested "
                f"{series_uid}. Give the file of that series, or drop series_uid."
            )
    if ds is not None:
        where = str(getattr(ds, "filename", p))
        kind = _dicom_kind(ds)
        if kind is None:
            raise _not_a("RTSTRUCT or SEG", ds, where)
        if names is not None:
            _warn(
                f"{where} is a DICOM {kind.upper()} with its own segment names; names is ignored."
            )
        if kind == "rtstruct":
            if target is None:
                raise _rtstruct_needs_target(where)
            return masks_from_rtstruct(ds, target, select=select)
        return masks_from_dicom_seg(ds, target, select=select)
    if series_uid is not None:
        raise InputError(f"{p} is not DICOM; series_uid only applies to DICOM segmentations.")
    if p.name.lower().endswith(".nrrd"):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(p))
        try:
            reader.ReadImageInformation()
        except RuntimeError as exc:
            raise InputError(f"{p} cannot be read as NRRD ({_sitk_reason(exc)}).") from exc
        slicer_keys = any(_SEGMENT_KEY.match(k) for k in reader.GetMetaDataKeys())
        if p.name.lower().endswith(".seg.nrrd") or slicer_keys:
            if names is not None:
                _warn(
                    f"{p} is a 3D Slicer segmentation with its own segment names; names is ignored."
                )
            return masks_from_slicer_seg(p, target, select=select)
    if isinstance(names, str):
        if names.casefold() != "totalsegmentator":
            raise InputError(
                f"names={names!r} is not understood; give a mapping label -> name or "
                "'totalsegmentator'."
            )
        return masks_from_totalsegmentator(p, target, select=select)
    if names is None:
        img, where = _read_label_image(p)
        arr = _label_array(img, where)
        labels = _present_labels(arr, where)
        if labels.size == 0:
            raise InputError(
                f"{where} holds no labels (all voxels are 0): it is an empty segmentation."
            )
        _warn(
            f"{where} is a label map without names; its masks are called label_<value> "
            f"({', '.join(f'label_{v}' for v in labels[:10])}"
            f"{' ...' if labels.size > 10 else ''}). "
            "Give names={value: name} (or names='totalsegmentator') to name them."
        )
        table = {int(v): f"label_{v}" for v in labels}
        return _labelmap_masks(img, arr, labels, where, table, target, select)
    return masks_from_labelmap(p, names, target, select=select)
