"""The voice pipeline end to end with its real models, on real NATS, through
the edge: a WebSocket client streams speech at real-time pace and gets partial
and final transcripts, answer deltas, the answer and playable audio."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import uvicorn
import websockets

from bus import BusSettings
from bus.nats_runner import NatsRunner
from bus.servers import free_port
from edge.app import create_app
from edge.settings import EdgeSettings
from tests.voice_audio import speech_16k
from workers.voice import llm, retrieve, store, stt, tts, vad

pytestmark = [pytest.mark.slow, pytest.mark.nats]


@pytest.fixture
async def edge_url(
    nats_settings: BusSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    settings = store.VoiceSettings(
        db_url=f"sqlite:///{tmp_path / 'voice.db'}", kb_collection=f"kb-test-{uuid.uuid4().hex[:8]}"
    )
    monkeypatch.setattr(retrieve, "settings", settings)
    monkeypatch.setattr(llm, "settings", settings)
    nc = await nats.connect(nats_settings.nats_url)
    runners = [NatsRunner(nc, w.worker, nats_settings) for w in (vad, stt, retrieve, llm, tts)]
    for r in runners:
        await r.start()
    for w in (vad, stt, retrieve, llm, tts):  # models load before the clock starts
        assert w.worker.on_start
        await w.worker.on_start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(nats_settings, EdgeSettings()), port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):  # noqa: ASYNC110
        if server.started:
            break
        await asyncio.sleep(0.05)
    yield f"ws://127.0.0.1:{port}/ws"
    server.should_exit = True
    await task
    for r in runners:
        await r.stop()
    await nc.close()


async def test_spoken_question_gets_transcripts_answer_and_audio(edge_url: str) -> None:
    pcm = speech_16k("How do I scale a worker in Switchboard?")
    frames: list[dict[str, object]] = []
    async with websockets.connect(edge_url, max_size=4_000_000) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "session"

        async def receive() -> None:
            async for raw in ws:
                ev = json.loads(raw)
                frames.append(ev)
                if ev["type"] == "voice.speech.audio" and ev.get("last"):
                    return

        reader = asyncio.create_task(receive())
        step = 3200  # 100 ms of 16 kHz PCM16
        start = time.monotonic()
        for i, off in enumerate(range(0, len(pcm), step)):
            await ws.send(pcm[off : off + step])
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.1 - time.monotonic()))  # real-time pace
        await asyncio.wait_for(reader, 120)

    types = [f["type"] for f in frames]
    partials = [f for f in frames if f["type"] == "voice.transcript" and not f["is_final"]]
    finals = [f for f in frames if f["type"] == "voice.transcript" and f["is_final"]]
    assert partials, types
    assert len(finals) == 1
    text = str(finals[0]["text"]).lower()
    assert "scale" in text and "worker" in text
    assert "voice.answer.delta" in types and "voice.answer" in types
    answer = next(f for f in frames if f["type"] == "voice.answer")
    assert str(answer["text"]).strip() and answer["finish_reason"] == "stop"
    audio = [f for f in frames if f["type"] == "voice.speech.audio" and not f.get("last")]
    assert audio
    first = base64.urlsafe_b64decode(str(audio[0]["pcm"]))  # pydantic writes URL-safe base64
    assert len(first) > 2 * 16_000 * 0.2 and len(first) % 2 == 0  # at least 0.2 s of PCM16
