"""The HTML report builder: escaping, findings first, number formatting, the all-values
appendix, self-containment (no script, no URL) and atomic writing."""

from __future__ import annotations

import io
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from netdose.errors import InputError
from netdose.report.html import (
    Cell,
    Report,
    flatten_values,
    format_number,
    format_value,
    unit_from_key,
)


def tiny_png() -> bytes:
    fig = Figure(figsize=(1, 1), dpi=20)
    fig.add_subplot().plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


class Elements(HTMLParser):
    """Start tags in document order as (tag, attrs dict), and the text of each finding."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def start_tags(page: str) -> list[tuple[str, dict[str, str]]]:
    p = Elements()
    p.feed(page)
    return p.tags


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(("value", "text"), [
    (1, "1"),
    (19344, "19344"),
    (-3, "-3"),
    (1.5551573469222562, "1.55516"),
    (40.0, "40"),
    (2.1711791760026244e-06, "2.17118e-06"),
    (1532120940.25, "1.53212e+09"),
    (0.0, "0"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
    (math.nan, "nan"),
    (np.float32(0.5), "0.5"),
    (np.float64(0.1), "0.1"),
    (np.int64(7), "7"),
])
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("bad", [True, False, "1.0", None, [1.0], np.bool_(True),
                                 np.array([1.0, 2.0])])
def test_format_number_refuses_non_numbers(bad):
    with pytest.raises(InputError, match="format_number needs an int or a float"):
        format_number(bad)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_number_keeps_six_significant_digits(x):
    back = float(format_number(x))
    assert back == pytest.approx(x, rel=5e-6, abs=0.0)


@pytest.mark.parametrize(("value", "text"), [
    (None, "\u2014"), (True, "yes"), (False, "no"), ([1, 2.5], "1, 2.5"),
    ([[0.1, 1.0], [0.15, 0.8]], "(0.1, 1), (0.15, 0.8)"), ([], "\u2014"), ("abc", "abc"),
])
def test_format_value(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize(("key", "unit"), [
    ("activity_gbq", "GBq"), ("lung.mean_gy", "Gy"), ("lsf.used_pct", "%"),
    ("tissue_density_g_ml", "g/mL"), ("energy_constant_gy_kg_per_gbq", "Gy\u00b7kg/GBq"),
    ("masses_kg.liver", "kg"), ("previous_lung_doses_gy.0", "Gy"),
    ("methods.voxel.dose_per_gbq.lung:mean", "Gy/GBq"), ("findings.0.centroid_lps_mm.2", "mm"),
    ("n_voxels", ""), ("status", ""),
])
def test_unit_from_key(key, unit):
    assert unit_from_key(key) == unit


def test_flatten_values_gives_dotted_paths_in_order():
    data = {"a": 1, "b": {"c": [10, {"d": 2.5}], "e": None}, "f": "text"}
    assert flatten_values(data) == [("a", 1), ("b.c.0", 10), ("b.c.1.d", 2.5), ("b.e", None),
                                    ("f", "text")]


# --------------------------------------------------------------------------- page
def test_findings_come_first_most_severe_first_whatever_the_call_order():
    r = Report("Plan", "sub")
    r.add_section("Prescription")
    r.add_paragraph("body text")
    r.add_findings([("info", "a note"), ("ok", "fine"), ("warning", "careful")])
    r.add_findings([("block", "do not treat: duodenum")])
    page = r.render()
    tags = start_tags(page)
    body = [t for t in tags if t[0] not in ("html", "head", "meta", "title", "style")]
    # header (h1, subtitle), then the findings section before anything else
    names = [(t, a.get("class", "")) for t, a in body]
    first_findings = names.index(("section", "findings"))
    assert [n for n, _ in names[:first_findings]] == ["body", "header", "h1", "p"]
    sev = [a["class"] for t, a in tags if t == "div" and "finding" in a.get("class", "")]
    assert sev == ["finding finding-block", "finding finding-warning", "finding finding-info",
                   "finding finding-ok"]
    assert page.index("do not treat: duodenum") < page.index("careful") < page.index("body text")


def test_the_status_is_the_first_finding():
    r = Report("Plan")
    r.add_findings([("block", "lung dose 35 Gy > 30 Gy"), ("info", "note")])
    r.set_status("ok", "Treat")  # a caller's verdict comes first even if milder
    classes = [a["class"] for t, a in start_tags(r.render())
               if t == "div" and "finding" in a.get("class", "")]
    assert classes == ["finding finding-ok status", "finding finding-block",
                       "finding finding-info"]
    with pytest.raises(InputError, match="severity 'green' is not one of"):
        r.set_status("green", "Treat")


@pytest.mark.parametrize(("findings", "match"), [
    ([("fatal", "x")], "severity 'fatal' is not one of"),
    ([("block",)], "a finding is a \\(severity, text\\) pair"),
    (["block"], "a finding is a \\(severity, text\\) pair"),
])
def test_bad_findings_are_refused(findings, match):
    with pytest.raises(InputError, match=match):
        Report("t").add_findings(findings)


def test_all_text_is_escaped_and_there_is_no_script():
    evil = '<script>alert("x")</script> & <img src=x onerror=y>'
    r = Report(evil, evil, footer=evil)
    r.add_findings([("warning", evil)])
    r.add_section(evil)
    r.add_paragraph(evil)
    r.add_list([evil])
    r.add_table([evil], [[evil]], units=[evil], caption=evil)
    r.add_key_values({evil: evil})
    r.add_figure(tiny_png(), evil, alt=evil)
    r.add_all_values({evil: 1.0})
    page = r.render()
    assert "<script" not in page.lower()
    assert "onerror=y>" not in page
    assert "&lt;script&gt;" in page
    # the only <img> is the embedded figure
    imgs = [a for t, a in start_tags(page) if t == "img"]
    assert len(imgs) == 1 and imgs[0]["src"].startswith("data:image/png;base64,")


def test_page_is_self_contained_apart_from_user_text():
    r = Report("Plan", "sub")
    r.add_paragraph("protocol: see https://example.org/sirt")
    r.add_figure(tiny_png(), "fig")
    r.add_section("A")
    r.add_section("B")
    r.add_section("C")  # three sections: a table of contents with local links
    page = r.render()
    assert page.count("https://") == 1 and "http://" not in page
    for tag, attrs in start_tags(page):
        assert tag not in ("script", "link", "iframe", "object", "embed")
        if "href" in attrs:
            assert attrs["href"].startswith("#")
        if "src" in attrs:
            assert attrs["src"].startswith("data:image/png;base64,")
    assert "@media print" in page and "<style>" in page


def test_tables_format_numbers_and_colour_cells():
    r = Report("t")
    r.add_table(["name", "activity", "status"],
                [["voxel", 1.5551573469222562, Cell("do not treat", "block")],
                 ["bsa", None, Cell("treat", "ok")]], units=["", "GBq", ""])
    page = r.render()
    assert '<td class="num">1.55516</td>' in page
    assert '<td class="sev-block">do not treat</td>' in page
    assert '<td class="missing">\u2014</td>' in page
    assert "activity <span class=\"unit\">(GBq)</span>" in page


@pytest.mark.parametrize(("call", "match"), [
    (lambda r: r.add_table(["a", "b"], [[1]]), "row 0 has 1 cells for 2 columns"),
    (lambda r: r.add_table(["a"], [[1]], units=["x", "y"]), "2 units for 1 columns"),
    (lambda r: r.add_figure(b"GIF89a...", "cap"), "must be PNG bytes"),
    (lambda r: r.add_key_values([("a",)]), "need \\(name, value\\[, unit\\]\\)"),
    (lambda r: r.add_section("x", level=1), "section level must be 2 or 3"),
    (lambda r: r.add_paragraph("x", severity="red"), "severity 'red' is not one of"),
    (lambda r: Cell(1, "red"), "severity 'red' is not one of"),
])
def test_bad_blocks_are_refused(call, match):
    with pytest.raises(InputError, match=match):
        call(Report("t"))


def test_all_values_appendix_lists_every_number_by_path():
    data = {"status": "treat", "activity_gbq": 1.5551573469222562, "ok": True,
            "lung": {"mean": None, "mass_kg": 1.2848838556950992},
            "table": [[0.1, 1.0], [0.15, 0.8]], "limit": "inf"}
    r = Report("t")
    r.add_all_values(data)
    rows = re.findall(r'<td class="path">([^<]*)</td><td class="[^"]*">([^<]*)</td>'
                      r"<td>([^<]*)</td>", r.render())
    assert rows == [
        ("activity_gbq", "1.55516", "GBq"), ("ok", "yes", ""), ("lung.mean", "null", ""),
        ("lung.mass_kg", "1.28488", "kg"), ("table.0.0", "0.1", ""), ("table.0.1", "1", ""),
        ("table.1.0", "0.15", ""), ("table.1.1", "0.8", ""), ("limit", "inf", ""),
    ]


def test_render_is_deterministic_and_write_is_atomic(tmp_path):
    def build() -> Report:
        r = Report("Plan", "sub", footer="netdose")
        r.add_findings([("ok", "fine")])
        r.add_figure(tiny_png(), "fig")
        r.add_all_values({"a": 1.25})
        return r

    a, b = build(), build()
    assert a.render() == b.render()
    out = a.write(tmp_path / "sub" / "report.html")
    assert out.read_text(encoding="utf-8") == a.render()
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]
    with pytest.raises(InputError, match="is a folder"):
        a.write(tmp_path)
