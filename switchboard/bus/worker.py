"""Workers: typed async handlers that read one subject each and return events.

A worker kind is declared once and runs unchanged on every broker::

    worker = Worker("jobs", version="0.1.0", emits=(JobStatus,))

    @worker.handler(JobSubmitted)
    async def on_submitted(event: JobSubmitted, ctx: Context) -> JobStatus:
        return JobStatus(correlation_id=event.correlation_id, kind=event.kind, state="queued")

A worker with state (a model, a cache, sessions) is a class whose methods
handle events, built with its dependencies by a factory that the registry
names (``switchboard/workers/__init__.py``)::

    class Counter:
        def __init__(self, store: Store) -> None:
            self.store = store

        async def start(self) -> None:  # optional, run when a replica starts (and ``stop``)
            ...

        @handles(Transcript)
        async def on_transcript(self, event: Transcript, ctx: Context) -> WordCount: ...

    def build(store: Store | None = None) -> Worker:
        return Worker.of(Counter(store or Store()), "word-count", emits=(WordCount,))

A handler returns an event, a list of events, None, or yields events (an async
generator) to stream them; each output is published before the input is acked.
A worker declares the event types it emits: an output of another type is a
bug, and its input is dead-lettered with that error instead of being passed on.
What the workers read and emit is the pipelines' topology (streams/topology.py).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from switchboard.schemas import Event

from .jobs import JobReport
from .subjects import subject_of

Outputs: TypeAlias = Event | Sequence[Event] | None
HandlerFn: TypeAlias = Callable[..., Awaitable[Outputs] | AsyncIterator[Event]]
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
_MARK = "__switchboard_handles__"
F = TypeVar("F", bound=Callable[..., Any])


class PermanentError(Exception):
    """A handler error that retrying cannot fix: dead-letter the input at once."""


class UndeclaredOutput(PermanentError):
    """A handler produced an event type its worker does not declare in ``emits``."""


@dataclass(slots=True)
class Context:
    """What a handler may know about the message it is handling."""

    worker: str
    subject: str
    headers: dict[str, str]
    attempt: int
    """Delivery attempt as the broker counts it (1 on first delivery)."""
    partition: int | None = None
    earlier: Callable[[float], Awaitable[list[Event]]] | None = None
    """This session's earlier events on this subject (oldest first) from the
    ``seconds`` before the one being handled (its ``created_at``): how a replica
    that takes over a partition rebuilds a session's state from the bus. None
    where the broker cannot read back (the in-memory test broker)."""
    correlation_id: str = ""
    """The handled event's correlation id (its session or job)."""
    job_kind: str = ""
    """The worker's job kind (``Worker(job_kind=...)``), for ``job``."""

    @property
    def job(self) -> JobReport:
        """Status reports for the job this event belongs to (``ctx.job.status(...)``)."""
        return JobReport(self.correlation_id, self.job_kind)


def handles(event: type[Event]) -> Callable[[F], F]:
    """Mark a method of a worker class as the handler of ``event`` (see ``Worker.of``)."""

    def mark(fn: F) -> F:
        setattr(fn, _MARK, event)
        return fn

    return mark


@dataclass(frozen=True)
class Handler:
    """One input subject, its event type, and the function that handles it."""

    subject: str
    event: type[Event]
    fn: HandlerFn
    streaming: bool


class Worker:
    """A worker kind: a name, a version and one handler per input subject."""

    def __init__(
        self,
        name: str,
        version: str = "0.1.0",
        *,
        emits: Iterable[type[Event]],
        ack_wait_s: float | None = None,
        on_start: Callable[[], Awaitable[None]] | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
        sessions_side_by_side: bool = False,
        job_kind: str = "",
        job_starts: type[Event] | None = None,
    ) -> None:
        """``sessions_side_by_side``: sessions (correlation ids) that share a
        partition are handled at the same time, each still in order, for
        handlers that wait (on a model server, or on a model in a thread): one
        session's long answer must not hold up the next session's first word. NATS only; elsewhere a
        partition is handled in order.

        ``emits``: the event types the handlers may produce (subclasses included).
        ``job_kind``: the job kind its ``ctx.job`` reports status for;
        ``job_starts``: the event that starts a job of that kind, when this worker
        runs it (the jobs worker then accepts the kind, its params that event's fields)."""
        if not _NAME.match(name):
            raise ValueError(f"worker name {name!r} must match {_NAME.pattern}")
        self.name = name
        self.version = version
        self.ack_wait_s = ack_wait_s
        self.on_start = on_start
        self.on_stop = on_stop
        self.sessions_side_by_side = sessions_side_by_side
        self.job_kind = job_kind
        self.job_starts = job_starts
        self.emits: tuple[type[Event], ...] = tuple(emits)
        self.handlers: dict[str, Handler] = {}
        self.service: object | None = None
        """The object whose methods handle events (``Worker.of``), if any."""

    @classmethod
    def of(
        cls,
        service: object,
        name: str,
        version: str = "0.1.0",
        *,
        emits: Iterable[type[Event]],
        **options: Any,
    ) -> Worker:
        """The worker kind served by ``service``: its methods marked ``@handles``
        handle events; its ``start`` and ``stop`` methods, where it has them, run
        when a replica starts and stops. ``options`` as for ``Worker``."""
        worker = cls(
            name,
            version,
            emits=emits,
            on_start=getattr(service, "start", None),
            on_stop=getattr(service, "stop", None),
            **options,
        )
        for attr in dir(type(service)):
            event = getattr(getattr(type(service), attr, None), _MARK, None)
            if event is not None:
                worker.handler(event)(getattr(service, attr))
        if not worker.handlers:
            raise ValueError(f"{type(service).__name__} has no method marked @handles")
        worker.service = service
        return worker

    @property
    def producer(self) -> str:
        """``name@version``: who produced an output (its envelope header)."""
        return f"{self.name}@{self.version}"

    def handler(self, event: type[Event]) -> Callable[[HandlerFn], HandlerFn]:
        """Register a function as the handler of ``event``'s subject."""
        subject = subject_of(event)

        def register(fn: HandlerFn) -> HandlerFn:
            if subject in self.handlers:
                raise ValueError(f"{self.name} already handles {subject}")
            streaming = inspect.isasyncgenfunction(fn)
            if not streaming and not inspect.iscoroutinefunction(fn):
                raise TypeError(f"{fn!r} must be an async function or async generator")
            self.handlers[subject] = Handler(subject, event, fn, streaming)
            return fn

        return register

    @property
    def subjects(self) -> list[str]:
        """The subjects this worker reads."""
        return list(self.handlers)

    @property
    def outputs(self) -> list[str]:
        """The subjects this worker may publish on."""
        return sorted({subject_of(t) for t in self.emits})

    def __repr__(self) -> str:
        return f"Worker({self.name!r}, subjects={self.subjects})"
