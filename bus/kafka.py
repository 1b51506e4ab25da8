"""Kafka specifics: a session's earlier events on one partition, for a worker
that meets the session mid-stream (the Kafka side of ``Context.earlier``), and
a group assignor that gives one replica the same partitions of every topic."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata

from schemas import Event

from . import envelope
from .config import BusSettings
from .subjects import address

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
                headers = {k: v.decode() for k, v in r.headers or ()}
                if headers.get(envelope.CORRELATION_ID) == correlation_id:
                    with contextlib.suppress(envelope.DecodeError):
                        out.append(envelope.decode(subject, r.value, headers))
            if records and records[-1].offset >= before - 1:
                return out
        return out
    finally:
        await consumer.stop()


class ReplicaRangeAssignor(RangePartitionAssignor):  # type: ignore[misc]
    """Kafka's range assignment with the consumers of each topic ordered by the
    replica they belong to: every topic has one consumer per replica, so a
    replica owns partition p of all its worker's topics, as leases do on NATS
    (a session's ``voice.cancel`` reaches the replica answering it)."""

    name = "switchboard-replica-range"
    replica = ""

    @classmethod
    def for_replica(cls, replica: str) -> type[ReplicaRangeAssignor]:
        return type("ReplicaRangeAssignor", (cls,), {"replica": replica})

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), cls.replica.encode())

    @classmethod
    def assign(
        cls, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        order = sorted(members, key=lambda m: (members[m].user_data or b"", m))
        ranked = {m: f"{i:06d}" for i, m in enumerate(order)}  # range sorts member ids
        by_rank = super().assign(cluster, {ranked[m]: meta for m, meta in members.items()})
        return {m: by_rank[ranked[m]] for m in members}
