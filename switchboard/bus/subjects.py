"""Subjects and streams, declared once as data.

A subject is named after the event type it carries (``voice.transcript``) and
split into partitions by a token: ``{namespace}.{subject}.{partition}`` on NATS,
topic ``{namespace}.{subject}`` with keyed partitions on Kafka. The partition of
an event is a stable hash of its correlation id, so one session's events stay
in order on one partition.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from switchboard.schemas import EVENT_TYPES, Event

DEAD = "dead.letter"


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream (or a family of Kafka topics) holding one pipeline's history."""

    name: str
    prefixes: tuple[str, ...]
    max_age_s: float | None = None  # None: the settings' default
    max_bytes: int | None = None

    def stream_name(self, namespace: str) -> str:
        """The stream's broker name in a namespace."""
        return f"{namespace}_{self.name}".upper().replace("-", "_")

    def subjects(self, namespace: str, partitions: int | None = None) -> list[str]:
        """The stream's subjects: with ``partitions``, exactly ``{ns}.{event type}.{0..n-1}``
        for the event types under its prefixes, so a message on any other subject (no
        partition, one out of range, a mistyped type, an extra token) is refused at
        publish instead of stored where no worker reads it. Without: prefix wildcards."""
        if partitions is None:
            return [f"{namespace}.{p}.>" for p in self.prefixes]
        types = sorted(t for t in EVENT_TYPES if t.split(".", 1)[0] in self.prefixes)
        return [address(namespace, t, n) for t in types for n in range(partitions)]


STREAMS: list[StreamSpec] = [
    StreamSpec("voice", ("voice",), max_age_s=24 * 3600),
    StreamSpec("analyst", ("analyst",)),
    StreamSpec("music", ("music",)),
    StreamSpec("jobs", ("jobs",)),
    StreamSpec("ops", ("ops",), max_age_s=600),  # replicas' states: recent ones only
    StreamSpec("dead", ("dead",), max_age_s=30 * 24 * 3600),
]


def register_stream(spec: StreamSpec) -> StreamSpec:
    """Add the stream of a pipeline defined outside this project (see schemas.register)."""
    taken = {p for s in STREAMS for p in s.prefixes}
    if spec.name in {s.name for s in STREAMS} or taken & set(spec.prefixes):
        raise ValueError(f"stream {spec.name!r} or its prefixes {spec.prefixes} are taken")
    STREAMS.append(spec)
    return spec


def stream_for(subject: str) -> StreamSpec:
    """The declared stream a subject belongs to (KeyError for an unknown one)."""
    head = subject.split(".", 1)[0]
    for spec in STREAMS:
        if head in spec.prefixes:
            return spec
    raise KeyError(f"no stream holds subject {subject!r}")


def subject_of(event: Event | type[Event]) -> str:
    """The subject an event type is published on: its ``type`` literal."""
    cls = event if isinstance(event, type) else type(event)
    value = cls.model_fields["type"].default
    assert isinstance(value, str)
    return value


def event_type(subject: str) -> type[Event]:
    """The event type published on a subject."""
    try:
        return EVENT_TYPES[subject]
    except KeyError:
        raise KeyError(f"unknown subject {subject!r}") from None


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key (a session or job id): the same on every broker and replica."""
    return zlib.crc32(key.encode()) % partitions


def address(namespace: str, subject: str, partition: int | None = None) -> str:
    """Broker address: NATS subject with its partition token, or the Kafka topic."""
    base = f"{namespace}.{subject}"
    return base if partition is None else f"{base}.{partition}"


def parse_address(namespace: str, addr: str) -> tuple[str, int | None]:
    """Inverse of :func:`address`: (subject, partition or None)."""
    prefix = namespace + "."
    if not addr.startswith(prefix):
        raise ValueError(f"{addr!r} is not in namespace {namespace!r}")
    rest = addr[len(prefix) :]
    head, _, tail = rest.rpartition(".")
    if tail.isdigit():
        return head, int(tail)
    return rest, None


def slug(subject: str) -> str:
    """A subject as a name part (consumer and group names)."""
    return subject.replace(".", "-")
