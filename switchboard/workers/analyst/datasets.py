"""Datasets the analyst answers over: the Chinook store and the music21 score
corpus, loaded into DuckDB (embedded default) and PostgreSQL (through
SQLAlchemy), and any database of yours attached by URL.

``switchboard analyst load`` builds them; loading is idempotent and atomic (a
DuckDB file is written aside and renamed; PostgreSQL loads in one transaction).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import chinook, scores
from .chinook import Table


class AnalystSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_ANALYST_", extra="ignore")

    data_dir: Path = Path(".switchboard/data")
    postgres_url: str | None = None
    """e.g. postgresql+psycopg://postgres@127.0.0.1/test; unset: DuckDB only."""
    databases: dict[str, str] = {}
    """Your own databases by SQLAlchemy URL (PostgreSQL or SQLite), as JSON:
    {"sales": "postgresql+psycopg://user@host/db"}; each becomes a dataset."""
    schema_rag_tables: int = Field(default=12, ge=0)
    """Datasets with more tables than this get schema retrieval instead of the whole schema."""
    schema_rag_k: int = Field(default=5, ge=1)
    sample_values: bool = True
    """Show the model a few values of each text column of few distinct values."""
    row_limit: int = Field(default=10_000, ge=1, le=1_000_000)
    statement_timeout_s: float = Field(default=10.0, gt=0)
    words: bool = True
    memory_url: str = ""
    """Where questions, their outcomes and the users' verdicts are kept (SQLAlchemy
    URL; PostgreSQL for several hosts); empty: SQLite in data_dir."""
    remember: bool = True
    """Keep questions and verdicts, and learn from confirmed answers (false: neither)."""
    learned_examples: int = Field(default=2, ge=0, le=8)
    """Confirmed question -> code pairs shown to the model as worked examples."""
    learned_similarity: float = Field(default=0.6, ge=0.0, le=1.0)
    """...only those at least this near the question (cosine of MiniLM embeddings)."""
    """State each answer in words too (one or two sentences from the result table)."""

    def duckdb_path(self) -> Path:
        return self.data_dir / DUCKDB_FILE

    def memory(self) -> str | None:
        """The memory store's URL, or None when nothing is to be kept."""
        if not self.remember:
            return None
        return self.memory_url or f"sqlite:///{self.data_dir / MEMORY_FILE}"


DUCKDB_FILE = "analyst.duckdb"
MEMORY_FILE = "memory.db"
PG_SCHEMA = "analyst"
BUILTIN_TABLES: tuple[Table, ...] = (*chinook.TABLES, scores.TABLE)


@dataclass(frozen=True)
class Dataset:
    name: str
    engine: str  # "duckdb" | "postgres" (the built-in data) | "url" (a database of yours)
    tables: frozenset[str]
    doc: str
    url: str | None = None

    @property
    def dialect(self) -> str:
        """sqlglot's name for the SQL dialect."""
        if self.engine == "url":
            return "sqlite" if (self.url or "").startswith("sqlite") else "postgres"
        return "postgres" if self.engine == "postgres" else "duckdb"


_CHINOOK = frozenset(t.name for t in chinook.TABLES)
_MUSIC = _CHINOOK | {scores.TABLE.name}
DATASETS: dict[str, Dataset] = {
    "chinook": Dataset("chinook", "duckdb", _CHINOOK, "Chinook music store, a business database (DuckDB)"),
    "chinook-pg": Dataset("chinook-pg", "postgres", _CHINOOK, "Chinook music store (PostgreSQL)"),
    "music": Dataset("music", "duckdb", _MUSIC, "music21 score corpus + the Chinook store (DuckDB)"),
    "music-pg": Dataset(
        "music-pg", "postgres", _MUSIC, "music21 score corpus + the Chinook store (PostgreSQL)"
    ),
}


def all_datasets(settings: AnalystSettings | None = None) -> dict[str, Dataset]:
    settings = settings or AnalystSettings()
    out = dict(DATASETS)
    for name, url in settings.databases.items():
        out[name] = Dataset(name, "url", frozenset(), f"your database {name}", url)
    return out


def configured(settings: AnalystSettings | None = None) -> list[Dataset]:
    """The datasets that can answer here: the PostgreSQL copies only when a
    PostgreSQL URL is set."""
    settings = settings or AnalystSettings()
    return [ds for ds in all_datasets(settings).values() if ds.engine != "postgres" or settings.postgres_url]


def dataset(name: str, settings: AnalystSettings | None = None) -> Dataset:
    known = all_datasets(settings)
    try:
        ds = known[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(known))}") from None
    if ds.engine == "url" and not ds.tables:
        ds = Dataset(ds.name, ds.engine, frozenset(t.name for t in reflect(ds.url or "")), ds.doc, ds.url)
    return ds


def tables(ds: Dataset) -> tuple[Table, ...]:
    """The tables of a dataset, with columns and a line on what each holds."""
    if ds.engine == "url":
        return reflect(ds.url or "")
    return tuple(t for t in BUILTIN_TABLES if t.name in ds.tables)


@functools.cache
def reflect(url: str) -> tuple[Table, ...]:
    """Tables, columns and foreign keys of a database, read through SQLAlchemy."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        insp = inspect(engine)
        out = []
        for name in insp.get_table_names():
            columns = insp.get_columns(name)
            cols = tuple((c["name"], str(c["type"]), "") for c in columns)
            notes = tuple((c["name"], (c.get("comment") or "")[:200]) for c in columns if c.get("comment"))
            fks = [
                f"{', '.join(fk['constrained_columns'])} -> {fk['referred_table']}"
                for fk in insp.get_foreign_keys(name)
            ]
            try:
                comment = (insp.get_table_comment(name) or {}).get("text") or ""
            except NotImplementedError:  # SQLite keeps no comments
                comment = ""
            doc = "; ".join(x for x in (comment, ", ".join(fks)) if x) or name
            out.append(Table(name, name, cols, doc, comments=notes))
    finally:
        engine.dispose()
    return tuple(out)


@functools.cache
def data_version() -> str:
    """Content hash of the built-in data's sources: part of result cache keys."""
    digest = hashlib.sha256(chinook.fixture_path().read_bytes())
    digest.update(importlib.metadata.version("music21").encode())
    return digest.hexdigest()[:16]


def builtin_rows() -> dict[str, list[tuple[Any, ...]]]:
    return chinook.rows() | {scores.TABLE.name: scores.rows()}


def load_duckdb(path: Path) -> dict[str, int]:
    """Write the built-in tables to a DuckDB file; returns row counts."""
    import duckdb
    import pandas

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    data = builtin_rows()
    con = duckdb.connect(str(tmp))
    try:
        for table in BUILTIN_TABLES:
            cols = ", ".join(f"{c} {t}" for c, t, _ in table.columns)
            con.execute(f"CREATE TABLE {table.name} ({cols})")
            doc = table.doc.replace("'", "''")
            con.execute(f"COMMENT ON TABLE {table.name} IS '{doc}'")
            frame = pandas.DataFrame(data[table.name], columns=[c for c, _, _ in table.columns])
            con.register("incoming", frame)  # bulk insert: executemany is ~100x slower here
            con.execute(f"INSERT INTO {table.name} SELECT * FROM incoming")
            con.unregister("incoming")
        counts = {
            t.name: _count(con.execute(f"SELECT count(*) FROM {t.name}").fetchone()) for t in BUILTIN_TABLES
        }
    finally:
        con.close()
    os.replace(tmp, path)
    return counts


def load_postgres(url: str, schema: str = PG_SCHEMA) -> dict[str, int]:
    """Load the built-in tables into ``schema`` of a PostgreSQL database, replacing it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    data = builtin_rows()
    counts = {}
    with engine.begin() as con:
        con.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        con.execute(text(f'CREATE SCHEMA "{schema}"'))
        for table in BUILTIN_TABLES:
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


READER_ROLE = "switchboard_reader"


def create_reader(
    admin_url: str, schema: str = PG_SCHEMA, role: str = READER_ROLE, password: str | None = None
) -> str:
    """A login role that may only read ``schema``: not a superuser, no role or
    database creation, none of the server-file roles, SELECT on the schema's
    tables only. Returns the URL the analyst connects with (``password``, or a
    new random one each time)."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    password = password or secrets.token_urlsafe(18)
    if "'" in password:
        raise ValueError("the reader password may not contain a quote")
    engine = create_engine(admin_url)
    try:
        with engine.begin() as con:
            exists = con.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            verb = "ALTER" if exists else "CREATE"
            con.execute(
                text(
                    f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                    f"NOBYPASSRLS NOINHERIT PASSWORD '{password}'"
                )
            )
            for granted in ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"):
                con.execute(text(f'REVOKE {granted} FROM "{role}"'))
            database = con.execute(text("SELECT current_database()")).scalar_one()
            con.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
            con.execute(text(f'REVOKE CREATE ON SCHEMA public FROM "{role}"'))
            con.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            con.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(username=role, password=password).render_as_string(hide_password=False)


def _count(row: Any) -> int:
    return int(row[0]) if row else 0
