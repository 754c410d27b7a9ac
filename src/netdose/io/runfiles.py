"""Pieces shared by the run-file commands (SIRT plan, PRRT cycle): segmentation files named in
a TOML file, JSON-ready conversion of results, and the DVH CSV."""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from netdose.dosimetry.dvh import DVH
from netdose.errors import InputError
from netdose.image import Image
from netdose.io.atomic import atomic_write_text
from netdose.io.masks import MaskSet, NamedMask, combine, load_masks
from netdose.io.tomlfile import Table

__all__ = ["MaskFile", "dump_json", "dvh_csv", "jsonable", "load_mask_files", "mask_files",
           "union", "write_result_json"]


@dataclasses.dataclass(frozen=True)
class MaskFile:
    """One segmentation file: ``path`` and how label values are named (a JSON file of
    ``{value: name}``, ``"totalsegmentator"``, or None for self-describing formats)."""

    path: Path
    labels: Path | str | None


def mask_files(root: Table, *, extra_keys: tuple[str, ...] = ()) -> list[tuple[MaskFile, dict[str, Any]]]:
    """The ``[[masks]]`` tables of a run file (at least one), with any ``extra_keys`` read
    raw for the caller (e.g. ``timepoint``)."""
    files = []
    for t in root.tables("masks"):
        path = t.path("file", required=True)
        assert path is not None
        labels_raw = t.string("labels")
        labels: Path | str | None = None
        if labels_raw is not None:
            if labels_raw.lower() == "totalsegmentator":
                labels = "totalsegmentator"
            else:
                labels = t.path("labels", required=True)
        extra = {k: t.any(k) for k in extra_keys}
        t.finish()
        files.append((MaskFile(path, labels), extra))
    if not files:
        raise root.error("masks", "at least one [[masks]] table with a segmentation file is "
                         "required.")
    return files


def load_mask_files(files: list[MaskFile], target: Image) -> MaskSet:
    """Load every file onto ``target``'s grid; names must be unique across the files."""
    sets: list[NamedMask] = []
    for mf in files:
        names: Any = mf.labels
        if isinstance(mf.labels, Path):
            try:
                raw = json.loads(mf.labels.read_text(encoding="utf-8"))
                names = {int(k): str(v) for k, v in raw.items()}
            except (OSError, ValueError, AttributeError) as exc:
                raise InputError(
                    f"{mf.labels}: not a readable JSON object of label value -> name ({exc})."
                ) from None
        ms = load_masks(mf.path, target, names=names)
        for m in ms.values():
            if any(m.name == s.name for s in sets):
                raise InputError(
                    f"{mf.path}: mask {m.name!r} is also in another segmentation file; names "
                    "must be unique across [[masks]] files."
                )
            sets.append(m)
    return MaskSet(sets, source=", ".join(str(mf.path) for mf in files))


def union(masks: MaskSet, names: list[str] | tuple[str, ...], new_name: str,
          where: str) -> NamedMask:
    """One named mask, or the union of several (``where`` prefixes error messages)."""
    try:
        if len(names) == 1:
            return masks[names[0]]
        return combine(masks, names, new_name)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def jsonable(value: Any) -> Any:
    """Plain JSON types from results: dataclasses (Images dropped), mappings, sequences,
    datetimes, paths, NumPy scalars; non-finite floats become null/"inf"."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), (Image, np.ndarray))}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def dump_json(data: Mapping[str, Any]) -> str:
    """Indented JSON text (strict: no NaN)."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def dvh_csv(dvhs: Mapping[str, DVH]) -> str:
    """All DVHs as one CSV: compartment, dose_gy, volume_pct, volume_ml."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("compartment", "dose_gy", "volume_pct", "volume_ml"))
    for name, h in dvhs.items():
        for row in h.to_csv_rows()[1:]:
            writer.writerow((name, *row))
    return buf.getvalue()


def write_result_json(path: Path, summary: Mapping[str, Any], files: Mapping[str, Path],
                      provenance: Mapping[str, Any] | None) -> Path:
    """Write a run's JSON result atomically: ``summary`` plus ``outputs`` (the names of the
    files written beside it) and the provenance block."""
    body = dict(summary)
    body["outputs"] = {k: v.name for k, v in files.items()}  # beside the report
    if provenance is not None:
        body["provenance"] = dict(provenance)
    return atomic_write_text(path, dump_json(body))
