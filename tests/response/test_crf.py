"""The imaging case-report form: the three-time-point example renders with every field
filled and every number of the form in the HTML; the CSV parses; text is escaped; the page
is self-contained and printable; the output is deterministic."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from netdose.response.assess import assess_case
from netdose.response.case import load_case, parse_case
from netdose.response.crf import build_crf, crf_csv, crf_html, crf_json, format_value

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "response_case.json"


class _Page(HTMLParser):
    """Collects the text, the tags and the attributes of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _numbers(value: Any) -> list[float | int]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


@pytest.fixture(scope="module")
def crf() -> dict[str, Any]:
    case = load_case(EXAMPLE)
    return build_crf(case, assess_case(case))


@pytest.fixture(scope="module")
def page(crf: dict[str, Any]) -> _Page:
    p = _Page()
    p.feed(crf_html(crf))
    p.close()
    return p


def test_every_field_filled(crf: dict[str, Any]) -> None:
    assert all(v is not None for v in crf["patient"].values())
    assert len(crf["previous_treatments"]) == 2
    assert [p["label"] for p in crf["procedures"]] == ["baseline", "fu1", "fu2"]
    assert all(p["date"] and p["modality"] for p in crf["procedures"])
    assert crf["baseline"] == {"label": "baseline", "date": "2025-01-10"}
    assert crf["nadir"]["RECIST1.1"] == {"label": "fu1", "date": "2025-04-10"}
    assert crf["nadir"]["PERCIST"] == {"label": "fu1", "date": "2025-04-10"}
    assert [le["id"] for le in crf["target_lesions"]] == ["L1", "P1", "L2", "N1"]
    for le in crf["target_lesions"]:
        assert le["organ"] and le["location"]
        for tp in le["timepoints"]:
            for key in ("size_mm", "mean_hu", "suv_max"):
                assert tp[key] is not None, (le["id"], tp["label"], key)
    for row in crf["conclusions"][1:]:
        for crit in ("RECIST1.1", "Choi", "iRECIST", "PERCIST"):
            block = row[crit]
            assert block["category"] and block["vs_baseline"] and block["vs_nadir"]
            assert block["reason"]


def test_conclusions_of_the_example(crf: dict[str, Any]) -> None:
    fu2 = crf["conclusions"][2]
    assert (fu2["RECIST1.1"]["category"], fu2["RECIST1.1"]["vs_baseline"],
            fu2["RECIST1.1"]["vs_nadir"]) == ("PD", "SD", "PD")
    assert fu2["iRECIST"]["category"] == "iUPD"
    assert fu2["Choi"]["category"] == "PD"
    assert (fu2["PERCIST"]["category"], fu2["PERCIST"]["vs_nadir"]) == ("SMD", "PMD")
    assert fu2["RECIST1.1"]["numbers"]["sum_mm"] == 103.0


def test_every_number_of_the_form_is_in_the_html(crf: dict[str, Any], page: _Page) -> None:
    text = " ".join(page.text)
    numbers = _numbers(crf)
    assert len(numbers) > 150
    missing = sorted({format_value(n) for n in numbers if format_value(n) not in text})
    assert not missing


def test_lesion_table_cells(crf: dict[str, Any], page: _Page) -> None:
    # The target table: header + one row per target; L1 at fu2 = 33 mm, 70 HU, SUVmax 8.9.
    table = next(t for t in page.tables if t and t[0][:4] == ["lesion", "organ", "location",
                                                              "measure"])
    rows = {r[0]: r for r in table[1:]}
    assert list(rows) == ["L1", "P1", "L2", "N1"]
    head = table[0]
    assert rows["L1"][head.index("fu2: size (mm)")] == "33"
    assert rows["L1"][head.index("fu2: HU")] == "70"
    assert rows["L1"][head.index("fu2: SUVmax")] == "8.9"
    assert rows["L1"][head.index("fu2: SULpeak")] == "6.2"
    assert rows["N1"][head.index("measure")] == "short axis"
    assert rows["N1"][head.index("fu1: size (mm)")] == "12"


def test_self_contained_printable(page: _Page, crf: dict[str, Any]) -> None:
    html_text = crf_html(crf)
    assert "@media print" in html_text
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    for _, value in page.attrs:
        assert not (value or "").startswith(("http:", "https:", "//"))


def test_text_is_escaped() -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["patient"]["id"] = "<script>alert(1)</script>"
    data["previous_treatments"][0]["name"] = "A & B <b>bold</b>"
    data["timepoints"][0]["lesions"][0]["location"] = '"quoted" <i>'
    case = parse_case(data)
    out = crf_html(build_crf(case, assess_case(case)))
    assert "<script>" not in out and "<b>bold" not in out and "<i>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "A &amp; B &lt;b&gt;bold&lt;/b&gt;" in out
    page = _Page()
    page.feed(out)
    assert "script" not in page.tags
    # The CSV keeps such text intact (quoted by the csv module).
    data["timepoints"][0]["lesions"][0]["location"] = 'segment "VII", dome'
    case = parse_case(data)
    rows = list(csv.DictReader(io.StringIO(crf_csv(build_crf(case, assess_case(case))))))
    assert {"section": "target_lesion", "timepoint": "", "lesion": "L1", "criterion": "",
            "field": "location", "value": 'segment "VII", dome'} in rows


def test_csv_parses(crf: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(crf_csv(crf))))
    assert rows and list(rows[0]) == ["section", "timepoint", "lesion", "criterion", "field",
                                      "value"]
    index = {(r["section"], r["timepoint"], r["lesion"], r["criterion"], r["field"]): r["value"]
             for r in rows}
    assert index[("patient", "", "", "", "id")] == "NET-0042"
    assert index[("conclusion", "fu1", "", "RECIST1.1", "category")] == "PR"
    assert index[("conclusion", "fu2", "", "iRECIST", "category")] == "iUPD"
    assert index[("conclusion", "fu1", "", "PERCIST", "category")] == "PMR"
    assert float(index[("target_lesion", "fu2", "L1", "", "size_mm")]) == 33.0
    assert float(index[("target_lesion", "baseline", "P1", "", "suv_max")]) == 13.0
    assert index[("reference", "fu1", "", "RECIST1.1", "nadir_date")] == "2025-04-10"
    # Reasons (free text with ';', '%', '(') survive the round trip.
    reason = index[("conclusion", "fu2", "", "RECIST1.1", "reason")]
    assert reason == crf["conclusions"][2]["RECIST1.1"]["reason"] and ";" in reason


def test_json_and_determinism(crf: dict[str, Any]) -> None:
    assert json.loads(crf_json(crf)) == crf
    case = load_case(EXAMPLE)
    again = build_crf(case, assess_case(case))
    assert crf_html(again) == crf_html(crf) and crf_csv(again) == crf_csv(crf)


@pytest.mark.parametrize(("value", "text"), [
    (None, "\u2014"), (True, "yes"), (42, "42"), (42.0, "42"), (-34.615, "-34.615"),
    (3.2, "3.2"), (-0.0, "0"), ("PR", "PR"),
])
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text
