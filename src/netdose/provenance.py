"""Provenance: what every run records next to its results.

netdose version and dependency versions, the command and options, every input with its
SHA-256, the constants used, the warnings raised, and timings. Reports and the CLI embed
:meth:`Provenance.to_dict` in their JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import platform
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["Provenance", "sha256_of", "software_versions"]


def sha256_of(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file, or of a folder (over its files' relative paths and contents,
    in sorted order, so the digest does not depend on directory listing order)."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(f.relative_to(p).as_posix().encode())
            h.update(b"\0")
            h.update(bytes.fromhex(sha256_of(f)))
        return h.hexdigest()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def software_versions() -> dict[str, str]:
    """Versions of netdose, Python and the numerical dependencies."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("netdose", "numpy", "numba", "scipy", "pydicom", "SimpleITK", "icrp107-database"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


@dataclasses.dataclass
class Provenance:
    """Collects the provenance block of one run.

    Use :meth:`capture_warnings` around the work so that every warning is recorded, and
    :meth:`timer` around steps worth timing.
    """

    command: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    inputs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    constants: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    timings_s: dict[str, float] = dataclasses.field(default_factory=dict)
    outputs: list[str] = dataclasses.field(default_factory=list)

    def add_input(self, path: str | os.PathLike[str], role: str) -> None:
        """Record an input file or folder with its SHA-256."""
        p = Path(path)
        self.inputs.append({"role": role, "path": str(p), "sha256": sha256_of(p)})

    def add_constants(self, constants: Mapping[str, Any]) -> None:
        """Record constants (values with units in their names, and their sources)."""
        self.constants.update(constants)

    @contextlib.contextmanager
    def timer(self, step: str) -> Iterator[None]:
        """Time a step (wall clock, seconds)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings_s[step] = round(self.timings_s.get(step, 0.0) + time.perf_counter() - t0, 4)

    @contextlib.contextmanager
    def capture_warnings(self) -> Iterator[None]:
        """Record every warning raised inside the block in :attr:`warnings` (not re-shown:
        the caller reports them, e.g. the CLI prints them and reports embed them)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                for w in caught:
                    text = str(w.message)
                    if text not in self.warnings:
                        self.warnings.append(text)

    def to_dict(self) -> dict[str, Any]:
        """The provenance block as JSON-ready data."""
        return {
            "software": software_versions(),
            "command": self.command,
            "options": self.options,
            "inputs": self.inputs,
            "constants": self.constants,
            "warnings": self.warnings,
            "timings_s": self.timings_s,
            "outputs": self.outputs,
        }
