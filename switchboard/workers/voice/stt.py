"""STT worker: voice.speech.segment -> voice.transcript (partial, or final at
end of turn). Stateless: each segment carries the utterance so far."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prometheus_client import Histogram

from switchboard.bus import Context, Worker
from switchboard.schemas import SpeechSegment, Transcript
from switchboard.workers.engines.stt import WhisperSTT

RTF = Histogram("switchboard_stt_rtf", "STT time / audio time", buckets=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6))
STALE_PARTIAL_S = 0.6
_stt: WhisperSTT | None = None


async def _load() -> None:
    global _stt
    if _stt is None:
        _stt = await asyncio.to_thread(WhisperSTT)


# sessions side by side: one session's transcription (in a thread) does not queue the next
worker = Worker("stt", version="0.1.0", emits=(Transcript,), on_start=_load, sessions_side_by_side=True)


@worker.handler(SpeechSegment)
async def on_segment(seg: SpeechSegment, ctx: Context) -> Transcript | None:
    assert _stt is not None, "stt started without its model"
    if not seg.end_of_turn and (datetime.now(UTC) - seg.created_at).total_seconds() > STALE_PARTIAL_S:
        return None  # a newer partial (or the final) is already on its way: skip, catch up
    result = await asyncio.to_thread(_stt.transcribe, seg.pcm)
    RTF.observe(result.rtf)
    if not result.text:
        return None  # nothing intelligible: no transcript, no answer
    return Transcript(
        correlation_id=seg.correlation_id,
        segment_id=seg.segment_id,
        text=result.text[:4000],
        is_final=seg.end_of_turn,
    )
