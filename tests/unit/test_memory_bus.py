"""Worker semantics on the in-memory transport (no server): the production
processor path, as every broker runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from switchboard.bus import Context, Worker, envelope
from switchboard.bus.memory.transport import MemoryTransport
from switchboard.bus.subjects import partition_of
from switchboard.schemas import AnswerDelta, DeadLetter, Event, JobStatus, JobSubmitted
from switchboard.schemas import Context as VoiceContext
from tests import relay as relay_module
from tests.memory_chain import on_memory
from tests.relay import relay


class Sink:
    """What the workers publish on one subject: (headers, body) in order."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.events: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, subject: str, headers: dict[str, str], data: bytes) -> None:
        if subject == self.subject:
            self.events.append((headers, data))


@asynccontextmanager
async def serving(
    worker: Worker, *sinks: Sink
) -> AsyncIterator[tuple[MemoryTransport, Callable[[Event], Awaitable[None]]]]:
    """Serve ``worker``; on leaving, wait until it has handled all it was sent."""
    async with (
        on_memory(worker) as (bus, _),
        bus.tail([s.subject for s in sinks], lambda *m: [s(*m) for s in sinks]),
    ):
        yield bus, bus.publisher("test@1")
        await bus.drained()


async def test_relay_outputs_carry_envelope() -> None:
    out = Sink("jobs.status")
    async with serving(relay, out) as (_, publish):
        job = JobSubmitted(correlation_id="sess-1", kind="relay", params={"seq": 4})
        await publish(job)
    assert len(out.events) == 1
    headers, body = out.events[0]
    status = JobStatus.model_validate_json(body)
    assert status.message == "4@1" and status.causation_id == job.id
    assert envelope.read(headers).causation_id == job.id
    assert headers[envelope.EVENT_ID] == status.id == envelope.derived_id(job.id, "relay", 0)
    assert envelope.read(headers).producer == "relay@1"


async def test_garbage_is_dead_lettered_and_the_worker_keeps_serving() -> None:
    dead, out = Sink("dead.letter"), Sink("jobs.status")
    async with serving(relay, dead, out) as (bus, publish):
        await bus.publish_raw("jobs.submitted", 1, b"\x00garbage")
        await bus.publish_raw("jobs.submitted", 1, b'{"type": "jobs.submitted"}')
        await bus.drained()
        await publish(JobSubmitted(correlation_id="s", kind="relay", params={"fail": True}))
        await bus.drained()
        await publish(JobSubmitted(correlation_id="s", kind="relay", params={"seq": 1}))
    kinds = [DeadLetter.model_validate_json(b).error_kind for _, b in dead.events]
    assert kinds == ["malformed", "malformed", "handler"]
    assert DeadLetter.model_validate_json(dead.events[0][1]).original == b"\x00garbage"
    assert len(out.events) == 1


async def test_handler_retries_then_succeeds() -> None:
    flaky = Worker("flaky", emits=(JobStatus,))
    tries: list[int] = []

    @flaky.handler(JobSubmitted)
    async def handle(job: JobSubmitted, ctx: Context) -> JobStatus:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("model server not ready")
        return JobStatus(correlation_id=job.correlation_id, kind=job.kind, state="running")

    out = Sink("jobs.status")
    async with serving(flaky, out) as (_, publish):
        await publish(JobSubmitted(correlation_id="s", kind="k"))
    assert len(tries) == 3 and len(out.events) == 1


async def test_duplicate_event_is_handled_once() -> None:
    relay_module.calls.clear()
    async with serving(relay) as (bus, _):
        job = JobSubmitted(correlation_id="s", kind="relay", params={"seq": 1})
        part = partition_of(job.correlation_id, bus.settings.partitions)
        for _ in range(2):  # stored twice (no id header for the broker's own dedupe)
            await bus.publish_raw("jobs.submitted", part, envelope.encode(job))
    assert relay_module.calls == [job.id]


async def test_streaming_handler_publishes_each_piece_in_order() -> None:
    streamer = Worker("streamer", emits=(AnswerDelta,))

    @streamer.handler(VoiceContext)
    async def answer(ctx_event: VoiceContext, ctx: Context) -> AsyncIterator[AnswerDelta]:
        for i, word in enumerate(ctx_event.query.split()):
            yield AnswerDelta(correlation_id=ctx_event.correlation_id, answer_id="a1", index=i, text=word)

    out = Sink("voice.answer.delta")
    async with serving(streamer, out) as (_, publish):
        await publish(VoiceContext(correlation_id="s", turn_id="t1", query="one two three"))
    deltas = [AnswerDelta.model_validate_json(b) for _, b in out.events]
    assert [d.text for d in deltas] == ["one", "two", "three"]
    assert len({d.id for d in deltas}) == 3


def test_worker_declaration_errors() -> None:
    with pytest.raises(ValueError):
        Worker("Bad Name", emits=())
    w = Worker("dup", emits=())

    @w.handler(JobSubmitted)
    async def one(job: JobSubmitted, ctx: Context) -> None:
        return None

    with pytest.raises(ValueError):
        w.handler(JobSubmitted)(one)
    with pytest.raises(TypeError):
        w.handler(JobStatus)(lambda e, c: None)  # type: ignore[arg-type]


async def test_an_undeclared_output_is_dead_lettered_not_published() -> None:
    """A worker that emits a type it did not declare is a bug: its input becomes a
    dead letter naming the type, and nothing reaches the undeclared subject."""
    sloppy = Worker("sloppy", emits=(JobStatus,))

    @sloppy.handler(JobSubmitted)
    async def handle(job: JobSubmitted, ctx: Context) -> AnswerDelta:
        return AnswerDelta(correlation_id=job.correlation_id, answer_id="a", index=0, text="x")

    dead, out = Sink("dead.letter"), Sink("voice.answer.delta")
    async with serving(sloppy, dead, out) as (_, publish):
        await publish(JobSubmitted(correlation_id="s", kind="k"))
    assert out.events == []
    [(_, body)] = dead.events
    letter = DeadLetter.model_validate_json(body)
    assert letter.error_kind == "handler" and "AnswerDelta" in letter.error and "emits" in letter.error
