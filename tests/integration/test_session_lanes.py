"""Sessions side by side on real JetStream: two sessions that share a partition
are handled at the same time, each in order, and nothing is acked past a
message still in hand."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import nats
import pytest

from switchboard.bus import BusSettings, Context, Worker
from switchboard.bus.nats.jetstream import JetStreamPublisher, provision
from switchboard.bus.nats.runner import NatsRunner, consumer_name
from switchboard.bus.subjects import partition_of, stream_for
from switchboard.schemas import JobStatus, JobSubmitted
from tests.helpers import by_session, collect

pytestmark = pytest.mark.nats

lanes = Worker("lanes", emits=(JobStatus,), sessions_side_by_side=True)
release = asyncio.Event()


@lanes.handler(JobSubmitted)
async def on_submitted(event: JobSubmitted, ctx: Context) -> JobStatus:
    if event.params.get("hold"):
        await release.wait()  # a long answer: held until the test lets it go
    return JobStatus(
        correlation_id=event.correlation_id,
        kind=event.kind,
        state="running",
        message=f"{event.params['seq']}@1",
    )


def same_partition(partitions: int) -> tuple[str, str, int]:
    """Two session ids whose events land on one partition."""
    first = "lane-a"
    part = partition_of(first, partitions)
    other = next(f"lane-b{i}" for i in itertools.count() if partition_of(f"lane-b{i}", partitions) == part)
    return first, other, part


async def pending(js: nats.js.JetStreamContext, settings: BusSettings, partition: int) -> int:
    stream = stream_for("jobs.submitted").stream_name(settings.namespace)
    info = await js.consumer_info(stream, consumer_name("lanes", "jobs.submitted", partition))
    return info.num_ack_pending + info.num_pending


async def until(check, wait_s: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


async def test_a_held_session_does_not_hold_up_another_on_its_partition(nats_settings: BusSettings) -> None:
    release.clear()
    a, b, part = same_partition(nats_settings.partitions)
    nc = await nats.connect(nats_settings.nats_url)
    js = nc.jetstream()
    await provision(js, nats_settings)
    pub = JetStreamPublisher(nc, nats_settings, "test@1")
    runner = NatsRunner(nc, lanes, nats_settings)
    await runner.start()
    try:
        await pub.publish(JobSubmitted(correlation_id=a, kind="t", params={"seq": 0, "hold": True}))
        await pub.publish(JobSubmitted(correlation_id=a, kind="t", params={"seq": 1}))
        for seq in range(3):
            await pub.publish(JobSubmitted(correlation_id=b, kind="t", params={"seq": seq}))
        out = await collect(js, nats_settings.namespace, "jobs.status", 3)
        assert by_session(out) == {b: [0, 1, 2]}  # b answered while a's first is in hand; a's second waits
        # b's are handled but come after a's unhandled one: none of the five is acked yet
        assert await pending(js, nats_settings, part) == 5
        release.set()
        out = await collect(js, nats_settings.namespace, "jobs.status", 5)
        assert by_session(out) == {b: [0, 1, 2], a: [0, 1]}
        assert await until(lambda: _zero(js, nats_settings, part)), "everything acked once handled"
        assert json.loads(out[-1].data)["correlation_id"] == a
    finally:
        release.set()
        await runner.stop()
        await nc.close()


async def _zero(js: nats.js.JetStreamContext, settings: BusSettings, part: int) -> bool:
    return await pending(js, settings, part) == 0
