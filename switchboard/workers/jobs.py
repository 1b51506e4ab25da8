"""Jobs worker: turns a submitted job into its pipeline's first event.

jobs.submitted -> (the pipeline's input event, jobs.status queued)
jobs.cancel    -> jobs.status cancelled

Job kinds are declared by the workers that run them:
``Worker(..., job_kind="music.train", job_starts=TrainRequest)``; a job's
params are the starting event's fields, validated against its schema (the
edge's OpenAPI shows them). The job id is the correlation id of everything
the job causes, so pipelines report progress on jobs.status.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import Event, JobCancel, JobStatus, JobSubmitted

ENVELOPE = frozenset({"id", "type", "correlation_id", "causation_id", "created_at", "job"})


@dataclass(frozen=True)
class JobKind:
    """A job kind: the worker kind that runs it and the event that starts it."""

    name: str
    worker: str
    starts: type[Event]

    @property
    def params(self) -> list[str]:
        """The params a job of this kind may give: the starting event's own fields."""
        return sorted(set(self.starts.model_fields) - ENVELOPE)

    def params_schema(self) -> dict[str, Any]:
        """The JSON schema of the params (for the OpenAPI document)."""
        schema = self.starts.model_json_schema()
        props = {k: v for k, v in schema.get("properties", {}).items() if k not in ENVELOPE}
        required = [k for k in schema.get("required", []) if k not in ENVELOPE]
        return {"type": "object", "properties": props, "required": required, "additionalProperties": False}

    def start(self, job: JobSubmitted) -> Event:
        """The job's first event, from its params (ValueError: refused by the schema)."""
        fields = {k: v for k, v in job.params.items() if v is not None}
        unknown = sorted(set(fields) - set(self.params))
        if unknown:
            raise ValueError(f"unknown params {unknown}; known: {self.params}")
        extra = {"job": True} if "job" in self.starts.model_fields else {}
        return self.starts.model_validate({**fields, **extra, "correlation_id": job.correlation_id})


def job_kinds() -> dict[str, JobKind]:
    """Every job kind the registered workers declare."""
    from switchboard.workers import REGISTRY

    return _declared(tuple(sorted(REGISTRY.items())))


@functools.cache
def _declared(registry: tuple[tuple[str, str], ...]) -> dict[str, JobKind]:
    from switchboard.workers import load

    out: dict[str, JobKind] = {}
    for name, _ in registry:
        if name == "jobs":
            continue
        w = load(name)
        if w.job_kind and w.job_starts is not None:
            out[w.job_kind] = JobKind(w.job_kind, w.name, w.job_starts)
    return out


class BadJob(ValueError):
    """A job that cannot start: an unknown kind, or parameters its request refuses."""


def first_event(job: JobSubmitted) -> Event:
    """The event that starts ``job``; BadJob with a message a person can act on."""
    kinds = job_kinds()
    kind = kinds.get(job.kind)
    if kind is None:
        known = ", ".join(sorted(kinds)) or "none yet"
        raise BadJob(f"unknown job kind {job.kind!r}; known kinds: {known}"[:1000])
    try:
        return kind.start(job)
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
    emits: list[type[Event]] = [JobStatus, *dict.fromkeys(k.starts for k in job_kinds().values())]
    return Worker.of(JobsWorker(), "jobs", version="0.1.0", emits=emits)


def _first_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
    return str(exc)
