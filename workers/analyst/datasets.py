"""Datasets the analyst answers over, loaded into DuckDB (embedded default) and
PostgreSQL (through SQLAlchemy).

``switchboard analyst load`` builds them; loading is idempotent and atomic (a
DuckDB file is written aside and renamed; PostgreSQL loads in one transaction).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import chinook


class AnalystSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_ANALYST_", extra="ignore")

    data_dir: Path = Path(".switchboard/data")
    postgres_url: str | None = None
    """e.g. postgresql+psycopg://postgres@127.0.0.1/test; unset: DuckDB only."""
    row_limit: int = Field(default=10_000, ge=1, le=1_000_000)
    statement_timeout_s: float = Field(default=10.0, gt=0)

    def duckdb_path(self, dataset: str) -> Path:
        return self.data_dir / f"{dataset}.duckdb"


@dataclass(frozen=True)
class Dataset:
    name: str
    engine: str  # "duckdb" | "postgres"
    tables: frozenset[str]
    doc: str


DATASETS: dict[str, Dataset] = {
    "chinook": Dataset(
        "chinook", "duckdb", frozenset(t.name for t in chinook.TABLES), "Chinook music store (DuckDB)"
    ),
    "chinook-pg": Dataset(
        "chinook-pg",
        "postgres",
        frozenset(t.name for t in chinook.TABLES),
        "Chinook music store (PostgreSQL)",
    ),
}


def dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None


@functools.cache
def chinook_version() -> str:
    """Content hash of the fixture: part of result cache keys."""
    return hashlib.sha256(chinook.fixture_path().read_bytes()).hexdigest()[:16]


def load_duckdb(path: Path) -> dict[str, int]:
    """Write the Chinook tables to a DuckDB file; returns row counts."""
    import duckdb
    import pandas

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    data = chinook.rows()
    con = duckdb.connect(str(tmp))
    try:
        for table in chinook.TABLES:
            cols = ", ".join(f"{c} {t}" for c, t, _ in table.columns)
            con.execute(f"CREATE TABLE {table.name} ({cols})")
            con.execute(f"COMMENT ON TABLE {table.name} IS '{table.doc}'")
            frame = pandas.DataFrame(data[table.name], columns=[c for c, _, _ in table.columns])
            con.register("incoming", frame)  # bulk insert: executemany is ~100x slower here
            con.execute(f"INSERT INTO {table.name} SELECT * FROM incoming")
            con.unregister("incoming")
        counts = {
            t.name: _count(con.execute(f"SELECT count(*) FROM {t.name}").fetchone()) for t in chinook.TABLES
        }
    finally:
        con.close()
    os.replace(tmp, path)
    return counts


def load_postgres(url: str, schema: str = "chinook") -> dict[str, int]:
    """Load the Chinook tables into ``schema`` of a PostgreSQL database, replacing it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    data = chinook.rows()
    counts = {}
    with engine.begin() as con:
        con.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        con.execute(text(f'CREATE SCHEMA "{schema}"'))
        for table in chinook.TABLES:
            cols = ", ".join(f"{c} {t}" for c, t, _ in table.columns)
            con.execute(text(f'CREATE TABLE "{schema}".{table.name} ({cols})'))
            names = [c for c, _, _ in table.columns]
            insert = text(
                f'INSERT INTO "{schema}".{table.name} ({", ".join(names)}) '
                f"VALUES ({', '.join(':' + n for n in names)})"
            )
            con.execute(insert, [dict(zip(names, row, strict=True)) for row in data[table.name]])
            counts[table.name] = _count(
                con.execute(text(f'SELECT count(*) FROM "{schema}".{table.name}')).fetchone()
            )
    engine.dispose()
    return counts


def _count(row: Any) -> int:
    return int(row[0]) if row else 0
