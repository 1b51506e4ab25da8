"""Envelope headers and the wire codec.

Every message carries its ids in headers as well as in the JSON body, so tools
(replay, inspection, dead letters) can route and dedupe without decoding.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from pydantic import ValidationError

from schemas import MAX_EVENT_BYTES, SCHEMA_VERSION, Event

from .subjects import event_type

EVENT_ID = "sb-event-id"
CORRELATION_ID = "sb-correlation-id"
CAUSATION_ID = "sb-causation-id"
SCHEMA = "sb-schema-version"
PRODUCER = "sb-producer"
CREATED_AT = "sb-created-at"
PUBLISHED_AT = "sb-published-at"  # unix seconds, float, for latency
TYPE = "sb-type"
NATS_MSG_ID = "Nats-Msg-Id"
REPLAY_OF = "sb-replay-of"

_IDS = uuid.UUID("5b1c3d8e-3f5e-4c8e-9a55-0f1b7f1e2a10")


class DecodeError(Exception):
    """A message that can never be processed: it goes to the dead letters."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def derived_id(cause_id: str, producer: str, index: int) -> str:
    """Deterministic id of the ``index``-th output of ``producer`` for one input.

    Reprocessing a redelivered input gives the same output ids, so the broker's
    dedupe window (JetStream ``Nats-Msg-Id``) drops the repeats.
    """
    return uuid.uuid5(_IDS, f"{cause_id}/{producer}/{index}").hex


def encode(event: Event) -> bytes:
    data = event.__pydantic_serializer__.to_json(event)
    if len(data) > MAX_EVENT_BYTES:
        raise ValueError(f"{event.type} event is {len(data)} bytes; the limit is {MAX_EVENT_BYTES}")  # type: ignore[attr-defined]
    return data


def headers(event: Event, producer: str) -> dict[str, str]:
    h = {
        EVENT_ID: event.id,
        NATS_MSG_ID: event.id,
        CORRELATION_ID: event.correlation_id,
        SCHEMA: str(event.schema_version),
        PRODUCER: producer,
        TYPE: event.type,  # type: ignore[attr-defined]
        CREATED_AT: event.created_at.isoformat(),
        PUBLISHED_AT: repr(time.time()),
    }
    if event.causation_id:
        h[CAUSATION_ID] = event.causation_id
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
