"""A VAD replica dies mid-utterance: the replica that takes the partition over
rebuilds the session's detector from the audio on the bus, and the user's
whole utterance still reaches STT as one segment, on NATS and on Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import nats
import pytest
from aiokafka import AIOKafkaConsumer

from switchboard.bus import BusSettings, transport
from switchboard.bus.kafka import provision_kafka
from switchboard.bus.nats.jetstream import JetStreamPublisher, provision
from switchboard.bus.nats.streams import read
from switchboard.bus.subjects import address
from switchboard.schemas import EVENT_TYPES, AudioChunk, Event
from switchboard.workers.engines.vad import Segmenter, SileroVAD
from tests.conftest import fast_settings
from tests.helpers import spawn_worker
from tests.voice_audio import speech_16k

pytestmark = pytest.mark.slow  # the real Silero model in worker processes

STEP = 3200  # 100 ms chunks, as the page sends


@dataclass
class Bus:
    settings: BusSettings
    publish: Callable[[Event], Awaitable[None]]
    segments: Callable[[], Awaitable[list[dict[str, object]]]]  # all speech segments so far


@contextlib.asynccontextmanager
async def nats_bus(settings: BusSettings) -> AsyncIterator[Bus]:
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    await provision(js, settings)

    async def segments() -> list[dict[str, object]]:
        return [json.loads(r.data) for r in await read(js, settings.namespace, "voice.speech.segment")]

    try:
        yield Bus(settings, JetStreamPublisher(nc, settings, "test").publish, segments)
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def kafka_bus(settings: BusSettings) -> AsyncIterator[Bus]:
    await provision_kafka(settings, list(EVENT_TYPES))
    consumer = AIOKafkaConsumer(
        address(settings.namespace, "voice.speech.segment"),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen: list[dict[str, object]] = []

    async def segments() -> list[dict[str, object]]:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            seen.extend(json.loads(r.value) for r in records)
        return seen

    async with transport(settings) as bus:
        await consumer.start()
        try:
            yield Bus(settings, bus.publisher("test"), segments)
        finally:
            await consumer.stop()


async def wait_for_segment(bus: Bus, *, end: bool, wait_s: float = 60) -> list[dict[str, object]]:
    for _ in range(int(wait_s * 5)):
        got = await bus.segments()
        if any(g["end_of_turn"] == end for g in got):
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {'end' if end else 'partial'} segment in {wait_s} s")


@pytest.mark.nats
async def test_on_nats_a_new_replica_finishes_the_utterance_the_dead_one_began(
    nats_settings: BusSettings,
) -> None:
    async with nats_bus(nats_settings) as bus:
        await takeover(bus)


@pytest.mark.kafka
async def test_on_kafka_a_new_replica_finishes_the_utterance_the_dead_one_began(kafka_bootstrap: str) -> None:
    async with kafka_bus(fast_settings(broker="kafka", kafka_bootstrap=kafka_bootstrap)) as bus:
        await takeover(bus)


async def takeover(bus: Bus) -> None:
    pcm = speech_16k("What happens when a worker crashes?", 1.0, 1.5)
    reference = Segmenter(SileroVAD())  # what one replica alone would have found
    whole = [e for off in range(0, len(pcm), STEP) for e in reference.feed(pcm[off : off + STEP])]
    expected = next(e for e in whole if e.kind == "end")
    chunks = [
        AudioChunk(correlation_id="caller-1", seq=i, pcm=pcm[off : off + STEP])
        for i, off in enumerate(range(0, len(pcm), STEP))
    ]
    half = (expected.start_ms + 1500) // 100  # 1.5 s into the speech: mid-utterance
    proc = spawn_worker(bus.settings, "vad")
    try:
        for chunk in chunks[:half]:
            await bus.publish(chunk)
        await wait_for_segment(bus, end=False)  # a partial: the first replica is mid-utterance
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc = spawn_worker(bus.settings, "vad")
        for chunk in chunks[half:]:
            await bus.publish(chunk)
        got = await wait_for_segment(bus, end=True)
    finally:
        proc.terminate()
        proc.wait(10)
    ends = [g for g in got if g["end_of_turn"]]
    assert len(ends) == 1, ends
    end = ends[0]
    # the whole utterance, from where it began, not just what the new replica heard
    assert abs(int(end["start_ms"]) - expected.start_ms) <= 100, (end["start_ms"], expected.start_ms)
    assert abs(int(end["end_ms"]) - expected.end_ms) <= 100, (end["end_ms"], expected.end_ms)
    assert end["segment_id"] == f"caller-1-{end['start_ms']}"
