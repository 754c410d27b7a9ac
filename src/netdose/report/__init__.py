"""Reports: self-contained HTML pages with embedded figures (no script, no network).

- :mod:`netdose.report.html`: the page builder (:class:`Report`, :func:`format_number`);
- :mod:`netdose.report.figures`: PNG figures (slices with dose overlays and contours, MIPs,
  DVHs, time-activity curves, waterfall and spider plots), matplotlib Agg without pyplot;
- :mod:`netdose.report.sirt`: the SIRT plan report (:func:`sirt_plan_report`).

The figure and SIRT modules import matplotlib; import them where they are used.
"""

from __future__ import annotations

from netdose.report.html import (
    Cell,
    Report,
    flatten_values,
    format_number,
    format_value,
)

__all__ = ["Cell", "Report", "flatten_values", "format_number", "format_value"]
