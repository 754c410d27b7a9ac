"""Atomic output: write to a temporary file beside the target, then rename.

A failed run never leaves a partial or truncated output file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from netdose.errors import InputError

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "prepare_output"]


def prepare_output(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can be written: its folder exists (or is created) and it is not a
    folder itself. Returns the path as :class:`~pathlib.Path`."""
    out = Path(path)
    if out.is_dir():
        raise InputError(f"output {out} is a folder; give a file name (e.g. {out / 'dose.nii.gz'}).")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out.parent}: {exc.strerror}.") from exc
    return out


def _suffixes(path: Path) -> str:
    name = path.name
    for double in (".nii.gz", ".seg.nrrd", ".tar.gz"):
        if name.lower().endswith(double):
            return name[-len(double):]
    return path.suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target folder; on success rename it to ``path``.

    The temporary name keeps the file's extension (``.nii.gz``, ``.dcm``...) so that writers
    that choose the format from the extension (SimpleITK) work. On any exception the
    temporary file is removed and ``path`` is left untouched.
    """
    out = prepare_output(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{out.name}.", suffix=".part" + _suffixes(out), dir=out.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file 0600; give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))
