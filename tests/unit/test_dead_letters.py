"""A dead letter always fits on the bus, and one that cannot be published is never acked away."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from switchboard.bus import BusSettings, envelope
from switchboard.bus.processor import Incoming, Processor, PublishFailed, Verdict, until_published
from switchboard.schemas import DeadLetter, Event, JobSubmitted
from tests.relay import relay


async def test_a_dead_letter_too_big_for_the_bus_is_cut_to_fit() -> None:
    sent: list[Event] = []

    async def publish(event: Event) -> None:
        envelope.encode(event)  # raises past the 1 MB limit, as the publishers do
        sent.append(event)

    processor = Processor(relay, BusSettings(broker="memory", namespace="unit"))
    # control characters are escaped six-fold in JSON: headers and body that overflow a letter
    headers = {str(i) + "\x01" * 990: "\x01" * 999 for i in range(64)}
    data = b"\x01" * 950_000
    verdict = await processor.process(Incoming("jobs.submitted", data, headers), publish)
    assert verdict is Verdict.DEAD
    (letter,) = sent
    assert isinstance(letter, DeadLetter) and letter.error_kind == "malformed"
    assert letter.original_truncated and letter.original_bytes == len(data)
    assert letter.original_sha256 == hashlib.sha256(data).hexdigest()
    assert data.startswith(letter.original) and len(letter.original) < 600_000  # the smaller cut


async def test_a_dead_letter_that_cannot_be_published_raises() -> None:
    async def publish(event: Event) -> None:
        raise TimeoutError("the bus is gone")

    processor = Processor(relay, BusSettings(broker="memory", namespace="unit"))
    with pytest.raises(PublishFailed, match="the bus is gone"):  # the runner keeps the message
        await processor.process(Incoming("jobs.submitted", b"not json", {}), publish)


async def test_an_output_that_cannot_be_published_is_not_a_handler_failure() -> None:
    async def publish(event: Event) -> None:
        raise ConnectionError("the bus is gone")

    processor = Processor(relay, BusSettings(broker="memory", namespace="unit", handler_retries=3))
    job = JobSubmitted(correlation_id="s1", kind="relay")
    data, headers = envelope.encode(job), envelope.headers(job, "test")
    with pytest.raises(PublishFailed):  # at once: no handler retries, no dead letter
        await processor.process(Incoming("jobs.submitted", data, headers), publish)
    assert job.id not in processor.seen


async def test_a_publisher_that_takes_outputs_at_once_or_later_is_answered_alike() -> None:
    """``Publish`` may answer None (the output is in hand) or an awaitable; a
    failure either way is PublishFailed, never a handler failure."""
    job = JobSubmitted(correlation_id="s1", kind="relay")
    data, headers = envelope.encode(job), envelope.headers(job, "test")
    taken: list[Event] = []
    settings = BusSettings(broker="memory", namespace="unit", handler_retries=3)

    verdict = await Processor(relay, settings).process(
        Incoming("jobs.submitted", data, headers), taken.append
    )
    assert verdict is Verdict.ACK and [e.causation_id for e in taken] == [job.id]

    def refuse(event: Event) -> None:
        raise ConnectionError("no room")

    async def refused_later() -> None:
        raise ConnectionError("no ack")

    for publish, error in ((refuse, "no room"), (lambda e: refused_later(), "no ack")):
        processor = Processor(relay, settings)
        with pytest.raises(PublishFailed, match=error):
            await processor.process(Incoming("jobs.submitted", data, headers), publish)
        assert job.id not in processor.seen


async def test_a_batch_cancelled_before_its_outputs_are_confirmed_is_handled_again() -> None:
    """A partition that moves mid-batch cancels the batch: the ids it handled are
    forgotten, so the messages are handled (not dropped as duplicates) when they come back."""
    job = JobSubmitted(correlation_id="s1", kind="relay")
    data, headers = envelope.encode(job), envelope.headers(job, "test")
    processor = Processor(relay, BusSettings(broker="memory", namespace="unit"))
    handled = asyncio.Event()

    async def attempt() -> None:
        await processor.process(Incoming("jobs.submitted", data, headers), lambda e: None)
        handled.set()
        await asyncio.Event().wait()  # the broker's confirmation, never coming

    def forget() -> None:
        processor.seen.discard(job.id)

    batch = asyncio.create_task(until_published(attempt, forget, (PublishFailed,), "relay"))
    await asyncio.wait_for(handled.wait(), 30)
    assert job.id in processor.seen
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    assert job.id not in processor.seen
    verdict = await processor.process(Incoming("jobs.submitted", data, headers), lambda e: None)
    assert verdict is Verdict.ACK and job.id in processor.seen
