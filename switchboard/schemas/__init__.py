"""Pydantic models of every event on the bus; no I/O, imported by all."""

from typing import Annotated

from pydantic import Field, TypeAdapter

from .analyst import AnalystEvent, Chart, Code, Feedback, Insight, Question, Result, Table
from .base import MAX_EVENT_BYTES, SCHEMA_VERSION, ControlEvent, Event, Part, new_id
from .dead import DeadLetter
from .jobs import TERMINAL_STATES, JobCancel, JobEvent, JobStatus, JobSubmitted, advances
from .music import (
    Embeddings,
    EmbedRequest,
    EvaluateRequest,
    Generated,
    GenerateRequest,
    IngestRequest,
    MidiRaw,
    ModelCheckpoint,
    MusicEvent,
    PieceMeta,
    Report,
    TokenizeRequest,
    Tokens,
    TrainRequest,
)
from .ops import OpsEvent, WorkerState
from .voice import (
    Answer,
    AnswerDelta,
    AudioChunk,
    Cancel,
    ChatTurn,
    Context,
    Passage,
    SpeechAudio,
    SpeechSegment,
    Transcript,
    VoiceEvent,
)

AnyEvent = Annotated[
    VoiceEvent | AnalystEvent | MusicEvent | JobEvent | OpsEvent | DeadLetter, Field(discriminator="type")
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        AudioChunk,
        SpeechSegment,
        Transcript,
        Context,
        AnswerDelta,
        Answer,
        SpeechAudio,
        Cancel,
        Question,
        Code,
        Result,
        Insight,
        Feedback,
        IngestRequest,
        MidiRaw,
        EmbedRequest,
        Embeddings,
        TokenizeRequest,
        Tokens,
        TrainRequest,
        ModelCheckpoint,
        GenerateRequest,
        Generated,
        EvaluateRequest,
        Report,
        JobSubmitted,
        JobStatus,
        JobCancel,
        WorkerState,
        DeadLetter,
    )
}


def register(cls: type[Event]) -> type[Event]:
    """Add an event type defined outside this package (a user's own pipeline)."""
    subject = cls.model_fields["type"].default
    if not isinstance(subject, str) or subject in EVENT_TYPES:
        raise ValueError(f"{cls.__name__} needs a new literal `type`; {subject!r} is taken or missing")
    EVENT_TYPES[subject] = cls
    return cls


__all__ = [
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "SCHEMA_VERSION",
    "TERMINAL_STATES",
    "advances",
    "AnyEvent",
    "Answer",
    "AnswerDelta",
    "AudioChunk",
    "Cancel",
    "Chart",
    "ChatTurn",
    "Code",
    "Context",
    "ControlEvent",
    "DeadLetter",
    "EmbedRequest",
    "Embeddings",
    "EvaluateRequest",
    "Event",
    "Feedback",
    "Insight",
    "GenerateRequest",
    "Generated",
    "IngestRequest",
    "JobCancel",
    "JobStatus",
    "JobSubmitted",
    "MidiRaw",
    "ModelCheckpoint",
    "Part",
    "Passage",
    "PieceMeta",
    "Question",
    "Report",
    "Result",
    "SpeechAudio",
    "SpeechSegment",
    "Table",
    "TokenizeRequest",
    "Tokens",
    "TrainRequest",
    "Transcript",
    "WorkerState",
    "new_id",
]
