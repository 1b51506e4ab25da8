"""Runs a worker through FastStream's in-memory test broker (TestNatsBroker),
and publishes through a FastStream broker (tests publish on Kafka this way).
Production runs on bus/nats/runner.py and bus/kafka/runner.py.

The handler body is the same Processor the JetStream runner uses, so dedupe,
retries and dead letters behave alike on every broker.
"""

from __future__ import annotations

from typing import Any

import nats.errors
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream import Context as Injected
from faststream.kafka import KafkaBroker
from faststream.nats import JStream, NatsBroker, PullSub

from switchboard.schemas import Event

from . import envelope
from .config import BusSettings
from .processor import Incoming, Processor, PublishFailed, until_published
from .subjects import address, parse_address, partition_of, stream_for
from .worker import Worker

AnyBroker = NatsBroker | KafkaBroker


class FastStreamPublisher:
    """Publishes events through a FastStream broker (the in-memory test path)."""

    def __init__(self, broker: AnyBroker, settings: BusSettings, producer: str) -> None:
        self.broker = broker
        self.settings = settings
        self.producer = producer

    async def publish(self, event: Event) -> None:
        """Publish one event on its partitioned subject, with its envelope."""
        data = envelope.encode(event)
        hdrs = envelope.headers(event, self.producer)
        kind = event.type  # type: ignore[attr-defined]
        stream_for(kind)
        if isinstance(self.broker, KafkaBroker):
            await self.broker.publish(
                data, address(self.settings.namespace, kind), key=event.correlation_id.encode(), headers=hdrs
            )
        else:
            part = partition_of(event.correlation_id, self.settings.partitions)
            await self.broker.publish(data, address(self.settings.namespace, kind, part), headers=hdrs)

    send = publish

    async def flush(self) -> None:
        """Nothing to wait for: every publish is already confirmed."""
        return None


def build_broker(settings: BusSettings) -> AnyBroker:
    """The FastStream broker for ``settings.broker`` (memory: a NatsBroker for TestNatsBroker)."""
    if settings.broker == "kafka":
        return KafkaBroker(settings.kafka_bootstrap, logger=None)
    return NatsBroker(settings.nats_url, logger=None)


def mount(broker: NatsBroker, worker: Worker, settings: BusSettings) -> Processor:
    """Subscribe ``worker``'s handlers on ``broker``; returns the shared processor."""
    processor = Processor(worker, settings)
    publisher = FastStreamPublisher(broker, settings, worker.producer)
    ns = settings.namespace
    for subject in worker.subjects:
        spec = stream_for(subject)
        sub = broker.subscriber(
            address(ns, subject, None) + ".*",
            stream=JStream(spec.stream_name(ns), subjects=spec.subjects(ns)),
            durable=f"{worker.name}_{subject.replace('.', '-')}",
            pull_sub=PullSub(batch_size=settings.batch, timeout=settings.fetch_timeout_s),
            ack_policy=AckPolicy.MANUAL,
        )
        sub(_callback(processor, publisher, subject))
    return processor


def _callback(processor: Processor, publisher: FastStreamPublisher, subject: str) -> Any:
    async def consume(msg: Any = Injected("message")) -> None:  # NatsMessage / KafkaMessage
        raw = msg.raw_message
        partition = getattr(raw, "partition", None)
        if partition is None and hasattr(raw, "subject"):
            partition = parse_address(processor.settings.namespace, raw.subject)[1]
        attempt = 1
        try:
            attempt = raw.metadata.num_delivered or 1
        except (AttributeError, nats.errors.NotJSMessageError):  # Kafka or the in-memory broker
            attempt = 1
        incoming = Incoming(
            subject=subject,
            data=msg.body,
            headers={
                k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in (msg.headers or {}).items()
            },
            attempt=attempt,
            partition=partition,
            seq=getattr(raw, "offset", None),
        )
        processor.in_flight.inc()
        try:  # outputs not confirmed: tried again here, never acked past (a later commit would skip it)
            await until_published(
                lambda: processor.process(incoming, publisher.send),
                lambda: processor.seen.discard(incoming.headers.get(envelope.EVENT_ID, "")),
                (TimeoutError, KafkaError, nats.errors.Error, ValueError, PublishFailed),
                processor.worker.name,
            )
        finally:
            processor.in_flight.dec()
            processor.flush_metrics()
        await msg.ack()

    consume.__name__ = f"{processor.worker.name}_{subject.replace('.', '_')}"
    return consume
