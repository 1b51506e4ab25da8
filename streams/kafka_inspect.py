"""Topics, message counts and consumer-group lag of a namespace on Kafka
(``streams/inspect.py`` on NATS)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.config import BusSettings
from bus.subjects import address
from schemas import EVENT_TYPES

from .topology import hops


@dataclass
class TopicReport:
    topic: str
    partitions: int
    messages: int  # held now: end minus beginning offsets
    lag: dict[str, int] = field(default_factory=dict)  # consumer group -> messages not yet committed


def readers() -> dict[str, list[str]]:
    """subject -> the worker kinds that read it (their groups are ``<namespace>.<kind>``)."""
    out: dict[str, list[str]] = {}
    for hop in hops():
        for subject in hop.inputs:
            out.setdefault(subject, []).append(hop.worker)
    return out


async def report(settings: BusSettings, kinds: dict[str, list[str]] | None = None) -> list[TopicReport]:
    kinds = kinds if kinds is not None else readers()
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
            rep = TopicReport(topic, len(tps), sum(end[tp] - begin[tp] for tp in tps))
            for kind in kinds.get(subject, []):
                group = f"{ns}.{kind}"
                if group not in groups:  # reads the group's commits; never joins it
                    groups[group] = AIOKafkaConsumer(
                        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
                    )
                    await groups[group].start()
                committed = [await groups[group].committed(tp) for tp in tps]
                rep.lag[group] = sum(
                    end[tp] - (c if c is not None else begin[tp])
                    for tp, c in zip(tps, committed, strict=True)
                )
            out.append(rep)
    finally:
        for g in groups.values():
            await g.stop()
        await consumer.stop()
    return out
