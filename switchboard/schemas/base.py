"""Base event model and bounded field types shared by every pipeline.

Every event is a frozen, strict pydantic model with a literal ``type`` that is
also its subject name, an ``id`` (the dedupe key), a ``correlation_id``
(session or job), an optional ``causation_id`` (the event it came from) and
``created_at``. Strings, byte blobs and lists are bounded so one event can never
exceed what the broker accepts.
"""

from __future__ import annotations

import functools
import itertools
import os
from datetime import UTC, datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION = 1
"""Wire version of every event in this package; bumped on breaking changes."""

MAX_EVENT_BYTES = 1_000_000
"""Largest encoded event; the default NATS max_payload is 1 MiB."""

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ShortText = Annotated[str, StringConstraints(max_length=1_000)]
Text = Annotated[str, StringConstraints(max_length=20_000)]
LongText = Annotated[str, StringConstraints(max_length=200_000)]
Scalar = Annotated[str, StringConstraints(max_length=4_000)] | int | float | bool | None
Params = Annotated[dict[Annotated[str, StringConstraints(max_length=64)], Scalar], Field(max_length=64)]


class _Ids:
    """Unique ids without a system call each: a random 64-bit prefix per process
    (renewed after fork) and a counter. urandom per id showed up at several
    percent of a worker's time per hop on these virtual machines."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(int.from_bytes(os.urandom(4)))

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


new_id = _Ids()


def utcnow() -> datetime:
    """Now, in UTC (events carry aware timestamps)."""
    return datetime.now(UTC)


_now = functools.partial(datetime.now, UTC)  # utcnow without a Python frame: every event calls it


_CONFIG = ConfigDict(
    extra="forbid",
    frozen=True,
    strict=True,
    ser_json_bytes="base64",
    val_json_bytes="base64",
)


class Part(BaseModel):
    """A nested value inside an event (a passage, a table, a chat turn)."""

    model_config = _CONFIG


class Event(BaseModel):
    """Base of every event on the bus."""

    model_config = _CONFIG

    schema_version: ClassVar[int] = SCHEMA_VERSION
    control: ClassVar[bool] = False
    """Control events (cancel, barge-in) steer work; data events carry it."""

    id: Id = Field(default_factory=new_id)
    correlation_id: Id
    causation_id: Id | None = None
    created_at: datetime = Field(default_factory=_now)


class ControlEvent(Event):
    """An event that controls work in flight (cancel): handled before the data waiting on its subject."""

    control: ClassVar[bool] = True
