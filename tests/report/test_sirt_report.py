"""The SIRT plan report on the SIRT phantom: every figure an embedded PNG, every number of the
plan JSON in the page (by its key path, written by format_number), no network reference, and
for the duodenal hot-spot phantom the blocking finding first."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread
from netdose_phantoms.sirt_liver import sirt_liver

from netdose.report.html import flatten_values, format_number
from netdose.report.sirt import plan_images, sirt_plan_report, write_sirt_plan_report
from netdose.sirt.plan import load_plan, run_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Start tags (tag, attrs, depth) in order, and the text inside each finding."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.finding_texts: list[tuple[str, str]] = []
        self._finding: list[str] | None = None
        self._finding_class = ""
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if self._finding is not None:
            self._depth += 1
        elif tag == "div" and "finding" in a.get("class", "").split():
            self._finding, self._finding_class, self._depth = [], a["class"], 0

    def handle_endtag(self, tag: str) -> None:
        if self._finding is None:
            return
        if self._depth == 0:
            self.finding_texts.append((self._finding_class, " ".join(self._finding)))
            self._finding = None
        else:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._finding is not None:
            self._finding.append(data.strip())


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    return p


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The example phantom plan on the clean phantom and on the duodenal hot-spot phantom:
    spec, PlanReport and the rendered page of each (one run per module)."""
    root = tmp_path_factory.mktemp("sirt-report")
    sirt_liver().write_nifti(root / "sirt-phantom" / "nifti")
    sirt_liver(gi_hot_spot="duodenum").write_nifti(root / "hot-spot" / "nifti")
    text = (EXAMPLES / "sirt_plan_phantom.toml").read_text(encoding="utf-8")
    (root / "plan.toml").write_text(text, encoding="utf-8")
    (root / "plan_hot.toml").write_text(text.replace("sirt-phantom/", "hot-spot/"),
                                        encoding="utf-8")
    out: dict[str, Any] = {"root": root}
    for key, name in (("clean", "plan.toml"), ("hot", "plan_hot.toml")):
        spec = load_plan(root / name)
        report = run_plan(spec)
        images = plan_images(spec)
        # the hot plan gets a provenance block, as the CLI passes it (its numbers must show)
        prov = None
        if key == "hot":
            prov = {"command": "sirt plan", "options": {"plan_file": str(root / name)},
                    "inputs": [{"role": "plan", "path": str(root / name), "sha256": "ab" * 32}],
                    "software": {"netdose": "0.1.0"}, "timings_s": {"plan": 1.234567891},
                    "warnings": []}
        page = sirt_plan_report(report, spec, provenance=prov, images=images)
        out[key] = {"spec": spec, "report": report, "images": images, "page": page,
                    "prov": prov}
    return out


def appendix(page: str) -> dict[str, str]:
    """The all-values appendix: key path -> the value as shown."""
    rows = re.findall(r'<td class="path">([^<]*)</td><td class="[^"]*">([^<]*)</td>', page)
    return dict(rows)


@pytest.mark.parametrize("key", ["clean", "hot"])
def test_every_image_is_an_embedded_png(plans, key):
    page = plans[key]["page"]
    imgs = [a for t, a in parse(page).tags if t == "img"]
    # axial + coronal dose slices, the MIP, the DVH; the hot plan adds its finding's slice
    assert len(imgs) == (5 if key == "hot" else 4)
    for a in imgs:
        assert a["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(a["src"].split(",", 1)[1], validate=True)
        assert png.startswith(PNG)
        pix = imread(io.BytesIO(png), format="png")
        assert pix.ndim == 3 and min(pix.shape[:2]) > 100 and pix[..., :3].std() > 0.05


@pytest.mark.parametrize("key", ["clean", "hot"])
def test_every_number_of_the_plan_json_is_in_the_page(plans, key):
    p = plans[key]
    data = dict(p["report"].summary)
    if p["prov"] is not None:
        data["provenance"] = p["prov"]
    shown = appendix(p["page"])
    numbers = [(path, v) for path, v in flatten_values(data)
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert len(numbers) > 300
    for path, value in numbers:
        assert shown.get(path) == format_number(value), path
        assert format_number(value) in p["page"]
    if key == "hot":
        assert shown["provenance.timings_s.plan"] == "1.23457"


@pytest.mark.parametrize("key", ["clean", "hot"])
def test_no_network_reference_and_no_script(plans, key):
    page = plans[key]["page"]
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    for tag, attrs in parse(page).tags:
        assert tag not in ("script", "link", "iframe", "object", "embed")
        assert attrs.get("href", "#").startswith("#")
        assert attrs.get("src", "data:image/png;base64,").startswith("data:image/png;base64,")


def test_do_not_treat_plan_starts_with_the_blocking_duodenum_finding(plans):
    p = plans["hot"]
    assert p["report"].status == "do not treat"
    page = parse(p["page"])
    # the body opens with the header (title + subtitle) and then the findings
    body = [t for t, _ in page.tags[page.tags.index(("body", {})):]]
    assert body[:5] == ["body", "header", "h1", "p", "section"]
    first_section = next(a for t, a in page.tags if t == "section")
    assert first_section["class"] == "findings"
    cls, text = page.finding_texts[0]
    assert cls == "finding finding-block"
    assert "duodenum" in text and text.startswith("BLOCKS Do not treat")
    assert "DO NOT TREAT" in re.search(r"<h1>(.*?)</h1>", p["page"]).group(1)


def test_clean_plan_says_treat_first_and_shows_the_tables(plans):
    p = plans["clean"]
    page = p["page"]
    parsed = parse(page)
    cls, text = parsed.finding_texts[0]
    assert cls == "finding finding-ok status" and text.startswith("OK Treat")
    assert not any(c == "finding finding-block" for c, _ in parsed.finding_texts)
    title = re.search(r"<h1>(.*?)</h1>", page).group(1)
    assert p["spec"].patient_id in title and "TREAT" in title
    for heading in ("Prescription", "Lung shunt and lung dose", "Predicted dose",
                    "Extrahepatic deposition", "Constants", "Provenance",
                    "Appendix: all values"):
        assert f">{heading}</h2>" in page
    # every constant with its source; every input with its SHA-256 (computed here: the
    # clean plan has no provenance block)
    for name, c in p["report"].summary["constants"].items():
        assert f"<td>{name}</td>" in page and html.escape(c["source"]) in page
    for path, _role in p["spec"].input_paths:
        assert str(path) in page
    assert len(re.findall(r"<td>[0-9a-f]{64}</td>", page)) == len(p["spec"].input_paths)
    # predicted-dose metrics with units in the headings
    for col in ("mean", "D50", "D70", "D90"):
        assert f'{col} <span class="unit">(Gy)</span>' in page
    for col in ("V100", "V120"):
        assert f'{col} <span class="unit">(%)</span>' in page


def test_report_is_deterministic_and_written_atomically(plans, tmp_path):
    p = plans["clean"]
    out = write_sirt_plan_report(p["report"], p["spec"], tmp_path / "report.html",
                                 images=p["images"])
    assert out.read_text(encoding="utf-8") == p["page"]
    assert [f.name for f in tmp_path.iterdir()] == ["report.html"]


def test_plan_without_predicted_dose_still_reports(plans):
    """No activity (e.g. no method could prescribe): no dose figures, a warning instead."""
    p = plans["clean"]
    summary = {**p["report"].summary, "predicted_dose": None}
    bare = dataclasses.replace(p["report"], predicted=None, dvhs={}, summary=summary)
    page = sirt_plan_report(bare, p["spec"], images=p["images"])
    assert "No predicted dose: no activity was prescribed." in page
    imgs = [a for t, a in parse(page).tags if t == "img"]
    assert len(imgs) == 1  # the MAA MIP
