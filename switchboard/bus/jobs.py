"""Job status from inside a handler: ``ctx.job.status("running", 0.5, "step 2 of 4")``.

Every pipeline that runs as a job reports the same way, with the job's states
typed (``JobState``): the job id is the handled event's correlation id, and
the kind is the worker's ``job_kind`` unless a handler names another."""

from __future__ import annotations

from typing import Any

from switchboard.schemas import JobStatus
from switchboard.schemas.jobs import JobState


class JobReport:
    """Status events for the job that the event being handled belongs to."""

    def __init__(self, correlation_id: str, kind: str) -> None:
        self.correlation_id = correlation_id
        self.kind = kind

    def status(
        self,
        state: JobState,
        progress: float = 0.0,
        message: str = "",
        *,
        kind: str | None = None,
        **result: Any,
    ) -> JobStatus:
        """A ``jobs.status`` event: progress is clamped to 0..1, the message cut to
        its limit, and result values kept as scalars (anything else as text)."""
        job_kind = kind or self.kind
        if not job_kind:
            raise ValueError("no job kind: give the worker a job_kind, or pass kind=")
        return JobStatus(
            correlation_id=self.correlation_id,
            kind=job_kind,
            state=state,
            progress=max(0.0, min(1.0, progress)),
            message=message[:1000],
            result={k: _scalar(v) for k, v in result.items()},
        )


def _scalar(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float):
        return v
    return str(v)[:4000]
