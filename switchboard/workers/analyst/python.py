"""Python sandbox worker: analyst.code (language=python) -> analyst.result.

The code sees ``con`` (a read-only DuckDB connection to the dataset), ``pd``,
``np`` and ``plt``; it sets ``result`` (a DataFrame, Series, list of dicts,
dict or scalar) and may draw one matplotlib figure, returned as a PNG. A
refusal, a limit or an exception is a result with ``ok=False`` for the code
generator to read.
"""

from __future__ import annotations

import asyncio

from pydantic import ValidationError

from switchboard.bus import Context, Worker, handles
from switchboard.bus.cancels import CancellableWork, JobCancelled
from switchboard.schemas import Code, JobCancel, Result, Table
from switchboard.schemas.analyst import MAX_CHART_BYTES

from .charts import chart
from .datasets import AnalystSettings, all_datasets
from .results import result_fields
from .sandbox import Limits, Sandbox


async def run(code: Code, settings: AnalystSettings, sandbox: Sandbox) -> Result:
    """The code's result in the sandbox, or why it was refused or failed."""
    base = result_fields(code)
    known = all_datasets(settings)
    ds = known.get(code.dataset)
    if ds is None:
        error = f"unknown dataset {code.dataset!r}; known: {', '.join(sorted(known))}"
        return Result(**base, ok=False, error=error, error_kind="refused")
    if ds.engine != "duckdb":
        return Result(
            **base,
            ok=False,
            error=f"Python runs over DuckDB datasets; {ds.name} is {ds.engine}",
            error_kind="refused",
        )
    out = await sandbox.run(code.code, settings.duckdb_path())
    if not out.ok:
        return Result(
            **base,
            ok=False,
            error=(out.error or "failed")[:20_000],
            error_kind=out.error_kind or "runtime",
            stdout=out.stdout[:20_000],
        )
    try:
        table = Table(**out.table) if out.table else None
    except ValidationError as exc:
        return Result(
            **base, ok=False, error=f"result is not a table: {exc.errors()[0]['msg']}", error_kind="runtime"
        )
    png = out.chart_png if out.chart_png and len(out.chart_png) <= MAX_CHART_BYTES else None
    note = "stdout truncated" if out.extra.get("stdout_truncated") else ""
    drawn = await asyncio.to_thread(chart, table, code.question, png)
    return Result(
        **base,
        ok=True,
        table=table,
        chart=drawn,
        stdout=out.stdout[:20_000],
        note=note,
    )


class SandboxWorker:
    """Runs Python in one sandbox over the DuckDB datasets the settings name."""

    def __init__(self, settings: AnalystSettings | None = None, sandbox: Sandbox | None = None) -> None:
        self.settings = settings or AnalystSettings()
        self.sandbox = sandbox or Sandbox(Limits())
        self.work = CancellableWork()

    @handles(JobCancel)
    async def on_cancel(self, cancel: JobCancel, ctx: Context) -> None:
        """Kill the job's sandbox run in flight."""
        self.work.cancel(cancel.correlation_id, cancel.created_at)

    @handles(Code)
    async def on_code(self, code: Code, ctx: Context) -> Result | None:
        """Python code's result (SQL is the sql worker's)."""
        if code.language != "python":
            return None  # the SQL worker takes it
        try:
            return await self.work.run(code.correlation_id, run(code, self.settings, self.sandbox))
        except JobCancelled:
            return None


def build(settings: AnalystSettings | None = None, sandbox: Sandbox | None = None) -> Worker:
    """The sandbox worker kind; a message's ack waits twice the sandbox's wall limit."""
    service = SandboxWorker(settings, sandbox)
    return Worker.of(
        service, "sandbox", version="0.1.0", emits=(Result,), ack_wait_s=service.sandbox.limits.wall_s * 2
    )
