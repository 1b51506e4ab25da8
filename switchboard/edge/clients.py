"""The events a client may publish through the edge: the bus's entry points.

Everything else on the bus is written by workers; a client that sends another
type over the WebSocket is refused (``bad_type``). Jobs come in over HTTP.
"""

from __future__ import annotations

from switchboard.bus.subjects import subject_of
from switchboard.schemas import (
    AudioChunk,
    Cancel,
    Event,
    Feedback,
    GenerateRequest,
    JobCancel,
    JobSubmitted,
    Question,
    Transcript,
)

WEBSOCKET_EVENTS: tuple[type[Event], ...] = (
    AudioChunk,
    Transcript,
    Cancel,
    Question,
    Feedback,
    GenerateRequest,
)
"""Sent as JSON frames (audio as binary frames): speech, typed chat, barge-in,
an analyst question and the verdict on its answer, a music piece."""
HTTP_EVENTS: tuple[type[Event], ...] = (JobSubmitted, JobCancel, Feedback)
"""``POST /jobs``, ``DELETE /jobs/{id}``, ``POST /jobs/{id}/feedback``."""

WEBSOCKET_TYPES = frozenset(subject_of(t) for t in WEBSOCKET_EVENTS)
CLIENT_TYPES = WEBSOCKET_TYPES | {subject_of(t) for t in HTTP_EVENTS}
