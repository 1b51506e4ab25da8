"""The edge's link to the bus, on any broker: publishes client events, fans
results out to sessions, and keeps the job table from the jobs subjects.

One tail of the namespace (everything written from now on) feeds every
session's queue; a message is routed by its correlation-id header without
decoding, so sessions never see each other's events. The job table is rebuilt
from the stored jobs history at start, so any edge replica can answer for any
job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from switchboard.bus import envelope, tracing
from switchboard.bus.transport import Publish, Transport
from switchboard.schemas import EVENT_TYPES, Event, JobStatus, JobSubmitted, advances
from switchboard.streams.board import Board

log = logging.getLogger(__name__)
QUEUE_SIZE = 1_000
SEEN_PER_SESSION = 4_096  # event ids remembered per session: a re-published copy is not sent twice


@dataclass
class JobRecord:
    job_id: str
    kind: str
    state: str = "submitted"
    progress: float = 0.0
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""
    owner: str = ""
    """The client that submitted it; only that client sees it."""
    submitted_at: str = ""


# The client's own audio, echoed back, would only cost bandwidth.
NOT_TO_CLIENTS = frozenset({"voice.audio.chunk", "voice.speech.segment", "ops.worker.state"})


class Sessions:
    """What every hub does, whatever the broker: session queues and the job table."""

    def __init__(self) -> None:
        self.sessions: dict[str, asyncio.Queue[tuple[str, bytes]]] = {}
        self.seen: dict[str, OrderedDict[str, None]] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.board = Board()
        self.dropped = 0
        self.repeated = 0

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def publish(self, event: Event) -> None:
        raise NotImplementedError

    def open_session(self, session_id: str) -> asyncio.Queue[tuple[str, bytes]]:
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(QUEUE_SIZE)
        self.sessions[session_id] = queue
        self.seen[session_id] = OrderedDict()
        return queue

    def close_session(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)
        self.seen.pop(session_id, None)

    def route(self, correlation_id: str, subject: str, data: bytes, event_id: str = "") -> None:
        """Queue an event for its session; one the session already got (a worker
        that died after publishing re-publishes its outputs) is dropped."""
        queue = self.sessions.get(correlation_id)
        if queue is None or subject in NOT_TO_CLIENTS:
            return
        seen = self.seen.get(correlation_id)
        if event_id and seen is not None:
            if event_id in seen:
                self.repeated += 1
                return
            seen[event_id] = None
            if len(seen) > SEEN_PER_SESSION:
                seen.popitem(last=False)
        try:
            queue.put_nowait((subject, data))
        except asyncio.QueueFull:
            self.dropped += 1  # a client that stops reading loses its oldest frames, not the bus
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait((subject, data))

    def job_submitted(self, data: bytes) -> None:
        try:
            job = JobSubmitted.model_validate_json(data)
        except ValueError:
            return
        rec = self.jobs.setdefault(job.correlation_id, JobRecord(job.correlation_id, job.kind))
        rec.owner = job.submitted_by
        rec.submitted_at = rec.submitted_at or job.created_at.isoformat()

    def job_status(self, data: bytes) -> None:
        try:
            status = JobStatus.model_validate_json(data)
        except ValueError:
            return
        rec = self.jobs.get(status.correlation_id)
        if rec is None:
            rec = self.jobs[status.correlation_id] = JobRecord(status.correlation_id, status.kind)
        if not advances(rec.state, status.state):
            return  # terminal states stick; a job never goes back
        rec.state = status.state
        rec.progress = status.progress
        rec.message = status.message
        rec.result = dict(status.result)
        rec.updated_at = status.created_at.isoformat()


class Hub(Sessions):
    def __init__(self, bus: Transport, producer: str = "edge@0.1.0") -> None:
        super().__init__()
        self.bus = bus
        self.producer = producer
        self._tails = contextlib.AsyncExitStack()
        self._publish: Publish | None = None

    @property
    def connected(self) -> bool:
        return self.bus.connected

    async def start(self) -> None:
        await self.bus.start()
        ns = self.bus.settings.namespace
        live = [s for s in EVENT_TYPES if s not in NOT_TO_CLIENTS]
        await self._tails.enter_async_context(self.bus.tail(live, self._route))
        # the whole job history: who submitted each job, then its states
        await self._tails.enter_async_context(
            self.bus.tail(["jobs.submitted", "jobs.status"], self._job, from_start=True)
        )
        # the replicas' recent states (the ops stream keeps minutes), then each new one
        await self._tails.enter_async_context(
            self.bus.tail(["ops.worker.state"], lambda s, h, d: self.board.take(d), from_start=True)
        )
        self._publish = self.bus.publisher(self.producer)
        log.debug("edge hub started", extra={"namespace": ns})

    async def stop(self) -> None:
        await self._tails.aclose()
        await self.bus.close()

    def _route(self, subject: str, headers: dict[str, str], data: bytes) -> None:
        corr = envelope.read(headers).correlation_id
        if corr in self.sessions:
            self.route(corr, subject, data, headers.get(envelope.EVENT_ID, ""))

    def _job(self, subject: str, headers: dict[str, str], data: bytes) -> None:
        if subject == "jobs.submitted":
            self.job_submitted(data)
        else:
            self.job_status(data)

    async def publish(self, event: Event) -> None:
        if self._publish is None:
            raise RuntimeError("the hub is not started")
        with tracing.span(f"edge {event.type}", correlation_id=event.correlation_id):  # type: ignore[attr-defined]
            await self._publish(event)  # a client's event starts its trace here
