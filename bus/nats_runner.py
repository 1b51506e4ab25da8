"""Runs a worker on NATS JetStream: one durable pull consumer per (subject,
partition), owned by one replica at a time (see leases.py), fetched in batches
and handled in order. Outputs are published (pipelined) and confirmed by the
stream before the batch is acked.

FastStream's own pull subscriber handles a fetched batch concurrently, which
would reorder a session's events; this loop keeps FastStream's connection and
in-memory test broker but owns the ordering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from schemas import Event

from .config import BusSettings
from .jetstream import JetStreamPublisher, provision
from .leases import Leases
from .metrics import PARTITIONS, READY
from .processor import Incoming, Processor
from .subjects import address, slug, stream_for
from .worker import Worker

log = logging.getLogger(__name__)


def consumer_name(worker: str, subject: str, partition: int) -> str:
    return f"{worker}_{slug(subject)}_p{partition}"


class NatsRunner:
    def __init__(self, nc: Client, worker: Worker, settings: BusSettings, replica: str | None = None) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.worker = worker
        self.settings = settings
        self.replica = replica or uuid.uuid4().hex[:12]
        self.processor = Processor(worker, settings)
        self.publisher = JetStreamPublisher(nc, settings, worker.producer)
        self.ack_wait_s = worker.ack_wait_s or settings.ack_wait_s
        self._loops: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self._stop = asyncio.Event()
        self._lease_task: asyncio.Task[None] | None = None
        slots = [f"{slug(s)}.{p}" for s in worker.subjects for p in range(settings.partitions)]
        self.leases = Leases(
            self.js,
            bucket=f"{settings.namespace}_leases".replace("-", "_"),
            group=worker.name,
            replica=self.replica,
            slots=slots,
            ttl_s=settings.lease_ttl_s,
            refresh_s=settings.lease_refresh_s,
            on_acquire=self._start_slot,
            on_release=self._stop_slot,
        )

    @property
    def owned(self) -> set[str]:
        return set(self.leases.held)

    async def start(self) -> None:
        await provision(self.js, self.settings)
        await self.leases.open()
        await self.leases.tick()
        self._lease_task = asyncio.create_task(self.leases.run(self._stop))
        READY.labels(self.worker.name).set(1)

    async def stop(self) -> None:
        self._stop.set()
        if self._lease_task:
            await self._lease_task
        await self.leases.close()
        READY.labels(self.worker.name).set(0)

    def _slot(self, slot: str) -> tuple[str, int]:
        sub_slug, _, part = slot.rpartition(".")
        subject = next(s for s in self.worker.subjects if slug(s) == sub_slug)
        return subject, int(part)

    async def _ensure_consumer(self, subject: str, partition: int) -> tuple[str, str]:
        stream = stream_for(subject).stream_name(self.settings.namespace)
        durable = consumer_name(self.worker.name, subject, partition)
        config = api.ConsumerConfig(
            durable_name=durable,
            filter_subject=address(self.settings.namespace, subject, partition),
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            max_deliver=-1,  # we dead-letter after settings.max_deliver; the server must not drop
            max_ack_pending=self.settings.batch,
            max_waiting=16,
        )
        try:
            await self.js.add_consumer(stream, config)
        except nats.js.errors.BadRequestError:
            await self.js.add_consumer(stream, config)  # update of an existing durable
        return stream, durable

    async def _start_slot(self, slot: str) -> None:
        subject, partition = self._slot(slot)
        stream, durable = await self._ensure_consumer(subject, partition)
        info = await self.js.consumer_info(stream, durable)
        # Messages a dead owner fetched but never acked must be redelivered
        # before anything after them: wait until they time out.
        delay = self.ack_wait_s if info.num_ack_pending else 0.0
        stop = asyncio.Event()
        task = asyncio.create_task(self._loop(subject, partition, stream, durable, stop, delay))
        self._loops[slot] = (stop, task)
        PARTITIONS.labels(self.worker.name).set(len(self._loops))

    async def _stop_slot(self, slot: str) -> None:
        stop, task = self._loops.pop(slot)
        stop.set()
        await task
        PARTITIONS.labels(self.worker.name).set(len(self._loops))

    async def _loop(
        self, subject: str, partition: int, stream: str, durable: str, stop: asyncio.Event, delay: float
    ) -> None:
        if delay:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        sub = await self.js.pull_subscribe_bind(durable=durable, stream=stream)
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self.settings.batch, timeout=self.settings.fetch_timeout_s)
                except TimeoutError:
                    continue
                except (nats.errors.ConnectionClosedError, nats.js.errors.ServiceUnavailableError):
                    await asyncio.sleep(0.5)
                    continue
                await self._handle_batch(subject, partition, msgs)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _handle_batch(self, subject: str, partition: int, msgs: list[Msg]) -> None:
        keepalive = asyncio.create_task(self._keepalive(msgs))
        try:
            for msg in msgs:
                meta = msg.metadata
                incoming = Incoming(
                    subject=subject,
                    data=msg.data,
                    headers=dict(msg.headers or {}),
                    attempt=meta.num_delivered or 1,
                    partition=partition,
                    seq=meta.sequence.stream if meta.sequence else None,
                )
                await self.processor.process(incoming, self._send)
            await self.publisher.flush()
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error, ValueError):
            # Outputs not confirmed: hand the batch back for redelivery, in order.
            log.warning("publishing outputs failed", extra={"worker": self.worker.name}, exc_info=True)
            for msg in msgs:
                with contextlib.suppress(nats.errors.Error):
                    await msg.nak(delay=1.0)
            return
        finally:
            keepalive.cancel()
        for msg in msgs:
            await msg.ack()

    async def _send(self, event: Event) -> None:
        await self.publisher.send(event)

    async def _keepalive(self, msgs: list[Msg]) -> None:
        """Tell the server long handlers are still working, so it doesn't redeliver."""
        while True:
            await asyncio.sleep(self.ack_wait_s / 3)
            for msg in msgs:
                with contextlib.suppress(nats.errors.Error):
                    await msg.in_progress()
