"""Job events: any pipeline's long work submitted over HTTP and tracked.

The job id is the correlation id of every event the job causes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ControlEvent, Event, Name, Params, ShortText

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


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
