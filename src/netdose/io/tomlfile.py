"""Reading netdose's TOML input files (SIRT plan, PRRT cycle) with messages that name the key.

A :class:`Table` wraps one TOML table and remembers which keys were read; :meth:`Table.finish`
refuses keys nobody read (a misspelt ``tumor_dose_gy`` must not silently fall back to a
default in a clinical input). Every error names the file, the dotted key and the fix.
Relative paths are taken relative to the folder of the TOML file.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdose.errors import InputError

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Table", "load_toml"]


def load_toml(path: str | Path, *, kind: str) -> Table:
    """Parse a TOML file into a root :class:`Table`.

    Parameters
    ----------
    path : path-like
        The file.
    kind : str
        What the file is ("SIRT plan", "PRRT cycle"), for messages.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such {kind} file. Check the path.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: the {kind} file is not UTF-8 text ({exc.reason}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"{p}: not a valid TOML {kind} file: {exc}. See docs/examples for the format."
        ) from None
    return Table(data, file=p, prefix="")


class Table:
    """One TOML table with typed, validated access.

    Parameters
    ----------
    data : dict
        The parsed table.
    file : Path
        The TOML file (for messages and relative paths).
    prefix : str
        Dotted name of this table ("" for the root).
    """

    def __init__(self, data: dict[str, Any], *, file: Path, prefix: str) -> None:
        self.data = data
        self.file = file
        self.prefix = prefix
        self._used: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def where(self, key: str | None = None) -> str:
        """``file: [table] key`` for messages."""
        dotted = ".".join(k for k in (self.prefix, key) if k)
        return f"{self.file}: {dotted or '(top level)'}"

    def error(self, key: str | None, message: str) -> InputError:
        """An InputError located at ``key``."""
        return InputError(f"{self.where(key)}: {message}")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _raw(self, key: str, required: bool) -> Any:
        self._used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "is required and missing. See docs/examples for the format.")
            return None
        return self.data[key]

    # ------------------------------------------------------------------ accessors
    def table(self, key: str, *, required: bool = False) -> Table | None:
        """The sub-table ``key`` (None when absent and not required)."""
        raw = self._raw(key, required)
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise self.error(key, f"must be a table ([{key}]); got {type(raw).__name__}.")
        return Table(raw, file=self.file, prefix=".".join(k for k in (self.prefix, key) if k))

    def tables(self, key: str) -> list[Table]:
        """An array of tables ``[[key]]`` (empty when absent); a single table is accepted."""
        raw = self._raw(key, False)
        if raw is None:
            return []
        items = [raw] if isinstance(raw, dict) else raw
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self.error(key, "must be a table or an array of tables ([[...]]).")
        base = ".".join(k for k in (self.prefix, key) if k)
        return [Table(i, file=self.file, prefix=f"{base}[{n}]") for n, i in enumerate(items)]

    def string(
        self, key: str, *, required: bool = False, default: str | None = None,
        choices: Sequence[str] | None = None,
    ) -> str | None:
        """A string, optionally one of ``choices`` (case-insensitive, returned as listed)."""
        raw = self._raw(key, required)
        if raw is None:
            return default
        if not isinstance(raw, str) or not raw.strip():
            raise self.error(key, f"must be a non-empty string; got {raw!r}.")
        if choices is not None:
            lowered = {c.lower(): c for c in choices}
            if raw.strip().lower() not in lowered:
                raise self.error(key, f"{raw!r} is not one of {', '.join(map(repr, choices))}.")
            return lowered[raw.strip().lower()]
        return raw.strip()

    def strings(self, key: str, *, required: bool = False) -> list[str] | None:
        """A string or a list of strings, as a list."""
        raw = self._raw(key, required)
        if raw is None:
            return None
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(s, str) and s.strip() for s in items):
            raise self.error(key, f"must be a string or a list of strings; got {raw!r}.")
        return [s.strip() for s in items]

    def number(
        self, key: str, *, unit: str, required: bool = False, default: float | None = None,
        minimum: float | None = None, maximum: float | None = None, strict_minimum: bool = False,
    ) -> float | None:
        """A finite number in ``unit`` within the bounds."""
        raw = self._raw(key, required)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise self.error(key, f"must be a finite number in {unit}; got {raw!r}.")
        value = float(raw)
        if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
            rel = ">" if strict_minimum else ">="
            raise self.error(key, f"must be {rel} {minimum:g} {unit}; got {value:g}.")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be <= {maximum:g} {unit}; got {value:g}.")
        return value

    def numbers(self, key: str, *, unit: str, minimum: float | None = None) -> list[float] | None:
        """A list of finite numbers (``[]`` allowed)."""
        raw = self._raw(key, False)
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise self.error(key, f"must be a list of numbers in {unit} ([] for none); got {raw!r}.")
        out = []
        for i, v in enumerate(raw):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise self.error(f"{key}[{i}]", f"must be a finite number in {unit}; got {v!r}.")
            if minimum is not None and v < minimum:
                raise self.error(f"{key}[{i}]", f"must be >= {minimum:g} {unit}; got {v!r}.")
            out.append(float(v))
        return out

    def boolean(self, key: str, *, default: bool) -> bool:
        """true/false."""
        raw = self._raw(key, False)
        if raw is None:
            return default
        if not isinstance(raw, bool):
            raise self.error(key, f"must be true or false; got {raw!r}.")
        return raw

    def path(self, key: str, *, required: bool = False, must_exist: bool = True) -> Path | None:
        """A file or folder path; relative paths are relative to the TOML file's folder."""
        raw = self.string(key, required=required)
        if raw is None:
            return None
        p = Path(raw).expanduser()
        if not p.is_absolute():
            p = self.file.parent / p
        if must_exist and not p.exists():
            raise self.error(
                key, f"{p} does not exist. Paths are relative to the folder of {self.file.name}."
            )
        return p

    def datetime(self, key: str, *, required: bool = False) -> _dt.datetime | None:
        """A timezone-aware date-time (TOML offset date-time or an ISO 8601 string with offset)."""
        raw = self._raw(key, required)
        if raw is None:
            return None
        value = raw
        if isinstance(raw, str):
            try:
                value = _dt.datetime.fromisoformat(raw.strip())
            except ValueError:
                raise self.error(
                    key, f"{raw!r} is not an ISO 8601 date-time (e.g. 2026-03-02T10:15:00+01:00)."
                ) from None
        if not isinstance(value, _dt.datetime):
            raise self.error(key, f"must be a date-time with time zone; got {raw!r}.")
        if value.tzinfo is None or value.utcoffset() is None:
            raise self.error(
                key, f"{value.isoformat()} has no time zone; write the offset, e.g. "
                f"{value.isoformat()}+01:00, so decay is computed over the right interval."
            )
        return value

    def any(self, key: str, *, required: bool = False) -> Any:
        """The raw value (the caller validates it)."""
        return self._raw(key, required)

    def finish(self) -> None:
        """Refuse keys that were never read (probably misspelt)."""
        unknown = [k for k in self.data if k not in self._used]
        if not unknown:
            return
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(self._used), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(self._used)) or "none"
        raise self.error(key, f"unknown key.{hint} Known keys here: {known}.")
