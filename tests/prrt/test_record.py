"""The PRRT therapy record (SQLite): cumulative values, crash safety, migrations, bad inputs.

Crash test: a child process records cycles 1-3, then writes cycle 4 inside its transaction
with a tiny page cache (so uncommitted pages spill into the database file itself), tells the
parent, and sleeps; the parent kills it with SIGKILL. Reopening must roll the hot journal
back: integrity_check ok, cycles 1-3 present, cycle 4 absent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import select
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from netdose.dosimetry.radiobiology import bed
from netdose.errors import InputError, PhysicsRangeError
from netdose.prrt import record as record_module
from netdose.prrt.limits import Limits, RiskFactors
from netdose.prrt.planning import plan_next_cycle
from netdose.prrt.record import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    InputFile,
    OrganDose,
    TherapyRecord,
    default_db_path,
)

CET = dt.timezone(dt.timedelta(hours=1))
CREATED = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
SHA = "ab" * 32


def injection(n: int) -> dt.datetime:
    return dt.datetime(2025, 2 * n - 1, 3, 9, 30, tzinfo=CET)


def kidney(dose_gy: float, t_eff: float = 50.0, organ: str = "kidneys") -> OrganDose:
    return OrganDose.from_bed(organ, bed(dose_gy, t_eff, "kidney"), method="SPECT/CT test",
                              mass_g=300.0, tia_mbq_h=1.0e5)


def add(rec: TherapyRecord, n: int, dose: float = 5.92, **kw: object) -> None:
    args: dict = {"administered_activity_mbq": 7400.0, "injection_datetime": injection(n),
                      "nuclide": "Lu-177", "organ_doses": [kidney(dose)], "created_at": CREATED}
    args.update(kw)
    rec.add_cycle("P1", n, **args)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "record.sqlite"
    with TherapyRecord(path, create=True) as rec:
        rec.add_patient("P1", sex="F", birth_year=1960, risk_factors=RiskFactors.none())
    return path


# =========================================================================== basics
def test_four_cycles_cumulative_bed_is_sum(db: Path) -> None:
    doses = [5.92, 5.5, 6.1, 4.8]
    with TherapyRecord(db) as rec:
        for n, d in enumerate(doses, start=1):
            add(rec, n, d, inputs=[InputFile("spect_24h", f"c{n}/spect.dcm", SHA)],
                notes=f"cycle {n}")
        h = rec.history("P1")
    per_cycle = [bed(d, 50.0, "kidney").bed_gy for d in doses]
    cum = h.organ("kidneys")
    assert cum.cycles == (1, 2, 3, 4)
    assert cum.cumulative_bed_gy == math.fsum(per_cycle)
    assert cum.cumulative_bed_gy == math.fsum(c.organs[0].bed_gy or 0.0 for c in h.cycles)
    assert cum.cumulative_dose_gy == pytest.approx(sum(doses), rel=1e-15)
    assert cum.cumulative_eqd2_gy == pytest.approx(math.fsum(per_cycle) / (1 + 2 / 2.6))
    assert cum.alpha_beta_gy == 2.6 and cum.note == ""
    c1 = h.cycles[0]
    assert c1.injection_datetime == "2025-01-03T09:30:00+01:00"
    assert (c1.nuclide, c1.notes, c1.administered_activity_mbq) == ("Lu-177", "cycle 1", 7400.0)
    assert c1.organs[0].mass_g == 300.0 and c1.organs[0].repair_half_time_h == 2.8
    assert c1.inputs == (InputFile("spect_24h", "c1/spect.dcm", SHA),)
    assert c1.created_at is None
    assert h.patient.birth_year == 1960 and not h.patient.risk_factors.any
    assert h.check_limits().ok
    json.dumps(h.as_dict())


def test_history_is_deterministic_and_audit_optional(db: Path) -> None:
    with TherapyRecord(db) as rec:
        add(rec, 1)
        a = json.dumps(rec.history("P1").as_dict(), sort_keys=True)
        b = json.dumps(rec.history("P1").as_dict(), sort_keys=True)
        audit = rec.history("P1", include_audit=True)
    assert a == b and "created_at" not in a
    assert audit.cycles[0].created_at == "2025-01-01T00:00:00+00:00"


def test_history_feeds_planning(db: Path) -> None:
    with TherapyRecord(db) as rec:
        add(rec, 1)
        add(rec, 2)
        h = rec.history("P1")
    (organ,) = h.planning_inputs()
    assert organ.dose_per_activity_gy_per_gbq == pytest.approx((0.8, 0.8), rel=1e-15)
    plan = plan_next_cycle(h.planning_inputs(), cycles_done=2, limits=Limits.default(),
                           risk_factors=h.patient.risk_factors)
    assert plan.activity_gbq == pytest.approx(6.975, rel=1e-12)  # see test_limits_planning


def test_organ_without_bed(db: Path) -> None:
    with TherapyRecord(db) as rec:
        add(rec, 1, organ_doses=[kidney(5.0), OrganDose("red_marrow", 0.3, "blood")])
        add(rec, 2, organ_doses=[OrganDose("kidneys", 5.0, "planar")])
        h = rec.history("P1")
    k = h.organ("kidneys")
    assert k.cumulative_dose_gy == 10.0 and k.cumulative_bed_gy is None
    assert "no BED recorded for cycle(s) [2]" in k.note
    assert h.organ("red_marrow").cumulative_eqd2_gy is None
    with pytest.raises(InputError, match="no BED for cycle"):
        h.check_limits()
    with pytest.raises(InputError, match="'liver' has no recorded dose"):
        h.organ("liver")


def test_duplicate_cycle_refused_and_replace(db: Path) -> None:
    with TherapyRecord(db) as rec:
        add(rec, 1)
        with pytest.raises(InputError, match="already has cycle 1 in the record; pass replace"):
            add(rec, 1, dose=9.0)
        add(rec, 1, dose=4.0, replace=True,
            organ_doses=[kidney(4.0, organ="kidney_left"), kidney(4.2, organ="kidney_right")])
        h = rec.history("P1")
        n_rows = rec._require().execute("SELECT count(*) FROM organ_doses").fetchone()[0]
    assert [o.organ for o in h.cycles[0].organs] == ["kidney_left", "kidney_right"]
    assert n_rows == 2  # the replaced cycle's rows are gone (ON DELETE CASCADE)


def test_error_inside_transaction_writes_nothing(db: Path) -> None:
    with TherapyRecord(db) as rec:
        add(rec, 1)

        def fail() -> None:
            raise RuntimeError("simulated failure before COMMIT")

        rec._before_commit = fail
        with pytest.raises(RuntimeError, match="simulated"):
            add(rec, 2, inputs=[InputFile("ct", "ct.nii.gz", SHA)])
        rec._before_commit = None
        h = rec.history("P1")
        assert [c.cycle_number for c in h.cycles] == [1]
        assert rec._require().execute("SELECT count(*) FROM inputs").fetchone()[0] == 0
        add(rec, 2)  # the record is still usable


def test_pragmas_and_identity(db: Path) -> None:
    with TherapyRecord(db) as rec:
        conn = rec._require()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert rec.schema_version == SCHEMA_VERSION == 2
        assert rec.integrity_check() == "ok"
        assert rec.patients() == ("P1",)
    with pytest.raises(InputError, match="is closed"):
        rec.history("P1")


def test_default_db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NETDOSE_DATA_DIR", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "prrt_therapy_record.sqlite"
    with TherapyRecord(default_db_path(), create=True) as rec:
        assert rec.schema_version == SCHEMA_VERSION
    assert default_db_path().is_file()


def test_input_file_from_path(tmp_path: Path) -> None:
    f = tmp_path / "spect.dcm"
    f.write_bytes(b"netdose")
    item = InputFile.from_path("spect_24h", f)
    assert item.sha256 == hashlib.sha256(b"netdose").hexdigest()
    with pytest.raises(InputError, match="does not exist"):
        InputFile.from_path("ct", tmp_path / "missing.dcm")


# =========================================================================== crash safety
CHILD = r"""
import datetime as dt, sys, time
from netdose.prrt.limits import RiskFactors
from netdose.prrt.record import OrganDose, TherapyRecord

def cycle(rec, n, notes=""):
    rec.add_cycle(
        "P1", n, administered_activity_mbq=7400.0,
        injection_datetime=dt.datetime(2025, 2 * n - 1, 3, 9, 30, tzinfo=dt.timezone.utc),
        nuclide="Lu-177", notes=notes, organ_doses=[OrganDose("kidneys", 4.0 + n, "test")],
        created_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))

rec = TherapyRecord(sys.argv[1], create=True)
rec.add_patient("P1", sex="F", risk_factors=RiskFactors.none())
for n in (1, 2, 3):
    cycle(rec, n)
print("committed", flush=True)
sys.stdin.readline()
# A tiny page cache makes SQLite spill uncommitted pages into the database file before
# COMMIT, so the reopen below really depends on rolling the journal back.
rec._conn.execute("PRAGMA cache_size = 10")

def hang():
    print("in-transaction", flush=True)
    time.sleep(600)

rec._before_commit = hang
cycle(rec, 4, notes="x" * 2_000_000)
"""


def _readline(proc: subprocess.Popen, timeout_s: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "child process did not report in time"
    return proc.stdout.readline().strip()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_during_write_keeps_earlier_cycles(tmp_path: Path) -> None:
    path = tmp_path / "record.sqlite"
    journal = tmp_path / "record.sqlite-journal"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert _readline(proc, 120.0) == "committed"
        before = _sha(path)
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert _readline(proc, 120.0) == "in-transaction"
        assert journal.exists()
        spilled = _sha(path) != before
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert spilled, "uncommitted pages did not reach the file; the test would prove nothing"
    assert journal.exists()  # hot journal left behind by the killed writer
    with TherapyRecord(path) as rec:
        assert rec.integrity_check() == "ok"
        h = rec.history("P1")
        assert [c.cycle_number for c in h.cycles] == [1, 2, 3]
        assert h.organ("kidneys").cumulative_dose_gy == 5.0 + 6.0 + 7.0
        add(rec, 4)  # writable again
    assert not journal.exists()
    assert _sha(path) != before


# =========================================================================== migrations
V1_DDL = [
    """CREATE TABLE patients (
        id TEXT PRIMARY KEY NOT NULL CHECK (length(id) > 0),
        sex TEXT NOT NULL CHECK (sex IN ('F', 'M', 'O')),
        birth_year INTEGER CHECK (birth_year IS NULL OR birth_year BETWEEN 1900 AND 2200),
        hypertension INTEGER NOT NULL CHECK (hypertension IN (0, 1)),
        diabetes INTEGER NOT NULL CHECK (diabetes IN (0, 1)),
        nephrotoxic_chemotherapy INTEGER NOT NULL CHECK (nephrotoxic_chemotherapy IN (0, 1)),
        reduced_gfr INTEGER NOT NULL CHECK (reduced_gfr IN (0, 1)))""",
    """CREATE TABLE cycles (
        id INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL REFERENCES patients(id) ON DELETE RESTRICT,
        cycle_number INTEGER NOT NULL CHECK (cycle_number >= 1),
        administered_activity_mbq REAL NOT NULL CHECK (administered_activity_mbq > 0),
        injection_datetime TEXT NOT NULL, nuclide TEXT NOT NULL,
        notes TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
        UNIQUE (patient_id, cycle_number))""",
    """CREATE TABLE organ_doses (
        id INTEGER PRIMARY KEY,
        cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
        organ TEXT NOT NULL, mass_g REAL, tia_mbq_h REAL, dose_gy REAL NOT NULL,
        effective_half_life_h REAL, bed_gy REAL, eqd2_gy REAL, alpha_beta_gy REAL,
        repair_half_time_h REAL, method TEXT NOT NULL, UNIQUE (cycle_id, organ))""",
]


def make_v1(path: Path) -> None:
    """A version-1 netdose record as an older netdose wrote it (no inputs table)."""
    conn = sqlite3.connect(path)
    for ddl in V1_DDL:
        conn.execute(ddl)
    conn.execute("INSERT INTO patients VALUES ('P1', 'M', NULL, 1, 0, 0, 0)")
    b = bed(5.0, 50.0, "kidney")
    conn.execute("INSERT INTO cycles VALUES (1, 'P1', 1, 7400.0, '2024-01-03T09:30:00+01:00', "
                 "'Lu-177', 'old', '2024-01-03T10:00:00+00:00')")
    conn.execute("INSERT INTO organ_doses VALUES (1, 1, 'kidneys', NULL, NULL, 5.0, 50.0, ?, ?, "
                 "2.6, 2.8, 'planar')", (b.bed_gy, b.eqd2_gy))
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def _tables(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    finally:
        conn.close()


def test_migration_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1(path)
    assert "inputs" not in _tables(path)
    with TherapyRecord(path) as rec:
        assert rec.schema_version == 2
        h = rec.history("P1")
        assert h.patient.risk_factors.hypertension
        assert h.cycles[0].notes == "old" and h.cycles[0].inputs == ()
        assert h.organ("kidneys").cumulative_bed_gy == bed(5.0, 50.0, "kidney").bed_gy
        rec.add_cycle("P1", 2, administered_activity_mbq=7300.0,
                      injection_datetime=dt.datetime(2024, 3, 1, 9, tzinfo=CET),
                      nuclide="Lu-177", organ_doses=[kidney(5.5)],
                      inputs=[InputFile("spect", "s.dcm", SHA)])
        assert rec.history("P1").cycles[1].inputs[0].sha256 == SHA
        assert rec.integrity_check() == "ok"
    assert "inputs" in _tables(path)


def test_failed_migration_leaves_file_unchanged(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v1.sqlite"
    make_v1(path)
    before = _sha(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE inputs (id INTEGER PRIMARY KEY)")
        conn.execute("ALTER TABLE no_such_table ADD COLUMN x")

    monkeypatch.setattr(record_module, "MIGRATIONS", (record_module.MIGRATIONS[0], broken))
    with pytest.raises(InputError, match="from schema version 1 to 2 failed.*left at version 1"):
        TherapyRecord(path)
    assert _sha(path) == before
    assert "inputs" not in _tables(path)


# =========================================================================== bad inputs
def _text_file(p: Path) -> Path:
    p.write_text("patient,dose\nP1,5\n")
    return p


def _foreign_sqlite(p: Path) -> Path:
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    return p


def _newer(p: Path) -> Path:
    with TherapyRecord(p, create=True):
        pass
    conn = sqlite3.connect(p)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    return p


BAD_FILES = [
    (lambda p: p, "no therapy record at .*pass create=True"),
    (_text_file, "not a netdose therapy record \\(not an SQLite database\\)"),
    (lambda p: (p.write_bytes(b"SQLite format 3\x00" + b"\x07" * 200), p)[1],
     "could not be read as a netdose therapy record"),
    (_foreign_sqlite, "SQLite database but not a netdose therapy record.*customers"),
    (_newer, f"newer netdose \\(schema version {SCHEMA_VERSION + 1}; this netdose reads up to"),
    (lambda p: (p.mkdir(), p)[1], "is a folder"),
]


@pytest.mark.parametrize(("make", "match"), BAD_FILES)
def test_bad_files_refused_and_untouched(
    tmp_path: Path, make: Callable[[Path], Path], match: str
) -> None:
    path = make(tmp_path / "x.sqlite")
    before = _sha(path) if path.is_file() else None
    with pytest.raises(InputError, match=match):
        TherapyRecord(path)
    if before is not None:
        assert _sha(path) == before
    else:
        assert not path.is_file()


BAD_CYCLES = [
    ({"administered_activity_mbq": -7400.0}, InputError,
     "administered_activity_mbq = -7400.0 MBq: it must be greater than 0"),
    ({"administered_activity_mbq": 7.4}, PhysicsRangeError, "It looks like GBq"),
    ({"administered_activity_mbq": float("nan")}, InputError, "is not finite"),
    ({"injection_datetime": dt.datetime(2025, 7, 3, 9, 30)}, InputError, "has no time zone"),
    ({"injection_datetime": "2025-07-03T09:30:00+01:00"}, InputError, "is not a datetime"),
    ({"injection_datetime": dt.datetime(2025, 1, 1, 9, tzinfo=CET)}, InputError,
     "is not after cycle 1's injection"),
    ({"created_at": dt.datetime(2025, 1, 1)}, InputError, "created_at = .* has no time zone"),
    ({"nuclide": "Lu-999"}, InputError, "Lu-999"),
    ({"organ_doses": []}, InputError, "organ_doses is empty"),
    ({"organ_doses": [kidney(5.0), kidney(6.0)]}, InputError, "given twice"),
    ({"organ_doses": [{"organ": "kidneys"}]}, InputError, "is not an OrganDose"),
    ({"inputs": [InputFile("ct", "a", SHA)] * 2}, InputError, "listed twice"),
    ({"inputs": "ct.nii"}, InputError, "must be a list of InputFile"),
    ({"cycle_number": 0}, InputError, "cycle_number = 0 must be a whole number >= 1"),
    ({"patient_id": "P2"}, InputError, "patient 'P2' is not in the record"),
    ({"notes": None}, InputError, "notes = None"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_CYCLES)
def test_bad_cycles_refused(db: Path, kwargs: dict, error: type[Exception], match: str) -> None:
    with TherapyRecord(db) as rec:
        add(rec, 1)
        args: dict = {"administered_activity_mbq": 7400.0, "injection_datetime": injection(2),
                          "nuclide": "Lu-177", "organ_doses": [kidney(5.0)], "created_at": CREATED}
        pid = kwargs.pop("patient_id", "P1")
        number = kwargs.pop("cycle_number", 2)
        args.update(kwargs)
        with pytest.raises(error, match=match):
            rec.add_cycle(pid, number, **args)
        assert [c.cycle_number for c in rec.history("P1").cycles] == [1]


def test_cycle_order_checked_against_later_cycles(db: Path) -> None:
    with TherapyRecord(db) as rec:
        add(rec, 3)
        with pytest.raises(InputError, match="cycle 1 injection .* is not before cycle 3's"):
            add(rec, 1, injection_datetime=injection(4))
        add(rec, 1)


BAD_ORGAN_DOSES = [
    ({"dose_gy": -1.0}, "dose_gy \\(kidneys\\) = -1.0 Gy"),
    ({"dose_gy": float("nan")}, "dose_gy \\(kidneys\\) = nan"),
    ({"organ": " "}, "organ = ' ' must be a non-empty text"),
    ({"method": ""}, "method \\(kidneys\\)"),
    ({"mass_g": 0.0}, "mass_g \\(kidneys\\) = 0.0 g"),
    ({"bed_gy": 6.0}, "bed_gy \\(kidneys\\) given without alpha_beta_gy"),
    ({"bed_gy": 4.0, "alpha_beta_gy": 2.6, "repair_half_time_h": 2.8,
      "effective_half_life_h": 50.0},
     "is below dose_gy"),
    ({"bed_gy": 6.0, "eqd2_gy": 1.0, "alpha_beta_gy": 2.6, "repair_half_time_h": 2.8,
          "effective_half_life_h": 50.0}, "does not equal bed_gy"),
    ({"eqd2_gy": 3.0}, "eqd2_gy \\(kidneys\\) given without bed_gy"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD_ORGAN_DOSES)
def test_bad_organ_doses(kwargs: dict, match: str) -> None:
    args: dict = {"organ": "kidneys", "dose_gy": 5.0, "method": "test"} | kwargs
    with pytest.raises(InputError, match=match):
        OrganDose(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sex": "female"}, "sex = 'female'; use 'F', 'M' or 'O'"),
        ({"risk_factors": None}, "state them explicitly"),
        ({"birth_year": 60}, "birth_year = 60"),
        ({"patient_id": ""}, "patient_id = '' must be a non-empty text"),
        ({"patient_id": "P1"}, "already in the record; pass replace=True"),
    ],
)
def test_bad_patients(db: Path, kwargs: dict, match: str) -> None:
    args: dict = {"patient_id": "P2", "sex": "M", "risk_factors": RiskFactors.none()} | kwargs
    with TherapyRecord(db) as rec, pytest.raises(InputError, match=match):
        rec.add_patient(args.pop("patient_id"), **args)


def test_patient_replace_updates_risk_factors(db: Path) -> None:
    with TherapyRecord(db) as rec:
        rec.add_patient("P1", sex="F", risk_factors=RiskFactors.from_names(["diabetes"]),
                        replace=True)
        assert rec.patient("P1").risk_factors.diabetes
        with pytest.raises(InputError, match="patient 'P9' is not in the record"):
            rec.history("P9")


def test_bad_input_file() -> None:
    with pytest.raises(InputError, match="is not a SHA-256 hex digest"):
        InputFile("ct", "ct.nii.gz", "abc")
    assert InputFile("ct", Path("ct.nii.gz"), SHA.upper()).sha256 == SHA  # type: ignore[arg-type]
