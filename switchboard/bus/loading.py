"""What a replica is loading while it starts, and how far along it is.

A worker's ``start()`` (or the engine code it calls, in a thread too) says
``loading.report("joining qwen2.5-coder-1.5b", 0.4)``; the runtime says it on
the bus as the replica's "loading" state with that progress. Outside a start it
does nothing, so engines report freely."""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field


@dataclass
class Loading:
    """The latest word of one replica's start: what, how much done (0..1, None: unknown)."""

    detail: str = ""
    done: float | None = None
    changed: threading.Event = field(default_factory=threading.Event)

    def report(self, detail: str, done: float | None = None) -> None:
        """Say what is loading now and how much of it is done."""
        self.detail = detail
        self.done = None if done is None else min(1.0, max(0.0, done))
        self.changed.set()


_current: contextvars.ContextVar[Loading | None] = contextvars.ContextVar("loading", default=None)


def begin() -> tuple[Loading, contextvars.Token[Loading | None]]:
    """A fresh Loading for this task (and the threads it starts with to_thread)."""
    state = Loading()
    return state, _current.set(state)


def end(token: contextvars.Token[Loading | None]) -> None:
    """This task's start is over."""
    _current.reset(token)


def report(detail: str, done: float | None = None) -> None:
    """Say what this replica is loading and how much of it is done (0..1), if it is starting."""
    state = _current.get()
    if state is not None:
        state.report(detail, done)
