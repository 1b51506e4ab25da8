"""Run workers on the configured broker until stopped, saying on the bus what
each replica is doing (``ops.worker.state``): loading its models (with what
its start reports through ``loading.report``, and every heartbeat), ready
(every ``HEARTBEAT_S`` after), stopping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable

from switchboard.schemas import WorkerState
from switchboard.schemas.ops import WorkerStateName

from . import loading
from .config import BusSettings
from .transport import Publish, transport
from .worker import Worker

log = logging.getLogger(__name__)
HEARTBEAT_S = 10.0


def replica_id() -> str:
    """This process, as a replica name: host and process id."""
    return f"{socket.gethostname()[:100]}-{os.getpid()}"


class Announcer:
    """Says one replica's state on the bus; a failed say is logged, never fatal."""

    def __init__(self, publish: Publish, kind: str, replica: str, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.publish = publish
        self.kind = kind
        self.replica = replica
        self.heartbeat_s = heartbeat_s
        self.detail = ""

    async def say(
        self, state: WorkerStateName, detail: str | None = None, progress: float | None = None
    ) -> None:
        """Publish this replica's state (with the last detail said, unless a new one is given)."""
        if detail is not None:
            self.detail = detail
        detail = self.detail
        event = WorkerState(
            correlation_id=self.kind,
            kind=self.kind,
            replica=self.replica,
            state=state,
            detail=detail[:1000],
            progress=progress,
            heartbeat_s=self.heartbeat_s,
        )
        try:
            await self.publish(event)
        except Exception as exc:  # the bus is away: the heartbeat after it says it again
            log.debug("state not said: %s", exc, extra={"worker": self.kind})

    async def say_loading(self, state: loading.Loading, done: asyncio.Event, first: str) -> None:
        """Say "loading" with what the start reports, when it changes (at most
        twice a second) and every heartbeat, until ``done``."""
        await self.say("loading", first)
        said = time.monotonic()
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.5)
            if done.is_set():
                return
            if state.changed.is_set() or time.monotonic() - said >= self.heartbeat_s:
                state.changed.clear()
                await self.say("loading", state.detail or None, state.done)
                said = time.monotonic()

    async def beat(self, stop: asyncio.Event, bus_connected: Callable[[], bool]) -> None:
        """Say "ready" (or "degraded" while the bus is unreachable) every heartbeat,
        and at once when the bus comes back, until ``stop``."""
        said, was = time.monotonic(), bus_connected()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(1.0, self.heartbeat_s))
            now, connected = time.monotonic(), bus_connected()
            if not stop.is_set() and (now - said >= self.heartbeat_s or connected != was):
                await self.say("ready" if connected else "degraded")
                said, was = now, connected


def _describe(worker: Worker) -> str:
    """What the worker's service says it runs (its ``about()``: the model, the voice), if anything."""
    about = getattr(worker.service, "about", None)
    try:
        return str(about())[:500] if callable(about) else ""
    except Exception:  # a description is a nicety: never a reason not to start
        return ""


async def run_worker(
    worker: Worker, settings: BusSettings, stop: asyncio.Event, heartbeat_s: float = HEARTBEAT_S
) -> None:
    """Run one replica of ``worker`` on the configured broker until ``stop`` is set."""
    bus = transport(settings, worker.producer)
    async with bus:
        board = Announcer(bus.publisher(worker.producer), worker.name, replica_id(), heartbeat_s)
        try:
            what = _describe(worker)
            if worker.on_start:
                state, token = loading.begin()
                started = asyncio.Event()
                saying = asyncio.create_task(
                    board.say_loading(state, started, f"loading {what}" if what else "loading its models")
                )
                try:
                    await worker.on_start()
                finally:
                    loading.end(token)
                    started.set()
                    await saying
            serving = asyncio.create_task(bus.serve(worker, stop))
            await board.say("ready", f"{worker.producer}, {what}" if what else worker.producer)
            beating = asyncio.create_task(board.beat(stop, lambda: bus.connected))
            try:
                await serving
            finally:
                stop.set()
                await beating
        finally:
            await board.say("stopping")
            if worker.on_stop:
                await worker.on_stop()


__all__ = ["Announcer", "run_worker"]
