"""Jobs worker: turns a submitted job into its pipeline's first event.

jobs.submitted -> (the pipeline's input event, jobs.status queued)
jobs.cancel    -> jobs.status cancelled

Pipelines register their job kinds in ``JOB_KINDS``: a function from the
submitted job to the event that starts it. The job id is the correlation id
of everything the job causes, so pipelines report progress on jobs.status.
"""

from __future__ import annotations

from collections.abc import Callable

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import (
    EmbedRequest,
    EvaluateRequest,
    Event,
    GenerateRequest,
    IngestRequest,
    JobCancel,
    JobStatus,
    JobSubmitted,
    Question,
    TokenizeRequest,
    TrainRequest,
)

JobStarter = Callable[[JobSubmitted], Event]
JOB_KINDS: dict[str, JobStarter] = {}
STARTS: dict[str, type[Event]] = {}  # job kind -> the event type that starts it


def job_kind(name: str, starts: type[Event]) -> Callable[[JobStarter], JobStarter]:
    """Register a job kind: ``fn`` turns the submitted job into a ``starts`` event."""

    def register(fn: JobStarter) -> JobStarter:
        JOB_KINDS[name] = fn
        STARTS[name] = starts
        return fn

    return register


@job_kind("analyst.ask", Question)
def _ask(job: JobSubmitted) -> Event:
    """params: question, dataset (chinook | music | chinook-pg | music-pg | yours), language (sql | python), max_attempts."""
    p = job.params
    if not p.get("question"):
        raise ValueError("params.question is required")
    return Question(
        correlation_id=job.correlation_id,
        question=str(p["question"]),
        dataset=str(p.get("dataset") or "chinook"),
        language=p.get("language") or None,
        max_attempts=int(p.get("max_attempts") or 3),
        job=True,
    )


MUSIC_JOBS: dict[str, type[Event]] = {
    "music.ingest": IngestRequest,
    "music.embed": EmbedRequest,
    "music.tokenize": TokenizeRequest,
    "music.train": TrainRequest,
    "music.generate": GenerateRequest,
    "music.evaluate": EvaluateRequest,
}


def _music(request: type[Event]) -> JobStarter:
    """params: the request event's fields (see schemas/music.py)."""

    def start(job: JobSubmitted) -> Event:
        extra = {"job": True} if request is GenerateRequest else {}
        fields = {k: v for k, v in job.params.items() if v is not None}
        known = set(request.model_fields) - {"id", "type", "correlation_id", "causation_id", "created_at"}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown params {unknown}; known: {sorted(known)}")
        return request.model_validate({**fields, **extra, "correlation_id": job.correlation_id})

    return start


for _kind, _request in MUSIC_JOBS.items():
    job_kind(_kind, _request)(_music(_request))


class BadJob(ValueError):
    """A job that cannot start: an unknown kind, or parameters its request refuses."""


def first_event(job: JobSubmitted) -> Event:
    """The event that starts ``job``; BadJob with a message a person can act on."""
    start = JOB_KINDS.get(job.kind)
    if start is None:
        known = ", ".join(sorted(JOB_KINDS)) or "none yet"
        raise BadJob(f"unknown job kind {job.kind!r}; known kinds: {known}"[:1000])
    try:
        return start(job)
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError included
        raise BadJob(f"bad parameters: {_first_line(exc)}"[:1000]) from None


class JobsWorker:
    """Starts jobs and reports them queued or cancelled (stateless)."""

    @handles(JobSubmitted)
    async def on_submitted(self, job: JobSubmitted, ctx: Context) -> list[Event]:
        """The job's first event after its queued status, or its failed status."""
        try:
            first = first_event(job)
        except BadJob as exc:  # published straight to the bus, past the edge's check
            return [ctx.job.status("failed", message=str(exc), kind=job.kind)]
        # queued first: the pipeline's own "running" must not be overtaken by it
        return [ctx.job.status("queued", kind=job.kind), first]

    @handles(JobCancel)
    async def on_cancel(self, cancel: JobCancel, ctx: Context) -> JobStatus:
        """The job's cancelled status (each pipeline stops its own work)."""
        return ctx.job.status("cancelled", message=cancel.reason or "cancelled by the client", kind="cancel")


def build() -> Worker:
    """The jobs worker kind; it emits the first event of every registered job kind."""
    emits: list[type[Event]] = [JobStatus, *dict.fromkeys(STARTS.values())]
    return Worker.of(JobsWorker(), "jobs", version="0.1.0", emits=emits)


def _first_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
    return str(exc)
