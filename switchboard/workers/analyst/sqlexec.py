"""Run checked SQL on a read-only connection with a row limit, a byte limit
and a statement timeout: DuckDB (read-only file, no external access,
configuration locked, a memory limit and no spilling), PostgreSQL through
SQLAlchemy (read-only transaction, statement_timeout) or SQLite (read-only
file, interrupted at the deadline).

``run_isolated`` runs one of them in a child process forked from a server
that has the database libraries loaded, with an address-space limit, and
kills it when the deadline passes: a query that no interrupt reaches (one
huge value) or that eats memory ends as an error, never as a stalled or
dead worker."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sqlguard import CheckedSQL

Scalar = str | int | float | bool | None


class SQLTimeout(TimeoutError):
    pass


class SQLFailed(RuntimeError):
    """The database rejected or failed the query (message is the database's)."""


class SQLLimit(RuntimeError):
    """The query passed the memory or result-size limit."""


MEMORY_BYTES = 2 << 30
"""Address space of the child that runs a query; DuckDB gets half of it as memory_limit."""
RESULT_BYTES = 8 << 20
"""Result rows past this many bytes (as text) are cut, as the row limit cuts rows."""


@dataclass
class SQLResult:
    columns: list[str]
    rows: list[list[Scalar]]
    truncated: bool
    elapsed_ms: int


def _scalar(v: Any) -> Scalar:
    if v is None or isinstance(v, bool | int | str):
        return v
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
    rows: list[list[Scalar]] = []
    budget = RESULT_BYTES
    for row in raw[:limit]:
        values = [_scalar(v) for v in row]
        budget -= sum(len(str(v)) + 4 for v in values)
        if budget < 0:
            truncated = True
            break
        rows.append(values)
    return SQLResult(columns, rows, truncated, int((time.perf_counter() - start) * 1000))


def run_duckdb(path: Path, checked: CheckedSQL, timeout_s: float) -> SQLResult:
    import duckdb

    if not path.exists():
        raise SQLFailed(f"dataset file {path} is missing: run `switchboard analyst load`")
    con = duckdb.connect(
        str(path),
        read_only=True,
        config={
            "enable_external_access": False,
            "lock_configuration": True,
            "threads": 1,
            "memory_limit": f"{MEMORY_BYTES // 2 >> 20}MB",
            "temp_directory": "",  # no spilling to disk
        },
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
    except duckdb.OutOfMemoryException:
        raise SQLLimit(f"query needed more than the {MEMORY_BYTES // 2 >> 20} MB memory limit") from None
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
    con.set_progress_handler(lambda: int(time.perf_counter() > deadline), 1_000)
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


_PRIVILEGED = (
    "SELECT r.rolsuper OR r.rolcreaterole OR r.rolbypassrls"
    " OR pg_has_role(current_user, 'pg_read_server_files', 'USAGE')"
    " OR pg_has_role(current_user, 'pg_write_server_files', 'USAGE')"
    " OR pg_has_role(current_user, 'pg_execute_server_program', 'USAGE')"
    " FROM pg_roles r WHERE r.rolname = current_user"
)


def _refuse_privileged(con: Any) -> None:
    """Generated SQL never runs as a role that could reach the server's files or other roles."""
    from sqlalchemy import text

    if con.execute(text(_PRIVILEGED)).scalar():
        raise SQLFailed(
            "refusing to run generated SQL as a privileged PostgreSQL role (superuser, or one that may "
            "read server files): connect with the read-only role `switchboard analyst load --postgres "
            "ADMIN_URL` creates"
        )


def run_postgres(url: str, schema: str | None, checked: CheckedSQL, timeout_s: float) -> SQLResult:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(url, pool_pre_ping=True)
    start = time.perf_counter()
    try:
        with engine.connect() as con:
            con.execute(text("SET TRANSACTION READ ONLY"))
            _refuse_privileged(con)
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


GRACE_S = 2.0
_FUNCTIONS: dict[str, Callable[..., Any]] = {"duckdb": run_duckdb, "url": run_url, "postgres": run_postgres}


def _child(conn: Any, name: str, args: tuple[Any, ...]) -> None:
    import contextlib
    import ctypes
    import resource
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the worker
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    try:
        conn.send(("ok", _FUNCTIONS[name](*args)))
    except (SQLTimeout, SQLFailed, SQLLimit) as exc:
        conn.send((type(exc).__name__, str(exc)))
    except MemoryError:
        conn.send(("SQLLimit", f"query needed more than the {MEMORY_BYTES >> 20} MB memory limit"))
    except Exception as exc:  # a driver's own error type: report it as the database's
        conn.send(("SQLFailed", f"{type(exc).__name__}: {exc}"[:20_000]))


@functools.cache
def _mp() -> Any:
    """The forkserver context the queries' child processes start from (one per process)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["switchboard.workers.analyst.sqlexec", "duckdb", "sqlalchemy", "sqlite3"])
    return context


async def run_isolated(engine: str, *args: Any, timeout_s: float) -> SQLResult:
    """``run_<engine>(*args)`` in a killable child process (see the module's doc)."""
    import asyncio

    ctx = _mp()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, engine, args), daemon=True)
    await asyncio.to_thread(proc.start)
    send.close()
    try:
        ready = await asyncio.to_thread(receive.poll, timeout_s + GRACE_S)
        if not ready:
            raise SQLTimeout(f"query ran longer than {timeout_s:g} s and was stopped")
        try:
            kind, payload = await asyncio.to_thread(receive.recv)
        except EOFError:
            await asyncio.to_thread(proc.join, 5)
            raise SQLLimit(
                f"the query process ended (exit {proc.exitcode}); it likely passed the "
                f"{MEMORY_BYTES >> 20} MB memory limit"
            ) from None
    finally:
        receive.close()
        if proc.is_alive():
            proc.kill()
        await asyncio.to_thread(proc.join, 5)
    if kind == "ok":
        return payload  # type: ignore[no-any-return]
    raise {"SQLTimeout": SQLTimeout, "SQLLimit": SQLLimit}.get(kind, SQLFailed)(payload)
