"""The ``switchboard`` command: a thin layer over bus/, workers/, streams/ and edge/."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bus.config import BusSettings

from . import logs

app = typer.Typer(no_args_is_help=True, help="AI pipelines as stateless workers on a message bus.")
replay_app = typer.Typer(no_args_is_help=True, help="Replay recorded streams into an isolated namespace.")
app.add_typer(replay_app, name="replay")
analyst_app = typer.Typer(no_args_is_help=True, help="Analyst datasets: load, inspect, query.")
app.add_typer(analyst_app, name="analyst")
music_app = typer.Typer(no_args_is_help=True, help="The music pipeline's corpus.")
app.add_typer(music_app, name="music")
voice_app = typer.Typer(no_args_is_help=True, help="The voice assistant's knowledge base.")
app.add_typer(voice_app, name="voice")

Namespace = Annotated[str | None, typer.Option(help="Subject/stream namespace [env SWITCHBOARD_NAMESPACE]")]


def _settings(namespace: str | None = None) -> BusSettings:
    settings = BusSettings()
    if namespace:
        settings = BusSettings(**{**settings.model_dump(), "namespace": namespace})
    return settings


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help="Worker kind (see `switchboard workers`) or module:attribute")],
    replicas: Annotated[
        int, typer.Option(min=1, max=64, help="Processes to start; they share partitions")
    ] = 1,
    metrics_port: Annotated[int, typer.Option(help="Serve /metrics on this port (0: off)")] = 0,
    namespace: Namespace = None,
) -> None:
    """Run a worker kind. Start more copies (here or on other machines) to scale it."""
    logs.setup()
    if replicas > 1:
        from .supervise import Child, supervise

        argv = [sys.executable, "-m", "switchboard.cli", "worker", name]
        if namespace:
            argv += ["--namespace", namespace]
        children = [Child(f"{name}-{i}", argv) for i in range(replicas)]
        raise typer.Exit(supervise(children))
    from bus.runtime import run_worker
    from workers import load

    try:
        w = load(name)
    except (KeyError, ImportError, TypeError) as exc:
        _fail(str(exc))
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(w, _settings(namespace), stop)

    import nats.errors

    try:
        asyncio.run(main())
    except (OSError, nats.errors.Error) as exc:
        _fail(f"cannot reach the broker: {exc}")


@app.command()
def workers() -> None:
    """List the worker kinds."""
    from workers import REGISTRY

    for name, target in sorted(REGISTRY.items()):
        typer.echo(f"{name:12} {target}")


@app.command()
def edge(
    host: Annotated[str | None, typer.Option(help="[env SWITCHBOARD_EDGE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="[env SWITCHBOARD_EDGE_PORT]")] = None,
    namespace: Namespace = None,
) -> None:
    """Run the WebSocket edge, the HTTP job API and the web page."""
    import uvicorn

    from edge.app import create_app
    from edge.settings import EdgeSettings

    logs.setup()
    es = EdgeSettings()
    uvicorn.run(
        create_app(_settings(namespace), es),
        host=host or es.host,
        port=port if port is not None else es.port,
        log_level="warning",
        ws_max_size=es.max_frame_bytes * 2,
    )


@app.command()
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    only: Annotated[list[str] | None, typer.Option(help="Run only these worker kinds")] = None,
    data_dir: Annotated[
        str, typer.Option(help="Where an embedded NATS keeps its streams")
    ] = ".switchboard/nats",
) -> None:
    """Embedded mode: start or attach to NATS, then run the edge and every worker here."""
    import os

    from bus.servers import ensure_nats
    from workers import REGISTRY

    from .supervise import Child, supervise

    logs.setup()
    settings = _settings()
    if settings.broker != "nats":
        _fail("`up` runs on NATS; for Kafka start `switchboard worker NAME` with SWITCHBOARD_BROKER=kafka")
    os.makedirs(data_dir, exist_ok=True)
    try:
        server = ensure_nats(settings.nats_url, data_dir)
    except RuntimeError as exc:
        _fail(str(exc))
    typer.echo(f"NATS: {settings.nats_url} ({'started here' if server else 'already running'})")
    kinds = only or sorted(REGISTRY)
    unknown = sorted(set(kinds) - set(REGISTRY))
    if unknown:
        _fail(f"unknown worker kinds {unknown}; known: {sorted(REGISTRY)}")
    me = [sys.executable, "-m", "switchboard.cli"]
    children = [Child("edge", [*me, "edge", "--host", host, "--port", str(port)])]
    children += [Child(k, [*me, "worker", k]) for k in kinds]
    typer.echo(f"workers: {', '.join(kinds)}")
    typer.echo(f"edge: http://{host}:{port}/  (WebSocket ws://{host}:{port}/ws, API docs /docs)")
    try:
        supervise(children)
    finally:
        if server:
            server.terminate()
            server.wait(10)


@app.command()
def streams(
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """List streams, subjects, message counts and consumer lag (NATS)."""
    from dataclasses import asdict

    from bus.runtime import connect_nats
    from streams.inspect import report

    settings = _settings(namespace)

    async def main() -> None:
        nc = await connect_nats(settings, "switchboard-cli")
        reports = await report(nc.jetstream(), settings)
        await nc.close()
        if as_json:
            typer.echo(json.dumps([asdict(r) for r in reports], indent=2))
            return
        if not reports:
            typer.echo(f"no streams in namespace {settings.namespace!r}")
        for r in reports:
            typer.echo(f"{r.name}  {r.messages} msgs  {r.bytes} B  seq {r.first_seq}..{r.last_seq}")
            for subject, count in r.per_subject.items():
                typer.echo(f"  {subject:44} {count}")
            for c in r.consumers:
                typer.echo(
                    f"  consumer {c.name:36} lag {c.pending:6}  unacked {c.ack_pending:4}  redelivered {c.redelivered}"
                )

    asyncio.run(main())


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@replay_app.command("run")
def replay_run(
    into: Annotated[str, typer.Option(help="Replay namespace (isolated from live)")],
    subject: Annotated[
        list[str] | None, typer.Option(help="Subjects to copy (default: a pipeline's inputs)")
    ] = None,
    pipeline: Annotated[str, typer.Option(help="voice | analyst | music | jobs")] = "voice",
    start_seq: Annotated[int | None, typer.Option()] = None,
    end_seq: Annotated[int | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="ISO time")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time")] = None,
    correlation: Annotated[list[str] | None, typer.Option(help="Only these sessions/jobs")] = None,
    namespace: Namespace = None,
) -> None:
    """Copy a recorded slice into NAMESPACE; then run a worker there with SWITCHBOARD_NAMESPACE=NAMESPACE."""
    from bus.runtime import connect_nats
    from streams.replay import Slice, replay
    from streams.topology import ENTRY_SUBJECTS

    settings = _settings(namespace)
    if pipeline not in ENTRY_SUBJECTS:
        _fail(f"unknown pipeline {pipeline!r}")
    sl = Slice(
        subjects=list(subject or ENTRY_SUBJECTS[pipeline]),
        start_seq=start_seq,
        end_seq=end_seq,
        since=_parse_time(since),
        until=_parse_time(until),
        correlation_ids=set(correlation or []),
    )

    async def main() -> int:
        nc = await connect_nats(settings, "switchboard-replay")
        try:
            return await replay(nc.jetstream(), settings, into, sl)
        finally:
            await nc.close()

    try:
        count = asyncio.run(main())
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"replayed {count} events of {', '.join(sl.subjects)} into namespace {into!r}")
    typer.echo(f"now run: SWITCHBOARD_NAMESPACE={into} switchboard worker NAME")


@replay_app.command("compare")
def replay_compare(
    into: Annotated[str, typer.Option(help="Replay namespace")],
    subject: Annotated[str, typer.Option(help="Output subject to compare")],
    inputs: Annotated[list[str] | None, typer.Option(help="Replayed input subjects")] = None,
    pipeline: Annotated[str, typer.Option()] = "voice",
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pair the replay's outputs with the recorded ones and show what differs."""
    from dataclasses import asdict

    from bus.runtime import connect_nats
    from streams.replay import compare
    from streams.topology import ENTRY_SUBJECTS

    settings = _settings(namespace)

    async def main() -> list:  # type: ignore[type-arg]
        nc = await connect_nats(settings, "switchboard-replay")
        try:
            return await compare(
                nc.jetstream(), settings.namespace, into, subject, inputs or ENTRY_SUBJECTS[pipeline]
            )
        finally:
            await nc.close()

    pairs = asyncio.run(main())
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in pairs], indent=2, default=str))
        return
    same = sum(1 for p in pairs if not p.differences)
    typer.echo(f"{len(pairs)} outputs: {same} identical, {len(pairs) - same} different")
    for p in pairs:
        if p.differences:
            typer.echo(f"  {p.key}: {', '.join(p.differences)}")


@replay_app.command("drop")
def replay_drop(into: Annotated[str, typer.Argument(help="Replay namespace to delete")]) -> None:
    """Delete a replay namespace's streams."""
    from bus.runtime import connect_nats
    from streams.replay import drop

    settings = _settings()
    if into == settings.namespace:
        _fail("refusing to drop the live namespace")

    async def main() -> list[str]:
        nc = await connect_nats(settings, "switchboard-replay")
        try:
            return await drop(nc.jetstream(), into)
        finally:
            await nc.close()

    typer.echo(f"dropped {', '.join(asyncio.run(main())) or 'nothing'}")


@analyst_app.command("load")
def analyst_load(
    postgres: Annotated[
        str | None,
        typer.Option(help="Also load into this PostgreSQL URL [env SWITCHBOARD_ANALYST_POSTGRES_URL]"),
    ] = None,
) -> None:
    """Load Chinook and the music21 score corpus into DuckDB (and PostgreSQL when configured)."""
    from workers.analyst.datasets import PG_SCHEMA, AnalystSettings, load_duckdb, load_postgres

    settings = AnalystSettings()
    try:
        counts = load_duckdb(settings.duckdb_path())
    except FileNotFoundError as exc:
        _fail(str(exc))
    typer.echo(f"DuckDB {settings.duckdb_path()}: {sum(counts.values())} rows in {len(counts)} tables")
    url = postgres or settings.postgres_url
    if url:
        try:
            counts = load_postgres(url)
        except Exception as exc:  # any driver error: report it, don't trace
            _fail(f"PostgreSQL load failed: {str(exc).splitlines()[0]}")
        typer.echo(f"PostgreSQL schema {PG_SCHEMA}: {sum(counts.values())} rows in {len(counts)} tables")


@analyst_app.command("datasets")
def analyst_datasets(
    name: Annotated[str | None, typer.Argument(help="Show this dataset's tables and columns")] = None,
) -> None:
    """List the datasets (built-in and yours from SWITCHBOARD_ANALYST_DATABASES), or one's schema."""
    from workers.analyst import datasets, prompts

    if name is None:
        for ds in datasets.all_datasets().values():
            typer.echo(f"{ds.name:12} {ds.engine:9} {ds.doc}")
        return
    try:
        ds = datasets.dataset(name)
        typer.echo(prompts.schema_text(datasets.tables(ds)))
    except KeyError as exc:
        _fail(str(exc.args[0]))
    except Exception as exc:  # a database of yours that cannot be reached
        _fail(f"{name}: {str(exc).splitlines()[0]}")


@analyst_app.command("sql")
def analyst_sql(
    query: Annotated[str, typer.Argument(help="One read-only SELECT")],
    dataset: Annotated[
        str,
        typer.Option(help="chinook | music (DuckDB), chinook-pg | music-pg (PostgreSQL), or one of yours"),
    ] = "chinook",
) -> None:
    """Run a query through the same guard and limits the SQL worker applies."""
    from schemas import Code
    from workers.analyst import sql

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
    result = asyncio.run(sql.run(code))
    if not result.ok:
        _fail(f"{result.error_kind}: {result.error}")
    assert result.table
    typer.echo("\t".join(result.table.columns))
    for row in result.table.rows:
        typer.echo("\t".join("" if v is None else str(v) for v in row))
    if result.table.truncated:
        typer.echo(f"(truncated: {result.note or 'more rows than shown'})", err=True)


@voice_app.command("ingest")
def voice_ingest(
    path: Annotated[Path, typer.Argument(help="A folder (or file) of .txt, .md, .html, .pdf documents")],
) -> None:
    """Add documents to the knowledge base (passages with their source); *faq*.md files become Q&A rows."""
    from workers.voice import kb

    if not path.exists():
        _fail(f"{path} does not exist")
    report = kb.ingest(path)
    typer.echo(f"{report.files} files: {report.passages} passages, {report.faq} FAQ entries")
    for line in report.skipped:
        typer.echo(f"skipped {line}", err=True)


@voice_app.command("search")
def voice_search(question: Annotated[str, typer.Argument(help="What to look up")]) -> None:
    """Show what the retrieval worker would hand the model for a question."""
    from workers.voice import kb, retrieve

    kb.ensure_starter()
    for p in retrieve.passages(question):
        typer.echo(f"[{p.score:.2f} {p.source}] {p.text[:300]}")


@music_app.command("ingest")
def music_ingest(
    out: Annotated[Path, typer.Option(help="Where .mid files and pieces.jsonl go")] = Path(
        ".switchboard/music"
    ),
    collection: Annotated[
        str | None, typer.Option(help="A music21 corpus collection: bach, palestrina, essenFolksong, ...")
    ] = None,
    folder: Annotated[Path | None, typer.Option(help="A folder of your .mid files")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many pieces from the collection")] = 100,
) -> None:
    """Convert a corpus collection (or read a folder) to MIDI with metadata and a description per piece."""
    import json as _json

    from workers.music import ingest

    if (collection is None) == (folder is None):
        _fail("give one of --collection or --folder")
    out.mkdir(parents=True, exist_ok=True)
    if folder is not None:
        if not folder.is_dir():
            _fail(f"{folder} is not a folder")
        items = ingest.ingest_folder(folder)
    else:
        items = (
            x if isinstance(x, ingest.Skipped) else _read(ingest, x[0], x[1])
            for x in ingest.corpus_midi(str(collection), limit)
        )
    kept = skipped = 0
    with (out / "pieces.jsonl").open("a", encoding="utf-8") as index:
        for item in items:
            if isinstance(item, ingest.Skipped):
                skipped += 1
                typer.echo(f"skipped {item.source}: {item.reason}", err=True)
                continue
            data = item.extra.pop("midi", None)
            if data is not None:
                (out / f"{item.piece_id}.mid").write_bytes(data)
            index.write(_json.dumps(item.to_dict()) + "\n")
            kept += 1
            if kept % 10 == 0:
                typer.echo(f"{kept} pieces…", err=True)
    typer.echo(f"{kept} pieces in {out} ({skipped} skipped)")


@music_app.command("dataset")
def music_dataset(
    folder: Annotated[Path, typer.Option(help="The folder `music ingest` wrote")] = Path(
        ".switchboard/music"
    ),
    clusters: Annotated[int, typer.Option(min=1, help="k-means clusters (semantic tokens)")] = 8,
) -> None:
    """Embed the descriptions, cluster them, tokenize the MIDI (REMI) and write the versioned splits."""
    from workers.music import features

    if not (folder / "pieces.jsonl").exists():
        _fail(f"{folder}/pieces.jsonl is missing: run `switchboard music ingest` first")

    def progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            typer.echo(f"tokenized {done}/{total}", err=True)

    summary = features.build_dataset(folder, clusters, progress)
    for line in summary.pop("skipped"):
        typer.echo(f"skipped {line}", err=True)
    typer.echo(json.dumps(summary))


def _read(ingest: Any, data: bytes, known: dict[str, Any]) -> Any:
    try:
        piece = ingest.read_midi(data, f"music21:{known['collection']}/{known['title']}", **known)
    except ingest.BadMidi as exc:
        return ingest.Skipped(str(known["title"]), str(exc))
    piece.extra["midi"] = data
    return piece


if __name__ == "__main__":
    app()
