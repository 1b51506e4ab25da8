"""A VAD replica dies mid-utterance: the replica that takes the partition over
rebuilds the session's detector from the audio on the bus, and the user's
whole utterance still reaches STT as one segment."""

from __future__ import annotations

import asyncio
import json
import signal

import nats
import pytest

from bus import BusSettings
from bus.jetstream import JetStreamPublisher, provision
from schemas import AudioChunk
from streams.replay import read
from tests.helpers import spawn_worker
from tests.voice_audio import speech_16k
from workers.engines.vad import Segmenter, SileroVAD

pytestmark = pytest.mark.nats
STEP = 3200  # 100 ms chunks, as the page sends


async def segments(js: object, ns: str, *, end: bool, wait_s: float = 60) -> list[dict[str, object]]:
    for _ in range(int(wait_s * 5)):
        got = [json.loads(r.data) for r in await read(js, ns, "voice.speech.segment")]  # type: ignore[arg-type]
        if any(g["end_of_turn"] == end for g in got):
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {'end' if end else 'partial'} segment in {wait_s} s")


async def test_a_new_replica_finishes_the_utterance_the_dead_one_began(nats_settings: BusSettings) -> None:
    pcm = speech_16k("What happens when a worker crashes?", 1.0, 1.5)
    reference = Segmenter(SileroVAD())  # what one replica alone would have found
    whole = [e for off in range(0, len(pcm), STEP) for e in reference.feed(pcm[off : off + STEP])]
    expected = next(e for e in whole if e.kind == "end")
    chunks = [
        AudioChunk(correlation_id="caller-1", seq=i, pcm=pcm[off : off + STEP])
        for i, off in enumerate(range(0, len(pcm), STEP))
    ]
    half = (expected.start_ms + 1500) // 100  # 1.5 s into the speech: mid-utterance
    nc = await nats.connect(nats_settings.nats_url)
    js = nc.jetstream()
    await provision(js, nats_settings)
    pub = JetStreamPublisher(nc, nats_settings, "test")
    proc = spawn_worker(nats_settings, "vad")
    try:
        for chunk in chunks[:half]:
            await pub.publish(chunk)
        await segments(
            js, nats_settings.namespace, end=False
        )  # a partial: the first replica is mid-utterance
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc = spawn_worker(nats_settings, "vad")
        for chunk in chunks[half:]:
            await pub.publish(chunk)
        got = await segments(js, nats_settings.namespace, end=True)
    finally:
        proc.terminate()
        proc.wait(10)
        await nc.close()
    ends = [g for g in got if g["end_of_turn"]]
    assert len(ends) == 1, ends
    end = ends[0]
    # the whole utterance, from where it began, not just what the new replica heard
    assert abs(int(end["start_ms"]) - expected.start_ms) <= 100, (end["start_ms"], expected.start_ms)
    assert abs(int(end["end_ms"]) - expected.end_ms) <= 100, (end["end_ms"], expected.end_ms)
    assert end["segment_id"] == f"caller-1-{end['start_ms']}"
