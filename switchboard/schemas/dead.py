"""Dead letters: what a worker could not process, and why."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Event, Name, ShortText, Text

MAX_ORIGINAL_BYTES = 600_000


ErrorKind = Literal["malformed", "oversized", "schema_version", "handler", "poison"]


class DeadLetter(Event):
    """The original message (payload and headers, as received) and the error."""

    type: Literal["dead.letter"] = "dead.letter"
    worker: Name
    subject: ShortText
    error_kind: ErrorKind
    error: Text
    attempts: int = Field(ge=0)
    original_headers: Annotated[dict[ShortText, ShortText], Field(max_length=64)] = {}
    original: Annotated[bytes, Field(max_length=MAX_ORIGINAL_BYTES)]
    original_truncated: bool = False
    original_bytes: int | None = Field(default=None, ge=0)
    """The original's size, when it is truncated."""
    original_sha256: ShortText | None = None
    """The original's hash, when it is truncated: find it in the stream by it."""
    stream_seq: int | None = None
