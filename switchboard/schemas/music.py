"""Music pipeline events: music.midi.raw -> music.embeddings -> music.tokens ->
music.model, and music.generate.request -> music.generated.

Each long step starts from a request event (a job's first event, see
workers/jobs.py); the job id is the correlation id of all it causes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Event, Id, Name, Part, Scalar, ShortText, Text

MAX_MIDI_BYTES = 512_000
MAX_TOKENS = 65_536


class PieceMeta(Part):
    """What is known about a piece: title, composer, duration, tempo, key, instruments, range."""

    title: ShortText = ""
    composer: ShortText = ""
    collection: ShortText = ""
    duration_s: float = Field(default=0.0, ge=0)
    tempo_bpm: float | None = Field(default=None, gt=0, le=1_000)
    time_signature: Annotated[str, Field(max_length=16)] | None = None
    key: Annotated[str, Field(max_length=32)] | None = None
    instruments: Annotated[list[ShortText], Field(max_length=64)] = []
    note_count: int = Field(default=0, ge=0)
    pitch_min: int | None = Field(default=None, ge=0, le=127)
    pitch_max: int | None = Field(default=None, ge=0, le=127)


class MidiRaw(Event):
    """One ingested piece's MIDI bytes and metadata; ``last`` marks the ingest job's last piece."""

    type: Literal["music.midi.raw"] = "music.midi.raw"
    piece_id: Id
    source: ShortText
    midi: Annotated[bytes, Field(max_length=MAX_MIDI_BYTES)]
    meta: PieceMeta
    description: Text = ""
    seq: int = Field(default=0, ge=0)
    last: bool = False
    """The last piece of its ingest job: the embed worker then reports the job done."""
    skipped: int = Field(default=0, ge=0)
    """Files the ingest skipped so far (with reasons on jobs.status)."""


class IngestRequest(Event):
    """Read a music21 corpus collection or a folder of MIDI files into the store."""

    type: Literal["music.ingest.request"] = "music.ingest.request"
    collection: Name | None = None
    """music21 corpus collections, comma-separated: bach, palestrina, essenFolksong, ..."""
    folder: ShortText | None = None
    """A folder of .mid files the workers can read."""
    limit: int = Field(default=200, ge=1, le=20_000)
    """Pieces at most (of each collection)."""


class EmbedRequest(Event):
    """Embed what is not embedded yet and cluster all pieces: semantic tokens."""

    type: Literal["music.embed.request"] = "music.embed.request"
    clusters: int = Field(default=8, ge=1, le=256)


class TokenizeRequest(Event):
    """Tokenize every clustered piece into a new dataset version."""

    type: Literal["music.tokenize.request"] = "music.tokenize.request"


class TrainRequest(Event):
    """Train the music model on a tokenized dataset, within a time and step budget."""

    type: Literal["music.train.request"] = "music.train.request"
    dataset_version: Name | None = None
    """None: the newest dataset."""
    resume: Name | None = None
    """A model version to continue from its last checkpoint."""
    n_layer: int = Field(default=4, ge=1, le=24)
    n_head: int = Field(default=4, ge=1, le=32)
    n_embd: int = Field(default=128, ge=16, le=2_048)
    context: int = Field(default=256, ge=32, le=4_096)
    batch_size: int = Field(default=8, ge=1, le=512)
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    max_steps: int = Field(default=500, ge=1, le=10_000_000)
    max_minutes: float = Field(default=10.0, gt=0, le=7 * 24 * 60)
    checkpoint_every: int = Field(default=100, ge=1)
    seed: int = 0


class EvaluateRequest(Event):
    """Compare pieces sampled from a model with held-out real ones."""

    type: Literal["music.evaluate.request"] = "music.evaluate.request"
    model_version: Name | None = None
    """None: the newest model."""
    samples: int = Field(default=8, ge=1, le=256)
    max_tokens: int = Field(default=512, ge=16, le=8_192)
    seed: int = 0
    baseline: bool = False
    """Also sample every prompt with its attribute tokens unspecified (the same
    model, unconditioned): what the tokens themselves do."""
    tolerance: float = Field(default=2.0, ge=1.0, le=100.0)
    """A feature passes when its distance to the real pieces is at most this
    many times the real-vs-real baseline (plus FLOOR, for tiny baselines)."""


class Embeddings(Event):
    """A piece's description embedding and, after clustering, its semantic cluster."""

    type: Literal["music.embeddings"] = "music.embeddings"
    piece_id: Id
    model: Name
    description: Text
    vector: Annotated[list[float], Field(max_length=4_096)]
    cluster: int | None = Field(default=None, ge=0)


class Tokens(Event):
    """A piece as REMI tokens behind its semantic token, in a dataset split."""

    type: Literal["music.tokens"] = "music.tokens"
    piece_id: Id
    tokenizer: Name
    cluster: int = Field(ge=0)
    tokens: Annotated[list[int], Field(max_length=MAX_TOKENS)]
    split: Literal["train", "valid", "test"] = "train"
    dataset_version: Name


class ModelCheckpoint(Event):
    """A saved model: its step and losses; ``final`` for the end of training."""

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
    """Sample a new piece for a prompt in words."""

    type: Literal["music.generate.request"] = "music.generate.request"
    prompt: ShortText
    model_version: Name | None = None
    max_tokens: int = Field(default=1_024, ge=16, le=8_192)
    temperature: float = Field(default=1.0, gt=0, le=2.0)
    top_p: float = Field(default=0.95, gt=0, le=1.0)
    """Nucleus sampling: each token from the smallest set of this much probability."""
    seed: int | None = None
    seconds: float | None = Field(default=None, gt=0, le=600)
    """Stop once the piece is this long (else at EOS or max_tokens)."""
    candidates: int = Field(default=1, ge=1, le=8)
    """Sample this many and keep the one that meets the prompt's attributes best."""
    job: bool = False
    """Submitted as a job: progress and the result go on jobs.status too."""


class Generated(Event):
    """A sampled piece: its MIDI, its piano roll, and how it was made."""

    type: Literal["music.generated"] = "music.generated"
    request_id: Id
    prompt: ShortText
    cluster: int = Field(ge=0)
    model_version: Name
    midi: Annotated[bytes, Field(max_length=MAX_MIDI_BYTES)]
    token_count: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    note_count: int = Field(default=0, ge=0)
    piano_roll: Annotated[bytes, Field(max_length=200_000)] = b""
    """PNG of the piano roll."""
    path: ShortText = ""
    understood: ShortText = ""
    """The prompt's tempo, key, time signature and instruments as understood, and what was not."""
    attributes: Annotated[dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=32)] = {}
    """The understood values, and how the piece meets them (TB, TBT, CK, CKD, TSM, IM)."""


class Report(Event):
    """An evaluation: metrics of generated against real pieces."""

    type: Literal["music.report"] = "music.report"
    model_version: Name
    metrics: Annotated[dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=256)] = {}
    path: ShortText = ""


MusicEvent = (
    IngestRequest
    | MidiRaw
    | EmbedRequest
    | Embeddings
    | TokenizeRequest
    | Tokens
    | TrainRequest
    | ModelCheckpoint
    | GenerateRequest
    | Generated
    | EvaluateRequest
    | Report
)
