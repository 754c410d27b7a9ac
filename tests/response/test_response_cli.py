"""``netdose response assess``: exit 0 on the example (table, --json, -o with the three CRF
files); exit 2 with a one-line message and no output file on bad case files."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "response_case.json"




def test_assess_prints_a_table_per_time_point(run_cli) -> None:
    code, out, err = run_cli(["response", "assess", str(EXAMPLE)])
    assert code == 0, err
    for text in ("baseline 2025-01-10", "fu1 2025-04-10", "fu2 2025-07-15", "RECIST1.1",
                 "PERCIST", "iUPD", "PMR"):
        assert text in out


def test_assess_json(run_cli) -> None:
    code, out, _ = run_cli(["response", "assess", str(EXAMPLE), "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["targets"] == ["L1", "P1", "L2", "N1"] and data["non_targets"] == ["L3", "B1"]
    cats = [(tp["RECIST1.1"]["category"], tp["Choi"]["category"], tp["iRECIST"]["category"],
             tp["PERCIST"]["category"]) for tp in data["timepoints"]]
    assert cats == [(None, None, None, None), ("PR", "PR", "iPR", "PMR"),
                    ("PD", "PD", "iUPD", "SMD")]
    prov = data["provenance"]
    assert prov["inputs"][0]["role"] == "case" and len(prov["inputs"][0]["sha256"]) == 64
    assert "RECIST1.1" in prov["constants"]


def test_assess_one_criterion(run_cli) -> None:
    code, out, _ = run_cli(["response", "assess", str(EXAMPLE), "--criterion", "percist",
                            "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["criteria"] == ["PERCIST"] and "RECIST1.1" not in data["timepoints"][1]


def test_assess_writes_the_case_report_form(tmp_path: Path, run_cli) -> None:
    out_dir = tmp_path / "crf"
    code, out, _ = run_cli(["response", "assess", str(EXAMPLE), "-o", str(out_dir)])
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["assessment.json", "crf.csv", "crf.html",
                                                         "crf.json", "report.html"]
    form = json.loads((out_dir / "crf.json").read_text(encoding="utf-8"))
    assert form["patient"]["id"] == "NET-0042"
    rows = list(csv.DictReader(io.StringIO((out_dir / "crf.csv").read_text(encoding="utf-8"))))
    assert any(r["field"] == "category" and r["value"] == "iUPD" for r in rows)
    assert "@media print" in (out_dir / "crf.html").read_text(encoding="utf-8")
    assert "wrote" in out


def _bad_example(tmp_path: Path) -> Path:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    bad = copy.deepcopy(data)
    bad["timepoints"][2]["lesions"][0]["longest_diameter_mm"] = -3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    return path


def _broken_json(tmp_path: Path) -> Path:
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    return path


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.json"


@pytest.mark.parametrize(("make", "message"), [
    (_bad_example, r"timepoints\[2\]\.lesions\[0\]\.longest_diameter_mm = -3 mm"),
    (_broken_json, r"is not valid JSON"),
    (_missing, r"does not exist"),
])
def test_bad_case_file_exit_2_no_output(tmp_path: Path, make: Any, message: str, run_cli) -> None:
    case_file = make(tmp_path)
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["response", "assess", str(case_file), "-o", str(out_dir)])
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("netdose: error: ")
    assert re.search(message, lines[0])
    assert "Traceback" not in err and out == ""
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_out_is_a_file(tmp_path: Path, run_cli) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    code, _, err = run_cli(["response", "assess", str(EXAMPLE), "-o", str(target)])
    assert code == 2 and "is a file" in err
    assert target.read_text(encoding="utf-8") == "x"


def test_help_lists_assess(run_cli) -> None:
    code, out, _ = run_cli(["response", "--help"])
    assert code == 0 and "assess" in out
