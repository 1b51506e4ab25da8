"""Kill one of two replicas mid-stream and watch what clients see.

Two replicas of the relay worker (tests/relay.py, tagged ``a`` and ``b`` in
their outputs) and the edge run as their own processes; each of ``sessions``
WebSocket clients (more while a partition has none) is one session, and jobs
for every session are published on the bus at a steady rate. Once both replicas answer, ``a`` is killed with
SIGKILL. Measured: the takeover (kill -> the first answer on each session
``a`` was serving, the slowest of them), what was lost, how many answers the
stream stored twice, how many a plain subscriber saw twice and how many frames a
WebSocket client got twice. Used by tests/integration/test_failover.py and
bench/bus/failover.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from switchboard.bus import BusSettings, envelope, transport
from switchboard.bus.servers import free_port, port_open, stop
from switchboard.bus.subjects import address, partition_of
from switchboard.schemas import Event, JobSubmitted

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Failover:
    sessions: int
    sent: int
    takeover_s: float | None
    """kill -> first answer on the slowest of the killed replica's sessions."""
    dead_sessions: int
    lost: int
    stored_twice: int
    subscriber_repeats: int
    client_repeats: int
    answered_by: dict[str, int] = field(default_factory=dict)
    """answers per replica tag after the kill."""


def _env(settings: BusSettings, **extra: str) -> dict[str, str]:
    env = {**os.environ, **{f"SWITCHBOARD_{k.upper()}": str(v) for k, v in settings.model_dump().items()}}
    return {**env, **extra}


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = tempfile.TemporaryFile()  # noqa: SIM115  (read back when something goes wrong)
    proc = subprocess.Popen(
        [sys.executable, "-m", "switchboard.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _tail(proc: subprocess.Popen[bytes], chars: int = 3000) -> str:
    log = proc.log  # type: ignore[attr-defined]
    log.seek(0)
    return log.read().decode(errors="replace")[-chars:]


@contextlib.asynccontextmanager
async def _bus(settings: BusSettings, on_id: Callable[[str], None]) -> AsyncIterator[Callable[[Event], Any]]:
    """A publisher on the configured broker, while a tail of ``jobs.status``
    hands every event id it sees to ``on_id``."""
    bus = transport(settings)
    async with bus, bus.tail(["jobs.status"], lambda subject, h, d: on_id(h.get(envelope.EVENT_ID, ""))):
        yield bus.publisher("failover@1")


async def _stored_ids(settings: BusSettings) -> list[str]:
    if settings.broker == "kafka":
        from aiokafka import AIOKafkaConsumer

        from switchboard.bus.kafka import headers_of

        consumer = AIOKafkaConsumer(
            address(settings.namespace, "jobs.status"),
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        ids: list[str] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=2000)
                if not batch:
                    return ids
                for records in batch.values():
                    ids += [headers_of(r).get(envelope.EVENT_ID, "") for r in records]
        finally:
            await consumer.stop()
    import nats

    from switchboard.bus.nats.streams import read

    nc = await nats.connect(settings.nats_url)
    try:
        return [
            r.headers.get(envelope.EVENT_ID, "")
            for r in await read(nc.jetstream(), settings.namespace, "jobs.status")
        ]
    finally:
        await nc.close()


async def run(
    settings: BusSettings,
    *,
    sessions: int = 16,
    rate: float = 200.0,
    after_s: float = 20.0,
    settle_s: float = 3.0,
    wait_s: float = 120.0,
    log: Callable[[str], None] = lambda _: None,
) -> Failover:
    """Run the scenario on ``settings`` (a fresh namespace; its broker running)."""
    port = free_port()
    # one client opens every session, and random session ids may need more than
    # the default 16 to cover each partition
    most = 20 * max(sessions, settings.partitions)
    edge = _spawn(
        ["edge", "--port", str(port)],
        _env(settings, SWITCHBOARD_EDGE_OPEN="1", SWITCHBOARD_EDGE_MAX_SESSIONS_PER_CLIENT=str(most)),
    )
    replicas = {
        tag: _spawn(["worker", "tests.relay:relay"], _env(settings, RELAY_VERSION=tag)) for tag in ("a", "b")
    }
    frames: dict[str, list[tuple[float, str, str]]] = defaultdict(list)  # session -> (t, id, tag@seq)
    seen_live: Counter[str] = Counter()
    readers: list[asyncio.Task[None]] = []
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            if time.monotonic() > deadline or edge.poll() is not None:
                raise RuntimeError("the edge did not start")
            await asyncio.sleep(0.2)
        clients = []
        covered: set[int] = set()
        # at least ``sessions``, and one on every partition: however the broker
        # deals partitions to the two replicas, each of them serves a session
        while len(clients) < sessions or len(covered) < settings.partitions:
            if len(clients) >= most:
                raise RuntimeError(f"sessions never covered the {settings.partitions} partitions")
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=8_000_000)
            session = json.loads(await ws.recv())["session_id"]
            clients.append((session, ws))
            covered.add(partition_of(session, settings.partitions))

        async def read(session: str, ws: Any) -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    ev = json.loads(raw)
                    if ev.get("type") == "jobs.status":
                        frames[session].append((time.time(), ev["id"], ev["message"]))

        readers = [asyncio.create_task(read(s, ws)) for s, ws in clients]
        async with _bus(settings, lambda event_id: seen_live.update([event_id])) as publish:
            sent = 0
            start = time.monotonic()
            killed_at: float | None = None
            seq = 0
            stable: tuple[dict[str, str], float] = ({}, time.monotonic())
            while True:
                for session, _ in clients:
                    await publish(JobSubmitted(correlation_id=session, kind="relay", params={"seq": seq}))
                    sent += 1
                seq += 1
                await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
                owners = {s: f[-1][2].split("@")[1] for s, f in frames.items() if f}
                if owners != stable[0]:
                    stable = (owners, time.monotonic())
                tags = set(owners.values())
                if killed_at is None and tags == {"a", "b"} and time.monotonic() - stable[1] > settle_s:
                    # both replicas serve, and which serves what has settled: kill a
                    replicas["a"].send_signal(signal.SIGKILL)
                    killed_at = time.time()
                    log(
                        f"killed replica a after {sent} jobs; it was serving {list(owners.values()).count('a')} sessions"
                    )
                if killed_at is not None and time.time() - killed_at > after_s:
                    break
                if time.monotonic() - start > wait_s:
                    logs = "\n".join(f"--- {t}:\n{_tail(p)}" for t, p in replicas.items())
                    raise RuntimeError(f"both replicas never answered: tags seen {sorted(tags)}\n{logs}")
            expected = {s: seq for s, _ in clients}
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if all(len({m.split("@")[0] for _, _, m in frames[s]}) >= n for s, n in expected.items()):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # late repeats, if any, arrive too
        stored = await _stored_ids(settings)
    finally:
        for task in readers:
            task.cancel()
        for proc in (*replicas.values(), edge):
            stop(proc, 15)
    assert killed_at is not None
    lost = 0
    takeovers = []
    answered_by: Counter[str] = Counter()
    for session, n in expected.items():
        got = frames[session]
        lost += n - len({m.split("@")[0] for _, _, m in got})
        before = [m for t, _, m in got if t < killed_at]
        after = [(t, m) for t, _, m in got if t >= killed_at]
        answered_by.update(m.split("@")[1] for _, m in after)
        survivor = [t for t, m in after if m.endswith("@b")]
        if before and before[-1].endswith("@a") and survivor:
            takeovers.append(survivor[0] - killed_at)
    return Failover(
        sessions=len(clients),
        sent=sent,
        takeover_s=max(takeovers) if takeovers else None,
        dead_sessions=len(takeovers),
        lost=lost,
        stored_twice=sum(c - 1 for c in Counter(stored).values() if c > 1),
        subscriber_repeats=sum(c - 1 for c in seen_live.values() if c > 1),
        client_repeats=sum(
            sum(c - 1 for c in Counter(i for _, i, _ in f).values() if c > 1) for f in frames.values()
        ),
        answered_by=dict(answered_by),
    )
