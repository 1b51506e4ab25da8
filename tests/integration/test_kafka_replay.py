"""Replay on Kafka (Tansu): a recorded slice copied into an isolated namespace,
processed by another worker version, and compared with the recorded outputs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.bus import BusSettings, transport
from switchboard.bus.kafka import provision_kafka
from switchboard.bus.kafka.streams import copy as replay
from switchboard.bus.kafka.streams import drop, read, report
from switchboard.bus.transport import Recorded, Slice
from switchboard.schemas import EVENT_TYPES
from switchboard.streams.replay import compare
from tests.conftest import fast_settings
from tests.helpers import jobs, running, spawn_worker
from tests.relay import relay

pytestmark = pytest.mark.kafka


async def _collect(
    settings: BusSettings, ns: str, subject: str, n: int, wait_s: float = 60
) -> list[Recorded]:
    deadline = time.monotonic() + wait_s
    got: list[Recorded] = []
    while time.monotonic() < deadline and len(got) < n:
        got = await read(settings, ns, subject)
        await asyncio.sleep(0.3)
    return got


async def test_replay_runs_another_version_in_isolation(kafka_bootstrap: str) -> None:
    settings = fast_settings(broker="kafka", kafka_bootstrap=kafka_bootstrap, partitions=3)
    await provision_kafka(settings, list(EVENT_TYPES))
    target = settings.namespace + "-rp"
    sent = jobs(sessions=3, per_session=4)
    async with transport(settings) as bus:
        publish = bus.publisher("test@1")
        for ev in sent:
            await publish(ev)
    proc = None
    try:
        async with running(relay, settings):
            assert len(await _collect(settings, settings.namespace, "jobs.status", 12)) == 12
        subjects = {r.subject: r for r in await report(settings, {"jobs.submitted": ["relay"]})}
        submitted = subjects["jobs.submitted"]
        assert submitted.messages == 12 and submitted.by_worker()["relay"]["lag"] == 0

        with pytest.raises(ValueError, match="live namespace"):
            await replay(settings, settings.namespace, Slice(["jobs.submitted"]))
        with pytest.raises(ValueError, match="offsets per partition"):
            await read(settings, settings.namespace, "jobs.submitted", Slice(["jobs.submitted"], start_seq=3))
        future = datetime.now(UTC) + timedelta(hours=1)
        assert await read(settings, settings.namespace, "jobs.submitted", Slice([], since=future)) == []
        count = await replay(settings, target, Slice(["jobs.submitted"], correlation_ids={"s0", "s2"}))
        assert count == 8
        copied = await read(settings, target, "jobs.submitted")
        assert len(copied) == 8 and all(
            r.headers["Sb-Replay-Of"].startswith(settings.namespace) for r in copied
        )

        proc = spawn_worker(settings.model_copy(update={"namespace": target}), RELAY_VERSION="2")
        assert len(await _collect(settings, target, "jobs.status", 8)) == 8

        async def reader(ns: str, subject: str) -> list[Recorded]:
            return await read(settings, ns, subject)

        pairs = await compare(reader, settings.namespace, target, "jobs.status", ["jobs.submitted"])
        assert len(pairs) == 8
        assert all(p.differences == ["message"] for p in pairs)  # "n@1" vs "n@2"
        assert all(p.latency_replayed_s is not None and p.latency_replayed_s >= 0 for p in pairs)
        assert len(await read(settings, settings.namespace, "jobs.status")) == 12  # live saw none of it
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        gone = await drop(settings, target)
    assert f"{target}.jobs.submitted" in gone
