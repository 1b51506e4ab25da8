"""Envelope headers and the wire codec.

Every message carries its ids in headers as well as in the JSON body, so tools
(replay, inspection, dead letters) can route and dedupe without decoding.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import NamedTuple

from pydantic import ValidationError

from switchboard.schemas import MAX_EVENT_BYTES, SCHEMA_VERSION, Event
from switchboard.schemas.dead import ErrorKind

from . import tracing
from .subjects import event_type

EVENT_ID = "Nats-Msg-Id"  # JetStream's dedupe key; the same name on Kafka
# The rest of the envelope rides in one header: nats-py encodes and parses
# headers one by one (bench/bus: chain CPU per event -4 % against six headers).
ENVELOPE = "Sb"
"""``"<schema> <correlation id> <causation id, or -> <publish time> <producer>"``."""
REPLAY_OF = "Sb-Replay-Of"
# one header each, as messages written before the envelope was packed carry them
_LEGACY = ("Sb-Schema", "Sb-Corr", "Sb-Cause", "Sb-Time", "Sb-Producer")


class Envelope(NamedTuple):
    """A message's envelope, read from its headers (empty fields where it has none)."""

    schema: str = ""
    correlation_id: str = ""
    causation_id: str = ""
    published_at: float | None = None
    """unix seconds when published, for latency"""
    producer: str = ""


def read(hdrs: Mapping[str, str] | None) -> Envelope:
    """The envelope in a message's headers, without decoding its body."""
    if not hdrs:
        return Envelope()
    packed = hdrs.get(ENVELOPE)
    parts = packed.split(" ", 4) if packed else [hdrs.get(name, "") for name in _LEGACY]
    if len(parts) != 5:
        return Envelope()
    schema, correlation, cause, at, producer = parts
    try:
        published = float(at) if at else None
    except ValueError:
        published = None
    return Envelope(schema, correlation, "" if cause == "-" else cause, published, producer)


class DecodeError(Exception):
    """A message that can never be processed: it goes to the dead letters."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def derived_id(cause_id: str, producer: str, index: int) -> str:
    """Deterministic id of the ``index``-th output of ``producer`` for one input.

    Reprocessing a redelivered input gives the same output ids, so the broker's
    dedupe window (JetStream ``Nats-Msg-Id``) drops the repeats.
    """
    return hashlib.blake2b(f"{cause_id}/{producer}/{index}".encode(), digest_size=16).hexdigest()


def encode_unchecked(event: Event) -> bytes:
    """The event's JSON, without the size check."""
    data: bytes = event.__pydantic_serializer__.to_json(event)
    return data


def encode(event: Event) -> bytes:
    """The event's JSON; ValueError past the bus's event size limit."""
    data = encode_unchecked(event)
    if len(data) > MAX_EVENT_BYTES:
        raise ValueError(f"{event.type} event is {len(data)} bytes; the limit is {MAX_EVENT_BYTES}")  # type: ignore[attr-defined]
    return data


def headers(event: Event, producer: str) -> dict[str, str]:
    """The envelope headers of an event: ids, schema, producer, time."""
    h = {
        EVENT_ID: event.id,
        ENVELOPE: f"{event.schema_version} {event.correlation_id} {event.causation_id or '-'} "
        f"{time.time()!r} {producer}",
    }
    tracing.inject(h)  # the handling span's trace context, when tracing is on
    return h


def decode(
    subject: str, data: bytes, hdrs: Mapping[str, str] | None, envelope: Envelope | None = None
) -> Event:
    """Validate a message of ``subject`` (``envelope``: its headers, already read);
    raise :class:`DecodeError` when it can't be."""
    if len(data) > MAX_EVENT_BYTES:
        raise DecodeError("oversized", f"{len(data)} bytes; the limit is {MAX_EVENT_BYTES}")
    version = (envelope or read(hdrs)).schema
    if version and version != str(SCHEMA_VERSION):
        raise DecodeError("schema_version", f"schema version {version}, this worker reads {SCHEMA_VERSION}")
    try:
        cls = event_type(subject)
    except KeyError as exc:
        raise DecodeError("malformed", str(exc)) from None
    try:
        return cls.model_validate_json(data)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<body>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise DecodeError("malformed", f"invalid {subject} event: {errors}") from None
