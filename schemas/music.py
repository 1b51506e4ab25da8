"""Music pipeline events: music.midi.raw -> music.embeddings -> music.tokens ->
music.model, and music.generate.request -> music.generated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Event, Id, Name, Part, Scalar, ShortText, Text

MAX_MIDI_BYTES = 512_000
MAX_TOKENS = 65_536


class PieceMeta(Part):
    title: ShortText = ""
    composer: ShortText = ""
    duration_s: float = Field(default=0.0, ge=0)
    tempo_bpm: float | None = Field(default=None, gt=0, le=1_000)
    time_signature: Annotated[str, Field(max_length=16)] | None = None
    key: Annotated[str, Field(max_length=32)] | None = None
    instruments: Annotated[list[ShortText], Field(max_length=64)] = []
    note_count: int = Field(default=0, ge=0)
    pitch_min: int | None = Field(default=None, ge=0, le=127)
    pitch_max: int | None = Field(default=None, ge=0, le=127)


class MidiRaw(Event):
    type: Literal["music.midi.raw"] = "music.midi.raw"
    piece_id: Id
    source: ShortText
    midi: Annotated[bytes, Field(max_length=MAX_MIDI_BYTES)]
    meta: PieceMeta
    description: Text = ""


class Embeddings(Event):
    type: Literal["music.embeddings"] = "music.embeddings"
    piece_id: Id
    model: Name
    description: Text
    vector: Annotated[list[float], Field(max_length=4_096)]
    cluster: int | None = Field(default=None, ge=0)


class Tokens(Event):
    type: Literal["music.tokens"] = "music.tokens"
    piece_id: Id
    tokenizer: Name
    cluster: int = Field(ge=0)
    tokens: Annotated[list[int], Field(max_length=MAX_TOKENS)]
    split: Literal["train", "valid", "test"] = "train"
    dataset_version: Name


class ModelCheckpoint(Event):
    type: Literal["music.model"] = "music.model"
    model_version: Name
    step: int = Field(ge=0)
    epoch: float = Field(ge=0)
    train_loss: float | None = None
    valid_loss: float | None = None
    path: ShortText
    final: bool = False
    metrics: Annotated[dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=64)] = {}


class GenerateRequest(Event):
    type: Literal["music.generate.request"] = "music.generate.request"
    prompt: ShortText
    model_version: Name | None = None
    max_tokens: int = Field(default=1_024, ge=16, le=8_192)
    temperature: float = Field(default=1.0, gt=0, le=2.0)
    seed: int | None = None


class Generated(Event):
    type: Literal["music.generated"] = "music.generated"
    request_id: Id
    prompt: ShortText
    cluster: int = Field(ge=0)
    model_version: Name
    midi: Annotated[bytes, Field(max_length=MAX_MIDI_BYTES)]
    token_count: int = Field(ge=0)
    duration_s: float = Field(ge=0)


MusicEvent = MidiRaw | Embeddings | Tokens | ModelCheckpoint | GenerateRequest | Generated
