"""The voice pipeline end to end with its real models, on real NATS, through
the edge: a WebSocket client streams speech at real-time pace and gets partial
and final transcripts, answer deltas, the answer and playable audio."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import websockets

from switchboard.bus import BusSettings
from tests.fakes import SlowLLM
from tests.voice_audio import speech_16k
from tests.voice_stack import VoiceStack, voice_stack

pytestmark = [pytest.mark.slow, pytest.mark.nats]


@pytest.fixture
async def voice(
    nats_settings: BusSettings, tmp_path: Path, model_server_url: str
) -> AsyncIterator[VoiceStack]:
    async with voice_stack(nats_settings, tmp_path) as stack:
        yield stack


@pytest.fixture
def edge_url(voice: VoiceStack) -> str:
    return voice.url


async def test_spoken_question_gets_transcripts_answer_and_audio(edge_url: str) -> None:
    pcm = speech_16k("What happens when a worker crashes?")
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
    assert "worker" in text and "crash" in text, text
    assert "voice.answer.delta" in types and "voice.answer" in types
    answer = next(f for f in frames if f["type"] == "voice.answer")
    assert str(answer["text"]).strip() and answer["finish_reason"] == "stop"
    audio = [f for f in frames if f["type"] == "voice.speech.audio" and not f.get("last")]
    assert audio
    first = base64.urlsafe_b64decode(str(audio[0]["pcm"]))  # pydantic writes URL-safe base64
    assert len(first) > 2 * 16_000 * 0.2 and len(first) % 2 == 0  # at least 0.2 s of PCM16


async def _stream(ws: object, pcm: bytes) -> None:
    start = time.monotonic()
    for i, off in enumerate(range(0, len(pcm), 3200)):
        await ws.send(pcm[off : off + 3200])  # type: ignore[attr-defined]
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.1 - time.monotonic()))


async def test_barge_in_cancels_the_answer_and_tells_the_client(edge_url: str, voice: VoiceStack) -> None:
    slow = SlowLLM()
    voice.service("llm").llm = slow
    frames: list[dict[str, object]] = []
    async with websockets.connect(edge_url, max_size=4_000_000) as ws:
        await ws.recv()
        first_audio = asyncio.Event()
        second_answer = asyncio.Event()

        async def receive() -> None:
            async for raw in ws:
                ev = json.loads(raw)
                frames.append(ev)
                if ev["type"] == "voice.speech.audio":
                    first_audio.set()
                answers = [f for f in frames if f["type"] == "voice.answer"]
                if len(answers) == 2:
                    second_answer.set()

        reader = asyncio.create_task(receive())
        await _stream(ws, speech_16k("How do I scale a worker in Switchboard?"))
        await asyncio.wait_for(first_audio.wait(), 60)
        # the user talks over the answer
        await _stream(ws, speech_16k("Stop. What happens when a worker crashes?", 0.2, 1.2))
        await asyncio.wait_for(second_answer.wait(), 90)
        reader.cancel()
    types = [f["type"] for f in frames]
    first_sound = types.index("voice.speech.audio")
    assert "voice.cancel" in types[first_sound:]  # the barge-in, told to the client
    cancel_at = types.index("voice.cancel", first_sound)
    answers = [f for f in frames if f["type"] == "voice.answer"]
    first = answers[0]
    assert first["finish_reason"] == "cancelled"
    assert len(str(first["text"]).split()) < slow.words
    assert slow.stopped_early >= 1
    # after the cancel, the first answer gets no more audio and no end-of-audio mark
    late = [
        f
        for f in frames[cancel_at + 1 :]
        if f["type"] == "voice.speech.audio" and f["answer_id"] == first["answer_id"]
    ]
    assert len(late) <= 1  # at most one sentence already on its way
    assert not any(f.get("last") for f in late)
    finals = [str(f["text"]).lower() for f in frames if f["type"] == "voice.transcript" and f["is_final"]]
    assert len(finals) == 2 and "crash" in finals[1]


async def test_hang_up_mid_answer_stops_the_work(
    edge_url: str, nats_settings: BusSettings, voice: VoiceStack
) -> None:
    slow = SlowLLM()
    voice.service("llm").llm = slow
    nc = await nats.connect(nats_settings.nats_url)
    answers: list[dict[str, object]] = []

    async def on_answer(msg: object) -> None:
        answers.append(json.loads(msg.data))  # type: ignore[attr-defined]

    sub = await nc.subscribe(f"{nats_settings.namespace}.voice.answer.*", cb=on_answer)
    async with websockets.connect(edge_url, max_size=4_000_000) as ws:
        await ws.recv()
        await _stream(ws, speech_16k("How do I scale a worker in Switchboard?"))
        while True:  # wait for the answer to start, then hang up
            ev = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if ev["type"] == "voice.answer.delta":
                break
    for _ in range(100):
        if answers:
            break
        await asyncio.sleep(0.1)
    await sub.unsubscribe()
    await nc.close()
    assert answers and answers[0]["finish_reason"] == "cancelled"
    assert slow.stopped_early == 1


async def test_bad_audio_gets_clear_errors_and_the_session_goes_on(edge_url: str) -> None:
    import io
    import wave

    def wav(rate: int, channels: int) -> bytes:
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"\0\0" * channels * 800)
        return buf.getvalue()

    async with websockets.connect(edge_url, max_size=4_000_000) as ws:
        await ws.recv()
        await ws.send(wav(44_100, 2))
        assert "44100 Hz" in json.loads(await ws.recv())["message"]
        await ws.send(b"\x01\x02\x03")  # odd byte count: not PCM16
        assert json.loads(await ws.recv())["code"] == "bad_audio"
        await ws.send(b"RIFF garbage that is no wav")
        assert "unreadable WAV" in json.loads(await ws.recv())["message"]
        await ws.send(b"\x00" * 200_000)  # one frame over the limits
        err = json.loads(await ws.recv())
        assert err["code"] in ("too_large", "bad_audio")
        await ws.send(os.urandom(32_000))  # garbage as audio: noise, no crash, no answer
        await ws.send(wav(16_000, 1))  # the right format is taken
        await ws.send(
            json.dumps(
                {
                    "type": "voice.transcript",
                    "segment_id": "t1",
                    "text": "Hello there",
                    "is_final": True,
                    "source": "text",
                }
            )
        )
        while True:
            ev = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert ev["type"] != "error", ev
            if ev["type"] == "voice.answer":
                break
