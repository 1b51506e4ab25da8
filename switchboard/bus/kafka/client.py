"""Kafka specifics: a session's earlier events on one partition, for a worker
that meets the session mid-stream (the Kafka side of ``Context.earlier``); a
group assignor that gives one replica the same partitions of every topic; and
a tail of topics outside any group (the edge, the CLI's job commands)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from switchboard.schemas import Event

from .. import envelope
from ..config import BusSettings
from ..subjects import address

log = logging.getLogger(__name__)
BUSY_FETCH_WAIT_S = 0.01  # a consumer's fetch wait while records come (FetchWait)
READ_S = 5.0  # give up reading after this long: what was read is returned
SCAN_MAX = 5000  # records read back at most where the broker ignores the start time


async def kafka_history(
    settings: BusSettings, subject: str, partition: int, before: int, correlation_id: str, since: datetime
) -> list[Event]:
    """Events of ``correlation_id`` on ``partition`` written from ``since`` up
    to offset ``before`` (excluded), read by a consumer outside any group."""
    tp = TopicPartition(address(settings.namespace, subject), partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        since_ms = int(since.timestamp() * 1000)
        found = (await consumer.offsets_for_times({tp: since_ms})).get(tp)
        if found is None or found.offset >= before:  # nothing that recent before it
            return []
        start = found.offset
        if found.timestamp < since_ms:  # some brokers answer the first offset whatever the time
            start = max(start, before - SCAN_MAX)
        consumer.seek(tp, start)
        out: list[Event] = []
        deadline = time.monotonic() + READ_S
        while time.monotonic() < deadline:  # the first fetch after a seek may come back empty
            records = (await consumer.getmany(tp, timeout_ms=500)).get(tp, [])
            for r in records:
                if r.offset >= before:
                    return out
                if r.timestamp < since_ms:
                    continue
                headers = headers_of(r)
                if envelope.read(headers).correlation_id == correlation_id:
                    with contextlib.suppress(envelope.DecodeError):
                        out.append(envelope.decode(subject, value_of(r), headers))
            if records and records[-1].offset >= before - 1:
                return out
        return out
    finally:
        await consumer.stop()


class FetchWait:
    """Keeps a consumer's fetches short while records come, and its own wait once
    a read finds none.

    Tansu answers a fetch that found nothing when its wait ends, even if records
    came meanwhile: a hop waited about half the wait for each (bench/bus/kafka.py,
    500 events/s: 23 ms per hop with 100 ms, 12-14 ms with this). An idle consumer
    keeps its long wait, as each fetch costs CPU (24 partitions: with 10 ms, 7 %
    of a core in the client and 10 % in Tansu; with 100 ms, 1 % and 3 %). Kafka
    itself answers as records come; there this only adds fetches while busy.
    At 50 records/s on 24 partitions: 27 -> 4 ms per hop, for 4 % of a core more in
    the client and 9 % more in Tansu while they come."""

    def __init__(self, consumer: AIOKafkaConsumer, idle_ms: int) -> None:
        """``idle_ms``: the wait the consumer was made with."""
        self.consumer = consumer
        self.idle_ms = idle_ms
        self.busy_ms = min(idle_ms, int(BUSY_FETCH_WAIT_S * 1000))
        self.busy = False

    def saw(self, records: bool) -> None:
        """Say whether a read (one that waited) found records."""
        if records == self.busy:
            return
        # aiokafka reads the wait when it makes each fetch request
        fetcher = getattr(self.consumer, "_fetcher", None)
        if fetcher is None or not isinstance(getattr(fetcher, "_fetch_max_wait_ms", None), int):
            return
        self.busy = records
        fetcher._fetch_max_wait_ms = self.busy_ms if records else self.idle_ms


def headers_of(record: ConsumerRecord) -> dict[str, str]:
    """A Kafka record's headers as text (bytes that are not UTF-8 replaced: a
    malformed header must not make its message impossible to handle)."""
    try:
        return {k: v.decode() for k, v in record.headers}  # the common case, a fifth cheaper
    except (UnicodeDecodeError, AttributeError, TypeError):  # not UTF-8, a value of None, no headers
        return {k: v.decode(errors="replace") if v is not None else "" for k, v in record.headers or ()}


def value_of(record: ConsumerRecord) -> bytes:
    """A Kafka record's value; empty for a record without one (a tombstone is no
    event: the processor dead-letters it as malformed, readers skip it)."""
    return record.value or b""


@contextlib.asynccontextmanager
async def tail(
    settings: BusSettings,
    topics: list[str],
    handle: Callable[[ConsumerRecord], None],
    *,
    from_start: bool = False,
) -> AsyncIterator[asyncio.Task[None]]:
    """Hand every record of ``topics`` written from now on (or all of them) to
    ``handle`` until the block ends; read by a consumer outside any group, so
    every reader sees everything. Yields the reading task."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest" if from_start else "latest",
        enable_auto_commit=False,
        # a session's frames should not wait for a full fetch; not shortened while records
        # come (FetchWait): a tail reads every topic, and a fetch costs Tansu per partition
        fetch_max_wait_ms=50,
    )
    try:
        await consumer.start()
        for tp in consumer.assignment():  # fix "the end" now, not at the first fetch
            await consumer.position(tp)
        task = asyncio.create_task(_pump(consumer, handle))
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await consumer.stop()


async def _pump(consumer: AIOKafkaConsumer, handle: Callable[[ConsumerRecord], None]) -> None:
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


class ReplicaRangeAssignor(RangePartitionAssignor):  # type: ignore[misc]
    """Kafka's range assignment with the consumers of each topic ordered by the
    replica they belong to: every topic has one consumer per replica, so a
    replica owns partition p of all its worker's topics, as leases do on NATS
    (a session's ``voice.cancel`` reaches the replica answering it)."""

    name = "switchboard-replica-range"
    replica = ""

    @classmethod
    def for_replica(cls, replica: str) -> type[ReplicaRangeAssignor]:
        """The assignor of one replica (its id travels in the group metadata)."""
        return type("ReplicaRangeAssignor", (cls,), {"replica": replica})

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        """This member's subscription, carrying its replica id."""
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), cls.replica.encode())

    @classmethod
    def assign(
        cls, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        """Every topic's partitions split by replica id, the same split for every topic."""
        order = sorted(members, key=lambda m: (members[m].user_data or b"", m))
        ranked = {m: f"{i:06d}" for i, m in enumerate(order)}  # range sorts member ids
        by_rank = super().assign(cluster, {ranked[m]: meta for m, meta in members.items()})
        return {m: by_rank[ranked[m]] for m in members}


async def provision_kafka(settings: BusSettings, subjects: list[str]) -> None:
    """Create the topics of ``subjects`` with the configured partitions (existing ones are kept)."""
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
