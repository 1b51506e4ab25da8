"""One-shot voice over HTTP: a WAV in, the transcript, the answer and its
audio out, through the voice workers on real NATS (their engines faked: the
"speech" is a tone the fake STT hears as a scripted question)."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from switchboard.bus import BusSettings
from switchboard.edge.settings import EdgeSettings
from tests.fakes import FakeEmbedder, FakeLLM, FakeSTT, FakeTTS, FakeVAD, MemoryCollection
from tests.voice_stack import VoiceStack, voice_stack

pytestmark = pytest.mark.nats
ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef00"


def wav(seconds_of_tone: float, rate: int = 16_000) -> bytes:
    t = np.arange(int(rate * seconds_of_tone)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16).tobytes()
    silence = np.zeros(int(rate * 0.8), dtype=np.int16).tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(silence[: len(silence) // 2] + tone + silence)
    return out.getvalue()


@pytest.fixture
async def voice(nats_settings: BusSettings, tmp_path: Path) -> AsyncIterator[VoiceStack]:
    engines = {
        "vad": FakeVAD(),
        "stt": FakeSTT({220: "How do I scale a worker?"}),
        "embedder": FakeEmbedder(),
        "passages": MemoryCollection(),
        "llm": FakeLLM(["Start more replicas of it."]),
        "tts": FakeTTS(),
    }
    edge = EdgeSettings(tokens={ALICE: "alice", BOB: "bob"})
    async with voice_stack(nats_settings, tmp_path, edge, **engines) as stack:
        yield stack


async def test_a_spoken_question_over_http(voice: VoiceStack) -> None:
    alice, bob = {"Authorization": f"Bearer {ALICE}"}, {"Authorization": f"Bearer {BOB}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{voice.port}", timeout=120) as client:
        reply = await client.post("/voice/query", content=wav(1.2), headers=alice)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["transcript"] == "How do I scale a worker?"
        assert body["answer"] == "Start more replicas of it." and body["finish_reason"] == "stop"
        spoken = await client.get(body["audio_url"], headers=alice)
        assert spoken.status_code == 200 and spoken.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(spoken.content)) as w:
            assert w.getnframes() > 0
        assert (await client.get(body["audio_url"], headers=bob)).status_code == 404  # not theirs

        png = await client.post("/voice/query", content=b"\x89PNG\r\n\x1a\n" + b"\0" * 100, headers=alice)
        assert png.status_code == 415 and "PNG" in png.json()["detail"]
        cd = await client.post("/voice/query", content=wav(1.0, rate=44_100), headers=alice)
        assert cd.status_code == 415 and "44100 Hz" in cd.json()["detail"]
        quiet = await client.post("/voice/query", content=wav(0.0), headers=alice)
        assert quiet.status_code == 422 and "no speech" in quiet.json()["detail"]
        assert (await client.post("/voice/query", content=b"", headers=alice)).status_code == 400
        assert (await client.post("/voice/query", content=wav(1.0))).status_code == 401
