"""A tiny builder of self-contained HTML reports (no template engine, no script, no network).

A :class:`Report` is a title, an optional subtitle, a **status** and a list of **findings**
(always rendered first: the status, then the findings most severe first, coloured by
severity) and a sequence of blocks (sections, paragraphs, lists, tables, key-value lists,
figures) in the order they were added. :meth:`Report.render` returns one
HTML page:

- every text the caller passes is escaped with :func:`html.escape`;
- figures are embedded as ``data:image/png;base64,...``; the CSS is inline; the page has no
  ``<script>`` and loads nothing: it can be archived, mailed and printed as it is
  (``@media print`` rules keep tables and figures on one page and print the severity colours);
- every number is written by :func:`format_number` (6 significant digits), so a number in a
  report can be found again in the JSON it came from;
- the same inputs give the same bytes (no time stamps).

:meth:`Report.add_all_values` adds the appendix of every number of a JSON report, flattened as
dotted key paths (``predicted_dose.metrics.tumour.D70``).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from netdose.errors import InputError
from netdose.io.atomic import atomic_write_text

__all__ = [
    "SEVERITIES",
    "Cell",
    "Report",
    "Severity",
    "flatten_values",
    "format_number",
    "format_value",
    "unit_from_key",
]

Severity = Literal["block", "warning", "info", "ok"]
#: Finding severities, most severe first (the order findings are rendered in).
SEVERITIES: tuple[str, ...] = ("block", "warning", "info", "ok")
_SEVERITY_LABEL = {"block": "BLOCKS", "warning": "WARNING", "info": "NOTE", "ok": "OK"}
#: Significant digits of every number in a report.
SIGNIFICANT_DIGITS = 6
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Placeholder of a missing (None / JSON null) value.
MISSING = "\u2014"

#: Unit of a value from the ending of its key (netdose puts units in names).
_KEY_UNITS: tuple[tuple[str, str], ...] = (
    # compound units first: "density_g_ml" is g/mL, not mL
    ("_gy_kg_per_gbq", "Gy\u00b7kg/GBq"),
    ("_gy_per_gbq", "Gy/GBq"),
    ("dose_per_gbq", "Gy/GBq"),
    ("_g_ml", "g/mL"),
    ("_g_cm3", "g/cm\u00b3"),
    ("_bq_ml", "Bq/mL"),
    ("_mbq_h", "MBq\u00b7h"),
    ("_gbq", "GBq"),
    ("_mbq", "MBq"),
    ("_gy", "Gy"),
    ("_pct", "%"),
    ("_ml", "mL"),
    ("_kg", "kg"),
    ("_g", "g"),
    ("_mm", "mm"),
    ("_cm", "cm"),
    ("_m2", "m\u00b2"),
    ("_h", "h"),
    ("_s", "s"),
)


# =========================================================================== numbers
def format_number(x: float) -> str:
    """The one way a number is written in a report.

    Integers exactly (``19344``); floats with :data:`SIGNIFICANT_DIGITS` significant digits
    (``f"{x:.6g}"``: ``1.55516``, ``2.17118e-06``); ``inf``, ``-inf`` and ``nan`` as such.

    Raises
    ------
    InputError
        For a bool or anything that is not a real number.
    """
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        # numpy scalars: accept them through their Python value
        item = getattr(x, "item", None)
        if callable(item) and not isinstance(x, bool):
            try:
                value = item()
            except (TypeError, ValueError):  # an array of several values
                value = None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return format_number(value)
        raise InputError(f"format_number needs an int or a float; got {type(x).__name__} {x!r}.")
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{SIGNIFICANT_DIGITS}g}"


def format_value(value: Any) -> str:
    """Text of a table cell: numbers by :func:`format_number`, None as a dash, booleans as
    ``yes``/``no``, lists joined by ``, ``, anything else as ``str``."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        try:
            return format_number(value)
        except InputError:
            return str(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return MISSING
        return ", ".join(f"({format_value(v)})" if isinstance(v, (list, tuple)) else
                         format_value(v) for v in value)
    return str(value)


def unit_from_key(key: str) -> str:
    """The unit a netdose key name carries (``activity_gbq`` -> ``GBq``), or ``""``.

    For a dotted path the nearest segment with a unit wins, from the leaf up: the entries of
    ``masses_kg.liver`` or ``previous_lung_doses_gy.0`` are in kg and Gy.
    """
    for segment in reversed(key.lower().split(".")):
        for suffix, unit in _KEY_UNITS:
            if segment.endswith(suffix):
                return unit
    return ""


def flatten_values(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a JSON-like structure as ``(dotted path, value)``, in document order.

    Mapping keys are joined with ``.``, list items by their index (``a.b.0.1``).
    """
    out: list[tuple[str, Any]] = []
    if isinstance(data, Mapping):
        for k, v in data.items():
            out.extend(flatten_values(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            out.extend(flatten_values(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out.append((prefix, data))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# =========================================================================== blocks
@dataclasses.dataclass(frozen=True)
class Cell:
    """A table cell with a severity colour (e.g. a method's status)."""

    value: Any
    severity: str | None = None

    def __post_init__(self) -> None:
        if self.severity is not None:
            _check_severity(self.severity)


def _check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise InputError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}.")
    return severity


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, n = base, 2
    while slug in used:
        slug, n = f"{base}-{n}", n + 1
    used.add(slug)
    return slug


def _cell_html(value: Any, tag: str = "td") -> str:
    severity = None
    if isinstance(value, Cell):
        severity, value = value.severity, value.value
    classes = []
    if _is_number(value) or hasattr(value, "dtype"):
        classes.append("num")
    if value is None:
        classes.append("missing")
    if severity is not None:
        classes.append(f"sev-{severity}")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}>{_esc(format_value(value))}</{tag}>"


_CSS = """
:root { --block: #b00020; --block-bg: #fde7ea; --warning: #8a5a00; --warning-bg: #fff4d6;
  --info: #4a4a4a; --info-bg: #f0f0f0; --ok: #1b6e20; --ok-bg: #e5f4e6; --rule: #c8c8c8; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 14px;
  line-height: 1.4; color: #111; margin: 0 auto; max-width: 1100px; padding: 16px 24px; }
header { border-bottom: 2px solid #111; margin-bottom: 12px; }
h1 { font-size: 24px; margin: 4px 0; }
h2 { font-size: 19px; margin: 24px 0 8px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 16px; margin: 16px 0 6px; }
.subtitle { margin: 2px 0 8px; color: #333; }
.findings { margin: 12px 0 16px; }
.finding { border-left: 6px solid; padding: 8px 12px; margin: 6px 0; }
.finding .sev { font-weight: bold; margin-right: 8px; }
.finding.status { font-size: 16px; font-weight: bold; border-left-width: 10px; }
.finding-block { border-color: var(--block); background: var(--block-bg); color: var(--block); }
.finding-block .text { color: #111; }
.finding-warning { border-color: var(--warning); background: var(--warning-bg); }
.finding-warning .sev { color: var(--warning); }
.finding-info { border-color: #9a9a9a; background: var(--info-bg); }
.finding-info .sev { color: var(--info); }
.finding-ok { border-color: var(--ok); background: var(--ok-bg); }
.finding-ok .sev { color: var(--ok); }
nav.toc ol { columns: 2; margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
th, td { border: 1px solid var(--rule); padding: 3px 7px; vertical-align: top; text-align: left; }
th { background: #f4f4f4; }
th .unit { font-weight: normal; color: #444; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.missing { color: #777; text-align: center; }
td.sev-block { color: var(--block); background: var(--block-bg); font-weight: bold; }
td.sev-warning { color: var(--warning); background: var(--warning-bg); }
td.sev-info { color: var(--info); }
td.sev-ok { color: var(--ok); background: var(--ok-bg); }
table.kv th { width: 30%; }
table.values { font-size: 12px; }
td.path, td.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
  word-break: break-all; }
figure { margin: 12px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { font-size: 13px; color: #333; }
p.sev-block { color: var(--block); } p.sev-warning { color: var(--warning); }
footer { margin-top: 24px; border-top: 1px solid var(--rule); color: #555; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  nav.toc { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, figure, .finding { break-inside: avoid; page-break-inside: avoid; }
  table.values { break-inside: auto; page-break-inside: auto; }
  table.values tr { break-inside: avoid; page-break-inside: avoid; }
  figure img { max-height: 90vh; }
}
"""


class Report:
    """A self-contained HTML report.

    Parameters
    ----------
    title : str
        Page title and ``<h1>``.
    subtitle : str, optional
        One line under the title (e.g. the status and the patient).
    footer : str, optional
        Text at the bottom of the page (e.g. the software version).

    Examples
    --------
    >>> r = Report("SIRT plan P1", "status: treat")
    >>> r.add_findings([("ok", "every check passed")])
    >>> r.add_section("Prescription")
    >>> r.add_table(["method", "activity"], [["voxel", 1.5]], units=["", "GBq"])
    >>> page = r.render()
    """

    def __init__(self, title: str, subtitle: str | None = None, *,
                 footer: str | None = None) -> None:
        self.title = str(title)
        self.subtitle = subtitle
        self.footer = footer
        self._status: tuple[str, str] | None = None
        self._findings: list[tuple[str, str]] = []
        self._blocks: list[str] = []
        self._sections: list[tuple[str, str]] = []
        self._slugs: set[str] = set()

    # ------------------------------------------------------------------ content
    def add_findings(self, findings: Iterable[tuple[str, str]]) -> None:
        """Add findings ``(severity, text)``; severity one of :data:`SEVERITIES`.

        Findings are rendered at the top of the page, right after the title, whatever the
        order of the calls: most severe first (block, warning, info, ok), and in the order
        given within one severity.
        """
        for item in findings:
            try:
                severity, text = item
            except (TypeError, ValueError):
                raise InputError(f"a finding is a (severity, text) pair; got {item!r}.") from None
            self._findings.append((_check_severity(str(severity)), str(text)))

    def set_status(self, severity: str, text: str) -> None:
        """The verdict of the report (e.g. "Treat -- every check passed"): rendered as the
        very first finding, before the more severe ones."""
        self._status = (_check_severity(str(severity)), str(text))

    def add_section(self, title: str, *, level: int = 2) -> str:
        """Start a section (``<h2>``; ``level=3`` for a sub-heading). Returns its anchor id."""
        if level not in (2, 3):
            raise InputError(f"section level must be 2 or 3; got {level!r}.")
        anchor = _slug(title, self._slugs)
        if level == 2:
            self._sections.append((anchor, title))
        self._blocks.append(f'<h{level} id="{anchor}">{_esc(title)}</h{level}>')
        return anchor

    def add_paragraph(self, text: str, *, severity: str | None = None) -> None:
        """A paragraph of plain text (escaped); ``severity`` colours it."""
        cls = f' class="sev-{_check_severity(severity)}"' if severity is not None else ""
        self._blocks.append(f"<p{cls}>{_esc(text)}</p>")

    def add_list(self, items: Iterable[Any], *, title: str | None = None) -> None:
        """A bulleted list of texts (nothing is added for an empty list)."""
        lines = [f"<li>{_esc(format_value(i))}</li>" for i in items]
        if not lines:
            return
        head = f"<h3>{_esc(title)}</h3>" if title else ""
        self._blocks.append(head + "<ul>" + "".join(lines) + "</ul>")

    def add_table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                  units: Sequence[str | None] | None = None, *,
                  caption: str | None = None, css_class: str | None = None) -> None:
        """A table. Cells are formatted by :func:`format_value` (numbers by
        :func:`format_number`, right-aligned); a :class:`Cell` carries a severity colour.

        Parameters
        ----------
        columns : sequence of str
            Column headings.
        rows : iterable of sequences
            One sequence per row, as long as ``columns``.
        units : sequence of str, optional
            Unit of each column (``""`` or None for none), shown in the heading.
        caption : str, optional
        css_class : str, optional
            Extra class of the ``<table>``.
        """
        ncol = len(columns)
        if units is not None and len(units) != ncol:
            raise InputError(f"add_table: {len(units)} units for {ncol} columns.")
        heads = []
        for i, c in enumerate(columns):
            unit = units[i] if units is not None else None
            u = f' <span class="unit">({_esc(unit)})</span>' if unit else ""
            heads.append(f"<th>{_esc(c)}{u}</th>")
        body = []
        for n, row in enumerate(rows):
            row = list(row)
            if len(row) != ncol:
                raise InputError(f"add_table: row {n} has {len(row)} cells for {ncol} columns.")
            body.append("<tr>" + "".join(_cell_html(v) for v in row) + "</tr>")
        cls = f' class="{_esc(css_class)}"' if css_class else ""
        cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
        self._blocks.append(f"<table{cls}>{cap}<thead><tr>{''.join(heads)}</tr></thead>"
                            f"<tbody>{''.join(body)}</tbody></table>")

    def add_key_values(self, items: Mapping[str, Any] | Iterable[Sequence[Any]], *,
                       caption: str | None = None) -> None:
        """A two-column table of named values: a mapping ``{name: value}`` or rows
        ``(name, value)`` / ``(name, value, unit)``."""
        pairs = items.items() if isinstance(items, Mapping) else items
        rows = []
        for item in pairs:
            item = tuple(item)
            if len(item) not in (2, 3):
                raise InputError(f"add_key_values: need (name, value[, unit]); got {item!r}.")
            name, value = item[0], item[1]
            unit = item[2] if len(item) == 3 else ""
            label = f"{name} ({unit})" if unit else str(name)
            rows.append(f"<tr><th>{_esc(label)}</th>{_cell_html(value)}</tr>")
        cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
        self._blocks.append(f'<table class="kv">{cap}<tbody>{"".join(rows)}</tbody></table>')

    def add_figure(self, png_bytes: bytes, caption: str, *, alt: str | None = None) -> None:
        """Embed a PNG (``data:image/png;base64,...``) with its caption."""
        if not isinstance(png_bytes, (bytes, bytearray)) or \
                not bytes(png_bytes).startswith(_PNG_SIGNATURE):
            raise InputError(f"add_figure({caption!r}): the image must be PNG bytes (e.g. from "
                             "netdose.report.figures).")
        data = base64.b64encode(bytes(png_bytes)).decode("ascii")
        self._blocks.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(alt or caption)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>"
        )

    def add_all_values(self, data: Mapping[str, Any], *, title: str = "Appendix: all values",
                       unit_of: Callable[[str], str] | None = None,
                       note: str | None = None) -> None:
        """Appendix: every number (and boolean and null) of a JSON report, by dotted path.

        Numbers are written by :func:`format_number`; text values are left out (they are in
        the sections above and in the JSON file). ``unit_of(path)`` gives the unit column;
        default :func:`unit_from_key`.
        """
        unit_fn = unit_of or unit_from_key
        self.add_section(title)
        self.add_paragraph(note or "Every number of the JSON report, by its key path, written "
                           f"with {SIGNIFICANT_DIGITS} significant digits. Text values are in "
                           "the sections above and in the JSON file.")
        rows = []
        for path, value in flatten_values(data):
            if isinstance(value, str) and value not in ("inf", "-inf"):
                continue
            shown = "null" if value is None else format_value(value)
            cls = "num" if _is_number(value) else "missing" if value is None else ""
            rows.append(f'<tr><td class="path">{_esc(path)}</td>'
                        f'<td class="{cls}">{_esc(shown)}</td><td>{_esc(unit_fn(path))}</td></tr>')
        self._blocks.append(
            '<table class="values"><thead><tr><th>key</th><th>value</th><th>unit</th></tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
        )

    # ------------------------------------------------------------------ output
    def _findings_html(self) -> str:
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        ordered = sorted(self._findings, key=lambda f: rank[f[0]])  # stable
        entries = [(s, t, False) for s, t in ordered]
        if self._status is not None:
            entries.insert(0, (*self._status, True))
        if not entries:
            return ""
        items = []
        for severity, text, is_status in entries:
            role = ' role="alert"' if severity == "block" else ""
            extra = " status" if is_status else ""
            items.append(
                f'<div class="finding finding-{severity}{extra}"{role}><span class="sev">'
                f"{_SEVERITY_LABEL[severity]}</span><span class=\"text\">{_esc(text)}</span></div>"
            )
        return '<section class="findings" aria-label="findings">' + "".join(items) + "</section>"

    def render(self) -> str:
        """The whole page as one HTML string (UTF-8, inline CSS, no script, no URL)."""
        sub = f'<p class="subtitle">{_esc(self.subtitle)}</p>' if self.subtitle else ""
        toc = ""
        if len(self._sections) > 2:
            links = "".join(f'<li><a href="#{a}">{_esc(t)}</a></li>' for a, t in self._sections)
            toc = f'<nav class="toc"><strong>Contents</strong><ol>{links}</ol></nav>'
        foot = f"<footer>{_esc(self.footer)}</footer>" if self.footer else ""
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_esc(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{_esc(self.title)}</h1>{sub}</header>\n"
            f"{self._findings_html()}\n{toc}\n<main>\n"
            + "\n".join(self._blocks)
            + f"\n</main>\n{foot}\n</body>\n</html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`render` to ``path`` atomically (UTF-8); return the path."""
        return atomic_write_text(path, self.render())
