"""Run checked SQL on a read-only connection with a row limit and a statement
timeout: DuckDB (read-only file, no external access, configuration locked),
PostgreSQL through SQLAlchemy (read-only transaction, statement_timeout) or
SQLite (read-only file, interrupted at the deadline)."""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sqlguard import CheckedSQL

Scalar = str | int | float | bool | None


class SQLTimeout(TimeoutError):
    pass


class SQLFailed(RuntimeError):
    """The database rejected or failed the query (message is the database's)."""


@dataclass
class SQLResult:
    columns: list[str]
    rows: list[list[Scalar]]
    truncated: bool
    elapsed_ms: int


def _scalar(v: Any) -> Scalar:
    if v is None or isinstance(v, bool | int | str):
        return v  # type: ignore[no-any-return]
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return str(v)[:4_000]


def _result(columns: list[str], raw: list[tuple[Any, ...]], limit: int, start: float) -> SQLResult:
    truncated = len(raw) > limit
    rows = [[_scalar(v) for v in row] for row in raw[:limit]]
    return SQLResult(columns, rows, truncated, int((time.perf_counter() - start) * 1000))


def run_duckdb(path: Path, checked: CheckedSQL, timeout_s: float) -> SQLResult:
    import duckdb

    if not path.exists():
        raise SQLFailed(f"dataset file {path} is missing: run `switchboard analyst load`")
    con = duckdb.connect(
        str(path),
        read_only=True,
        config={"enable_external_access": False, "lock_configuration": True, "threads": 1},
    )
    timer = threading.Timer(timeout_s, con.interrupt)
    start = time.perf_counter()
    timer.start()
    try:
        cur = con.execute(checked.sql)
        columns = [d[0] for d in cur.description or []]
        raw = cur.fetchmany(checked.limit + 1)
    except duckdb.InterruptException:
        raise SQLTimeout(f"query ran longer than {timeout_s:g} s and was stopped") from None
    except duckdb.Error as exc:
        if time.perf_counter() - start >= timeout_s:
            raise SQLTimeout(f"query ran longer than {timeout_s:g} s and was stopped") from None
        raise SQLFailed(str(exc).splitlines()[0]) from None
    finally:
        timer.cancel()
        con.close()
    return _result(columns, raw, checked.limit, start)


def run_url(url: str, checked: CheckedSQL, timeout_s: float) -> SQLResult:
    """A database of yours: PostgreSQL as below, SQLite opened read-only."""
    if url.startswith("postgresql"):
        return run_postgres(url, None, checked, timeout_s)
    if url.startswith("sqlite:///"):
        return run_sqlite(Path(url.removeprefix("sqlite:///")), checked, timeout_s)
    raise SQLFailed(f"databases by URL are PostgreSQL or SQLite; got {url.split(':', 1)[0]}")


def run_sqlite(path: Path, checked: CheckedSQL, timeout_s: float) -> SQLResult:
    import sqlite3

    if not path.exists():
        raise SQLFailed(f"database file {path} is missing")
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    start = time.perf_counter()
    deadline = start + timeout_s
    con.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
    try:
        cur = con.execute(checked.sql)
        columns = [d[0] for d in cur.description or []]
        raw = cur.fetchmany(checked.limit + 1)
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise SQLTimeout(f"query ran longer than {timeout_s:g} s and was stopped") from None
        raise SQLFailed(str(exc)) from None
    except sqlite3.Error as exc:
        raise SQLFailed(str(exc)) from None
    finally:
        con.close()
    return _result(columns, raw, checked.limit, start)


def run_postgres(url: str, schema: str | None, checked: CheckedSQL, timeout_s: float) -> SQLResult:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(url, pool_pre_ping=True)
    start = time.perf_counter()
    try:
        with engine.connect() as con:
            con.execute(text("SET TRANSACTION READ ONLY"))
            con.execute(text(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
            if schema:
                con.execute(text(f'SET LOCAL search_path = "{schema}"'))
            cur = con.execute(text(checked.sql))
            columns = list(cur.keys())
            raw = [tuple(r) for r in cur.fetchmany(checked.limit + 1)]
            con.rollback()
    except DBAPIError as exc:
        message = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        if "statement timeout" in message:
            raise SQLTimeout(f"query ran longer than {timeout_s:g} s and was stopped") from None
        raise SQLFailed(message) from None
    finally:
        engine.dispose()
    return _result(columns, raw, checked.limit, start)
