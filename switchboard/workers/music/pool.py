"""Work spread over the machine's cores: a lazy, ordered map over a process
pool (forked from a clean server process, never from a worker with threads), a few items
ahead of the consumer; stopping the iteration cancels what has not started.
A script that calls it needs the ``if __name__ == "__main__"`` guard."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def imap(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> Iterator[R]:
    """fn over items in order, ``workers`` processes (default: one per core) at a
    time; with one, in this process."""
    n = workers or cores()
    if n <= 1:
        yield from map(fn, items)
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("forkserver")) as ex:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(ex.submit(fn, item))
                if len(pending) >= 2 * n:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
