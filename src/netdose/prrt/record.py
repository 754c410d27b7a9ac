"""The PRRT therapy record: patients, cycles, organ doses and inputs in one SQLite file.

Design (docs/physics.md, PRRT section, "therapy record"):

- One file, opened with :class:`TherapyRecord` (a context manager). Python's ``sqlite3`` in
  autocommit mode; every write is one explicit ``BEGIN IMMEDIATE … COMMIT`` transaction,
  rolled back on any error, so a cycle is recorded completely or not at all.
- ``journal_mode=DELETE`` (rollback journal) with ``synchronous=FULL``: a process killed or
  a machine losing power mid-write leaves a "hot" journal that the next opener rolls back,
  so earlier cycles are intact and the interrupted one is absent. WAL is equally atomic but
  keeps two side files (``-wal``, ``-shm``) that must travel with the database and needs
  shared memory, which SQLite documents as unsupported on network file systems — where a
  clinic's records often live. DELETE keeps one self-contained file when idle (simple to
  back up); writes are rare (one per cycle), so WAL's concurrency buys nothing here.
- Identification: ``PRAGMA application_id`` = :data:`APPLICATION_ID` marks a netdose therapy
  record; ``PRAGMA user_version`` is the schema version. Opening runs the migrations from
  the file's version to :data:`SCHEMA_VERSION`, in one transaction (all or nothing). A file
  from a newer netdose, a non-SQLite file, or another application's SQLite database is
  refused with :class:`~netdose.errors.InputError` and left untouched.
- Schema version 1: ``patients``, ``cycles``, ``organ_doses``. Version 2 adds ``inputs``
  (files used for a cycle, with SHA-256).
- Deterministic output: rows are returned ordered (cycle number, organ, role, path); the
  only wall-clock value, ``cycles.created_at``, is left out of :meth:`TherapyRecord.history`
  unless asked for (``include_audit=True``) and can be given explicitly.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import numbers
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdose.config import data_dir
from netdose.dosimetry.radiobiology import BEDResult
from netdose.errors import InputError, NetdoseError, PhysicsRangeError
from netdose.nuclides import get_nuclide
from netdose.provenance import sha256_of
from netdose.prrt.limits import (
    CycleOrganDose,
    LimitCheck,
    Limits,
    RiskFactors,
    check_cumulative,
)
from netdose.prrt.planning import OrganHistory
from netdose.sirt import _checks
from netdose.units import MBQ_PER_GBQ

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_DB_NAME",
    "MIGRATIONS",
    "PLAUSIBLE_ACTIVITY_MBQ",
    "SCHEMA_VERSION",
    "SEXES",
    "CycleRecord",
    "InputFile",
    "OrganCumulative",
    "OrganDose",
    "Patient",
    "TherapyHistory",
    "TherapyRecord",
    "default_db_path",
]

#: ``PRAGMA application_id`` of a netdose therapy record: ASCII "NDTR" (netdose therapy record).
APPLICATION_ID: int = 0x4E445452
#: File name of the default record inside :func:`netdose.config.data_dir`.
DEFAULT_DB_NAME: str = "prrt_therapy_record.sqlite"
#: DICOM Patient's Sex (0010,0040) values.
SEXES: tuple[str, ...] = ("F", "M", "O")
#: Administered activities accepted per cycle, MBq: a value outside is almost always a unit
#: mix-up (7.4 entered as MBq for 7.4 GBq, or kBq). netdose plausibility range, not a limit.
PLAUSIBLE_ACTIVITY_MBQ: tuple[float, float] = (100.0, 30000.0)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BUSY_TIMEOUT_S = 10.0


def default_db_path() -> Path:
    """The default therapy record: ``data_dir() / "prrt_therapy_record.sqlite"``.

    ``NETDOSE_DATA_DIR`` overrides the folder (see :mod:`netdose.config`). The folder is not
    created here; ``TherapyRecord(path, create=True)`` creates it.
    """
    return data_dir() / DEFAULT_DB_NAME


# =========================================================================== migrations
def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    """Version 1: patients, cycles, organ doses."""
    conn.execute(
        """CREATE TABLE patients (
            id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
            sex TEXT NOT NULL CHECK (sex IN ('F', 'M', 'O')),
            birth_year INTEGER CHECK (birth_year IS NULL OR birth_year BETWEEN 1900 AND 2200),
            hypertension INTEGER NOT NULL CHECK (hypertension IN (0, 1)),
            diabetes INTEGER NOT NULL CHECK (diabetes IN (0, 1)),
            nephrotoxic_chemotherapy INTEGER NOT NULL
                CHECK (nephrotoxic_chemotherapy IN (0, 1)),
            reduced_gfr INTEGER NOT NULL CHECK (reduced_gfr IN (0, 1))
        )"""
    )
    conn.execute(
        """CREATE TABLE cycles (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(id) ON DELETE RESTRICT,
            cycle_number INTEGER NOT NULL CHECK (cycle_number >= 1),
            administered_activity_mbq REAL NOT NULL CHECK (administered_activity_mbq > 0),
            injection_datetime TEXT NOT NULL,
            nuclide TEXT NOT NULL,
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            UNIQUE (patient_id, cycle_number)
        )"""
    )
    conn.execute(
        """CREATE TABLE organ_doses (
            id INTEGER PRIMARY KEY,
            cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
            organ TEXT NOT NULL CHECK (length(organ) > 0),
            mass_g REAL CHECK (mass_g IS NULL OR mass_g > 0),
            tia_mbq_h REAL CHECK (tia_mbq_h IS NULL OR tia_mbq_h >= 0),
            dose_gy REAL NOT NULL CHECK (dose_gy >= 0),
            effective_half_life_h REAL
                CHECK (effective_half_life_h IS NULL OR effective_half_life_h > 0),
            bed_gy REAL CHECK (bed_gy IS NULL OR bed_gy >= 0),
            eqd2_gy REAL CHECK (eqd2_gy IS NULL OR eqd2_gy >= 0),
            alpha_beta_gy REAL CHECK (alpha_beta_gy IS NULL OR alpha_beta_gy > 0),
            repair_half_time_h REAL
                CHECK (repair_half_time_h IS NULL OR repair_half_time_h > 0),
            method TEXT NOT NULL CHECK (length(method) > 0),
            UNIQUE (cycle_id, organ)
        )"""
    )


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 2: the input files of each cycle, with their SHA-256."""
    conn.execute(
        """CREATE TABLE inputs (
            id INTEGER PRIMARY KEY,
            cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (length(role) > 0),
            path TEXT NOT NULL CHECK (length(path) > 0),
            sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
            UNIQUE (cycle_id, role, path)
        )"""
    )


#: Migration n -> n + 1 is ``MIGRATIONS[n]``; the schema version is their number.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_0_to_1,
    _migrate_1_to_2,
)
SCHEMA_VERSION: int = len(MIGRATIONS)


# =========================================================================== value types
def _optional(name: str, value: object, unit: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    if positive:
        return _checks.positive(name, value, unit)
    return _checks.non_negative(name, value, unit)


def _text(name: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise InputError(f"{name} = {value!r} must be a non-empty text.")
    return value.strip() if not allow_empty else value


@dataclasses.dataclass(frozen=True)
class OrganDose:
    """Dose of one organ in one cycle (input of :meth:`TherapyRecord.add_cycle` and row of
    :meth:`TherapyRecord.history`).

    Attributes
    ----------
    organ : str
        Organ name (``"kidney_left"``).
    dose_gy : float
        Mean absorbed dose of the cycle, Gy (>= 0).
    method : str
        How the dose was obtained (``"SPECT/CT 3 time points, DVK, mono-exponential"``).
    mass_g : float or None
        Organ mass, g.
    tia_mbq_h : float or None
        Time-integrated activity, MBq·h.
    effective_half_life_h : float or None
        Effective half-life, hours.
    bed_gy, eqd2_gy : float or None
        BED and EQD2 of the cycle, Gy. With ``bed_gy``, ``alpha_beta_gy``,
        ``repair_half_time_h`` and ``effective_half_life_h`` are required; ``eqd2_gy`` is
        computed from them when not given (and checked when given).
    alpha_beta_gy, repair_half_time_h : float or None
        Radiobiology parameters used for the BED.
    """

    organ: str
    dose_gy: float
    method: str
    mass_g: float | None = None
    tia_mbq_h: float | None = None
    effective_half_life_h: float | None = None
    bed_gy: float | None = None
    eqd2_gy: float | None = None
    alpha_beta_gy: float | None = None
    repair_half_time_h: float | None = None

    def __post_init__(self) -> None:
        organ = _text("organ", self.organ)
        w = f" ({organ})"
        object.__setattr__(self, "organ", organ)
        object.__setattr__(self, "method", _text(f"method{w}", self.method))
        object.__setattr__(self, "dose_gy",
                           _checks.non_negative(f"dose_gy{w}", self.dose_gy, "Gy"))
        for name, unit, pos in (("mass_g", "g", True), ("tia_mbq_h", "MBq·h", False),
                                ("effective_half_life_h", "h", True), ("bed_gy", "Gy", False),
                                ("eqd2_gy", "Gy", False), ("alpha_beta_gy", "Gy", True),
                                ("repair_half_time_h", "h", True)):
            object.__setattr__(self, name, _optional(f"{name}{w}", getattr(self, name), unit,
                                                     positive=pos))
        if self.bed_gy is None:
            if self.eqd2_gy is not None:
                raise InputError(f"eqd2_gy{w} given without bed_gy; give both or neither.")
            return
        missing = [n for n in ("alpha_beta_gy", "repair_half_time_h", "effective_half_life_h")
                   if getattr(self, n) is None]
        if missing:
            raise InputError(
                f"bed_gy{w} given without {', '.join(missing)}; a recorded BED must say which "
                "parameters produced it (use OrganDose.from_bed with a netdose BEDResult)."
            )
        if self.bed_gy < self.dose_gy * (1.0 - 1e-9):
            raise InputError(
                f"bed_gy{w} = {self.bed_gy:g} Gy is below dose_gy = {self.dose_gy:g} Gy; BED "
                "is never below the absorbed dose: check that they are not swapped."
            )
        ab = float(self.alpha_beta_gy or 0.0)
        eqd2 = self.bed_gy / (1.0 + 2.0 / ab)
        if self.eqd2_gy is None:
            object.__setattr__(self, "eqd2_gy", eqd2)
        elif not math.isclose(self.eqd2_gy, eqd2, rel_tol=1e-9, abs_tol=1e-12):
            raise InputError(
                f"eqd2_gy{w} = {self.eqd2_gy:g} Gy does not equal bed_gy / (1 + 2/(α/β)) = "
                f"{eqd2:g} Gy; leave eqd2_gy out to have it computed."
            )

    @classmethod
    def from_bed(
        cls,
        organ: str,
        result: BEDResult,
        *,
        method: str,
        mass_g: float | None = None,
        tia_mbq_h: float | None = None,
    ) -> OrganDose:
        """From a :class:`~netdose.dosimetry.radiobiology.BEDResult` of this organ and cycle."""
        if not isinstance(result, BEDResult):
            raise InputError(f"result = {result!r} is not a BEDResult from netdose bed().")
        return cls(
            organ=organ, dose_gy=result.dose_gy, method=method, mass_g=mass_g,
            tia_mbq_h=tia_mbq_h, effective_half_life_h=result.effective_half_life_h,
            bed_gy=result.bed_gy, eqd2_gy=result.eqd2_gy, alpha_beta_gy=result.alpha_beta_gy,
            repair_half_time_h=result.repair_half_time_h,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class InputFile:
    """A file (or folder) used for a cycle, with its SHA-256.

    Attributes
    ----------
    role : str
        What it is (``"spect_24h"``, ``"ct"``, ``"kidney_mask"``).
    path : str
        Path as given (not resolved: the record is meant to be portable).
    sha256 : str
        Lower-case hex SHA-256 (64 characters).
    """

    role: str
    path: str
    sha256: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", _text("InputFile.role", self.role))
        if isinstance(self.path, os.PathLike):
            object.__setattr__(self, "path", os.fspath(self.path))
        object.__setattr__(self, "path", _text("InputFile.path", self.path))
        digest = self.sha256.lower() if isinstance(self.sha256, str) else self.sha256
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise InputError(
                f"InputFile.sha256 = {self.sha256!r} ({self.role}) is not a SHA-256 hex digest "
                "(64 hex characters); use InputFile.from_path(role, path) to compute it."
            )
        object.__setattr__(self, "sha256", digest)

    @classmethod
    def from_path(cls, role: str, path: str | os.PathLike[str]) -> InputFile:
        """Hash an existing file or folder (:func:`netdose.provenance.sha256_of`)."""
        p = Path(path)
        if not p.exists():
            raise InputError(f"input file {str(p)!r} ({role}) does not exist.")
        return cls(role=role, path=str(p), sha256=sha256_of(p))

    def as_dict(self) -> dict[str, str]:
        """JSON-ready dictionary."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Patient:
    """A patient of the record.

    Attributes
    ----------
    patient_id : str
    sex : str
        ``"F"``, ``"M"`` or ``"O"`` (DICOM Patient's Sex).
    birth_year : int or None
    risk_factors : RiskFactors
    """

    patient_id: str
    sex: str
    birth_year: int | None
    risk_factors: RiskFactors

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"patient_id": self.patient_id, "sex": self.sex, "birth_year": self.birth_year,
                "risk_factors": self.risk_factors.as_dict()}


@dataclasses.dataclass(frozen=True)
class CycleRecord:
    """One recorded cycle.

    Attributes
    ----------
    cycle_number : int
    administered_activity_mbq : float
    injection_datetime : str
        ISO 8601 with UTC offset, as recorded.
    nuclide : str
    notes : str
    organs : tuple of OrganDose
        Sorted by organ name.
    inputs : tuple of InputFile
        Sorted by role, path.
    created_at : str or None
        When the row was written (UTC, ISO 8601); None unless asked for.
    """

    cycle_number: int
    administered_activity_mbq: float
    injection_datetime: str
    nuclide: str
    notes: str
    organs: tuple[OrganDose, ...]
    inputs: tuple[InputFile, ...]
    created_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        out["organs"] = [o.as_dict() for o in self.organs]
        out["inputs"] = [i.as_dict() for i in self.inputs]
        if self.created_at is None:
            del out["created_at"]
        return out


@dataclasses.dataclass(frozen=True)
class OrganCumulative:
    """Cumulative values of one organ over the recorded cycles.

    Attributes
    ----------
    organ : str
    cycles : tuple of int
        Cycles with a dose of this organ.
    cumulative_dose_gy : float
    cumulative_bed_gy : float or None
        Sum of the per-cycle BEDs; None when a cycle has no BED.
    cumulative_eqd2_gy : float or None
        cumulative BED / (1 + 2/(α/β)); None without BED or with different α/β.
    alpha_beta_gy : float or None
        The α/β shared by all cycles (None if they differ or are missing).
    note : str
        Why a cumulative value is missing ('' when complete).
    """

    organ: str
    cycles: tuple[int, ...]
    cumulative_dose_gy: float
    cumulative_bed_gy: float | None
    cumulative_eqd2_gy: float | None
    alpha_beta_gy: float | None
    note: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = dataclasses.asdict(self)
        out["cycles"] = list(self.cycles)
        return out


@dataclasses.dataclass(frozen=True)
class TherapyHistory:
    """A patient's recorded cycles and cumulative organ values.

    Attributes
    ----------
    patient : Patient
    cycles : tuple of CycleRecord
        Ascending cycle number.
    cumulative : tuple of OrganCumulative
        Sorted by organ name.
    """

    patient: Patient
    cycles: tuple[CycleRecord, ...]
    cumulative: tuple[OrganCumulative, ...]

    def organ(self, name: str) -> OrganCumulative:
        """Cumulative values of one organ (InputError if it was never recorded)."""
        for c in self.cumulative:
            if c.organ == name:
                return c
        raise InputError(
            f"organ {name!r} has no recorded dose for patient {self.patient.patient_id!r}; "
            f"recorded: {', '.join(c.organ for c in self.cumulative) or 'none'}."
        )

    def organ_cycle_doses(self) -> tuple[CycleOrganDose, ...]:
        """Per-cycle, per-organ records for :func:`netdose.prrt.limits.check_cumulative`."""
        return tuple(
            CycleOrganDose(c.cycle_number, o.organ, o.dose_gy, o.bed_gy)
            for c in self.cycles for o in c.organs
        )

    def check_limits(self, limits: Limits | None = None) -> LimitCheck:
        """Cumulative limit check with the patient's recorded risk factors."""
        return check_cumulative(self.organ_cycle_doses(), limits or Limits.default(),
                                risk_factors=self.patient.risk_factors)

    def planning_inputs(self) -> tuple[OrganHistory, ...]:
        """One :class:`~netdose.prrt.planning.OrganHistory` per organ (dose per GBq =
        dose / administered activity of each cycle; effective half-lives where recorded)."""
        out = []
        for cum in self.cumulative:
            rows = [(c, o) for c in self.cycles for o in c.organs if o.organ == cum.organ]
            k = tuple(o.dose_gy / (c.administered_activity_mbq / MBQ_PER_GBQ) for c, o in rows)
            t = tuple(o.effective_half_life_h for _, o in rows
                      if o.effective_half_life_h is not None)
            out.append(OrganHistory(
                organ=cum.organ,
                dose_per_activity_gy_per_gbq=k,
                cumulative_dose_gy=cum.cumulative_dose_gy,
                cumulative_bed_gy=cum.cumulative_bed_gy,
                effective_half_life_h=t if len(t) == len(rows) else (),
            ))
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "patient": self.patient.as_dict(),
            "cycles": [c.as_dict() for c in self.cycles],
            "cumulative": [c.as_dict() for c in self.cumulative],
        }


# =========================================================================== helpers
def _aware_iso(name: str, value: object) -> tuple[str, _dt.datetime]:
    if not isinstance(value, _dt.datetime):
        raise InputError(
            f"{name} = {value!r} is not a datetime; give a datetime.datetime with a time zone, "
            "e.g. datetime.fromisoformat('2025-03-02T09:30:00+01:00')."
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} = {value.isoformat()} has no time zone. netdose records clinical times "
            "with their UTC offset so that intervals across daylight-saving changes and "
            "between sites are right; give an aware datetime, e.g. datetime(2025, 3, 2, 9, 30, "
            "tzinfo=zoneinfo.ZoneInfo('Europe/Berlin'))."
        )
    return value.isoformat(), value


def _whole(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} = {value!r} must be a whole number >= {minimum}.")
    return int(value)


def _risk_from_row(row: sqlite3.Row) -> RiskFactors:
    return RiskFactors(
        hypertension=bool(row["hypertension"]),
        diabetes=bool(row["diabetes"]),
        nephrotoxic_chemotherapy=bool(row["nephrotoxic_chemotherapy"]),
        reduced_gfr=bool(row["reduced_gfr"]),
    )


# =========================================================================== the record
class TherapyRecord:
    """The PRRT therapy record in one SQLite file.

    Parameters
    ----------
    path : str or os.PathLike
        The database file.
    create : bool
        Create a new record (and its folder) when ``path`` does not exist or is empty.
        False (default): a missing file is an error, so a mistyped path never silently
        starts an empty record.

    Raises
    ------
    InputError
        Missing file (without ``create``), a file that is not SQLite or not a netdose
        record, a record from a newer netdose, or a failed migration (file unchanged).

    Examples
    --------
    >>> with TherapyRecord(path, create=True) as rec:           # doctest: +SKIP
    ...     rec.add_patient("P1", sex="F", risk_factors=RiskFactors.none())
    ...     rec.add_cycle("P1", 1, administered_activity_mbq=7400.0, ...)
    ...     history = rec.history("P1")
    """

    #: Test hook: called inside the add_cycle transaction just before COMMIT.
    _before_commit: Callable[[], None] | None = None

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._open(create)

    # ---------------------------------------------------------------- open / close
    def _open(self, create: bool) -> None:
        p = self.path
        if p.is_dir():
            raise InputError(f"therapy record path {str(p)!r} is a folder; give a file path.")
        new = not p.exists() or p.stat().st_size == 0
        if new and not create:
            raise InputError(
                f"no therapy record at {str(p)!r}; check the path, or pass create=True to "
                "start a new record there."
            )
        if new:
            p.parent.mkdir(parents=True, exist_ok=True)
        else:
            with open(p, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
            if head != _SQLITE_MAGIC:
                raise InputError(
                    f"{str(p)!r} is not a netdose therapy record (not an SQLite database); "
                    "check the path. netdose did not change the file."
                )
        try:
            conn = sqlite3.connect(str(p), isolation_level=None, timeout=_BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open therapy record {str(p)!r}: {exc}.") from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            if str(mode).lower() != "delete":
                raise InputError(
                    f"cannot set journal_mode=DELETE on {str(p)!r} (got {mode!r}); another "
                    "process may hold the record open."
                )
            conn.execute("PRAGMA synchronous = FULL")
            self._conn = conn
            self._migrate(new)
        except sqlite3.DatabaseError as exc:
            conn.close()
            self._conn = None
            raise InputError(
                f"{str(p)!r} could not be read as a netdose therapy record: {exc}. Check the "
                "path; restore the file from a backup if it is damaged."
            ) from exc
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def _migrate(self, new: bool) -> None:
        conn = self._require()
        conn.execute("BEGIN IMMEDIATE")
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            if app_id != APPLICATION_ID:
                if app_id != 0 or version != 0 or tables or not new:
                    raise InputError(
                        f"{str(self.path)!r} is an SQLite database but not a netdose therapy "
                        f"record (application_id {app_id:#x}, tables: "
                        f"{', '.join(tables) or 'none'}); check the path. netdose did not "
                        "change the file."
                    )
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            if version > SCHEMA_VERSION:
                raise InputError(
                    f"{str(self.path)!r} was written by a newer netdose (schema version "
                    f"{version}; this netdose reads up to {SCHEMA_VERSION}). Upgrade netdose "
                    "to use it; the file was not changed."
                )
            for v in range(version, SCHEMA_VERSION):
                try:
                    MIGRATIONS[v](conn)
                except sqlite3.Error as exc:
                    raise InputError(
                        f"migrating {str(self.path)!r} from schema version {v} to {v + 1} "
                        f"failed: {exc}. The file was left at version {version}, unchanged."
                    ) from exc
                conn.execute(f"PRAGMA user_version = {v + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise InputError(f"therapy record {str(self.path)!r} is closed; open it again.")
        return self._conn

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version`` of the open file."""
        return int(self._require().execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` or SQLite's list of problems."""
        rows = self._require().execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    # ---------------------------------------------------------------- writes
    def _write(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` in one BEGIN IMMEDIATE ... COMMIT transaction (rollback on error)."""
        conn = self._require()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise InputError(
                f"therapy record {str(self.path)!r} is busy ({exc}); another process is "
                "writing to it. Try again when it has finished."
            ) from exc
        try:
            work(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, NetdoseError):
                raise InputError(
                    f"writing to therapy record {str(self.path)!r} failed: {exc}; nothing was "
                    "written."
                ) from exc
            raise

    def add_patient(
        self,
        patient_id: str,
        *,
        sex: str,
        risk_factors: RiskFactors,
        birth_year: int | None = None,
        replace: bool = False,
    ) -> Patient:
        """Add a patient (or, with ``replace=True``, update sex, birth year and risk factors).

        Parameters
        ----------
        patient_id : str
            The clinic's identifier (pseudonymise if the file leaves the clinic).
        sex : {"F", "M", "O"}
        risk_factors : RiskFactors
            Renal risk factors, stated explicitly.
        birth_year : int, optional
        replace : bool
            Update an existing patient instead of refusing.
        """
        pid = _text("patient_id", patient_id)
        if not isinstance(sex, str) or sex.strip().upper() not in SEXES:
            raise InputError(f"sex = {sex!r}; use 'F', 'M' or 'O' (DICOM Patient's Sex).")
        sx = sex.strip().upper()
        if not isinstance(risk_factors, RiskFactors):
            raise InputError(
                f"risk_factors = {risk_factors!r} is not a RiskFactors; state them explicitly, "
                "e.g. RiskFactors.none() or RiskFactors.from_names(['diabetes'])."
            )
        by = None if birth_year is None else _whole("birth_year", birth_year, 1900)
        if by is not None and by > 2200:
            raise InputError(f"birth_year = {by} is not a plausible year.")
        rf = risk_factors.as_dict()

        def work(conn: sqlite3.Connection) -> None:
            exists = conn.execute("SELECT 1 FROM patients WHERE id = ?", (pid,)).fetchone()
            if exists and not replace:
                raise InputError(
                    f"patient {pid!r} is already in the record; pass replace=True to update "
                    "sex, birth year and risk factors."
                )
            values = (sx, by, int(rf["hypertension"]), int(rf["diabetes"]),
                      int(rf["nephrotoxic_chemotherapy"]), int(rf["reduced_gfr"]))
            if exists:
                conn.execute(
                    "UPDATE patients SET sex = ?, birth_year = ?, hypertension = ?, "
                    "diabetes = ?, nephrotoxic_chemotherapy = ?, reduced_gfr = ? WHERE id = ?",
                    (*values, pid),
                )
            else:
                conn.execute(
                    "INSERT INTO patients (sex, birth_year, hypertension, diabetes, "
                    "nephrotoxic_chemotherapy, reduced_gfr, id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*values, pid),
                )

        self._write(work)
        return Patient(pid, sx, by, risk_factors)

    def add_cycle(
        self,
        patient_id: str,
        cycle_number: int,
        *,
        administered_activity_mbq: float,
        injection_datetime: _dt.datetime,
        nuclide: str,
        organ_doses: Sequence[OrganDose],
        inputs: Sequence[InputFile] = (),
        notes: str = "",
        replace: bool = False,
        created_at: _dt.datetime | None = None,
    ) -> CycleRecord:
        """Record one cycle and its organ doses in ONE transaction (all or nothing).

        Parameters
        ----------
        patient_id : str
            A patient added with :meth:`add_patient`.
        cycle_number : int
            1, 2, ... (unique per patient).
        administered_activity_mbq : float
            Activity administered, MBq (100-30 000 MBq accepted: outside is a unit mix-up).
        injection_datetime : datetime.datetime
            Timezone-aware; stored as ISO 8601 with its UTC offset. Must be later than the
            injections of lower-numbered cycles and earlier than higher-numbered ones.
        nuclide : str
            ``"Lu-177"`` (any ICRP-107 nuclide name).
        organ_doses : sequence of OrganDose
            At least one; one per organ.
        inputs : sequence of InputFile
            Files used (images, masks), with SHA-256.
        notes : str
            Free text.
        replace : bool
            Replace an existing cycle with this number (its organ doses and inputs too);
            otherwise a duplicate is refused.
        created_at : datetime.datetime, optional
            Audit time stamp (aware); default: now (UTC).

        Raises
        ------
        InputError
            Unknown patient, duplicate cycle (without ``replace``), bad values, naive
            datetimes, injection dates out of cycle order, duplicate organs.
        PhysicsRangeError
            Activity outside the plausible range.
        """
        pid = _text("patient_id", patient_id)
        number = _whole("cycle_number", cycle_number, 1)
        activity = _checks.positive("administered_activity_mbq", administered_activity_mbq,
                                    "MBq")
        lo, hi = PLAUSIBLE_ACTIVITY_MBQ
        if not lo <= activity <= hi:
            hint = " It looks like GBq: multiply by 1000." if activity < lo else ""
            raise PhysicsRangeError(
                f"administered_activity_mbq = {activity:g} MBq (cycle {number}) is outside the "
                f"plausible range {lo:g}-{hi:g} MBq for a therapy cycle.{hint}"
            )
        inj_iso, inj = _aware_iso("injection_datetime", injection_datetime)
        nuc = get_nuclide(_text("nuclide", nuclide)).name
        note = _text("notes", notes, allow_empty=True)
        if created_at is None:
            created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        else:
            created = _aware_iso("created_at", created_at)[1]
        created_iso = created.astimezone(_dt.timezone.utc).isoformat()
        if isinstance(organ_doses, (str, bytes)) or not isinstance(organ_doses, Sequence):
            raise InputError("organ_doses must be a list of OrganDose.")
        if not organ_doses:
            raise InputError(
                f"cycle {number}: organ_doses is empty; record at least one organ dose "
                "(the kidneys)."
            )
        for i, od in enumerate(organ_doses):
            if not isinstance(od, OrganDose):
                raise InputError(f"organ_doses[{i}] = {od!r} is not an OrganDose.")
        organs = sorted(organ_doses, key=lambda o: o.organ)
        names = [o.organ for o in organs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(f"cycle {number}: organ(s) {dupes} given twice; one dose each.")
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
            raise InputError("inputs must be a list of InputFile.")
        for i, f in enumerate(inputs):
            if not isinstance(f, InputFile):
                raise InputError(f"inputs[{i}] = {f!r} is not an InputFile.")
        files = sorted(inputs, key=lambda f: (f.role, f.path))
        keys = [(f.role, f.path) for f in files]
        if len(set(keys)) != len(keys):
            raise InputError(f"cycle {number}: the same input (role, path) is listed twice.")

        def work(conn: sqlite3.Connection) -> None:
            if not conn.execute("SELECT 1 FROM patients WHERE id = ?", (pid,)).fetchone():
                raise InputError(
                    f"patient {pid!r} is not in the record {str(self.path)!r}; add them with "
                    "add_patient(...) first (sex and renal risk factors are needed)."
                )
            rows = conn.execute(
                "SELECT id, cycle_number, injection_datetime FROM cycles WHERE patient_id = ? "
                "ORDER BY cycle_number", (pid,)).fetchall()
            existing = [r for r in rows if r["cycle_number"] == number]
            if existing and not replace:
                raise InputError(
                    f"patient {pid!r} already has cycle {number} in the record; pass "
                    "replace=True to replace it (its organ doses and inputs too), or use the "
                    "next cycle number."
                )
            for r in rows:
                other = _dt.datetime.fromisoformat(r["injection_datetime"])
                n = r["cycle_number"]
                if (n < number and other >= inj) or (n > number and other <= inj):
                    order = "after" if n < number else "before"
                    raise InputError(
                        f"cycle {number} injection {inj_iso} is not {order} cycle {n}'s "
                        f"injection {r['injection_datetime']}; check the date and the cycle "
                        "number."
                    )
            if existing:
                conn.execute("DELETE FROM cycles WHERE id = ?", (existing[0]["id"],))
            cur = conn.execute(
                "INSERT INTO cycles (patient_id, cycle_number, administered_activity_mbq, "
                "injection_datetime, nuclide, notes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pid, number, activity, inj_iso, nuc, note, created_iso),
            )
            cycle_id = cur.lastrowid
            conn.executemany(
                "INSERT INTO organ_doses (cycle_id, organ, mass_g, tia_mbq_h, dose_gy, "
                "effective_half_life_h, bed_gy, eqd2_gy, alpha_beta_gy, repair_half_time_h, "
                "method) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(cycle_id, o.organ, o.mass_g, o.tia_mbq_h, o.dose_gy, o.effective_half_life_h,
                  o.bed_gy, o.eqd2_gy, o.alpha_beta_gy, o.repair_half_time_h, o.method)
                 for o in organs],
            )
            conn.executemany(
                "INSERT INTO inputs (cycle_id, role, path, sha256) VALUES (?, ?, ?, ?)",
                [(cycle_id, f.role, f.path, f.sha256) for f in files],
            )
            if self._before_commit is not None:
                self._before_commit()

        self._write(work)
        return CycleRecord(number, activity, inj_iso, nuc, note, tuple(organs), tuple(files))

    # ---------------------------------------------------------------- reads
    def patients(self) -> tuple[str, ...]:
        """Patient identifiers, sorted."""
        return tuple(r[0] for r in self._require().execute(
            "SELECT id FROM patients ORDER BY id"))

    def patient(self, patient_id: str) -> Patient:
        """One patient (InputError if unknown)."""
        row = self._require().execute(
            "SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
        if row is None:
            known = self.patients()
            raise InputError(
                f"patient {patient_id!r} is not in the record {str(self.path)!r} "
                f"({len(known)} patient(s) recorded); check the identifier."
            )
        return Patient(row["id"], row["sex"], row["birth_year"], _risk_from_row(row))

    def history(self, patient_id: str, *, include_audit: bool = False) -> TherapyHistory:
        """All cycles of a patient and the cumulative dose and BED of each organ.

        Cumulative BED = Σ per-cycle BED (cycles weeks apart); None for an organ with a
        cycle without BED. Cumulative EQD2 needs the same α/β in every cycle.

        Parameters
        ----------
        patient_id : str
        include_audit : bool
            Include ``created_at`` (wall-clock time of writing) in each cycle.
        """
        patient = self.patient(patient_id)
        conn = self._require()
        cycles: list[CycleRecord] = []
        for c in conn.execute(
                "SELECT * FROM cycles WHERE patient_id = ? ORDER BY cycle_number",
                (patient.patient_id,)).fetchall():
            organs = tuple(
                OrganDose(
                    organ=o["organ"], dose_gy=o["dose_gy"], method=o["method"],
                    mass_g=o["mass_g"], tia_mbq_h=o["tia_mbq_h"],
                    effective_half_life_h=o["effective_half_life_h"], bed_gy=o["bed_gy"],
                    eqd2_gy=o["eqd2_gy"], alpha_beta_gy=o["alpha_beta_gy"],
                    repair_half_time_h=o["repair_half_time_h"],
                )
                for o in conn.execute(
                    "SELECT * FROM organ_doses WHERE cycle_id = ? ORDER BY organ", (c["id"],))
            )
            files = tuple(
                InputFile(f["role"], f["path"], f["sha256"])
                for f in conn.execute(
                    "SELECT * FROM inputs WHERE cycle_id = ? ORDER BY role, path", (c["id"],))
            )
            cycles.append(CycleRecord(
                cycle_number=c["cycle_number"],
                administered_activity_mbq=c["administered_activity_mbq"],
                injection_datetime=c["injection_datetime"],
                nuclide=c["nuclide"],
                notes=c["notes"],
                organs=organs,
                inputs=files,
                created_at=c["created_at"] if include_audit else None,
            ))
        return TherapyHistory(patient, tuple(cycles), _cumulate(cycles))


def _cumulate(cycles: Iterable[CycleRecord]) -> tuple[OrganCumulative, ...]:
    per: dict[str, list[tuple[int, OrganDose]]] = {}
    for c in cycles:
        for o in c.organs:
            per.setdefault(o.organ, []).append((c.cycle_number, o))
    out = []
    for organ in sorted(per):
        rows = per[organ]
        dose = math.fsum(o.dose_gy for _, o in rows)
        no_bed = [n for n, o in rows if o.bed_gy is None]
        alphas = {o.alpha_beta_gy for _, o in rows if o.alpha_beta_gy is not None}
        bed = None if no_bed else math.fsum(o.bed_gy or 0.0 for _, o in rows)
        note = ""
        ab = next(iter(alphas)) if len(alphas) == 1 and not no_bed else None
        if no_bed:
            note = f"no BED recorded for cycle(s) {no_bed}: cumulative BED not available"
        elif len(alphas) > 1:
            note = (f"cycles used different α/β ({sorted(alphas)} Gy): cumulative EQD2 not "
                    "defined")
        eqd2 = None if bed is None or ab is None else bed / (1.0 + 2.0 / ab)
        out.append(OrganCumulative(organ, tuple(n for n, _ in rows), dose, bed, eqd2, ab, note))
    return tuple(out)
