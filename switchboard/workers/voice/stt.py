"""STT worker: voice.speech.segment -> voice.transcript (partial, or final at
end of turn). Stateless: each segment carries the utterance so far."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prometheus_client import Histogram

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import SpeechSegment, Transcript
from switchboard.workers.engines.stt import STT, STTSettings, load_stt

RTF = Histogram("switchboard_stt_rtf", "STT time / audio time", buckets=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6))
STALE_PARTIAL_S = 0.6


class STTWorker:
    """Transcribes each segment with one loaded STT engine."""

    def __init__(self, stt: STT | None = None) -> None:
        self.stt = stt

    def about(self) -> str:
        """The speech model it uses."""
        return f"model {self.stt.name}" if self.stt else f"model {STTSettings().model}"

    async def start(self) -> None:
        """Load the STT model (unless one was handed in)."""
        if self.stt is None:
            self.stt = await asyncio.to_thread(load_stt)

    @handles(SpeechSegment)
    async def on_segment(self, seg: SpeechSegment, ctx: Context) -> Transcript | None:
        """The segment's transcript; None for a stale partial or nothing intelligible."""
        assert self.stt is not None, "stt started without its model"
        if not seg.end_of_turn and (datetime.now(UTC) - seg.created_at).total_seconds() > STALE_PARTIAL_S:
            return None  # a newer partial (or the final) is already on its way: skip, catch up
        result = await asyncio.to_thread(self.stt.transcribe, seg.pcm)
        RTF.observe(result.rtf)
        if not result.text:
            return None  # nothing intelligible: no transcript, no answer
        return Transcript(
            correlation_id=seg.correlation_id,
            segment_id=seg.segment_id,
            text=result.text[:4000],
            is_final=seg.end_of_turn,
        )


def build(stt: STT | None = None) -> Worker:
    """The stt worker kind; sessions side by side: one session's transcription
    (in a thread) does not queue the next."""
    return Worker.of(STTWorker(stt), "stt", version="0.1.0", emits=(Transcript,), sessions_side_by_side=True)
