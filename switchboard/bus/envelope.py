"""Envelope headers and the wire codec.

Every message carries its ids in headers as well as in the JSON body, so tools
(replay, inspection, dead letters) can route and dedupe without decoding.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from time import time_ns as _time_ns
from typing import NamedTuple

from pydantic import ValidationError

from switchboard.schemas import EVENT_TYPES, MAX_EVENT_BYTES, SCHEMA_VERSION, Event
from switchboard.schemas.dead import ErrorKind

from . import flat, tracing

EVENT_ID = "Nats-Msg-Id"  # JetStream's dedupe key; the same name on Kafka
# The rest of the envelope rides in one header: nats-py encodes and parses
# headers one by one (bench/bus: chain CPU per event -4 % against six headers).
ENVELOPE = "Sb"
"""``"<schema> <correlation id> <causation id, or -> <publish time> <producer>"``; the
publish time in integer microseconds since the epoch (float seconds before: both are read)."""
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


_tuple = tuple.__new__
_EMPTY = Envelope()
_VERSION = str(SCHEMA_VERSION)


def read(hdrs: Mapping[str, str] | None) -> Envelope:
    """The envelope in a message's headers, without decoding its body."""
    if not hdrs:
        return _EMPTY
    packed = hdrs.get(ENVELOPE)
    parts = packed.split(" ", 4) if packed else [hdrs.get(name, "") for name in _LEGACY]
    if len(parts) != 5:
        return _EMPTY
    schema, correlation, cause, at, producer = parts
    try:
        published = int(at) / 1e6 if at else None  # repr and float() of a float cost 3x more
    except ValueError:
        published = _seconds(at)
    # tuple.__new__: NamedTuple's own __new__ is a Python frame more, on every message
    return _tuple(Envelope, (schema, correlation, "" if cause == "-" else cause, published, producer))


def _seconds(at: str) -> float | None:
    """A publish time written as float seconds (the older form), or None (not a finite number)."""
    try:
        seconds = float(at)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


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
    digest = _BLAKE2B_16.copy()  # a quarter cheaper than a new one with its keyword
    digest.update(f"{cause_id}/{producer}/{index}".encode())
    return digest.hexdigest()


_BLAKE2B_16 = hashlib.blake2b(digest_size=16)


def encode_unchecked(event: Event) -> bytes:
    """The event's JSON, without the size check."""
    return flat.to_json(event)


def encode(event: Event) -> bytes:
    """The event's JSON; ValueError past the bus's event size limit."""
    data = flat.to_json(event)
    if len(data) > MAX_EVENT_BYTES:
        raise ValueError(f"{event.type} event is {len(data)} bytes; the limit is {MAX_EVENT_BYTES}")  # type: ignore[attr-defined]
    return data


def headers(event: Event, producer: str) -> dict[str, str]:
    """The envelope headers of an event: ids, schema, producer, time."""
    h = {EVENT_ID: event.id, ENVELOPE: _packed(event, producer)}
    if tracing.Switch.on:
        tracing.inject(h)  # the handling span's trace context
    return h


def encoded_headers(event: Event, producer: str) -> list[tuple[str, bytes]]:
    """``headers`` as Kafka takes them, values encoded."""
    if tracing.Switch.on:
        return [(k, v.encode()) for k, v in headers(event, producer).items()]
    return [(EVENT_ID, event.id.encode()), (ENVELOPE, _packed(event, producer).encode())]


def _packed(event: Event, producer: str) -> str:
    return (
        f"{event.schema_version} {event.correlation_id} {event.causation_id or '-'} "
        f"{_time_ns() // 1000} {producer}"
    )


def decode(
    subject: str, data: bytes, hdrs: Mapping[str, str] | None, envelope: Envelope | None = None
) -> Event:
    """Validate a message of ``subject`` (``envelope``: its headers, already read);
    raise :class:`DecodeError` when it can't be."""
    if len(data) > MAX_EVENT_BYTES:
        raise DecodeError("oversized", f"{len(data)} bytes; the limit is {MAX_EVENT_BYTES}")
    version = (envelope or read(hdrs)).schema
    if version and version != _VERSION:
        raise DecodeError("schema_version", f"schema version {version}, this worker reads {SCHEMA_VERSION}")
    cls = EVENT_TYPES.get(subject)
    if cls is None:
        raise DecodeError("malformed", f"unknown subject {subject!r}")
    try:
        event: Event = cls.__pydantic_validator__.validate_json(data)  # model_validate_json, less a frame
        return event
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<body>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise DecodeError("malformed", f"invalid {subject} event: {errors}") from None
