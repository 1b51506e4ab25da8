"""The analyst's datasets: load, inspect, query."""

from __future__ import annotations

import asyncio
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
