"""The one seam between Switchboard and a broker.

Everything above ``bus/`` (the edge, replay, inspection, the CLI, the job
client) talks to the bus through a ``Transport``; ``transport(settings)`` is
the one place that reads ``settings.broker``. Each broker is a folder:
``bus/nats/`` (JetStream), ``bus/kafka/`` (consumer groups), ``bus/memory/``
(in-process, for tests). A new broker is a new folder with a ``Transport``
subclass and a line in ``BROKERS``.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import subprocess
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from switchboard.schemas import Event

from .config import BusSettings
from .worker import Worker

Tap = Callable[[str, dict[str, str], bytes], None]
"""(subject, headers, body) of a message a tail reads."""
Publish = Callable[[Event], Awaitable[object]]

BROKERS: dict[str, str] = {
    "nats": "switchboard.bus.nats.transport:NatsTransport",
    "kafka": "switchboard.bus.kafka.transport:KafkaTransport",
    "memory": "switchboard.bus.memory.transport:MemoryTransport",  # in-process: tests and examples
}


@dataclass
class Slice:
    """Which recorded messages a replay copies."""

    subjects: list[str]
    start_seq: int | None = None
    end_seq: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    correlation_ids: set[str] = field(default_factory=set)


@dataclass
class Recorded:
    """A stored message as read back."""

    subject: str
    seq: int  # the stream sequence (NATS) or the partition's offset (Kafka)
    time: datetime
    headers: dict[str, str]
    data: bytes
    partition: int | None = None  # Kafka

    @property
    def body(self) -> dict[str, Any]:
        """The recorded event's JSON body."""
        import json

        return dict(json.loads(self.data))


@dataclass
class Lag:
    """One worker kind's position on one partition of a subject."""

    worker: str
    partition: int
    lag: int  # stored, not yet handed to the worker
    unacked: int = 0  # handed over, not yet acknowledged (NATS)
    redelivered: int = 0


@dataclass
class SubjectReport:
    """What a namespace holds on one subject, and how far behind its readers are."""

    subject: str
    messages: int
    partitions: int
    lags: list[Lag] = field(default_factory=list)
    bytes: int = 0
    """Stored size (NATS: the stream's bytes shared out by message count; 0: unknown)."""

    def by_worker(self) -> dict[str, dict[str, int]]:
        """Per worker kind: lag, unacked and redelivered, summed over partitions."""
        out: dict[str, dict[str, int]] = {}
        for lag in self.lags:
            row = out.setdefault(lag.worker, {"lag": 0, "unacked": 0, "redelivered": 0})
            row["lag"] += lag.lag
            row["unacked"] += lag.unacked
            row["redelivered"] += lag.redelivered
        return out


class Transport(abc.ABC):
    """A broker, connected on ``start()`` (or ``async with``) and closed on ``close()``."""

    name: ClassVar[str]
    local_server: ClassVar[str] = ""
    """What ``ensure_server`` starts, for messages."""
    unreachable: ClassVar[tuple[type[BaseException], ...]] = (OSError,)
    """Errors that mean the broker cannot be reached (the CLI says so in one line)."""

    def __init__(
        self,
        settings: BusSettings,
        client: str = "switchboard",
        *,
        provision: bool = True,
        patient: bool = True,
    ) -> None:
        """``provision``: ``start()`` creates the namespace's streams or topics where
        missing; a reader that only looks passes False, and creates nothing.
        ``patient``: keep trying to reach the broker (servers, workers); False:
        ``start()`` fails within seconds when it is unreachable (commands)."""
        self.settings = settings
        self.client = client
        self.provision = provision
        self.patient = patient
        self._closed()

    @abc.abstractmethod
    def _closed(self) -> None:
        """Set the connection state of a transport not (or no longer) started."""

    @property
    @abc.abstractmethod
    def address(self) -> str:
        """Where the broker is, for messages."""

    @staticmethod
    @abc.abstractmethod
    def ensure_server(settings: BusSettings, data_dir: str) -> subprocess.Popen[bytes] | None:
        """Start a local broker when none answers (``switchboard up``); None if one was there."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect (and provision, see ``__init__``)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Is the broker reachable now?"""

    @abc.abstractmethod
    def publisher(self, producer: str) -> Publish:
        """Publish events (confirmed by the broker) in the producer's name."""

    @abc.abstractmethod
    def tail(
        self, subjects: list[str] | None, tap: Tap, *, from_start: bool = False
    ) -> AbstractAsyncContextManager[None]:
        """Hand every message on ``subjects`` (None: every subject of the namespace)
        written from now on, or all stored ones, to ``tap`` while the block runs;
        outside any consumer group, so every reader sees everything."""

    @abc.abstractmethod
    async def serve(self, worker: Worker, stop: asyncio.Event) -> None:
        """Run one replica of ``worker`` until ``stop`` is set."""

    @abc.abstractmethod
    async def read(self, namespace: str, subject: str, sl: Slice | None = None) -> list[Recorded]:
        """Every stored message of ``subject`` in ``namespace`` inside the slice, oldest first."""

    @abc.abstractmethod
    async def copy(self, target_namespace: str, sl: Slice) -> int:
        """Copy a recorded slice into ``target_namespace`` (a replay); how many were copied."""

    @abc.abstractmethod
    async def drop(self, namespace: str) -> list[str]:
        """Delete a (replay) namespace's streams or topics; what was deleted."""

    @abc.abstractmethod
    async def report(self, readers: dict[str, list[str]]) -> list[SubjectReport]:
        """Per subject: messages held, and the lag of the worker kinds in ``readers``."""

    async def __aenter__(self) -> Transport:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def transport_class(broker: str) -> type[Transport]:
    """The transport class of a broker name (ValueError for an unknown one)."""
    if broker not in BROKERS:
        raise ValueError(f"unknown broker {broker!r}; known: {', '.join(BROKERS)}")
    module, _, attr = BROKERS[broker].partition(":")
    cls: type[Transport] = getattr(importlib.import_module(module), attr)
    return cls


def transport(
    settings: BusSettings, client: str = "switchboard", *, provision: bool = True, patient: bool = True
) -> Transport:
    """The transport for ``settings.broker``: the one place that reads it."""
    return transport_class(settings.broker)(settings, client, provision=provision, patient=patient)


def refuse_live(source: BusSettings, target_namespace: str) -> None:
    """ValueError when a replay would write into the live namespace."""
    if target_namespace == source.namespace:
        raise ValueError("replay into the live namespace would mix with live traffic; pick another")
