"""The SQL databases workers keep their state in, through SQLAlchemy: one engine
per URL and set of tables, the tables created, a SQLite file's folder made."""

from __future__ import annotations

import functools
from pathlib import Path

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine


@functools.cache
def engine(url: str, tables: MetaData) -> Engine:
    """An engine for ``url`` with ``tables`` created (once per process)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    eng = create_engine(url)
    tables.create_all(eng)
    return eng
