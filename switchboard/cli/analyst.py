"""The analyst's datasets: load, inspect, query."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from .apps import analyst_app
from .common import fail


@analyst_app.command("load")
def analyst_load(
    postgres: Annotated[
        str | None,
        typer.Option(
            help="Also load into PostgreSQL, connecting with this URL of a role that may create schemas and roles"
        ),
    ] = None,
    reader_password: Annotated[
        str | None, typer.Option(help="The read-only role's password (default: a new random one)")
    ] = None,
) -> None:
    """Load Chinook and the music21 score corpus into DuckDB (and PostgreSQL, with a read-only role for the analyst)."""
    from switchboard.workers.analyst.datasets import (
        PG_SCHEMA,
        AnalystSettings,
        create_reader,
        load_duckdb,
        load_postgres,
    )

    settings = AnalystSettings()
    try:
        counts = load_duckdb(settings.duckdb_path())
    except FileNotFoundError as exc:
        fail(str(exc))
    typer.echo(f"DuckDB {settings.duckdb_path()}: {sum(counts.values())} rows in {len(counts)} tables")
    if postgres:
        try:
            counts = load_postgres(postgres)
            reader = create_reader(postgres, password=reader_password)
        except Exception as exc:  # any driver error: report it, don't trace
            fail(f"PostgreSQL load failed: {str(exc).splitlines()[0]}")
        typer.echo(f"PostgreSQL schema {PG_SCHEMA}: {sum(counts.values())} rows in {len(counts)} tables")
        typer.echo("the analyst connects with a role that may only read that schema; set")
        typer.echo(f"  SWITCHBOARD_ANALYST_POSTGRES_URL='{reader}'")


@analyst_app.command("datasets")
def analyst_datasets(
    name: Annotated[str | None, typer.Argument(help="Show this dataset's tables and columns")] = None,
) -> None:
    """List the datasets (built-in and yours from SWITCHBOARD_ANALYST_DATABASES), or one's schema."""
    from switchboard.workers.analyst import datasets, prompts

    if name is None:
        for ds in datasets.all_datasets().values():
            typer.echo(f"{ds.name:12} {ds.engine:9} {ds.doc}")
        return
    try:
        ds = datasets.dataset(name)
        typer.echo(prompts.schema_text(datasets.tables(ds)))
    except KeyError as exc:
        fail(str(exc.args[0]))
    except Exception as exc:  # a database of yours that cannot be reached
        fail(f"{name}: {str(exc).splitlines()[0]}")


@analyst_app.command("sql")
def analyst_sql(
    query: Annotated[str, typer.Argument(help="One read-only SELECT")],
    dataset: Annotated[
        str,
        typer.Option(help="chinook | music (DuckDB), chinook-pg | music-pg (PostgreSQL), or one of yours"),
    ] = "chinook",
) -> None:
    """Run a query through the same guard and limits the SQL worker applies."""
    from switchboard.schemas import Code
    from switchboard.workers.analyst import sql
    from switchboard.workers.analyst.datasets import AnalystSettings

    code = Code(
        correlation_id="cli",
        question_id="cli",
        dataset=dataset,
        language="sql",
        code=query,
        attempt=1,
        max_attempts=1,
        model="human",
    )
    result = asyncio.run(sql.run(code, AnalystSettings()))
    if not result.ok:
        fail(f"{result.error_kind}: {result.error}")
    assert result.table
    typer.echo("\t".join(result.table.columns))
    for row in result.table.rows:
        typer.echo("\t".join("" if v is None else str(v) for v in row))
    if result.table.truncated:
        typer.echo(f"(truncated: {result.note or 'more rows than shown'})", err=True)


@analyst_app.command("history")
def analyst_history(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many, newest first")] = 20,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset's questions")] = None,
    confirmed: Annotated[bool, typer.Option(help="Only answers a user marked right")] = False,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the confirmed SQL pairs to this JSON file (bench/analyst --questions)"),
    ] = None,
) -> None:
    """Past questions with their code, result size, attempts, latency, verdict and the user's mark."""
    import json

    from switchboard.workers.analyst.datasets import AnalystSettings
    from switchboard.workers.analyst.memory import Memory, regression_set

    url = AnalystSettings().memory()
    if url is None:
        fail("nothing is kept: SWITCHBOARD_ANALYST_REMEMBER is false")
    try:
        rows = Memory(url).history(limit, dataset, confirmed or export is not None)
    except Exception as exc:  # the store's database cannot be reached
        fail(f"analyst memory {url.split('@')[-1]}: {str(exc).splitlines()[0]}")
    if export is not None:
        pairs = regression_set(rows)
        export.write_text(json.dumps(pairs, indent=1, ensure_ascii=False) + "\n")
        typer.echo(f"{len(pairs)} confirmed SQL pairs written to {export}")
        return
    if not rows:
        typer.echo("no questions yet")
        return
    for r in rows:
        latency = f"{r.latency_ms / 1000:.1f} s" if r.latency_ms is not None else "-"
        size = f"{r.rows} rows" if r.rows is not None else "no table"
        mark = f" · marked {r.feedback}" if r.feedback else ""
        typer.echo(
            f"{r.asked_at:%Y-%m-%d %H:%M} {r.verdict:8} {r.dataset} {r.language} · {r.attempts} attempt(s)"
            f" · {size} · {latency}{mark}\n  Q: {r.question[:200]}"
        )
        if r.code:
            typer.echo("  " + r.code.strip().replace("\n", "\n  "))
        if r.verdict == "gave up" and r.error:
            typer.echo("  error: " + r.error.strip().splitlines()[-1][:200])
