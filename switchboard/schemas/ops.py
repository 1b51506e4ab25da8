"""Operations events: what each worker replica is doing, said on the bus.

Every replica says its state when it starts loading, once it serves, every
``heartbeat_s`` after that, and when it stops; the edge (``/readyz``, the
page) and ``switchboard status`` gather them per worker kind and replica."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Event, Name, ShortText

WorkerStateName = Literal["loading", "ready", "degraded", "stopping"]


class WorkerState(Event):
    """One replica's state; the correlation id is its worker kind."""

    type: Literal["ops.worker.state"] = "ops.worker.state"
    kind: Name
    replica: Name
    state: WorkerStateName
    detail: ShortText = ""
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    """While loading: how much of what it loads now is done, when that is known."""
    heartbeat_s: float = Field(default=10.0, gt=0)
    """The next word from this replica comes within this (three missed: it is gone)."""


OpsEvent = WorkerState
