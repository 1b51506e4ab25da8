"""A chart for a result table where one fits (seed 003's visualization step),
as a Vega-Lite spec the page renders: a label column (text, a date or a year)
and a number column, 2 to 100 rows; a line over time, bars otherwise. The
same spec rendered as a PNG (vl-convert: Vega in its own runtime, offline)
goes with it for clients that cannot run Vega."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence

from switchboard.schemas import Chart, Table
from switchboard.schemas.analyst import MAX_CHART_BYTES

log = logging.getLogger(__name__)

MAX_ROWS = 100
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2})?)?")
_TIME_NAMES = ("year", "month", "date", "day", "week", "quarter", "time")


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def vega_lite(table: Table, title: str = "") -> str | None:
    """The spec (JSON) for a table that fits a chart, else None."""
    rows = table.rows
    if not 2 <= len(rows) <= MAX_ROWS or len(table.columns) < 2:
        return None
    numeric = [i for i in range(len(table.columns)) if all(_number(r[i]) or r[i] is None for r in rows)]
    labels = [i for i in range(len(table.columns)) if i not in numeric]
    if labels:
        x = labels[0]
    elif table.columns[0].lower().startswith(_TIME_NAMES) or _years(rows, 0):
        x = 0  # numbers that are years or months: the x axis
    else:
        return None
    ys = [i for i in numeric if i != x]
    if not ys:
        return None
    y = ys[0]
    xname, yname = table.columns[x], table.columns[y]
    values = [{xname: r[x], yname: r[y]} for r in rows]
    over_time = all(isinstance(v, str) and _DATE.match(v) for v in (r[x] for r in rows))
    ordinal = x not in labels  # years, months
    if over_time or ordinal:
        kind = "temporal" if over_time else "ordinal"
        mark: dict[str, object] = {"type": "line", "point": True}
        encoding = {
            "x": {"field": xname, "type": kind, "sort": "ascending"},
            "y": {"field": yname, "type": "quantitative"},
        }
    else:
        mark = {"type": "bar"}
        encoding = {
            "y": {"field": xname, "type": "nominal", "sort": "-x", "title": xname},
            "x": {"field": yname, "type": "quantitative"},
        }
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "title": title[:120],
        "data": {"values": values},
        "mark": mark,
        "encoding": encoding | {"tooltip": [{"field": xname}, {"field": yname}]},
        "width": 480,
        "config": {"axis": {"labelOverlap": True, "labelLimit": 180}},
    }
    return json.dumps(spec, default=str)


def chart(table: Table | None, title: str = "", png: bytes | None = None) -> Chart | None:
    """The result's chart: the PNG the code drew (if any), a spec where one fits,
    and, when the code drew none, that spec as a PNG. Blocking: run it in a thread."""
    spec = vega_lite(table, title) if table else None
    if spec is not None and len(spec) > 200_000:
        spec = None  # long labels: the table says it better
    if png is None and spec is not None:
        drawn = rendered(spec)
        return Chart(png=drawn, vega_lite=spec, png_from_spec=drawn is not None)
    return Chart(png=png, vega_lite=spec) if png or spec else None


def rendered(spec: str) -> bytes | None:
    """A Vega-Lite spec as a PNG; None when it cannot be drawn (the spec still goes)."""
    try:
        import vl_convert

        png = bytes(vl_convert.vegalite_to_png(vl_spec=spec, scale=1))
    except Exception as exc:  # vl-convert raises ValueError and its own errors on a spec it cannot draw
        log.warning("chart not rendered: %s", str(exc)[:200])
        return None
    return png if len(png) <= MAX_CHART_BYTES else None


def _years(rows: Sequence[Sequence[object]], i: int) -> bool:
    return all(isinstance(v, int) and 1000 <= v <= 2999 for v in (r[i] for r in rows))
