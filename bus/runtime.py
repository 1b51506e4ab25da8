"""Build brokers from settings and run workers on them until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats
from faststream.kafka import KafkaBroker
from faststream.nats import NatsBroker
from nats.aio.client import Client

from .config import BusSettings
from .fs_runner import FastStreamPublisher, mount, start_together
from .jetstream import JetStreamPublisher, provision
from .nats_runner import NatsRunner
from .worker import Worker

log = logging.getLogger(__name__)


def build_broker(settings: BusSettings) -> NatsBroker | KafkaBroker:
    """The FastStream broker for ``settings.broker`` (memory: a NatsBroker for TestNatsBroker)."""
    if settings.broker == "kafka":
        return KafkaBroker(settings.kafka_bootstrap, logger=None)
    return NatsBroker(settings.nats_url, logger=None)


async def connect_nats(settings: BusSettings, name: str) -> Client:
    async def on_error(exc: Exception) -> None:
        log.warning("nats connection: %s", type(exc).__name__, extra={"client": name})

    async def on_disconnect() -> None:
        log.info("disconnected from NATS", extra={"client": name})

    async def on_reconnect() -> None:
        log.info("reconnected to NATS", extra={"client": name})

    return await nats.connect(
        settings.nats_url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


async def provision_kafka(settings: BusSettings, subjects: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    from .subjects import address

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        known = {address(settings.namespace, s) for s in subjects}
        stray = sorted(t for t in existing if t.startswith(f"{settings.namespace}.") and t not in known)
        if stray:  # a broker that creates topics on first use (Tansu does; Kafka may) let these in
            log.error(
                "topics no worker reads: their messages are never handled "
                "(turn off auto.create.topics.enable on the broker)",
                extra={"topics": stray[:50]},
            )
        topics = [
            NewTopic(address(settings.namespace, s), settings.partitions, 1)
            for s in subjects
            if address(settings.namespace, s) not in existing
        ]
        if topics:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(topics)
    finally:
        await admin.close()


async def run_worker(worker: Worker, settings: BusSettings, stop: asyncio.Event) -> None:
    """Run one replica of ``worker`` on the configured broker until ``stop`` is set."""
    if worker.on_start:
        await worker.on_start()
    try:
        if settings.broker == "nats":
            nc = await connect_nats(settings, worker.producer)
            runner = NatsRunner(nc, worker, settings)
            await runner.start()
            log.info("worker running", extra={"worker": worker.name, "replica": runner.replica})
            await stop.wait()
            await runner.stop()
            await nc.drain()
        elif settings.broker == "kafka":
            from schemas import EVENT_TYPES

            await provision_kafka(settings, list(EVENT_TYPES))
            broker = build_broker(settings)
            mount(broker, worker, settings)
            async with broker:
                await start_together(broker)
                log.info("worker running", extra={"worker": worker.name, "broker": "kafka"})
                await stop.wait()
        else:
            raise ValueError("the memory broker runs only inside tests (FastStream TestNatsBroker)")
    finally:
        if worker.on_stop:
            await worker.on_stop()


__all__ = [
    "FastStreamPublisher",
    "JetStreamPublisher",
    "build_broker",
    "connect_nats",
    "provision",
    "provision_kafka",
    "run_worker",
]
