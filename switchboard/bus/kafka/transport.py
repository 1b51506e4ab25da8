"""The bus on Kafka: a topic per subject with keyed partitions, a consumer
group per worker kind (one replica owns partition p of every topic it reads;
runner.py), producers that confirm what they send."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from typing_extensions import override

from switchboard.schemas import EVENT_TYPES

from ..config import BusSettings
from ..servers import ensure_kafka
from ..subjects import address, parse_address
from ..transport import Publish, Recorded, Slice, SubjectReport, Tap, Transport
from ..worker import Worker
from . import streams
from .client import headers_of, provision_kafka, tail, value_of
from .runner import KafkaPublisher, KafkaRunner, producer

log = logging.getLogger(__name__)


class KafkaTransport(Transport):
    """The bus on Kafka (any Kafka-protocol broker): consumer groups, one topic per subject."""

    name = "kafka"
    local_server = "Tansu, in memory, gone when `up` ends"
    unreachable: ClassVar[tuple[type[BaseException], ...]] = (OSError, KafkaError)

    @override
    def _closed(self) -> None:
        self._producer: AIOKafkaProducer | None = None
        self._tails: list[asyncio.Task[None]] = []

    @property
    @override
    def address(self) -> str:
        return self.settings.kafka_bootstrap

    @staticmethod
    @override
    def ensure_server(settings: BusSettings, data_dir: str) -> subprocess.Popen[bytes] | None:
        return ensure_kafka(settings.kafka_bootstrap)  # Tansu, in memory

    @override
    async def start(self) -> None:
        if self.provision:
            await provision_kafka(self.settings, list(EVENT_TYPES))
        self._producer = producer(self.settings)
        try:
            await self._producer.start()
        except BaseException:
            await self._producer.stop()
            self._producer = None
            raise

    @override
    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    @override
    def connected(self) -> bool:
        return bool(self._tails) and not any(t.done() for t in self._tails)

    @override
    def publisher(self, producer: str) -> Publish:
        if self._producer is None:
            raise RuntimeError("the transport is not started")
        return KafkaPublisher(self._producer, self.settings, producer).publish

    @contextlib.asynccontextmanager
    @override
    async def tail(
        self, subjects: list[str] | None, tap: Tap, *, from_start: bool = False
    ) -> AsyncIterator[None]:
        ns = self.settings.namespace
        topics = [address(ns, s) for s in (subjects if subjects is not None else sorted(EVENT_TYPES))]

        def on(record: ConsumerRecord) -> None:
            tap(parse_address(ns, record.topic)[0], headers_of(record), value_of(record))

        async with tail(self.settings, topics, on, from_start=from_start) as task:
            self._tails.append(task)
            try:
                yield
            finally:
                self._tails.remove(task)

    @override
    async def serve(self, worker: Worker, stop: asyncio.Event) -> None:
        await provision_kafka(self.settings, list(EVENT_TYPES))
        await KafkaRunner(worker, self.settings, uuid.uuid4().hex, self._producer).run(stop)

    @override
    async def read(self, namespace: str, subject: str, sl: Slice | None = None) -> list[Recorded]:
        return await streams.read(self.settings, namespace, subject, sl)

    @override
    async def copy(self, target_namespace: str, sl: Slice) -> int:
        return await streams.copy(self.settings, target_namespace, sl)

    @override
    async def drop(self, namespace: str) -> list[str]:
        return await streams.drop(self.settings, namespace)

    @override
    async def report(self, readers: dict[str, list[str]]) -> list[SubjectReport]:
        return await streams.report(self.settings, readers)
