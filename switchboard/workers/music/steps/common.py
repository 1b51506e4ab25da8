"""What the music steps share: the music store's settings, the jobs cancelled,
and running blocking work (a model, a corpus) in a thread while streaming its
progress."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from switchboard.bus import Context, handles
from switchboard.bus.cancels import CancelLog
from switchboard.schemas import Event, JobCancel, JobStatus

from ..store import MusicSettings, Store

T = TypeVar("T")
__all__ = ["CancellableStep", "MusicSettings", "MusicStep", "Throttle", "in_thread", "quiet_after_cancel"]
Step = Callable[[Any, Any, Context], AsyncIterator[Event]]


class MusicStep:
    """A music worker kind's state: the music store's settings."""

    def __init__(self, settings: MusicSettings | None = None) -> None:
        self.settings = settings or MusicSettings()
        self.cancels = CancelLog(10_000)

    def store(self) -> Store:
        """The music store (corpus, datasets, models, generated pieces)."""
        return Store.from_settings(self.settings)

    def cancelled(self, job_id: str) -> bool:
        """Was this job cancelled? (Only a ``CancellableStep`` hears of it.)"""
        return job_id in self.cancels


class CancellableStep(MusicStep):
    """A step whose long work stops when its job is cancelled: it reads jobs.cancel."""

    @handles(JobCancel)
    async def on_cancel(self, cancel: JobCancel, ctx: Context) -> None:
        """Remember the cancelled job; its work stops at the next check."""
        self.cancels.record(cancel.correlation_id, cancel.created_at)


def quiet_after_cancel(handler: Step) -> Step:
    """A step's handler that reports no status once its job is cancelled: the
    jobs worker said "cancelled", and a job never changes state after that
    (what the work produced before it stopped, a checkpoint, still goes out)."""

    @functools.wraps(handler)
    async def run(step: CancellableStep, event: Event, ctx: Context) -> AsyncIterator[Event]:
        async for out in handler(step, event, ctx):
            if isinstance(out, JobStatus) and step.cancelled(event.correlation_id):
                continue
            yield out

    return run


class Throttle:
    """True at most once per ``every`` seconds (progress events, not one per step)."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self.last = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            return True
        return False


async def in_thread(fn: Callable[[Callable[[Any], None]], T]) -> AsyncIterator[tuple[bool, Any]]:
    """Run ``fn(emit)`` in a thread; yields (False, emitted) as it goes and
    (True, return value) at the end; the thread's exception is raised here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()

    def emit(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (False, item))

    future = asyncio.ensure_future(asyncio.to_thread(fn, emit))
    future.add_done_callback(lambda f: queue.put_nowait((True, f)))
    while True:
        done, item = await queue.get()
        if done:
            yield True, item.result()
            return
        yield False, item
