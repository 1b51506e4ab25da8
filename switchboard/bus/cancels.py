"""Which sessions (or jobs) were cancelled, and when: the cancel log a worker
keeps from the ``voice.cancel`` / ``jobs.cancel`` events it reads."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


class CancelLog:
    """The last cancel time of each of the ``size`` most recently cancelled ids."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._at: OrderedDict[str, datetime] = OrderedDict()

    def record(self, correlation_id: str, at: datetime) -> None:
        """``correlation_id`` was cancelled at ``at``; the oldest ids are forgotten past ``size``."""
        self._at.pop(correlation_id, None)
        self._at[correlation_id] = at
        while len(self._at) > self.size:
            self._at.popitem(last=False)

    def cancelled_since(self, correlation_id: str, t: datetime) -> bool:
        """Was ``correlation_id`` cancelled after ``t``?"""
        at = self._at.get(correlation_id)
        return at is not None and at > t

    def __contains__(self, correlation_id: object) -> bool:
        return correlation_id in self._at


class JobCancelled(Exception):
    """The job this work belonged to was cancelled: the handler publishes nothing more for it."""


class CancellableWork:
    """Work in flight per job (correlation id), stopped when its cancel arrives:
    the task is cancelled at once (a model stops generating, a child process is
    killed) and work for a job already cancelled does not start."""

    def __init__(self, size: int = 10_000) -> None:
        self.log = CancelLog(size)
        self._tasks: dict[str, set[asyncio.Task[Any]]] = {}

    def cancel(self, correlation_id: str, at: datetime) -> None:
        """The job was cancelled at ``at``: stop its work in flight."""
        self.log.record(correlation_id, at)
        for task in self._tasks.pop(correlation_id, set()):
            task.cancel()

    def cancelled(self, correlation_id: str) -> bool:
        """Was this job cancelled?"""
        return correlation_id in self.log

    async def run(self, correlation_id: str, work: Coroutine[Any, Any, T]) -> T:
        """``await work``, unless or until the job is cancelled (then JobCancelled)."""
        if self.cancelled(correlation_id):
            work.close()
            raise JobCancelled(correlation_id)
        task = asyncio.ensure_future(work)
        self._tasks.setdefault(correlation_id, set()).add(task)
        try:
            return await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and self.cancelled(correlation_id) and not (me and me.cancelling()):
                raise JobCancelled(correlation_id) from None
            raise  # the handler itself is being stopped (shutdown)
        finally:
            running = self._tasks.get(correlation_id)
            if running is not None:
                running.discard(task)
                if not running:
                    del self._tasks[correlation_id]
