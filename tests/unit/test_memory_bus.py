"""Worker semantics on FastStream's in-memory TestNatsBroker (no server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from faststream.nats.annotations import NatsMessage

from switchboard.bus import BusSettings, Context, Worker, envelope
from switchboard.bus.fs_runner import FastStreamPublisher, mount
from switchboard.bus.subjects import address
from switchboard.schemas import AnswerDelta, DeadLetter, JobStatus, JobSubmitted
from switchboard.schemas import Context as VoiceContext
from tests import relay as relay_module
from tests.relay import relay


def settings() -> BusSettings:
    return BusSettings(broker="memory", namespace="unit", partitions=4, retry_backoff_s=0.0)


class Sink:
    """Collects what a broker publishes on a subject pattern."""

    def __init__(self, broker: NatsBroker, pattern: str) -> None:
        self.events: list[tuple[dict[str, str], bytes]] = []

        @broker.subscriber(pattern)
        async def sink(msg: NatsMessage) -> None:
            self.events.append((dict(msg.headers), msg.body))


@pytest.fixture
def broker() -> NatsBroker:
    return NatsBroker()


async def test_relay_outputs_carry_envelope(broker: NatsBroker) -> None:
    s = settings()
    mount(broker, relay, s)
    out = Sink(broker, "unit.jobs.status.*")
    async with TestNatsBroker(broker):
        pub = FastStreamPublisher(broker, s, "test@1")
        job = JobSubmitted(correlation_id="sess-1", kind="relay", params={"seq": 4})
        await pub.publish(job)
    assert len(out.events) == 1
    headers, body = out.events[0]
    status = JobStatus.model_validate_json(body)
    assert status.message == "4@1" and status.causation_id == job.id
    assert headers[envelope.CAUSATION_ID] == job.id
    assert headers[envelope.EVENT_ID] == status.id == envelope.derived_id(job.id, "relay", 0)
    assert headers[envelope.PRODUCER] == "relay@1"


async def test_garbage_is_dead_lettered_and_the_worker_keeps_serving(broker: NatsBroker) -> None:
    s = settings()
    mount(broker, relay, s)
    dead = Sink(broker, "unit.dead.letter.*")
    out = Sink(broker, "unit.jobs.status.*")
    async with TestNatsBroker(broker):
        await broker.publish(b"\x00garbage", address("unit", "jobs.submitted", 1))
        await broker.publish(b'{"type": "jobs.submitted"}', address("unit", "jobs.submitted", 1))
        pub = FastStreamPublisher(broker, s, "test@1")
        await pub.publish(JobSubmitted(correlation_id="s", kind="relay", params={"fail": True}))
        await pub.publish(JobSubmitted(correlation_id="s", kind="relay", params={"seq": 1}))
    kinds = [DeadLetter.model_validate_json(b).error_kind for _, b in dead.events]
    assert kinds == ["malformed", "malformed", "handler"]
    assert DeadLetter.model_validate_json(dead.events[0][1]).original == b"\x00garbage"
    assert len(out.events) == 1


async def test_handler_retries_then_succeeds(broker: NatsBroker) -> None:
    flaky = Worker("flaky", emits=(JobStatus,))
    tries: list[int] = []

    @flaky.handler(JobSubmitted)
    async def handle(job: JobSubmitted, ctx: Context) -> JobStatus:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("model server not ready")
        return JobStatus(correlation_id=job.correlation_id, kind=job.kind, state="running")

    s = settings()
    mount(broker, flaky, s)
    out = Sink(broker, "unit.jobs.status.*")
    async with TestNatsBroker(broker):
        await FastStreamPublisher(broker, s, "t").publish(JobSubmitted(correlation_id="s", kind="k"))
    assert len(tries) == 3 and len(out.events) == 1


async def test_duplicate_event_is_handled_once(broker: NatsBroker) -> None:
    s = settings()
    mount(broker, relay, s)
    relay_module.calls.clear()
    async with TestNatsBroker(broker):
        pub = FastStreamPublisher(broker, s, "t")
        job = JobSubmitted(correlation_id="s", kind="relay", params={"seq": 1})
        await pub.publish(job)
        await pub.publish(job)
    assert relay_module.calls == [job.id]


async def test_streaming_handler_publishes_each_piece_in_order(broker: NatsBroker) -> None:
    streamer = Worker("streamer", emits=(AnswerDelta,))

    @streamer.handler(VoiceContext)
    async def answer(ctx_event: VoiceContext, ctx: Context) -> AsyncIterator[AnswerDelta]:
        for i, word in enumerate(ctx_event.query.split()):
            yield AnswerDelta(correlation_id=ctx_event.correlation_id, answer_id="a1", index=i, text=word)

    s = settings()
    mount(broker, streamer, s)
    out = Sink(broker, "unit.voice.answer.delta.*")
    async with TestNatsBroker(broker):
        await FastStreamPublisher(broker, s, "t").publish(
            VoiceContext(correlation_id="s", turn_id="t1", query="one two three")
        )
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


async def test_an_undeclared_output_is_dead_lettered_not_published(broker: NatsBroker) -> None:
    """A worker that emits a type it did not declare is a bug: its input becomes a
    dead letter naming the type, and nothing reaches the undeclared subject."""
    sloppy = Worker("sloppy", emits=(JobStatus,))

    @sloppy.handler(JobSubmitted)
    async def handle(job: JobSubmitted, ctx: Context) -> AnswerDelta:
        return AnswerDelta(correlation_id=job.correlation_id, answer_id="a", index=0, text="x")

    s = settings()
    mount(broker, sloppy, s)
    dead = Sink(broker, "unit.dead.letter.*")
    out = Sink(broker, "unit.voice.answer.delta.*")
    async with TestNatsBroker(broker):
        await FastStreamPublisher(broker, s, "t").publish(JobSubmitted(correlation_id="s", kind="k"))
    assert out.events == []
    [(_, body)] = dead.events
    letter = DeadLetter.model_validate_json(body)
    assert letter.error_kind == "handler" and "AnswerDelta" in letter.error and "emits" in letter.error
