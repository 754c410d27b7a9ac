"""``netdose demo`` (issue acceptance): on built-in data it writes the HTML reports, the JSON
results and the RT Dose files and exits 0; every image of every report is embedded and every
number of each JSON result appears in its page; the packaged example files are the documented
ones."""

from __future__ import annotations

import base64
import importlib.resources
import json
import re
from pathlib import Path

import pytest
from netdose_cli.main import main

from netdose.io.rtdose import read_rtdose
from netdose.report.html import flatten_values, format_number

DOCS_EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("demo") / "out"
    with pytest.raises(SystemExit) as exc:
        main(["demo", "-o", str(out)])
    code = exc.value.code if isinstance(exc.value.code, int) else 1
    return out, code, ""


def _numbers(data: object) -> list[tuple[str, str]]:
    out = []
    for path, value in flatten_values(data):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        out.append((path, format_number(value)))
    return out


def test_demo_exits_0_and_writes_reports_json_and_rtdose(demo_out):
    out, code, _ = demo_out
    assert code == 0
    reports = sorted(out.rglob("report.html"))
    kinds = {p.parts[len(out.parts)] for p in reports}
    assert kinds == {"sirt", "prrt", "response"} and len(reports) == 4  # 2 PRRT cycles
    for name in ("sirt/plan/plan.json", "prrt/cycle1/out/cycle.json",
                 "prrt/cycle2/out/cycle.json", "response/out/assessment.json"):
        json.loads((out / name).read_text())
    for name in ("sirt/plan/predicted_dose_rtdose.dcm", "prrt/cycle1/out/dose_rtdose.dcm"):
        assert float(read_rtdose(out / name).array.max()) > 0
    assert (out / "prrt" / "demo-therapy.sqlite").is_file()


@pytest.mark.parametrize(("report", "result"), [
    ("sirt/plan/report.html", "sirt/plan/plan.json"),
    ("prrt/cycle2/out/report.html", "prrt/cycle2/out/cycle.json"),
    ("response/out/report.html", "response/out/assessment.json"),
])
def test_every_image_embedded_and_every_number_shown(demo_out, report, result):
    out, _, _ = demo_out
    page = (out / report).read_text(encoding="utf-8")
    assert "<script" not in page and 'src="http' not in page
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert images, "a report without pictures"
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / result).read_text(encoding="utf-8"))
    data.pop("provenance", None)
    data.pop("outputs", None)
    missing = [(p, v) for p, v in _numbers(data) if v not in page]
    assert not missing, missing[:10]


def test_packaged_examples_are_the_documented_ones():
    pkg = importlib.resources.files("netdose_phantoms.data.examples")
    for name in ("sirt_plan_phantom.toml", "prrt_cycle_phantom.toml", "response_case.json"):
        assert pkg.joinpath(name).read_text(encoding="utf-8") == (
            DOCS_EXAMPLES / name).read_text(encoding="utf-8"), name


def test_demo_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        main(["demo", "-o", str(tmp_path)])
    assert exc.value.code == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
