"""NATS JetStream: stream provisioning and publishing with envelope headers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from switchboard.schemas import Event

from .. import envelope
from ..config import BusSettings
from ..subjects import STREAMS, StreamSpec, address, partition_of, stream_for


def stream_config(spec: StreamSpec, settings: BusSettings) -> api.StreamConfig:
    """The JetStream stream of a declared stream spec in a namespace."""
    return api.StreamConfig(
        name=spec.stream_name(settings.namespace),
        subjects=spec.subjects(settings.namespace, settings.partitions),
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        discard=api.DiscardPolicy.OLD,
        max_age=spec.max_age_s or settings.max_age_s,
        max_bytes=spec.max_bytes or settings.max_bytes,
        duplicate_window=settings.dedupe_window_s,
    )


async def provision(
    js: JetStreamContext, settings: BusSettings, specs: Iterable[StreamSpec] = STREAMS
) -> list[str]:
    """Create or update the namespace's streams; idempotent. Returns their names."""
    names = []
    for spec in specs:
        config = stream_config(spec, settings)
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # exists with other limits
            await js.update_stream(config)
        names.append(spec.stream_name(settings.namespace))
    return names


class JetStreamPublisher:
    """Publishes events to their partitioned subjects; waits for the stream's ack.

    ``publish`` waits for each ack; ``send`` pipelines and ``flush`` waits for all
    that were sent, so a worker acks its input only once every output is stored.
    Pending acks are kept per asyncio task: partition loops (and sessions) share
    a publisher, and one's flush must not take, or skip, another's outputs.
    """

    def __init__(self, nc: Client, settings: BusSettings, producer: str) -> None:
        self.nc = nc
        self.js = nc.jetstream(publish_async_max_pending=4_000)
        self.settings = settings
        self.producer = producer
        self._pending: dict[asyncio.Task[Any] | None, list[asyncio.Future[api.PubAck]]] = {}

    def subject_for(self, event: Event) -> str:
        """The partitioned NATS subject an event is published on."""
        part = partition_of(event.correlation_id, self.settings.partitions)
        return address(self.settings.namespace, event.type, part)  # type: ignore[attr-defined]

    def _args(self, event: Event) -> tuple[str, bytes, dict[str, str]]:
        stream_for(event.type)  # type: ignore[attr-defined]  # fail early on an unknown subject
        return self.subject_for(event), envelope.encode(event), envelope.headers(event, self.producer)

    async def publish(self, event: Event) -> api.PubAck:
        """Publish one event and wait for JetStream's ack."""
        subject, data, hdrs = self._args(event)
        return await self.js.publish(subject, data, headers=hdrs)

    async def send(self, event: Event) -> None:
        """Publish one event; ``flush`` waits for the acks of this task's sends."""
        subject, data, hdrs = self._args(event)
        future = await self.js.publish_async(subject, data, headers=hdrs)
        self._pending.setdefault(asyncio.current_task(), []).append(future)

    async def flush(self) -> None:
        """Wait for JetStream's acks of every event this task sent."""
        pending = self._pending.pop(asyncio.current_task(), None)
        if pending:
            async with asyncio.timeout(30.0):
                for future in pending:
                    await future
