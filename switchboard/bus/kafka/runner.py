"""Runs a worker on Kafka with aiokafka directly: one consumer per replica in
the group ``<namespace>.<kind>`` reading every topic the worker handles (the
range assignor then gives a replica partition p of each of them, so a
session's events of every kind meet in one process), fetched in batches,
handled in order per partition (partitions side by side), outputs sent
pipelined and confirmed by the broker, then one commit for the batch, answered
while the next batch is fetched and handled (one commit in flight at a time).

A rebalance or a stop waits for the batch in hand and its commit before
partitions move; a replica that dies leaves its uncommitted batch to the next owner.

While a batch is in hand (a long answer, a training run), the replica keeps
reading its cancel topics: a cancel reaches the work it is meant to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import OffsetAndMetadata

from switchboard.schemas import Event

from .. import envelope
from ..config import BATCHES_IN_HAND, BusSettings
from ..flapping import Flapping
from ..metrics import PARTITIONS, READY
from ..processor import Incoming, Processor, PublishFailed, until_published
from ..subjects import address, parse_address, stream_for
from ..worker import Worker
from .client import FetchWait, ReplicaRangeAssignor, headers_of, kafka_history, value_of

log = logging.getLogger(__name__)
CANCELS = frozenset({"jobs.cancel", "voice.cancel"})  # read even while work is in hand
FETCH_WAIT_S = 0.1  # an idle fetch's wait (bench/bus/kafka.py: 0.5 s made hops wait); FetchWait while busy
_BATCH_BYTES = 256 * 1024  # a producer's record batch (aiokafka's default: 16 KB)


def poll_records(settings: BusSettings) -> int:
    """The most records a poll hands over: fewer handle-produce-commit rounds per fetch
    (bench/bus/kafka.py: 64 records a poll, 113 ms per hop; 256, 63 ms)."""
    return settings.batch * BATCHES_IN_HAND


class KafkaPublisher:
    """Publishes events to their topics, keyed by correlation id.

    ``OutBatch.put`` puts an event into a batch: a record batch per topic partition,
    built here and handed to the producer whole (``send_batch``), so a record
    costs an append rather than a ``send`` with its own future; ``flush`` hands
    over what is left and waits until the broker has it all. The partition is
    the one the producer's default partitioner gives the key, as for ``publish``.
    """

    def __init__(self, producer: AIOKafkaProducer, settings: BusSettings, producer_name: str) -> None:
        self.producer = producer
        self.settings = settings
        self.name = producer_name
        self._topics: dict[type[Event], str] = {}  # event type -> its topic
        self.targets: dict[type[Event], tuple[str, list[int]]] = {}  # event type -> topic, partitions

    def _topic(self, event: Event) -> str:
        topic = self._topics.get(type(event))
        if topic is None:
            stream_for(event.type)  # type: ignore[attr-defined]  # fail early on an unknown subject
            topic = self._topics[type(event)] = address(self.settings.namespace, event.type)  # type: ignore[attr-defined]
        return topic

    def record(self, event: Event) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """An event's key, value and headers as Kafka takes them."""
        return (
            event.correlation_id.encode(),
            envelope.encode(event),
            envelope.encoded_headers(event, self.name),
        )

    async def publish(self, event: Event) -> None:
        """Publish one event and wait until the broker has it."""
        key, value, headers = self.record(event)
        await self.producer.send_and_wait(self._topic(event), value, key=key, headers=headers)

    def batch(self) -> OutBatch:
        """An empty batch to put events into (``OutBatch.put``)."""
        return OutBatch(self)

    async def target(self, event: Event) -> tuple[str, list[int]]:
        """The topic of an event's type and that topic's partitions (asked once)."""
        target = self.targets.get(type(event))
        if target is None:
            topic = self._topic(event)
            target = self.targets[type(event)] = (topic, sorted(await self.producer.partitions_for(topic)))
        return target

    async def flush(self, batch: OutBatch) -> None:
        """Hand over the batch's open record batches; wait until the broker has
        every event of it (30 s at most)."""
        for (topic, partition), builder in batch.open.items():
            if builder.record_count():
                builder.close()  # complete: sent at once, not after the producer's linger
                batch.sent.append(await self.producer.send_batch(builder, topic, partition=partition))
        batch.open.clear()
        if batch.sent:
            async with asyncio.timeout(30.0):
                await asyncio.gather(*batch.sent)


@functools.lru_cache(maxsize=65_536)
def _slot(key: bytes, partitions: int) -> int:
    """The index of a key's partition as the default partitioner picks it (its
    murmur2 is pure Python: a session's key is hashed once)."""
    return int(DefaultPartitioner()(key, range(partitions), None))


class OutBatch:
    """One attempt's outputs: record batches being built per topic partition, and
    the broker's answers to come for those handed over."""

    __slots__ = ("open", "publisher", "sent")

    def __init__(self, publisher: KafkaPublisher) -> None:
        self.publisher = publisher
        self.open: dict[tuple[str, int], BatchBuilder] = {}
        self.sent: list[asyncio.Future[Any]] = []

    def put(self, event: Event) -> Awaitable[None] | None:
        """Put one event in (the processor's ``Publish``); ``flush`` waits for the
        batch. None once it is in; an awaitable when a full record batch must
        first be handed over (or the topic's partitions learnt)."""
        publisher = self.publisher
        target = publisher.targets.get(type(event))
        if target is None:
            return self._put_first(event)
        topic, partitions = target
        key, value, headers = publisher.record(event)
        tp = (topic, partitions[_slot(key, len(partitions))])
        builder = self.open.get(tp)
        if builder is None:
            builder = self.open[tp] = publisher.producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            return self._hand_over(tp, key, value, headers)  # full
        return None

    async def _put_first(self, event: Event) -> None:
        await self.publisher.target(event)
        if (waiting := self.put(event)) is not None:
            await waiting

    async def _hand_over(
        self, tp: tuple[str, int], key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Hand a full record batch over; start the partition's next one with the record that did not fit."""
        producer = self.publisher.producer
        self.sent.append(await producer.send_batch(self.open[tp], tp[0], partition=tp[1]))
        builder = self.open[tp] = producer.create_batch()
        # an empty record batch takes any record (the largest event is under 1 MB)
        if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            raise ValueError(f"{tp[0]} event of {len(value)} bytes does not fit a record batch")


def producer(settings: BusSettings) -> AIOKafkaProducer:
    """A Kafka producer for the bus's outputs."""
    # a few ms of linger batch a burst of outputs into one request; 256 KB record batches:
    # broker CPU per event 75 -> 48 us in bench/bus/kafka.py (Kafka takes up to 1 MB)
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, linger_ms=2, acks=1, max_batch_size=_BATCH_BYTES
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: KafkaRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.runner.in_hand:  # the batch being handled is committed first
            await self.runner.committed()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        PARTITIONS.labels(self.runner.worker.name).set(len(assigned))


class KafkaRunner:
    """Serves one worker kind as a Kafka consumer group member: each partition in order, commits after outputs."""

    def __init__(
        self, worker: Worker, settings: BusSettings, replica: str, shared: AIOKafkaProducer | None = None
    ) -> None:
        """``shared``: a started producer of the process's (the transport's), used
        instead of one of the runner's own: worker kinds in one process then
        batch their outputs into the same produce requests."""
        self.worker = worker
        self.settings = settings
        self.processor = Processor(worker, settings, self.history)
        self.in_hand = asyncio.Lock()
        self._committing: asyncio.Future[None] | None = None  # the last commit, not yet answered
        self.cancel_topics = {address(settings.namespace, s) for s in worker.subjects if s in CANCELS}
        self._own = shared is None
        self._producer = shared or producer(settings)
        self.publisher = KafkaPublisher(self._producer, settings, worker.producer)
        idle_ms = int(min(settings.fetch_timeout_s, FETCH_WAIT_S) * 1000)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"{settings.namespace}.{worker.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=poll_records(settings),
            heartbeat_interval_ms=1000,
            # a dead replica's partitions move after this (as its NATS leases do)
            session_timeout_ms=int(settings.lease_ttl_s * 1000),
            partition_assignment_strategy=(ReplicaRangeAssignor.for_replica(replica),),
            # aiokafka keeps one fetch in flight per broker: records arriving on a
            # partition just read wait for the fetch of the others, up to this long
            fetch_max_wait_ms=idle_ms,
        )
        self.fetch_wait = FetchWait(self.consumer, idle_ms)

    async def history(
        self, subject: str, partition: int, before: int, correlation_id: str, since: datetime
    ) -> list[Event]:
        """A session's earlier events on a subject's partition (a takeover rebuilds state from them)."""
        return await kafka_history(self.settings, subject, partition, before, correlation_id, since)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and handle until ``stop`` is set; commits what was handled."""
        ns = self.settings.namespace
        if self._own:
            await self._producer.start()
        try:
            self.consumer.subscribe([address(ns, s) for s in self.worker.subjects], listener=_Rebalance(self))
            await self.consumer.start()
            READY.labels(self.worker.name).set(1)
            log.info("worker running", extra={"worker": self.worker.name, "broker": "kafka"})
            stopping = asyncio.create_task(stop.wait())
            failing = Flapping(
                log, "kafka fetch", transient=(KafkaError,), cap_s=5.0, worker=self.worker.name
            )
            while not stop.is_set():
                try:
                    # records fetched already come without a task and a wait (a busy stream's every batch)
                    batches = await self.consumer.getmany(timeout_ms=0)
                    if not batches:
                        getting = asyncio.ensure_future(
                            self.consumer.getmany(timeout_ms=int(self.settings.fetch_timeout_s * 1000))
                        )
                        await asyncio.wait([getting, stopping], return_when=asyncio.FIRST_COMPLETED)
                        if not getting.done():
                            getting.cancel()
                            break
                        batches = getting.result()
                        self.fetch_wait.saw(bool(batches))  # empty: a whole fetch_timeout_s without records
                    else:
                        self.fetch_wait.saw(True)
                    failing.ok()
                except KafkaError as exc:  # the client reconnects by itself
                    await asyncio.sleep(failing.failed(exc))
                    continue
                if batches:
                    async with self.in_hand:
                        await self._handle_reading_cancels(batches)
            stopping.cancel()
        finally:
            READY.labels(self.worker.name).set(0)
            await self.committed()  # the last commit answered before the group is left
            with contextlib.suppress(KafkaError):
                await self.consumer.stop()  # leaves the group: partitions move at once
            if self._own:
                await self._producer.stop()

    async def _handle_reading_cancels(self, batches: dict[TopicPartition, list[Any]]) -> None:
        """Handle the batch's cancels, then its work; while the work is in hand,
        fetch and handle the cancel topics' records (only theirs) as they come."""
        if not self.cancel_topics:  # this kind reads no cancels: no task to watch
            await self._handle(batches)
            return
        cancels = {tp: r for tp, r in batches.items() if tp.topic in self.cancel_topics}
        work = {tp: r for tp, r in batches.items() if tp.topic not in self.cancel_topics}
        if cancels:
            await self._handle(cancels)
        if not work:
            return
        working = asyncio.create_task(self._handle(work))
        while not working.done():
            mine = [tp for tp in self.consumer.assignment() if tp.topic in self.cancel_topics]
            if not mine:
                await working
                break
            getting = asyncio.ensure_future(self.consumer.getmany(*mine, timeout_ms=500))
            await asyncio.wait([working, getting], return_when=asyncio.FIRST_COMPLETED)
            getting.cancel()  # records are taken from the buffer only when returned
            await asyncio.wait([getting])
            if not getting.cancelled() and getting.exception() is None:
                # a long job: its cancel topics read with the idle wait, not the busy one
                self.fetch_wait.saw(bool(getting.result()))
                if getting.result():
                    await self._handle(getting.result())
        await working

    async def _handle(self, batches: dict[TopicPartition, list[Any]]) -> None:
        """Each partition's records in order (partitions side by side), every
        output confirmed, then one commit; outputs not confirmed are retried
        here, never committed past."""
        ns = self.settings.namespace

        async def partition(tp: TopicPartition, records: list[Any]) -> None:
            subject = parse_address(ns, tp.topic)[0]

            async def attempt() -> None:
                batch = self.publisher.batch()
                for r in records:
                    incoming = Incoming(subject, value_of(r), headers_of(r), 1, tp.partition, r.offset)
                    await self.processor.process(incoming, batch.put)
                await self.publisher.flush(batch)

            def forget() -> None:
                for r in records:
                    self.processor.seen.discard(headers_of(r).get(envelope.EVENT_ID, ""))

            await until_published(
                attempt, forget, (TimeoutError, KafkaError, ValueError, PublishFailed), self.worker.name
            )

        count = sum(len(r) for r in batches.values())
        self.processor.in_flight.inc(count)
        try:
            if len(batches) == 1:  # no task for a lone partition
                await partition(*next(iter(batches.items())))
            else:
                await asyncio.gather(*(partition(tp, records) for tp, records in batches.items()))
        finally:
            self.processor.in_flight.dec(count)
            self.processor.batch_done()
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in batches.items()}
        await self.committed()  # one commit in flight: they apply in order
        # the next batch is fetched and handled while the broker answers this commit
        self._committing = asyncio.ensure_future(self._commit(offsets))

    async def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit; a commit that fails leaves its records to be handled again (deduped)."""
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:  # partitions moved
            log.warning("commit failed: %s", exc, extra={"worker": self.worker.name})
        except Exception:
            log.exception("commit failed", extra={"worker": self.worker.name})

    async def committed(self) -> None:
        """Wait until no commit is in flight (the last one is answered)."""
        while self._committing is not None and not self._committing.done():
            await asyncio.wait([self._committing])
