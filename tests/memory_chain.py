"""Workers on the in-memory transport, in this process (tests only): the
production processor path, with every event the chain publishes recorded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from switchboard.bus import BusSettings, Worker, envelope, transport
from switchboard.bus.memory.transport import STORE, MemoryTransport
from switchboard.schemas import Event
from tests.conftest import fresh_namespace


@asynccontextmanager
async def on_memory(
    *workers: Worker, partitions: int = 4
) -> AsyncIterator[tuple[MemoryTransport, list[Event]]]:
    """Start the workers (their ``on_start``), serve them, and yield the
    transport and the list of events published since, in order."""
    for w in workers:
        if w.on_start:
            await w.on_start()
    settings = BusSettings(
        broker="memory", namespace=fresh_namespace(), partitions=partitions, retry_backoff_s=0.0
    )
    bus = transport(settings)
    assert isinstance(bus, MemoryTransport)
    await bus.start()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(bus.serve(w, stop)) for w in workers]
    await asyncio.sleep(0)  # each replica registers before its first await: drained() counts on it
    assert all(w.name in STORE.ns(settings.namespace).serving for w in workers)
    seen: list[Event] = []

    def record(subject: str, headers: dict[str, str], data: bytes) -> None:
        with contextlib.suppress(envelope.DecodeError):  # garbage a test published on purpose
            seen.append(envelope.decode(subject, data, headers))

    try:
        async with bus.tail(None, record):
            yield bus, seen
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await bus.close()


async def until(check: Callable[[], object], wait_s: float = 60.0) -> None:
    """Wait until ``check()`` holds (a generous deadline: CI machines are busy)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("not in time")
        await asyncio.sleep(0.01)
