"""The edge's link to Kafka: the same sessions and job table as the NATS hub.

One tail reads every topic of the namespace from its end (what sessions are
sent from now on, on every edge replica); another reads ``jobs.status`` from
the start, so the job table is whole after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import ConsumerRecord

from bus import envelope
from bus.config import BusSettings
from bus.fs_runner import FastStreamPublisher
from bus.kafka import headers_of, tail
from bus.runtime import build_broker, provision_kafka
from bus.subjects import address, parse_address
from schemas import EVENT_TYPES, Event

from .hub import NOT_TO_CLIENTS, Sessions


class KafkaHub(Sessions):
    def __init__(self, settings: BusSettings, producer: str = "edge@0.1.0") -> None:
        super().__init__()
        self.settings = settings
        self.broker = build_broker(settings)
        self.publisher = FastStreamPublisher(self.broker, settings, producer)
        self._tails = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def start(self) -> None:
        await provision_kafka(self.settings, list(EVENT_TYPES))
        await self.broker.start()
        ns = self.settings.namespace
        live = [address(ns, s) for s in EVENT_TYPES if s not in NOT_TO_CLIENTS]
        self._tasks = [
            await self._tails.enter_async_context(tail(self.settings, live, self._route)),
            await self._tails.enter_async_context(
                tail(
                    self.settings,
                    [address(ns, "jobs.submitted"), address(ns, "jobs.status")],
                    self._status,
                    from_start=True,
                )
            ),
        ]

    async def stop(self) -> None:
        await self._tails.aclose()
        await self.broker.stop()

    async def publish(self, event: Event) -> None:
        await self.publisher.publish(event)

    def _route(self, record: ConsumerRecord) -> None:
        headers = headers_of(record)
        corr = headers.get(envelope.CORRELATION_ID, "")
        if corr in self.sessions:
            subject = parse_address(self.settings.namespace, record.topic)[0]
            self.route(corr, subject, record.value, headers.get(envelope.EVENT_ID, ""))

    def _status(self, record: ConsumerRecord) -> None:
        if record.topic == address(self.settings.namespace, "jobs.submitted"):
            self.job_submitted(record.value)
        else:
            self.job_status(record.value)
