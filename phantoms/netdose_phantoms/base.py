"""The common shape of every netdose phantom: images with known truth.

A :class:`Phantom` holds a label map with names, optional CT (HU) and density maps, either one
activity map or a series of time points, extra images (e.g. planar projections) and the
truth as JSON-ready data. :meth:`Phantom.write_nifti` writes everything as NIfTI plus
``truth.json``; DICOM export lives in :mod:`netdose_phantoms.export`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from netdose.errors import InputError
from netdose.image import Image
from netdose.io.atomic import atomic_write_text
from netdose.io.volume import write_volume

__all__ = ["Phantom", "TimePoint"]


@dataclasses.dataclass(frozen=True)
class TimePoint:
    """One acquisition of a time series.

    Attributes
    ----------
    label : str
        Short name, e.g. ``"t024h"``.
    time_h : float
        Time after injection (start of acquisition), hours.
    image : Image
        The image (units in ``quantity``), shape (z, y, x).
    quantity : str
        What the voxels are, e.g. ``"activity_bq_ml"`` or ``"counts"``.
    """

    label: str
    time_h: float
    image: Image
    quantity: str


@dataclasses.dataclass(frozen=True, eq=False)
class Phantom:
    """A phantom with known truth.

    Attributes
    ----------
    name : str
        Registry name (``"nema-iec"``, ``"prrt-patient"``, ``"sirt-liver"``).
    description : str
        One paragraph: what it is, its geometry and sources.
    labels : Image
        Integer label map (0 = outside / unlabelled).
    label_names : Mapping[int, str]
        Name of every label value present.
    label_groups : Mapping[str, tuple of str]
        Named unions of labels (e.g. ``"kidneys": ("kidney_left", "kidney_right")``,
        ``"body"``), usable wherever a label name is.
    ct_hu : Image or None
        CT in Hounsfield units on the label grid.
    density_g_cm3 : Image or None
        Mass density on the label grid.
    activity : Image or None
        For single-time-point phantoms: the activity map (unit in ``activity_quantity``).
    activity_quantity : str
        E.g. ``"activity_bq_ml"``.
    time_points : tuple of TimePoint
        For time series (PRRT): the images at each time.
    extras : Mapping[str, Image]
        Further images (planar projections, noise-free versions...).
    truth : Mapping[str, Any]
        JSON-ready truth: volumes, activities, time-integrated activities, doses, the
        parameters used to build the phantom and their sources.
    """

    name: str
    description: str
    labels: Image
    label_names: Mapping[int, str]
    label_groups: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    ct_hu: Image | None = None
    density_g_cm3: Image | None = None
    activity: Image | None = None
    activity_quantity: str = "activity_bq_ml"
    time_points: tuple[TimePoint, ...] = ()
    extras: Mapping[str, Image] = dataclasses.field(default_factory=dict)
    truth: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, img in (("ct_hu", self.ct_hu), ("density_g_cm3", self.density_g_cm3),
                          ("activity", self.activity)):
            if img is not None:
                self.labels.require_same_grid(img, f"phantom {self.name} labels", what)
        object.__setattr__(self, "label_names", MappingProxyType(dict(self.label_names)))
        known = set(self.label_names.values())
        for group, members in self.label_groups.items():
            missing = set(members) - known
            if missing:
                raise InputError(f"label group {group!r} names unknown labels {sorted(missing)}.")
        object.__setattr__(
            self, "label_groups", MappingProxyType({k: tuple(v) for k, v in self.label_groups.items()})
        )
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))
        object.__setattr__(self, "truth", MappingProxyType(dict(self.truth)))

    def mask(self, name: str) -> Image:
        """Boolean mask of a named label or label group."""
        members = self.label_groups.get(name, (name,))
        values = [v for v, n in self.label_names.items() if n in members]
        if not values:
            raise InputError(
                f"phantom {self.name} has no label or label group {name!r}; labels: "
                f"{sorted(self.label_names.values())}; groups: {sorted(self.label_groups)}."
            )
        return self.labels.with_array(np.isin(self.labels.array, values))

    def masks(self) -> dict[str, Image]:
        """Every named label and label group as a boolean mask."""
        names = list(self.label_names.values()) + [g for g in self.label_groups if g not in
                                                    self.label_names.values()]
        return {n: self.mask(n) for n in names}

    def write_nifti(self, folder: str | Path) -> list[Path]:
        """Write labels, CT, density, activity, time points, extras (``.nii.gz``),
        ``labels.json`` (value → name) and ``truth.json`` into ``folder``; return the paths."""
        out = Path(folder)
        written: list[Path] = []
        images: dict[str, Image | None] = {
            "labels": self.labels.with_array(self.labels.array.astype(np.int16)),
            "ct_hu": self.ct_hu,
            "density_g_cm3": self.density_g_cm3,
            "activity": self.activity,
        }
        for tp in self.time_points:
            images[f"{tp.label}_{tp.quantity}"] = tp.image
        for key, img in self.extras.items():
            images[key] = img
        for key, img in images.items():
            if img is not None:
                written.append(write_volume(img, out / f"{key}.nii.gz"))
        written.append(
            atomic_write_text(
                out / "labels.json",
                json.dumps({str(k): v for k, v in sorted(self.label_names.items())}, indent=2),
            )
        )
        written.append(
            atomic_write_text(out / "truth.json", json.dumps(_plain(dict(self.truth)), indent=2))
        )
        return written


def _plain(value: Any) -> Any:
    """JSON-ready copy (numpy scalars and arrays to Python)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
