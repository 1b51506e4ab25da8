"""The ``switchboard`` command: a thin layer over bus/, workers/, streams/ and edge/."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bus.config import BusSettings

from . import logs

app = typer.Typer(no_args_is_help=True, help="AI pipelines as stateless workers on a message bus.")
replay_app = typer.Typer(no_args_is_help=True, help="Replay recorded streams into an isolated namespace.")
app.add_typer(replay_app, name="replay")
analyst_app = typer.Typer(no_args_is_help=True, help="Analyst datasets: load, inspect, query.")
app.add_typer(analyst_app, name="analyst")
music_app = typer.Typer(
    no_args_is_help=True, help="The music pipeline, step by step; each step is a job on the bus."
)
app.add_typer(music_app, name="music")
voice_app = typer.Typer(no_args_is_help=True, help="The voice assistant's knowledge base.")
app.add_typer(voice_app, name="voice")
model_app = typer.Typer(no_args_is_help=True, help="The model server every LLM user shares (llama.cpp).")
app.add_typer(model_app, name="model")

Namespace = Annotated[str | None, typer.Option(help="Subject/stream namespace [env SWITCHBOARD_NAMESPACE]")]
T = TypeVar("T")


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
    from bus.transport import transport_class
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

    settings = _settings(namespace)
    try:
        asyncio.run(main())
    except transport_class(settings.broker).unreachable as exc:
        _fail(f"cannot reach the broker at {transport_class(settings.broker)(settings).address}: {exc}")


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

    from edge.app import create_app, server_config
    from edge.auth import ensure_token
    from edge.settings import EdgeSettings

    logs.setup()
    es = EdgeSettings()
    token = ensure_token(es)
    host, port = host or es.host, port if port is not None else es.port
    typer.echo(
        f"edge: http://{host}:{port}/?token={token}"
        if token
        else f"edge: http://{host}:{port}/ (open: no token)"
    )
    uvicorn.Server(server_config(create_app(_settings(namespace), es), es, host, port)).run()


@model_app.command("serve")
def model_serve(
    model: Annotated[str | None, typer.Option(help="[env SWITCHBOARD_LLM_MODEL]")] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default: the host of the URL; 0.0.0.0 in a container)"),
    ] = None,
) -> None:
    """Run the model server alone: one copy of the model, parallel slots, on SWITCHBOARD_LLM_SERVER_URL."""
    from workers.engines.llama_server import serve
    from workers.engines.llm import SERVER_MODEL, LLMSettings

    logs.setup()
    settings = LLMSettings()
    if model:
        settings = settings.model_copy(update={"model": model})
    typer.echo(
        f"model server: {settings.model or SERVER_MODEL} on {settings.server_url}, "
        f"{settings.slots} slots of {settings.context_tokens} tokens, {settings.threads} threads"
    )
    try:
        serve(settings, host=host)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        _fail(f"model server: {exc}")


@model_app.command("status")
def model_status() -> None:
    """Whether the model server answers, and with which model."""
    from workers.engines.llm import LLMSettings, server_state

    settings = LLMSettings()
    state = server_state(settings.server_url)
    typer.echo(f"{settings.server_url}: {state}")
    raise typer.Exit(0 if state == "ready" else 1)


def _model_server(kinds: list[str]) -> list[str] | None:
    """The command for a model server when these kinds need one and none answers here."""
    from workers.engines.llama_server import is_local
    from workers.engines.llm import LLMSettings, server_state

    settings = LLMSettings()
    if settings.engine != "server" or not {"llm", "codegen"} & set(kinds):
        return None
    state = server_state(settings.server_url, timeout=2.0)
    if state != "down":
        typer.echo(f"model server: {settings.server_url} ({state}, already running)")
        return None
    if not is_local(settings.server_url):
        typer.echo(f"model server: nothing answers on {settings.server_url}; the LLM workers wait for it")
        return None
    typer.echo(f"model server: {settings.server_url} (started here)")
    return [sys.executable, "-m", "switchboard.cli", "model", "serve"]


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

    from bus.transport import transport_class
    from workers import REGISTRY

    from .supervise import Child, supervise

    logs.setup()
    settings = _settings()
    os.makedirs(data_dir, exist_ok=True)
    broker = transport_class(settings.broker)
    try:
        server = broker.ensure_server(settings, data_dir)
    except (RuntimeError, ImportError) as exc:
        _fail(str(exc))
    where = f"{settings.broker}: {broker(settings).address}"
    typer.echo(f"{where} ({'started here, gone when `up` ends' if server else 'already running'})")
    kinds = only or sorted(REGISTRY)
    unknown = sorted(set(kinds) - set(REGISTRY))
    if unknown:
        _fail(f"unknown worker kinds {unknown}; known: {sorted(REGISTRY)}")
    me = [sys.executable, "-m", "switchboard.cli"]
    children = [Child("edge", [*me, "edge", "--host", host, "--port", str(port)])]
    model = _model_server(kinds)
    if model:  # supervised like a worker: restarted if it dies
        children.insert(0, Child("model", model))
    children += [Child(k, [*me, "worker", k]) for k in kinds]
    typer.echo(f"workers: {', '.join(kinds)}")
    from edge.auth import ensure_token
    from edge.settings import EdgeSettings

    token = ensure_token(EdgeSettings())
    if token is None:
        typer.echo(f"edge: http://{host}:{port}/  OPEN to anyone who can reach it (SWITCHBOARD_EDGE_OPEN)")
    else:
        typer.echo(f"edge: http://{host}:{port}/?token={token}")
        typer.echo("  (API: Authorization: Bearer <token>; the token is kept in .switchboard/edge-token)")
    try:
        supervise(children)
    finally:
        if server:
            server.terminate()
            server.wait(10)


@app.command()
def streams(
    namespace: Namespace = None,
    partitions: Annotated[
        bool, typer.Option("--partitions", help="One line per partition and reader")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Per subject: messages held and each reading worker kind's lag, unacked and redelivered."""
    from dataclasses import asdict

    from streams.topology import readers

    settings = _settings(namespace)

    async def main() -> list[Any]:
        async with _bus(settings, provision=False) as bus:
            subjects = {s for h in _hops() for s in h.inputs}
            return list(await bus.report({s: readers(s) for s in subjects}))

    reports = _on_bus(settings, main())
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in reports], indent=2))
        return
    if not reports:
        typer.echo(f"nothing stored in namespace {settings.namespace!r}")
    for r in reports:
        typer.echo(f"{r.subject:28} {r.messages:8} msgs  {r.partitions} partitions")
        for kind, row in sorted(r.by_worker().items()):
            typer.echo(
                f"  {kind:26} lag {row['lag']:6}  unacked {row['unacked']:4}  redelivered {row['redelivered']}"
            )
        if partitions:
            for lag in sorted(r.lags, key=lambda x: (x.worker, x.partition)):
                typer.echo(
                    f"    {lag.worker:24} p{lag.partition:<3} lag {lag.lag:6}  unacked {lag.unacked:4}"
                )


def _hops() -> Any:
    from streams.topology import hops

    return hops()


def _bus(settings: Any, provision: bool = True) -> Any:
    """The configured broker's transport, for ``async with``."""
    from bus.transport import transport

    return transport(settings, "switchboard-cli", provision=provision)


@app.command()
def asyncapi(namespace: Namespace = None) -> None:
    """Print the bus's AsyncAPI 3.0 document (subjects, event schemas, who reads and emits what)."""
    from streams.asyncapi import document

    settings = _settings(namespace)
    typer.echo(json.dumps(document(settings.namespace, settings.partitions), indent=2))


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _on_bus(settings: Any, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; a bus that cannot be reached is a clear error, not a traceback."""
    from bus.transport import transport_class

    broker = transport_class(settings.broker)
    try:
        return asyncio.run(work)
    except broker.unreachable as exc:
        where = broker(settings).address
        _fail(f"cannot reach the bus at {where}: {exc} (start it with `switchboard up`)")
        raise  # unreachable: _fail exits


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
    from bus.transport import Slice
    from streams.topology import entry_subjects

    settings = _settings(namespace)
    entries = entry_subjects()
    if pipeline not in entries:
        _fail(f"unknown pipeline {pipeline!r}; known: {', '.join(entries)}")
    sl = Slice(
        subjects=list(subject or entries[pipeline]),
        start_seq=start_seq,
        end_seq=end_seq,
        since=_parse_time(since),
        until=_parse_time(until),
        correlation_ids=set(correlation or []),
    )

    async def main() -> int:
        async with _bus(settings, provision=False) as bus:
            return int(await bus.copy(into, sl))

    try:
        count = _on_bus(settings, main())
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

    from streams.replay import compare
    from streams.topology import entry_subjects

    settings = _settings(namespace)
    entries = entry_subjects()
    if pipeline not in entries:
        _fail(f"unknown pipeline {pipeline!r}; known: {', '.join(entries)}")

    async def main() -> list:  # type: ignore[type-arg]
        args = (settings.namespace, into, subject, inputs or entries[pipeline])
        async with _bus(settings, provision=False) as bus:
            return await compare(bus.read, *args)

    pairs = _on_bus(settings, main())
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
    settings = _settings()
    if into == settings.namespace:
        _fail("refusing to drop the live namespace")

    async def main() -> list[str]:
        async with _bus(settings, provision=False) as bus:
            return list(await bus.drop(into))

    typer.echo(f"dropped {', '.join(_on_bus(settings, main())) or 'nothing'}")


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
    from workers.analyst.datasets import PG_SCHEMA, AnalystSettings, create_reader, load_duckdb, load_postgres

    settings = AnalystSettings()
    try:
        counts = load_duckdb(settings.duckdb_path())
    except FileNotFoundError as exc:
        _fail(str(exc))
    typer.echo(f"DuckDB {settings.duckdb_path()}: {sum(counts.values())} rows in {len(counts)} tables")
    if postgres:
        try:
            counts = load_postgres(postgres)
            reader = create_reader(postgres, password=reader_password)
        except Exception as exc:  # any driver error: report it, don't trace
            _fail(f"PostgreSQL load failed: {str(exc).splitlines()[0]}")
        typer.echo(f"PostgreSQL schema {PG_SCHEMA}: {sum(counts.values())} rows in {len(counts)} tables")
        typer.echo("the analyst connects with a role that may only read that schema; set")
        typer.echo(f"  SWITCHBOARD_ANALYST_POSTGRES_URL='{reader}'")


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


def _job(kind: str, params: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    """Submit a job, print its progress until it ends; its result, or exit 2."""
    status = _follow(kind, params, namespace)
    if status.state != "succeeded":
        _fail(f"{kind} {status.state}: {status.message}")
    return dict(status.result)


def _follow(kind: str, params: dict[str, Any], namespace: str | None = None) -> Any:
    """Submit a job and print its progress until it ends; its last JobStatus."""
    from .jobclient import run_job

    settings = _settings(namespace)
    shown: list[str] = [""]

    def show(st: Any) -> None:
        line = f"[{st.state} {int(st.progress * 100):3d}%] {st.message}".rstrip()
        if line != shown[0]:
            typer.echo(line, err=True)
            shown[0] = line

    def silent() -> None:
        if shown[0]:  # a step that hands work on waits for the next worker kind
            typer.echo("no progress for a while: are all the pipeline's workers running?", err=True)
        else:
            typer.echo("no word from any worker yet: is `switchboard up` running?", err=True)

    try:
        return _on_bus(settings, run_job(settings, kind, params, show, silent))
    except KeyboardInterrupt:
        _fail(f"{kind} cancelled")


@music_app.command("ingest")
def music_ingest(
    collection: Annotated[
        str | None, typer.Option(help="A music21 corpus collection: bach, palestrina, essenFolksong, ...")
    ] = None,
    folder: Annotated[Path | None, typer.Option(help="A folder of your .mid files")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many pieces")] = 200,
    namespace: Namespace = None,
) -> None:
    """Read pieces (MIDI + metadata + description) onto the bus; the embed worker stores them."""
    if (collection is None) == (folder is None):
        _fail("give one of --collection or --folder")
    if folder is not None and not folder.is_dir():
        _fail(f"{folder} is not a folder")
    params = {"collection": collection, "folder": str(folder.resolve()) if folder else None, "limit": limit}
    typer.echo(json.dumps(_job("music.ingest", params, namespace)))


@music_app.command("embed")
def music_embed(
    clusters: Annotated[int, typer.Option(min=1, max=256, help="k-means clusters (semantic tokens)")] = 8,
    namespace: Namespace = None,
) -> None:
    """Embed the descriptions (MiniLM) and cluster them: the semantic tokens."""
    typer.echo(json.dumps(_job("music.embed", {"clusters": clusters}, namespace)))


@music_app.command("tokenize")
def music_tokenize(namespace: Namespace = None) -> None:
    """REMI-tokenize every clustered piece into a new versioned dataset (train/valid/test)."""
    typer.echo(json.dumps(_job("music.tokenize", {}, namespace)))


@music_app.command("train")
def music_train(
    dataset: Annotated[str | None, typer.Option(help="Dataset version (default: the newest)")] = None,
    resume: Annotated[str | None, typer.Option(help="A model version to continue")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Total optimizer steps")] = 500,
    minutes: Annotated[float, typer.Option(min=0.05, help="Time budget")] = 10.0,
    layers: Annotated[int, typer.Option(min=1)] = 4,
    heads: Annotated[int, typer.Option(min=1)] = 4,
    width: Annotated[int, typer.Option(min=16, help="Embedding size (n_embd)")] = 128,
    context: Annotated[int, typer.Option(min=32)] = 256,
    batch: Annotated[int, typer.Option(min=1)] = 8,
    lr: Annotated[float, typer.Option(help="Learning rate")] = 1e-3,
    checkpoint_every: Annotated[int, typer.Option(min=1)] = 100,
    namespace: Namespace = None,
) -> None:
    """Train a small GPT-2 from scratch on CPU (checkpoints, resumable, loss plot)."""
    params = {
        "dataset_version": dataset,
        "resume": resume,
        "max_steps": steps,
        "max_minutes": minutes,
        "n_layer": layers,
        "n_head": heads,
        "n_embd": width,
        "context": context,
        "batch_size": batch,
        "learning_rate": lr,
        "checkpoint_every": checkpoint_every,
    }
    typer.echo(json.dumps(_job("music.train", params, namespace)))


@music_app.command("generate")
def music_generate(
    prompt: Annotated[str, typer.Argument(help='What to play, e.g. "a slow chorale in G minor"')],
    out: Annotated[Path | None, typer.Option(help="Write the MIDI here")] = None,
    seconds: Annotated[float | None, typer.Option(min=1, max=600, help="Stop once this long")] = None,
    max_tokens: Annotated[int, typer.Option(min=16, max=8192)] = 1024,
    temperature: Annotated[float, typer.Option(min=0.05, max=2.0)] = 1.0,
    model: Annotated[str | None, typer.Option(help="Model version (default: the newest)")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    namespace: Namespace = None,
) -> None:
    """Text prompt -> nearest semantic cluster -> sampled tokens -> a MIDI file."""
    import shutil

    from workers.music.store import Store

    params = {
        "prompt": prompt,
        "seconds": seconds,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "model_version": model,
        "seed": seed,
    }
    result = _job("music.generate", params, namespace)
    made = Store.from_settings().generated / Path(str(result["midi_url"])).name
    if out is not None:
        if not made.exists():
            _fail(f"{made} is not on this machine; fetch {result['midi_url']} from the edge")
        shutil.copy(made, out)
        result["file"] = str(out)
    typer.echo(json.dumps(result))


@music_app.command("evaluate")
def music_evaluate(
    model: Annotated[str | None, typer.Option(help="Model version (default: the newest)")] = None,
    samples: Annotated[int, typer.Option(min=1, max=256)] = 8,
    max_tokens: Annotated[int, typer.Option(min=16, max=8192)] = 512,
    tolerance: Annotated[
        float,
        typer.Option(
            min=1.0, max=100.0, help="A feature passes within this many x the real-vs-real distance"
        ),
    ] = 2.0,
    namespace: Namespace = None,
) -> None:
    """Generate from held-out descriptions and compare with the real pieces; writes a report."""
    params = {"model_version": model, "samples": samples, "max_tokens": max_tokens, "tolerance": tolerance}
    typer.echo(json.dumps(_job("music.evaluate", params, namespace)))


MUSIC_STEPS = ["ingest", "embed", "tokenize", "train", "generate", "evaluate"]


@music_app.command("run")
def music_run(
    steps: Annotated[
        list[str] | None,
        typer.Argument(help="Steps to run, in pipeline order (default: all; generate only with --prompt)"),
    ] = None,
    collection: Annotated[str, typer.Option(help="music21 corpus collection for ingest")] = "bach",
    folder: Annotated[Path | None, typer.Option(help="Ingest this folder of .mid files instead")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Pieces to ingest")] = 200,
    clusters: Annotated[int, typer.Option(min=1, max=256, help="k-means clusters")] = 8,
    minutes: Annotated[float, typer.Option(min=0.05, help="Training time budget")] = 10.0,
    train_steps: Annotated[int, typer.Option(min=1, help="Training optimizer steps")] = 500,
    prompt: Annotated[str | None, typer.Option(help="Generate a piece from this prompt")] = None,
    samples: Annotated[int, typer.Option(min=1, max=256, help="Pieces generated to evaluate")] = 8,
    namespace: Namespace = None,
) -> None:
    """Seed 004's main.py: run the pipeline's steps in order, each a job on the bus;
    stop at the first that fails; print a summary."""
    import time

    chosen = steps or [s for s in MUSIC_STEPS if s != "generate" or prompt]
    unknown = [s for s in chosen if s not in MUSIC_STEPS]
    if unknown:
        _fail(f"unknown step {', '.join(unknown)}: choose from {' '.join(MUSIC_STEPS)}")
    if "generate" in chosen and not prompt:
        _fail("the generate step needs --prompt")
    if folder is not None and not folder.is_dir():
        _fail(f"{folder} is not a folder")
    params: dict[str, dict[str, Any]] = {
        "ingest": {
            "collection": None if folder else collection,
            "folder": str(folder.resolve()) if folder else None,
            "limit": limit,
        },
        "embed": {"clusters": clusters},
        "tokenize": {},
        "train": {"max_minutes": minutes, "max_steps": train_steps},
        "generate": {"prompt": prompt},
        "evaluate": {"samples": samples},
    }
    done: list[tuple[str, str, float, str]] = []
    failed = False
    for step in (s for s in MUSIC_STEPS if s in chosen):
        typer.echo(f"== {step}", err=True)
        start = time.monotonic()
        status = _follow(f"music.{step}", params[step], namespace)
        outcome = json.dumps(status.result) if status.state == "succeeded" else status.message
        done.append((step, status.state, time.monotonic() - start, outcome))
        if status.state != "succeeded":
            failed = True
            break
    for step, state, seconds, outcome in done:
        typer.echo(f"{step:<9} {state:<9} {seconds:7.1f} s  {outcome[:200]}")
    for step in (s for s in MUSIC_STEPS if s in chosen and s not in {d[0] for d in done}):
        typer.echo(f"{step:<9} {'not run':<9}")
    if failed:
        raise typer.Exit(2)


if __name__ == "__main__":
    app()
