"""Sample values of a dataset's text columns, for the prompt: a model that sees
``country varchar e.g. 'USA', 'Canada'`` writes ``WHERE country = 'USA'``, not
``'usa'`` or ``'United States'``. Only columns of few distinct values get them
(categories, not names or addresses), each value short; read once per dataset
through the same guard, limits and read-only connections as generated SQL."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .chinook import Table
from .datasets import PG_SCHEMA, AnalystSettings, Dataset
from .prompts import ident
from .sqlexec import run_duckdb, run_postgres, run_url
from .sqlguard import check

log = logging.getLogger(__name__)

SHOWN = 4  # values per column, most frequent first
MAX_CHARS = 32  # a longer value is not a category
MAX_DISTINCT = 40  # ...nor is a column with more distinct values than this
LOOKUP_ROWS = 30
_TEXT = ("CHAR", "TEXT", "STRING", "CLOB")


def with_samples(ds: Dataset, tables: Sequence[Table], settings: AnalystSettings) -> list[Table]:
    """The tables with their text columns' sample values (none where the data
    cannot be read: the prompt goes without them)."""
    pg = settings.postgres_url
    try:
        found = _read(ds, tuple(tables), str(settings.duckdb_path()), pg, settings.statement_timeout_s)
    except Exception as exc:  # a database of yours that is away: answer without samples
        log.warning("sample values of %s not read: %s", ds.name, type(exc).__name__)
        return list(tables)
    return [replace(t, samples=found.get(t.name, ())) for t in tables]


@functools.lru_cache(maxsize=32)
def _read(
    ds: Dataset, tables: tuple[Table, ...], duckdb: str, pg: str | None, timeout: float
) -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    out = {}
    for t in tables:
        cols = [c for c, ty, _ in t.columns if any(x in ty.upper() for x in _TEXT)]
        found = []
        for col in cols:
            values = _values(ds, t.name, col, duckdb, pg, timeout, lookup=len(cols) == 1)
            if values:
                found.append((col, values))
        if found:
            out[t.name] = tuple(found)
    return out


def _values(
    ds: Dataset, table: str, col: str, duckdb: str, pg: str | None, timeout: float, lookup: bool
) -> tuple[str, ...]:
    """The column's most frequent values, if it is a category: its values repeat
    (distinct values at most 70 % of the rows), or it is the one text column
    of a small lookup table (genre names, media types)."""
    c, t = ident(col), ident(table)
    sql = (
        f"SELECT {c} AS v, count(*) OVER () AS n_values, sum(count(*)) OVER () AS n_rows FROM {t} "
        f"WHERE {c} IS NOT NULL GROUP BY {c} ORDER BY count(*) DESC, {c} LIMIT {SHOWN}"
    )
    checked = check(sql, tables={table}, dialect=ds.dialect, limit=SHOWN)
    if ds.engine == "url":
        res = run_url(ds.url or "", checked, timeout)
    elif ds.engine == "postgres":
        if not pg:
            return ()
        res = run_postgres(pg, PG_SCHEMA, checked, timeout)
    else:
        res = run_duckdb(Path(duckdb), checked, timeout)
    if not res.rows:
        return ()
    distinct, rows = int(res.rows[0][1] or 0), int(res.rows[0][2] or 0)
    category = distinct <= MAX_DISTINCT and 10 * distinct <= 7 * rows
    if not (category or (lookup and distinct <= LOOKUP_ROWS)):
        return ()
    values = tuple(str(r[0]) for r in res.rows)
    return () if any(len(v) > MAX_CHARS for v in values) else values
