"""Job events: any pipeline's long work submitted over HTTP and tracked.

The job id is the correlation id of every event the job causes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ControlEvent, Event, Name, Params, ShortText

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
_STAGE = {"submitted": -1, "queued": 0, "running": 1, "succeeded": 2, "failed": 2, "cancelled": 2}


def advances(current: str | None, new: str) -> bool:
    """The job state machine: may a job in ``current`` take status ``new``?

    queued -> running -> succeeded | failed | cancelled. A terminal state is
    final; a job never goes back (a late "running" after "cancelled" is
    ignored); running may repeat (progress). Every reader of jobs.status (the
    edge, the CLI) applies this one rule."""
    if current is None or current not in _STAGE:
        return True
    if current in TERMINAL_STATES:
        return False
    return _STAGE.get(new, -1) >= _STAGE[current]


class JobSubmitted(Event):
    """Long work submitted over HTTP: its kind and parameters."""

    type: Literal["jobs.submitted"] = "jobs.submitted"
    kind: Name  # e.g. "analyst.ask", "music.train"
    params: Params = {}
    submitted_by: Name = "anonymous"


class JobStatus(Event):
    """A job's state, progress and message; ``result`` holds the outcome's scalars."""

    type: Literal["jobs.status"] = "jobs.status"
    kind: Name
    state: JobState
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    message: ShortText = ""
    result: Params = {}


class JobCancel(ControlEvent):
    """Stop a job: every worker running part of it stops at its next check."""

    type: Literal["jobs.cancel"] = "jobs.cancel"
    reason: ShortText = ""


JobEvent = JobSubmitted | JobStatus | JobCancel
