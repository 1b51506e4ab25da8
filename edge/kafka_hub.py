"""The edge's link to Kafka: the same sessions and job table as the NATS hub.

A consumer outside any group reads every topic of the namespace from its end
(what sessions are sent from now on, on every edge replica); a second one reads
``jobs.status`` from the start, so the job table is whole after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError

from bus import envelope
from bus.config import BusSettings
from bus.fs_runner import FastStreamPublisher
from bus.runtime import build_broker, provision_kafka
from bus.subjects import address, parse_address
from schemas import EVENT_TYPES, Event

from .hub import NOT_TO_CLIENTS, Sessions

log = logging.getLogger(__name__)


class KafkaHub(Sessions):
    def __init__(self, settings: BusSettings, producer: str = "edge@0.1.0") -> None:
        super().__init__()
        self.settings = settings
        self.broker = build_broker(settings)
        self.publisher = FastStreamPublisher(self.broker, settings, producer)
        self._consumers: list[AIOKafkaConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def start(self) -> None:
        await provision_kafka(self.settings, list(EVENT_TYPES))
        await self.broker.start()
        ns = self.settings.namespace
        live = [address(ns, s) for s in EVENT_TYPES if s not in NOT_TO_CLIENTS]
        for topics, reset, handle in (
            (live, "latest", self._route),
            ([address(ns, "jobs.status")], "earliest", self._status),
        ):
            consumer = AIOKafkaConsumer(
                *topics,
                bootstrap_servers=self.settings.kafka_bootstrap,
                auto_offset_reset=reset,
                enable_auto_commit=False,
                fetch_max_wait_ms=50,  # a session's frames should not wait for a full fetch
            )
            await consumer.start()
            for tp in consumer.assignment():  # fix "the end" now, not at the first fetch
                await consumer.position(tp)
            self._consumers.append(consumer)
            self._tasks.append(asyncio.create_task(self._pump(consumer, handle)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in self._consumers:
            await consumer.stop()
        await self.broker.stop()

    async def publish(self, event: Event) -> None:
        await self.publisher.publish(event)

    async def _pump(self, consumer: AIOKafkaConsumer, handle: Callable[[ConsumerRecord], None]) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500)
            except KafkaError as exc:  # the client reconnects by itself; say so and go on
                log.warning("kafka read: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for r in records:
                    handle(r)

    def _route(self, record: ConsumerRecord) -> None:
        headers = {k: v.decode() for k, v in record.headers or ()}
        corr = headers.get(envelope.CORRELATION_ID, "")
        if corr in self.sessions:
            self.route(corr, parse_address(self.settings.namespace, record.topic)[0], record.value)

    def _status(self, record: ConsumerRecord) -> None:
        self.job_status(record.value)
