"""Envelope headers and the wire codec.

Every message carries its ids in headers as well as in the JSON body, so tools
(replay, inspection, dead letters) can route and dedupe without decoding.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping

from pydantic import ValidationError

from switchboard.schemas import MAX_EVENT_BYTES, SCHEMA_VERSION, Event
from switchboard.schemas.dead import ErrorKind

from . import tracing
from .subjects import event_type

# Few, short header names: nats-py parses header names character by character,
# so every extra header costs measurable time per message per hop.
EVENT_ID = "Nats-Msg-Id"  # JetStream's dedupe key; the same name on Kafka
CORRELATION_ID = "Sb-Corr"
CAUSATION_ID = "Sb-Cause"
SCHEMA = "Sb-Schema"
PRODUCER = "Sb-Producer"
PUBLISHED_AT = "Sb-Time"  # unix seconds (float) when published, for latency
REPLAY_OF = "Sb-Replay-Of"


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
    """The envelope headers of an event: ids, type, producer, time."""
    h = {
        EVENT_ID: event.id,
        CORRELATION_ID: event.correlation_id,
        SCHEMA: str(event.schema_version),
        PRODUCER: producer,
        PUBLISHED_AT: repr(time.time()),
    }
    if event.causation_id:
        h[CAUSATION_ID] = event.causation_id
    tracing.inject(h)  # the handling span's trace context, when tracing is on
    return h


def decode(subject: str, data: bytes, hdrs: Mapping[str, str] | None) -> Event:
    """Validate a message of ``subject``; raise :class:`DecodeError` when it can't be."""
    if len(data) > MAX_EVENT_BYTES:
        raise DecodeError("oversized", f"{len(data)} bytes; the limit is {MAX_EVENT_BYTES}")
    version = (hdrs or {}).get(SCHEMA)
    if version is not None and version != str(SCHEMA_VERSION):
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
