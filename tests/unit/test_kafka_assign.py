"""The Kafka group assignor deals partition p of every topic to one replica."""

from __future__ import annotations

import random
import uuid

from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from switchboard.bus.kafka import ReplicaRangeAssignor

TOPICS = ["sb.voice.context", "sb.voice.cancel"]


class Cluster:  # the one method the range assignor asks of ClusterMetadata
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions))


def by_replica(
    assignor: type[RangePartitionAssignor], replicas: int, partitions: int
) -> dict[str, dict[str, tuple[int, ...]]]:
    """replica -> topic -> the partitions its consumer of that topic got."""
    members, owner = {}, {}
    for _ in range(replicas):
        replica = uuid.uuid4().hex
        meta = ReplicaRangeAssignor.for_replica(replica)
        for topic in TOPICS:  # one consumer per topic, as FastStream makes them
            member = f"consumer-{uuid.uuid4()}"
            members[member] = meta.metadata([topic])
            owner[member] = replica
    members = dict(random.sample(list(members.items()), len(members)))
    got: dict[str, dict[str, tuple[int, ...]]] = {}
    for member, assignment in assignor.assign(Cluster(partitions), members).items():
        for topic, parts in assignment.assignment:
            got.setdefault(owner[member], {})[topic] = tuple(sorted(parts))
    return got


def test_each_replica_owns_the_same_partitions_of_every_topic() -> None:
    for replicas, partitions in [(1, 4), (2, 4), (3, 4), (3, 8), (4, 3)]:
        for _ in range(20):
            got = by_replica(ReplicaRangeAssignor, replicas, partitions)
            for replica, topics in got.items():
                assert sorted(topics) == sorted(TOPICS)
                assert len(set(topics.values())) == 1, (replica, topics)
            owned = [p for topics in got.values() for p in topics[TOPICS[0]]]
            assert sorted(owned) == list(range(partitions))


def test_kafkas_own_range_assignor_does_not() -> None:
    """Why the assignor exists: plain range orders consumers by member id."""
    splits = [by_replica(RangePartitionAssignor, 2, 4) for _ in range(40)]
    assert any(len(set(topics.values())) > 1 for got in splits for topics in got.values())
