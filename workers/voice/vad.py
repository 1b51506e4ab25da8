"""VAD worker: voice.audio.chunk -> voice.speech.segment (+ voice.cancel).

Each session's speech detector lives in the replica that owns the session's
partition (chunks of a session arrive there in order). It emits the utterance
so far about every second (partial transcripts), the whole utterance at end of
turn, and a ``voice.cancel`` when the user starts speaking (barge-in: any
answer still playing for that session stops).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from bus import Context, Worker
from schemas import AudioChunk, Cancel, Event, SpeechSegment
from workers.engines.vad import Segmenter, SileroVAD, VADSettings

MAX_SESSIONS = 1000
settings = VADSettings()
_vad: SileroVAD | None = None
_sessions: OrderedDict[str, tuple[Segmenter, float]] = OrderedDict()


async def _load() -> None:
    global _vad
    if _vad is None:
        _vad = await asyncio.to_thread(SileroVAD)


worker = Worker("vad", version="0.1.0", on_start=_load)


def _segmenter(session: str) -> Segmenter:
    assert _vad is not None, "vad started without its model"
    entry = _sessions.pop(session, None)
    seg = entry[0] if entry else Segmenter.configured(_vad, settings)
    _sessions[session] = (seg, time.monotonic())
    while len(_sessions) > MAX_SESSIONS:  # forget the longest-idle sessions
        _sessions.popitem(last=False)
    return seg


@worker.handler(AudioChunk)
async def on_chunk(chunk: AudioChunk, ctx: Context) -> list[Event]:
    seg = _segmenter(chunk.correlation_id)
    found = await asyncio.to_thread(seg.feed, chunk.pcm)
    if chunk.end_of_stream:
        found += seg.flush()
        _sessions.pop(chunk.correlation_id, None)
    out: list[Event] = []
    for ev in found:
        if ev.kind == "start":
            out.append(Cancel(correlation_id=chunk.correlation_id, reason="barge_in"))
        elif ev.kind in ("partial", "end"):
            out.append(
                SpeechSegment(
                    correlation_id=chunk.correlation_id,
                    segment_id=f"{chunk.correlation_id[:48]}-{ev.start_ms}",
                    seq=chunk.seq,
                    start_ms=ev.start_ms,
                    end_ms=ev.end_ms,
                    pcm=ev.pcm,
                    end_of_turn=ev.kind == "end",
                )
            )
    return out
