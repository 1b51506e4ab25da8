"""NATS JetStream: stream provisioning and publishing with envelope headers."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from switchboard.schemas import Event

from .. import envelope
from ..config import BusSettings
from ..subjects import STREAMS, StreamSpec, address, partition_of, stream_for
from .publish import Batch, Pipeline


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

    ``publish`` waits for each ack; ``send`` pipelines into a batch whose
    ``flush`` waits for all of its acks (publish.py), so a worker acks its input
    only once every output is stored.
    """

    def __init__(self, nc: Client, settings: BusSettings, producer: str) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.settings = settings
        self.producer = producer
        self.pipeline = Pipeline(nc)
        self._bases: dict[type[Event], str] = {}  # event type -> its subject, less the partition

    def subject_for(self, event: Event) -> str:
        """The partitioned NATS subject an event is published on."""
        base = self._bases.get(type(event))
        if base is None:
            stream_for(event.type)  # type: ignore[attr-defined]  # fail early on an unknown subject
            base = self._bases[type(event)] = address(self.settings.namespace, event.type) + "."  # type: ignore[attr-defined]
        return base + str(partition_of(event.correlation_id, self.settings.partitions))

    def _args(self, event: Event) -> tuple[str, bytes, dict[str, str]]:
        return self.subject_for(event), envelope.encode(event), envelope.headers(event, self.producer)

    async def publish(self, event: Event) -> api.PubAck:
        """Publish one event and wait for JetStream's ack."""
        subject, data, hdrs = self._args(event)
        return await self.js.publish(subject, data, headers=hdrs)

    def batch(self) -> Batch:
        """A batch to ``send`` events into; its ``flush`` waits for their acks."""
        return self.pipeline.batch()

    def send(self, event: Event, batch: Batch) -> Awaitable[None]:
        """Publish one event into ``batch`` (not waiting for its ack): await it.
        Not a coroutine of its own: a frame less per event."""
        return batch.send(*self._args(event))
