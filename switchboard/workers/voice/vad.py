"""VAD worker: voice.audio.chunk -> voice.speech.segment (+ voice.cancel).

Each session's speech detector lives in the replica that owns the session's
partition (chunks of a session arrive there in order). It emits the utterance
so far about every second (partial transcripts), the whole utterance at end of
turn, and a ``voice.cancel`` when the user starts speaking (barge-in: any
answer still playing for that session stops).

The detector is a cache of the session's audio, which stays on the bus: a
replica that meets a session mid-stream (the owner died, or the partition
moved when replicas were added) rebuilds it from the session's chunks of the
``RECOVER_S`` seconds before the chunk in hand, so an utterance in progress is not lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from prometheus_client import Counter

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import AudioChunk, Cancel, Event, SpeechSegment
from switchboard.workers.engines.vad import VAD, Segmenter, VADSettings, load_vad

log = logging.getLogger(__name__)
REBUILT = Counter("switchboard_vad_sessions_rebuilt", "Sessions whose detector was rebuilt from the bus")
MAX_SESSIONS = 1000
RECOVER_S = 25.0  # longer than the longest utterance (max_ms) plus its padding


class VADWorker:
    """One replica's detectors, one per session it has met (the longest idle forgotten)."""

    def __init__(self, vad: VAD | None = None, settings: VADSettings | None = None) -> None:
        self.vad = vad
        self.settings = settings or VADSettings()
        self.sessions: OrderedDict[str, tuple[Segmenter, float]] = OrderedDict()

    async def start(self) -> None:
        """Load the VAD model (unless one was handed in)."""
        if self.vad is None:
            self.vad = await asyncio.to_thread(load_vad)

    async def _segmenter(self, chunk: AudioChunk, ctx: Context) -> Segmenter:
        assert self.vad is not None, "vad started without its model"
        session = chunk.correlation_id
        entry = self.sessions.pop(session, None)
        seg = entry[0] if entry else await _rebuild(chunk, ctx, Segmenter.configured(self.vad, self.settings))
        self.sessions[session] = (seg, time.monotonic())
        while len(self.sessions) > MAX_SESSIONS:  # forget the longest-idle sessions
            self.sessions.popitem(last=False)
        return seg

    @handles(AudioChunk)
    async def on_chunk(self, chunk: AudioChunk, ctx: Context) -> list[Event]:
        """Speech events of the session's audio so far."""
        seg = await self._segmenter(chunk, ctx)
        found = await asyncio.to_thread(seg.feed, chunk.pcm)
        if chunk.end_of_stream:
            found += seg.flush()
            self.sessions.pop(chunk.correlation_id, None)
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


def build(vad: VAD | None = None, settings: VADSettings | None = None) -> Worker:
    """The vad worker kind, with its engine (loaded at start when not given)."""
    return Worker.of(VADWorker(vad, settings), "vad", version="0.1.0", emits=(SpeechSegment, Cancel))


async def _rebuild(chunk: AudioChunk, ctx: Context, seg: Segmenter) -> Segmenter:
    """A session met mid-stream: feed its earlier chunks from the bus; what they
    produce was published by the replica that handled them."""
    if chunk.seq == 0 or ctx.earlier is None:
        return seg
    earlier = sorted(
        (e for e in await ctx.earlier(RECOVER_S) if isinstance(e, AudioChunk) and e.seq < chunk.seq),
        key=lambda e: e.seq,
    )
    if earlier:
        seg.start_at(earlier[0].seq * len(earlier[0].pcm) // 2)  # the page sends equal chunks
        await asyncio.to_thread(lambda: [seg.feed(e.pcm) for e in earlier])
        REBUILT.inc()
        log.info(
            "session rebuilt from the bus", extra={"session": chunk.correlation_id, "chunks": len(earlier)}
        )
    return seg
