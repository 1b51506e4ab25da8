"""What the music steps share: job status events, cancelled jobs, and running
blocking work (a model, a corpus) in a thread while streaming its progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from switchboard.bus import Context, Worker
from switchboard.bus.cancels import CancelLog
from switchboard.schemas import Event, JobCancel, JobStatus

from ..store import MusicSettings, Store

T = TypeVar("T")
settings = MusicSettings()
_CANCELS = CancelLog(10_000)


def store() -> Store:
    return Store.from_settings(settings)


def status(
    cause: Event, kind: str, state: str, progress: float = 0.0, message: str = "", **result: Any
) -> JobStatus:
    return JobStatus(
        correlation_id=cause.correlation_id,
        causation_id=cause.id,
        kind=kind,
        state=state,
        progress=max(0.0, min(1.0, progress)),
        message=message[:1000],
        result={k: _scalar(v) for k, v in result.items()},
    )


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float):
        return v
    return str(v)[:4000]


def follow_cancels(worker: Worker) -> None:
    """Let ``cancelled(job)`` see jobs.cancel for the jobs this worker kind runs."""

    @worker.handler(JobCancel)
    async def on_cancel(cancel: JobCancel, ctx: Context) -> None:
        _CANCELS.record(cancel.correlation_id, cancel.created_at)


def cancelled(job_id: str) -> bool:
    return job_id in _CANCELS


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
