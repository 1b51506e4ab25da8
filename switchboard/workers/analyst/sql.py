"""SQL worker: analyst.code (language=sql) -> analyst.result.

The code is checked (one read-only query over the dataset's tables, row limit)
and run with a statement timeout on a read-only connection. A refusal or a
database error is a result with ``ok=False``: the code generator reads it and
tries again, so it is data, not a dead letter.
"""

from __future__ import annotations

import asyncio

from switchboard.bus import Context, Worker, handles
from switchboard.bus.cancels import CancellableWork, JobCancelled
from switchboard.schemas import Code, JobCancel, Result, Table
from switchboard.schemas.analyst import MAX_ROWS_ON_BUS

from . import sqlexec
from .charts import chart
from .datasets import PG_SCHEMA, AnalystSettings, dataset, load_duckdb
from .results import result_fields
from .sqlguard import SQLRefused, check

ROW_BYTES_ON_BUS = 600_000


def _table(res: sqlexec.SQLResult) -> Table:
    rows = res.rows[:MAX_ROWS_ON_BUS]
    budget = ROW_BYTES_ON_BUS
    kept = []
    for row in rows:  # stay well under the bus's 1 MB event limit
        budget -= sum(len(str(v)) + 4 for v in row)
        if budget < 0:
            break
        kept.append(row)
    columns = [c[:128] or f"col{i}" for i, c in enumerate(res.columns)]
    return Table(
        columns=columns,
        rows=kept,
        truncated=res.truncated or len(kept) < len(res.rows),
        total_rows=None if res.truncated else len(res.rows),
    )


async def run(code: Code, settings: AnalystSettings) -> Result:
    """The checked query's table, or why it was refused or failed."""
    base = result_fields(code)
    try:
        ds = await asyncio.to_thread(dataset, code.dataset, settings)
        checked = check(code.code, tables=set(ds.tables), dialect=ds.dialect, limit=settings.row_limit)
    except (SQLRefused, KeyError) as exc:
        return Result(**base, ok=False, error=str(exc), error_kind="refused")
    except Exception as exc:  # a database of yours that cannot be reached or read
        return Result(**base, ok=False, error=f"{code.dataset}: {exc}"[:20_000], error_kind="refused")
    timeout = settings.statement_timeout_s
    try:
        if ds.engine == "postgres":
            if not settings.postgres_url:
                return Result(**base, ok=False, error="no PostgreSQL configured", error_kind="refused")
            res = await sqlexec.run_isolated(
                "postgres", settings.postgres_url, PG_SCHEMA, checked, timeout, timeout_s=timeout
            )
        elif ds.engine == "url":
            res = await sqlexec.run_isolated("url", ds.url or "", checked, timeout, timeout_s=timeout)
        else:
            res = await sqlexec.run_isolated(
                "duckdb", settings.duckdb_path(), checked, timeout, timeout_s=timeout
            )
    except sqlexec.SQLTimeout as exc:
        return Result(**base, ok=False, error=str(exc), error_kind="timeout")
    except sqlexec.SQLLimit as exc:
        return Result(**base, ok=False, error=str(exc), error_kind="limit")
    except sqlexec.SQLFailed as exc:
        return Result(**base, ok=False, error=str(exc)[:20_000], error_kind="runtime")
    table = _table(res)
    note = "row limit reached; showing the first rows" if res.truncated else ""
    drawn = await asyncio.to_thread(chart, table, code.question)
    return Result(**base, ok=True, table=table, chart=drawn, elapsed_ms=res.elapsed_ms, note=note)


class SQLWorker:
    """Runs SQL over the datasets the settings name."""

    def __init__(self, settings: AnalystSettings | None = None) -> None:
        self.settings = settings or AnalystSettings()
        self.work = CancellableWork()

    async def start(self) -> None:
        """Load the datasets on first start, so a fresh machine answers at once."""
        path = self.settings.duckdb_path()
        if not path.exists():
            await asyncio.to_thread(load_duckdb, path)

    @handles(JobCancel)
    async def on_cancel(self, cancel: JobCancel, ctx: Context) -> None:
        """Kill the job's query in flight."""
        self.work.cancel(cancel.correlation_id, cancel.created_at)

    @handles(Code)
    async def on_code(self, code: Code, ctx: Context) -> Result | None:
        """SQL code's result (Python code is the sandbox's); nothing for a cancelled job."""
        if code.language != "sql":
            return None  # the Python sandbox worker takes it
        try:
            return await self.work.run(code.correlation_id, run(code, self.settings))
        except JobCancelled:
            return None


def build(settings: AnalystSettings | None = None) -> Worker:
    """The sql worker kind over the datasets ``settings`` name."""
    return Worker.of(SQLWorker(settings), "sql", version="0.1.0", emits=(Result,))
