"""The workers' board: each replica's latest state from ``ops.worker.state``
events, gathered per worker kind (the edge's ``/readyz`` and page, and
``switchboard status``). A replica that missed three heartbeats is gone."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from switchboard.schemas import WorkerState

from .topology import serving_kinds

MISSED = 3  # heartbeats a replica may miss before it counts as gone
ORDER = ("ready", "degraded", "loading")  # a kind is as good as its best replica


@dataclass
class Replica:
    """One replica's latest word."""

    state: str
    detail: str
    at: float  # when it said so (epoch seconds)
    heartbeat_s: float
    progress: float | None = None  # while loading, when known


class Board:
    """The latest state of every worker replica."""

    def __init__(self) -> None:
        self.replicas: dict[str, dict[str, Replica]] = {}

    def take(self, data: bytes) -> None:
        """Read one ops.worker.state event (anything else is ignored)."""
        try:
            ev = WorkerState.model_validate_json(data)
        except ValidationError:
            return
        replicas = self.replicas.setdefault(ev.kind, {})
        if ev.state == "stopping":
            replicas.pop(ev.replica, None)
            return
        seen = replicas.get(ev.replica)
        at = ev.created_at.timestamp()
        if seen is None or at >= seen.at:
            replicas[ev.replica] = Replica(ev.state, ev.detail, at, ev.heartbeat_s, ev.progress)

    def kinds(self, now: float | None = None) -> dict[str, dict[str, Any]]:
        """Per worker kind heard from: its state (that of its best live replica)
        and each live replica's state, detail and age."""
        now = time.time() if now is None else now
        out: dict[str, dict[str, Any]] = {}
        for kind, replicas in sorted(self.replicas.items()):
            live = {
                name: r for name, r in sorted(replicas.items()) if now - r.at <= MISSED * r.heartbeat_s + 5
            }
            states = {r.state for r in live.values()}
            state = next((s for s in ORDER if s in states), "gone")
            out[kind] = {
                "state": state,
                "replicas": {
                    name: {
                        "state": r.state,
                        "detail": r.detail,
                        "seen_s_ago": round(max(0.0, now - r.at), 1),
                        **({"progress": round(r.progress, 3)} if r.progress is not None else {}),
                    }
                    for name, r in live.items()
                },
            }
        return out

    def not_ready(
        self, kinds: tuple[str, ...], first: tuple[str, ...] = (), now: float | None = None
    ) -> dict[str, str]:
        """Of a pipeline's ``kinds``, those that hold up new work: any still loading,
        and of the ``first`` (the kinds that take the work in), any not ready. A
        kind gone further down (an optional one, or one that crashed long ago)
        does not refuse the work; unknown kinds are left out (a worker run without
        announcing itself cannot be judged)."""
        board = self.kinds(now)
        return {
            k: board[k]["state"]
            for k in kinds
            if k in board
            and board[k]["state"] != "ready"
            and (board[k]["state"] == "loading" or k in first or not first)
        }

    def holding_up(self, *subjects: str, now: float | None = None) -> str:
        """Why new work on ``subjects`` (the entry events of a request) cannot be
        answered yet, in words ("codegen is loading"), or "" when nothing holds it up."""
        kinds: tuple[str, ...] = ()
        first: tuple[str, ...] = ()
        for subject in subjects:
            k, f = serving_kinds(subject)
            kinds, first = kinds + k, first + f
        waiting = self.not_ready(kinds, first, now)
        return ", ".join(f"{kind} is {state}" for kind, state in sorted(waiting.items()))
