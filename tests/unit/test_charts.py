"""A Vega-Lite chart where a result table fits one: bars for categories, a line over time."""

from __future__ import annotations

import json

import pytest

from switchboard.schemas import Table
from switchboard.workers.analyst.charts import chart, vega_lite


def test_categories_get_bars_sorted_by_value() -> None:
    spec = json.loads(vega_lite(Table(columns=["genre", "n"], rows=[["Rock", 9], ["Jazz", 3]]), "q?") or "")
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["y"]["field"] == "genre"
    assert spec["encoding"]["x"]["field"] == "n" and spec["data"]["values"][0] == {"genre": "Rock", "n": 9}


def test_time_gets_a_line() -> None:
    years = Table(columns=["year", "sales"], rows=[[2009, 1.5], [2010, 2.0], [2011, 3.0]])
    assert json.loads(vega_lite(years) or "")["mark"]["type"] == "line"
    dates = Table(columns=["day", "n"], rows=[["2009-01-01T00:00:00", 1], ["2009-01-02T00:00:00", 2]])
    spec = json.loads(vega_lite(dates) or "")
    assert spec["encoding"]["x"]["type"] == "temporal"


def test_tables_that_do_not_fit_a_chart_get_none() -> None:
    assert vega_lite(Table(columns=["n"], rows=[[3503]])) is None  # one value
    assert vega_lite(Table(columns=["a", "b"], rows=[["x", "y"], ["z", "w"]])) is None  # no numbers
    assert vega_lite(Table(columns=["id", "n"], rows=[[1, 2], [3, 4]])) is None  # no label
    many = Table(columns=["k", "n"], rows=[[str(i), i] for i in range(500)])
    assert vega_lite(many) is None
    assert chart(None) is None and chart(Table(columns=["n"], rows=[[1]]), png=b"png").png == b"png"  # type: ignore[union-attr]


def test_a_spec_chart_also_comes_as_a_png_and_the_codes_drawing_wins() -> None:
    import io

    from PIL import Image

    table = Table(columns=["artist", "tracks"], rows=[["Iron Maiden", 213], ["U2", 135], ["Metallica", 112]])
    got = chart(table, "Which artists have the most tracks?")
    assert got is not None and got.vega_lite and got.png_from_spec and got.png
    image = Image.open(io.BytesIO(got.png))
    assert image.format == "PNG" and image.width > 300 and image.height > 60
    drawn = chart(table, "q", png=b"\x89PNG drawn by the code")
    assert drawn is not None and drawn.png == b"\x89PNG drawn by the code" and not drawn.png_from_spec
    assert drawn.vega_lite  # the spec still goes with it


def test_a_spec_that_cannot_be_drawn_leaves_the_spec_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import vl_convert

    def broken(**kw: object) -> bytes:
        raise ValueError("no renderer")

    monkeypatch.setattr(vl_convert, "vegalite_to_png", broken)
    got = chart(Table(columns=["genre", "n"], rows=[["Rock", 9], ["Jazz", 3]]))
    assert got is not None and got.vega_lite and got.png is None and not got.png_from_spec
