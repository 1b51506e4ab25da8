"""The pipelined publisher against a real NATS JetStream server: every event
sent is confirmed by the stream before ``flush`` returns, and a refusal is an
error there, never a silent loss."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from switchboard.bus import BusSettings
from switchboard.bus.nats.jetstream import JetStreamPublisher, provision
from switchboard.bus.nats.streams import read
from switchboard.bus.subjects import stream_for
from switchboard.schemas import JobSubmitted

pytestmark = pytest.mark.nats


@pytest.fixture
async def nc(nats_settings: BusSettings) -> AsyncIterator[Client]:
    client = await nats.connect(nats_settings.nats_url)
    await provision(client.jetstream(), nats_settings)
    yield client
    await client.close()


def job(i: int, session: str = "s") -> JobSubmitted:
    return JobSubmitted(correlation_id=session, kind="echo", params={"i": i})


async def test_flush_returns_once_every_event_sent_is_stored(nc: Client, nats_settings: BusSettings) -> None:
    publisher = JetStreamPublisher(nc, nats_settings, "test@1")
    batch = publisher.batch()
    await batch.flush()  # nothing sent: nothing to wait for
    for i in range(300):
        await publisher.send(job(i), batch)
    await batch.flush()
    stored = await read(nc.jetstream(), nats_settings.namespace, "jobs.submitted")
    assert [r.body["params"]["i"] for r in stored] == list(range(300))
    assert not publisher.pipeline.unconfirmed  # nothing left waiting


async def test_each_batch_waits_for_its_own_sends(nc: Client, nats_settings: BusSettings) -> None:
    publisher = JetStreamPublisher(nc, nats_settings, "test@1")

    async def lane(session: str) -> int:
        batch = publisher.batch()
        for i in range(50):
            await publisher.send(job(i, session), batch)
            await asyncio.sleep(0)
        await batch.flush()
        stored = await read(nc.jetstream(), nats_settings.namespace, "jobs.submitted")
        return sum(r.body["correlation_id"] == session for r in stored)

    # each lane's flush covers its 50 events: they are stored when it returns
    assert await asyncio.gather(lane("a"), lane("b"), lane("c")) == [50, 50, 50]


async def test_an_event_without_a_stream_fails_the_flush(nc: Client, nats_settings: BusSettings) -> None:
    elsewhere = nats_settings.model_copy(update={"namespace": nats_settings.namespace + "-none"})
    publisher = JetStreamPublisher(nc, elsewhere, "test@1")  # no stream was made in that namespace
    batch = publisher.batch()
    await publisher.send(job(1), batch)
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await batch.flush()


async def test_an_event_the_stream_refuses_fails_the_flush(nc: Client, nats_settings: BusSettings) -> None:
    js = nc.jetstream()
    name = stream_for("jobs.submitted").stream_name(nats_settings.namespace)
    info = await js.stream_info(name)
    info.config.max_msg_size = 512  # the stream now refuses what is larger
    await js.update_stream(info.config)
    publisher = JetStreamPublisher(nc, nats_settings, "test@1")
    batch = publisher.batch()
    await publisher.send(job(1), batch)
    await publisher.send(JobSubmitted(correlation_id="s", kind="echo", params={"text": "x" * 2_000}), batch)
    await publisher.send(job(3), batch)
    with pytest.raises(nats.js.errors.APIError):
        await batch.flush()
    assert not publisher.pipeline.unconfirmed


async def test_sends_past_the_limit_wait_for_acks(nc: Client, nats_settings: BusSettings) -> None:
    publisher = JetStreamPublisher(nc, nats_settings, "test@1")
    publisher.pipeline.max_unconfirmed = 5
    batch = publisher.batch()
    for i in range(40):
        await publisher.send(job(i), batch)
        assert publisher.pipeline.unconfirmed <= 5
    await batch.flush()
    stored = await read(nc.jetstream(), nats_settings.namespace, "jobs.submitted")
    assert len(stored) == 40


async def test_sends_that_fail_or_are_abandoned_leave_nothing_waiting(nats_settings: BusSettings) -> None:
    client = await nats.connect(nats_settings.nats_url)
    await provision(client.jetstream(), nats_settings)
    publisher = JetStreamPublisher(client, nats_settings, "test@1")
    abandoned = publisher.batch()
    await publisher.send(job(1), abandoned)
    abandoned.abandon()  # its input is handled again: the ack to come is not waited for
    assert not publisher.pipeline.unconfirmed
    await client.close()
    batch = publisher.batch()
    with pytest.raises(nats.errors.ConnectionClosedError):
        await publisher.send(job(2), batch)
    assert not publisher.pipeline.unconfirmed  # never sent: no ack is counted on
    await batch.flush()  # nothing to wait for


async def test_a_flush_whose_acks_never_come_times_out_alone(nc: Client, nats_settings: BusSettings) -> None:
    publisher = JetStreamPublisher(nc, nats_settings, "test@1")
    patient, hasty = publisher.batch(), publisher.batch()
    await publisher.send(job(1), patient)
    await publisher.send(job(2), hasty)
    await publisher.pipeline.close()  # the acks now come to nobody
    waiting = asyncio.create_task(patient.flush(timeout_s=60))
    await asyncio.sleep(0)  # its deadline is set first, the later one
    with pytest.raises(TimeoutError, match="not confirmed"):  # its own timeout, not wait_for's
        await asyncio.wait_for(hasty.flush(timeout_s=0.3), 30)
    assert not waiting.done()  # a deadline of its own, not the earliest one's
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not publisher.pipeline.unconfirmed and not publisher.pipeline.waiting
