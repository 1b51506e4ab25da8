"""The voice chain (vad -> stt -> retrieve -> llm -> tts) on the in-memory
transport with a fake of every engine: the workers' wiring, turn-taking and
barge-in in seconds. The real models run the same chain in
tests/integration/test_voice_chain.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from switchboard.bus.memory.transport import MemoryTransport
from switchboard.schemas import Answer, AudioChunk, Cancel, Event, SpeechAudio, SpeechSegment, Transcript
from switchboard.schemas import Context as VoiceContext
from tests.fakes import FakeEmbedder, FakeLLM, FakeSTT, FakeTTS, FakeVAD, MemoryCollection, SlowLLM
from tests.memory_chain import on_memory, until
from tests.voice_stack import voice_settings, voice_workers

RATE = 16_000
CHUNK = 3200  # 100 ms of PCM16


QUESTIONS = {220: "How do I scale a worker?", 440: "What happens when a worker crashes?"}


def speech(seconds: float, pitch: int = 0) -> bytes:
    """A tone (speech to the fake VAD; the fake STT hears QUESTIONS[pitch]) or silence."""
    t = np.arange(int(RATE * seconds)) / RATE
    wave = 0.3 * np.sin(2 * np.pi * pitch * t)
    return (wave * 32767).astype(np.int16).tobytes()


def chunks(session: str, pcm: bytes, first_seq: int = 0, end: bool = False) -> list[AudioChunk]:
    parts = [pcm[i : i + CHUNK] for i in range(0, len(pcm), CHUNK)]
    return [
        AudioChunk(
            correlation_id=session, seq=first_seq + i, pcm=p, end_of_stream=end and i == len(parts) - 1
        )
        for i, p in enumerate(parts)
    ]


@contextlib.asynccontextmanager
async def chain(tmp_path: Path, **engines: Any) -> AsyncIterator[tuple[MemoryTransport, list[Event]]]:
    async with on_memory(*voice_workers(voice_settings(tmp_path), **engines), partitions=2) as running:
        yield running


def engines(llm: Any) -> dict[str, Any]:
    return {
        "vad": FakeVAD(),
        "stt": FakeSTT(QUESTIONS),
        "embedder": FakeEmbedder(),
        "passages": MemoryCollection(),
        "llm": llm,
        "tts": FakeTTS(),
    }


async def test_a_spoken_question_is_answered_in_speech(tmp_path: Path) -> None:
    fakes = engines(FakeLLM(["Start more replicas of it. Each one takes a share of the sessions."]))
    async with chain(tmp_path, **fakes) as (bus, seen):
        publish = bus.publisher("test@1")
        audio = speech(0.3) + speech(1.2, 220) + speech(1.0)
        for chunk in chunks("s1", audio, end=True):
            await publish(chunk)
        await until(lambda: any(isinstance(e, SpeechAudio) and e.last for e in seen))
    types = [type(e) for e in seen]
    assert Cancel in types  # speech started: whatever was playing stops (barge-in)
    segments = [e for e in seen if isinstance(e, SpeechSegment)]
    assert segments[-1].end_of_turn and 1.0 < (segments[-1].end_ms - segments[-1].start_ms) / 1000 < 2.0
    final = [e for e in seen if isinstance(e, Transcript) and e.is_final]
    assert [t.text for t in final] == ["How do I scale a worker?"]
    context = next(e for e in seen if isinstance(e, VoiceContext))
    assert context.query == "How do I scale a worker?"
    assert fakes["passages"].count() > 0  # the starter knowledge base, embedded by the fake
    answer = next(e for e in seen if isinstance(e, Answer))
    assert answer.text == "Start more replicas of it. Each one takes a share of the sessions."
    assert answer.finish_reason == "stop"
    spoken = [e for e in seen if isinstance(e, SpeechAudio) and e.pcm]
    assert spoken and "".join(e.text + " " for e in spoken).split() == answer.text.split()
    assert fakes["tts"].said == [s.text for s in spoken]


async def test_talking_over_the_answer_cancels_it(tmp_path: Path) -> None:
    slow = SlowLLM(words=400, delay_s=0.02)
    fakes = engines(slow)
    async with chain(tmp_path, **fakes) as (bus, seen):
        publish = bus.publisher("test@1")
        first = chunks("s1", speech(0.3) + speech(1.2, 220) + speech(1.0))
        for chunk in first:
            await publish(chunk)
        await until(lambda: any(isinstance(e, SpeechAudio) and e.pcm for e in seen))
        slow.words = 20  # the second answer is short
        second = speech(1.2, 440) + speech(1.0)
        for chunk in chunks("s1", second, first_seq=len(first), end=True):
            await publish(chunk)
        await until(lambda: any(isinstance(e, SpeechAudio) and e.last for e in seen))
    answers = [e for e in seen if isinstance(e, Answer)]
    assert answers[0].finish_reason == "cancelled" and answers[1].finish_reason == "stop"
    assert slow.stopped_early >= 1
    finals = [e.text for e in seen if isinstance(e, Transcript) and e.is_final]
    assert finals == ["How do I scale a worker?", "What happens when a worker crashes?"]
    # the cut answer ends without an end-of-audio mark; the second one has its own
    lasts = [e.answer_id for e in seen if isinstance(e, SpeechAudio) and e.last]
    assert lasts == [answers[1].answer_id]
