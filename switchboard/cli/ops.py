"""Operate the bus: streams and lag, the AsyncAPI document, replays."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .apps import app, replay_app
from .common import Namespace, bus_for, fail, on_bus, parse_time, settings_for


@app.command()
def streams(
    namespace: Namespace = None,
    partitions: Annotated[
        bool, typer.Option("--partitions", help="One line per partition and reader")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Per subject: messages held (dead letters too) and each reading worker kind's lag,
    unacked and redelivered; ``--partitions`` for each partition."""
    from dataclasses import asdict

    from switchboard.streams.topology import readers

    settings = settings_for(namespace)

    async def main() -> list[Any]:
        async with bus_for(settings, provision=False) as bus:
            subjects = {s for h in _hops() for s in h.inputs} | {"dead.letter"}  # dead letters: no reader
            return list(await bus.report({s: readers(s) for s in subjects}))

    reports = on_bus(settings, main())
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in reports], indent=2))
        return
    held = [r for r in reports if r.messages]  # provisioned, never written: not worth a line
    if not held:
        typer.echo(f"nothing stored in namespace {settings.namespace!r}")
    for r in held:
        size = f"{r.bytes / 1e6:8.1f} MB" if r.bytes else "        ? MB"
        typer.echo(f"{r.subject:28} {r.messages:8} msgs {size}  {r.partitions} partitions")
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
    from switchboard.streams.topology import hops

    return hops()


@app.command()
def asyncapi(namespace: Namespace = None) -> None:
    """Print the bus's AsyncAPI 3.0 document (subjects, event schemas, who reads and emits what)."""
    from switchboard.streams.asyncapi import document

    settings = settings_for(namespace)
    typer.echo(json.dumps(document(settings.namespace, settings.partitions), indent=2))


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
    from switchboard.bus.transport import Slice
    from switchboard.streams.topology import entry_subjects

    settings = settings_for(namespace)
    entries = entry_subjects()
    if pipeline not in entries:
        fail(f"unknown pipeline {pipeline!r}; known: {', '.join(entries)}")
    sl = Slice(
        subjects=list(subject or entries[pipeline]),
        start_seq=start_seq,
        end_seq=end_seq,
        since=parse_time(since),
        until=parse_time(until),
        correlation_ids=set(correlation or []),
    )

    async def main() -> int:
        async with bus_for(settings, provision=False) as bus:
            return int(await bus.copy(into, sl))

    try:
        count = on_bus(settings, main())
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"replayed {count} events of {', '.join(sl.subjects)} into namespace {into!r}")
    typer.echo(f"now run: SWITCHBOARD_NAMESPACE={into} switchboard worker NAME")


@replay_app.command("compare")
def replay_compare(
    into: Annotated[str, typer.Option(help="Replay namespace")],
    subject: Annotated[str, typer.Option(help="Output subject to compare")],
    inputs: Annotated[
        list[str] | None, typer.Option(help="Replayed input subjects (default: the pipeline's inputs)")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Default: every pipeline whose workers write the subject")
    ] = None,
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pair the replay's outputs with the recorded ones and show what differs."""
    from dataclasses import asdict

    from switchboard.streams.replay import compare
    from switchboard.streams.topology import entry_subjects

    settings = settings_for(namespace)
    entries = entry_subjects()
    if pipeline is not None and pipeline not in entries:
        fail(f"unknown pipeline {pipeline!r}; known: {', '.join(entries)}")
    writers = [pipeline] if pipeline else sorted({h.pipeline for h in _hops() if subject in h.outputs})
    if not writers:
        fail(f"no worker writes {subject!r}; pick an output subject (see `switchboard asyncapi`)")
    replayed_inputs = inputs or sorted({s for w in writers for s in entries[w]})

    async def main() -> list:  # type: ignore[type-arg]
        args = (settings.namespace, into, subject, replayed_inputs)
        async with bus_for(settings, provision=False) as bus:
            return await compare(bus.read, *args)

    pairs = on_bus(settings, main())
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in pairs], indent=2, default=str))
        return
    same = sum(1 for p in pairs if not p.differences)
    verdict = "same" if pairs and same == len(pairs) else "nothing to compare" if not pairs else "different"
    typer.echo(f"{verdict}: {len(pairs)} outputs, {same} identical, {len(pairs) - same} different")
    for p in pairs:
        if p.differences:
            typer.echo(f"  {p.key}: {', '.join(p.differences)}")


@replay_app.command("drop")
def replay_drop(into: Annotated[str, typer.Argument(help="Replay namespace to delete")]) -> None:
    """Delete a replay namespace's streams."""
    settings = settings_for()
    if into == settings.namespace:
        fail("refusing to drop the live namespace")

    async def main() -> list[str]:
        async with bus_for(settings, provision=False) as bus:
            return list(await bus.drop(into))

    typer.echo(f"dropped {', '.join(on_bus(settings, main())) or 'nothing'}")


@app.command()
def probe(
    url: Annotated[str, typer.Argument(help="What to ask, e.g. http://127.0.0.1:9100/metrics")],
    ready: Annotated[
        bool, typer.Option(help="The answer is a worker's /metrics: it must say the worker is ready")
    ] = False,
) -> None:
    """Exit 0 when ``url`` answers (a container's healthcheck), else say why in one line."""
    import re
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            body = reply.read()
    except OSError as exc:
        fail(f"{url}: {exc}")
    if ready and not re.search(rb"^switchboard_ready\{[^}]*\} 1\.0$", body, re.M):
        fail(f"{url}: the worker is not ready yet (loading, or not subscribed)")
    typer.echo("ok")


@app.command()
def status(
    namespace: Namespace = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Each worker kind's state and replicas (loading, ready, degraded), from their word on the bus."""
    from switchboard.streams.board import Board

    settings = settings_for(namespace)
    board = Board()

    async def main() -> None:
        async with bus_for(settings, provision=False) as bus:
            for rec in await bus.read(settings.namespace, "ops.worker.state"):
                board.take(rec.data)

    on_bus(settings, main())
    kinds = board.kinds()
    if as_json:
        typer.echo(json.dumps(kinds, indent=2))
        return
    if not kinds:
        typer.echo(
            f"no worker has said anything in namespace {settings.namespace!r} lately (is `up` running?)"
        )
    for kind, row in kinds.items():
        typer.echo(f"{kind:16} {row['state']:9} {len(row['replicas'])} replica(s)")
        for name, r in row["replicas"].items():
            done = f" {r['progress']:.0%}" if "progress" in r else ""
            typer.echo(f"  {name:40} {r['state'] + done:9} {r['seen_s_ago']:6.1f} s ago  {r['detail']}")
