"""Voice pipeline events.

voice.audio.chunk -> voice.speech.segment -> voice.transcript -> voice.context
-> voice.answer.delta / voice.answer -> voice.speech.audio; voice.cancel is the
barge-in control event. The correlation id is the client session id.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import ControlEvent, Event, Id, Name, Part, ShortText, Text

SAMPLE_RATE: Literal[16000] = 16000
MAX_CHUNK_BYTES = 64_000  # 2 s of 16 kHz PCM16
MAX_SEGMENT_BYTES = 640_000  # 20 s of 16 kHz PCM16 (853 kB as base64)
MAX_TTS_BYTES = 480_000  # 10 s of 24 kHz PCM16


def _check_pcm(data: bytes) -> None:
    if len(data) % 2:
        raise ValueError("PCM16 audio must have an even number of bytes")


class AudioChunk(Event):
    """16 kHz mono PCM16 audio from a client, in order by ``seq``."""

    type: Literal["voice.audio.chunk"] = "voice.audio.chunk"
    seq: int = Field(ge=0)
    sample_rate: Literal[16000] = SAMPLE_RATE
    pcm: Annotated[bytes, Field(max_length=MAX_CHUNK_BYTES)]
    end_of_stream: bool = False

    @model_validator(mode="after")
    def _check(self) -> AudioChunk:
        _check_pcm(self.pcm)
        return self


class SpeechSegment(Event):
    """Speech cut by VAD; ``end_of_turn`` marks the user's turn as finished."""

    type: Literal["voice.speech.segment"] = "voice.speech.segment"
    segment_id: Id
    seq: int = Field(ge=0)
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=0)
    sample_rate: Literal[16000] = SAMPLE_RATE
    pcm: Annotated[bytes, Field(max_length=MAX_SEGMENT_BYTES)]
    end_of_turn: bool = False

    @model_validator(mode="after")
    def _check(self) -> SpeechSegment:
        _check_pcm(self.pcm)
        if self.end_ms < self.start_ms:
            raise ValueError("end_ms is before start_ms")
        return self


class Transcript(Event):
    """Partial (``is_final=False``) or final transcript; typed chat arrives as source=text."""

    type: Literal["voice.transcript"] = "voice.transcript"
    segment_id: Id
    text: Text
    is_final: bool
    language: Annotated[str, Field(max_length=16)] = "en"
    source: Literal["speech", "text"] = "speech"


class Passage(Part):
    """A knowledge-base text retrieved for a question, with its source and score."""

    text: Text
    source: ShortText
    score: float


class ChatTurn(Part):
    """One turn of a session's history."""

    role: Literal["system", "user", "assistant"]
    content: Text


class Context(Event):
    """Retrieved passages and the trimmed chat history for one user turn."""

    type: Literal["voice.context"] = "voice.context"
    turn_id: Id
    query: Text
    passages: Annotated[list[Passage], Field(max_length=16)] = []
    history: Annotated[list[ChatTurn], Field(max_length=64)] = []


class AnswerDelta(Event):
    """A streamed piece of the answer; ``index`` orders the pieces of ``answer_id``;
    ``last`` marks the final piece (its text may be empty)."""

    type: Literal["voice.answer.delta"] = "voice.answer.delta"
    answer_id: Id
    index: int = Field(ge=0)
    text: ShortText
    last: bool = False


class Answer(Event):
    """The complete answer, published after its last delta."""

    type: Literal["voice.answer"] = "voice.answer"
    answer_id: Id
    turn_id: Id
    text: Text
    model: Name
    finish_reason: Literal["stop", "length", "cancelled", "error"] = "stop"


class SpeechAudio(Event):
    """Synthesised speech for one sentence of an answer, PCM16 mono."""

    type: Literal["voice.speech.audio"] = "voice.speech.audio"
    answer_id: Id
    index: int = Field(ge=0)
    sample_rate: int = Field(ge=8_000, le=48_000)
    pcm: Annotated[bytes, Field(max_length=MAX_TTS_BYTES)]
    text: ShortText = ""
    last: bool = False

    @model_validator(mode="after")
    def _check(self) -> SpeechAudio:
        _check_pcm(self.pcm)
        return self


class Cancel(ControlEvent):
    """Barge-in or client hang-up: stop work for ``answer_id`` (all answers if None)."""

    type: Literal["voice.cancel"] = "voice.cancel"
    answer_id: Id | None = None
    reason: Literal["barge_in", "disconnect", "client"] = "barge_in"


VoiceEvent = AudioChunk | SpeechSegment | Transcript | Context | AnswerDelta | Answer | SpeechAudio | Cancel
