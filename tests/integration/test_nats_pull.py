"""The pull loop against a real NATS JetStream server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from switchboard.bus import BusSettings
from switchboard.bus.nats.pull import Puller, RequestLost
from switchboard.bus.nats.runner import NatsRunner
from switchboard.bus.nats.streams import read
from switchboard.bus.subjects import stream_for
from switchboard.schemas import JobSubmitted
from tests.helpers import by_session, collect, jobs
from tests.integration.test_nats_bus import _connect
from tests.relay import relay

pytestmark = pytest.mark.nats


@pytest.fixture
async def consumer(nats_settings: BusSettings) -> AsyncIterator[tuple[Client, str]]:
    nc = await nats.connect(nats_settings.nats_url)
    js = nc.jetstream()
    stream = f"PULL{nats_settings.namespace}".replace("-", "_")
    await js.add_stream(name=stream, subjects=[f"{stream}.>"])
    config = api.ConsumerConfig(durable_name="d", ack_policy=api.AckPolicy.ALL, max_ack_pending=8)
    await js.add_consumer(stream, config)
    yield nc, stream
    await js.delete_stream(stream)
    await nc.close()


async def test_batches_come_in_order_and_an_idle_fetch_returns_nothing(consumer: tuple[Client, str]) -> None:
    nc, stream = consumer
    js = nc.jetstream()
    puller = Puller(nc, stream, "d", batch=8, expires_s=1.0)
    await puller.start()
    for i in range(20):
        await js.publish(f"{stream}.a", str(i).encode())
    got: list[str] = []
    while len(got) < 20:
        msgs = await puller.fetch(5.0)
        assert 0 < len(msgs) <= 8
        got += [m.data.decode() for m in msgs]
        await msgs[-1].ack()  # ack-all: max_ack_pending 8 holds the rest back until then
    assert got == [str(i) for i in range(20)]
    assert await puller.fetch(0.3) == []
    later = asyncio.create_task(puller.fetch(10.0))  # a request is open: what comes is pushed
    await js.publish(f"{stream}.a", b"late")
    assert [m.data for m in await later] == [b"late"]
    await puller.stop()


async def test_wake_ends_a_waiting_fetch_or_the_next_one(consumer: tuple[Client, str]) -> None:
    nc, stream = consumer
    puller = Puller(nc, stream, "d", batch=8, expires_s=30.0)
    await puller.start()
    waiting = asyncio.create_task(puller.fetch(30.0))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    puller.wake()
    assert await asyncio.wait_for(waiting, 10) == []
    puller.wake()  # nobody waits: the next fetch returns at once
    assert await asyncio.wait_for(puller.fetch(30.0), 10) == []
    later = asyncio.create_task(puller.fetch(30.0))  # and only that one
    await nc.jetstream().publish(f"{stream}.a", b"x")
    assert [m.data for m in await asyncio.wait_for(later, 10)] == [b"x"]
    await puller.stop()


async def test_a_stopping_loop_only_takes_what_the_open_request_brings(consumer: tuple[Client, str]) -> None:
    nc, stream = consumer
    puller = Puller(nc, stream, "d", batch=8, expires_s=0.5)
    await puller.start()
    assert await puller.fetch(0.1) == []  # opened a request that ends by itself
    start = time.monotonic()
    while puller.open:
        assert await puller.fetch(2.0, ask=False) == []
    assert time.monotonic() - start < 5  # the server ended it (408): no wait for the grace
    assert await puller.fetch(1.0, ask=False) == [] and not puller.open
    await puller.stop()


async def test_a_deleted_consumer_is_an_error_not_a_silent_wait(consumer: tuple[Client, str]) -> None:
    nc, stream = consumer
    puller = Puller(nc, stream, "d", batch=8, expires_s=5.0)
    await puller.start()
    waiting = asyncio.create_task(puller.fetch(30.0))
    await asyncio.sleep(0.3)
    await nc.jetstream().delete_consumer(stream, "d")
    with pytest.raises(nats.js.errors.NotFoundError):
        await waiting
    await puller.stop()
    quick = Puller(nc, stream, "d", batch=8, expires_s=0.3)
    await quick.start()
    with pytest.raises(RequestLost):  # nobody answers a request for it any more (3 in a row)
        await quick.fetch(60.0)
    await quick.stop()


async def test_a_request_left_unended_is_replaced_and_its_late_end_ignored(
    nats_settings: BusSettings,
) -> None:
    """A server that never ends a request (no 408: seen under load) costs a
    moment past its expiry; the end it sends late does not end the next one."""
    nc = await nats.connect(nats_settings.nats_url)
    requests: asyncio.Queue[str] = asyncio.Queue()

    async def on_request(msg: Msg) -> None:
        await requests.put(msg.reply)

    stream = f"STUCK{nats_settings.namespace}".replace("-", "_")
    await nc.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.d", cb=on_request)
    puller = Puller(nc, stream, "d", batch=8, expires_s=0.5)
    await puller.start()
    try:
        fetching = asyncio.create_task(puller.fetch(60.0))
        first = await asyncio.wait_for(requests.get(), 10)
        await nc.publish(first, b"a")  # 1 of 8, and the request is never ended
        assert [m.data for m in await asyncio.wait_for(fetching, 10)] == [b"a"]
        fetching = asyncio.create_task(puller.fetch(60.0))
        second = await asyncio.wait_for(requests.get(), 30)
        assert second != first
        await nc.publish(first, b"", headers={"Status": "408", "Description": "Request Timeout"})
        await nc.publish(second, b"b")
        assert [m.data for m in await asyncio.wait_for(fetching, 10)] == [b"b"]
        assert puller.owed == 7  # the first request's late end left the second open
    finally:
        await puller.stop()
        await nc.close()


async def test_the_runner_makes_a_deleted_consumer_again(nats_settings: BusSettings) -> None:
    nc, pub = await _connect(nats_settings)
    runner = NatsRunner(nc, relay, nats_settings)
    await runner.start()
    try:
        sent = jobs(sessions=1, per_session=2)
        await pub.publish(sent[0])
        await collect(nc.jetstream(), nats_settings.namespace, "jobs.status", 1)
        js = nc.jetstream()
        for info in await js.consumers_info(
            stream_for("jobs.submitted").stream_name(nats_settings.namespace)
        ):
            if info.name.startswith(f"{relay.name}_"):
                await js.delete_consumer(info.stream_name, info.name)
        await pub.publish(sent[1])
        out = await collect(js, nats_settings.namespace, "jobs.status", 2, wait_s=60)
        assert len(out) == 2
    finally:
        await runner.stop()
        await nc.close()


async def test_messages_pulled_behind_a_slow_one_are_kept_alive(nats_settings: BusSettings) -> None:
    """They wait longer than ack_wait: not redelivered, so never counted as poison."""
    settings = nats_settings.model_copy(
        update={"ack_wait_s": 1.0, "max_deliver": 2, "partitions": 1, "fetch_timeout_s": 4.0}
    )
    nc, pub = await _connect(settings)
    js = nc.jetstream()
    runner = NatsRunner(nc, relay, settings)
    await runner.start()
    try:
        await pub.publish(JobSubmitted(correlation_id="s-slow", kind="relay", params={"seq": 0, "sleep": 5}))
        await asyncio.sleep(0.3)  # the slow one is in hand; the rest are pulled while it works
        for seq in (1, 2, 3):
            await pub.publish(JobSubmitted(correlation_id="s-slow", kind="relay", params={"seq": seq}))
        out = await collect(js, settings.namespace, "jobs.status", 4, wait_s=60)
        assert by_session(out) == {"s-slow": [0, 1, 2, 3]}
        await asyncio.sleep(2.0)
        assert await read(js, settings.namespace, "dead.letter") == []
        assert len(await read(js, settings.namespace, "jobs.status")) == 4
    finally:
        await runner.stop()
        await nc.close()
