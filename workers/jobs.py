"""Jobs worker: turns a submitted job into its pipeline's first event.

jobs.submitted -> (the pipeline's input event, jobs.status queued)
jobs.cancel    -> jobs.status cancelled

Pipelines register their job kinds in ``JOB_KINDS``: a function from the
submitted job to the event that starts it. The job id is the correlation id
of everything the job causes, so pipelines report progress on jobs.status.
"""

from __future__ import annotations

from collections.abc import Callable

from bus import Context, Worker
from schemas import Event, JobCancel, JobStatus, JobSubmitted, Question

worker = Worker("jobs", version="0.1.0")

JobStarter = Callable[[JobSubmitted], Event]
JOB_KINDS: dict[str, JobStarter] = {}


def job_kind(name: str) -> Callable[[JobStarter], JobStarter]:
    def register(fn: JobStarter) -> JobStarter:
        JOB_KINDS[name] = fn
        return fn

    return register


@job_kind("analyst.ask")
def _ask(job: JobSubmitted) -> Event:
    """params: question, dataset (chinook | music | chinook-pg | music-pg | yours), language (sql | python), max_attempts."""
    p = job.params
    if not p.get("question"):
        raise ValueError("params.question is required")
    return Question(
        correlation_id=job.correlation_id,
        question=str(p["question"]),
        dataset=str(p.get("dataset") or "chinook"),
        language=p.get("language") or None,  # type: ignore[arg-type]
        max_attempts=int(p.get("max_attempts") or 3),  # type: ignore[arg-type]
        job=True,
    )


@worker.handler(JobSubmitted)
async def on_submitted(job: JobSubmitted, ctx: Context) -> list[Event]:
    start = JOB_KINDS.get(job.kind)
    if start is None:
        known = ", ".join(sorted(JOB_KINDS)) or "none yet"
        return [
            JobStatus(
                correlation_id=job.correlation_id,
                kind=job.kind,
                state="failed",
                message=f"unknown job kind {job.kind!r}; known kinds: {known}"[:1000],
            )
        ]
    try:
        first = start(job)
    except (ValueError, KeyError, TypeError) as exc:
        return [
            JobStatus(
                correlation_id=job.correlation_id,
                kind=job.kind,
                state="failed",
                message=f"bad parameters: {exc}"[:1000],
            )
        ]
    return [first, JobStatus(correlation_id=job.correlation_id, kind=job.kind, state="queued")]


@worker.handler(JobCancel)
async def on_cancel(cancel: JobCancel, ctx: Context) -> JobStatus:
    return JobStatus(
        correlation_id=cancel.correlation_id,
        kind="cancel",
        state="cancelled",
        message=cancel.reason or "cancelled by the client",
    )
