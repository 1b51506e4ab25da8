"""What a Kafka namespace holds: read a recorded slice, copy it into another
namespace (replay), drop a namespace, report topics and group lag.

Kafka numbers messages per partition, so a slice is cut by time and by
session, not by stream sequence. Kafka keeps no dedupe window: the same slice
copied twice is there twice (the workers' dedupe catches it while they run).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from switchboard.schemas import EVENT_TYPES

from .. import envelope
from ..config import BusSettings
from ..subjects import address
from ..transport import Lag, Recorded, Slice, SubjectReport, refuse_live
from .client import headers_of, provision_kafka, value_of

READ_ALL_S = 60.0  # give up on a topic that does not reach its end offsets by then


async def read(
    settings: BusSettings, namespace: str, subject: str, sl: Slice | None = None
) -> list[Recorded]:
    """Every stored message of ``subject`` in ``namespace`` inside the slice, oldest first."""
    sl = sl or Slice([subject])
    if sl.start_seq is not None or sl.end_seq is not None:
        raise ValueError("Kafka counts offsets per partition, not stream sequences: slice by time or session")
    consumer = AIOKafkaConsumer(
        address(namespace, subject),
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    try:
        await consumer.start()
        tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        since_ms = int(sl.since.timestamp() * 1000) if sl.since else None
        until_ms = int(sl.until.timestamp() * 1000) if sl.until else None
        if since_ms is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
            starts = {tp: (f.offset if f else ends[tp]) for tp, f in found.items()}
        left = {tp for tp in tps if starts[tp] < ends[tp]}
        for tp in tps:
            consumer.seek(tp, starts[tp])
        out: list[Recorded] = []
        deadline = time.monotonic() + READ_ALL_S
        while left and time.monotonic() < deadline:
            got = await consumer.getmany(*left, timeout_ms=500)
            for tp in list(left):
                records = got.get(tp, [])
                for r in records:
                    if (since_ms is not None and r.timestamp < since_ms) or (
                        until_ms is not None and r.timestamp > until_ms
                    ):
                        continue
                    hdrs = headers_of(r)
                    if sl.correlation_ids and envelope.read(hdrs).correlation_id not in sl.correlation_ids:
                        continue
                    when = datetime.fromtimestamp(r.timestamp / 1000, UTC)
                    out.append(Recorded(subject, r.offset, when, hdrs, value_of(r), tp.partition))
                # done once the end is passed and nothing more comes: an end offset alone is
                # not enough (Tansu reports the last batch's first offset + 1 as the end)
                if not records and await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        return sorted(out, key=lambda r: (r.time, r.partition or 0, r.seq))
    finally:
        await consumer.stop()


async def copy(source: BusSettings, target_namespace: str, sl: Slice) -> int:
    """Copy the slice's messages into ``target_namespace``; returns how many were published."""
    refuse_live(source, target_namespace)
    target = source.model_copy(update={"namespace": target_namespace})
    await provision_kafka(target, list(EVENT_TYPES))
    producer = AIOKafkaProducer(bootstrap_servers=source.kafka_bootstrap)
    count = 0
    try:
        await producer.start()
        for subject in sl.subjects:
            for rec in await read(source, source.namespace, subject, sl):
                hdrs = {**rec.headers, envelope.REPLAY_OF: f"{source.namespace}:{rec.partition}:{rec.seq}"}
                await producer.send_and_wait(
                    address(target_namespace, subject),
                    rec.data,
                    key=envelope.read(hdrs).correlation_id.encode(),
                    headers=[(k, v.encode()) for k, v in hdrs.items()],
                )
                count += 1
    finally:
        await producer.stop()
    return count


async def drop(settings: BusSettings, namespace: str) -> list[str]:
    """Delete a replay namespace's topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
        gone = sorted(t for t in await admin.list_topics() if t.startswith(namespace + "."))
        if gone:
            await admin.delete_topics(gone)
        return gone
    finally:
        await admin.close()


async def report(settings: BusSettings, readers: dict[str, list[str]]) -> list[SubjectReport]:
    """Per subject: messages held, and per reading worker kind (group
    ``<namespace>.<kind>``) and partition, what its commits are behind."""
    ns, bootstrap = settings.namespace, settings.kafka_bootstrap
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    groups: dict[str, AIOKafkaConsumer] = {}
    out = []
    try:
        await consumer.start()
        existing = await consumer.topics()
        for subject in sorted(EVENT_TYPES):
            topic = address(ns, subject)
            if topic not in existing:
                continue
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            begin, end = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
            rep = SubjectReport(subject, sum(end[tp] - begin[tp] for tp in tps), len(tps))
            for kind in readers.get(subject, []):
                group = f"{ns}.{kind}"
                if group not in groups:  # reads the group's commits; never joins it
                    groups[group] = AIOKafkaConsumer(
                        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
                    )
                    await groups[group].start()
                for tp in tps:
                    committed = await groups[group].committed(tp)
                    behind = end[tp] - (committed if committed is not None else begin[tp])
                    rep.lags.append(Lag(kind, tp.partition, max(0, behind)))  # Tansu's end can lag
            out.append(rep)
    finally:
        for g in groups.values():
            await g.stop()
        await consumer.stop()
    return out
