"""A Kafka runner's commits: the next batch is handled while the broker answers
the last one; commits never overlap, and partitions move only once it is answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from switchboard.bus import BusSettings
from switchboard.bus.kafka.runner import KafkaRunner, _Rebalance
from tests.relay import relay


@pytest.fixture
async def runner() -> AsyncIterator[KafkaRunner]:
    """A runner never started (no broker): the test answers its commits."""
    runner = KafkaRunner(
        relay, BusSettings(broker="kafka", kafka_bootstrap="127.0.0.1:1", namespace="t"), "r1"
    )
    yield runner
    await runner.consumer.stop()
    await runner._producer.stop()


def _gate_commits(runner: KafkaRunner) -> tuple[asyncio.Event, list[int]]:
    """Commits answered once the gate opens (and a moment later); for each one
    sent, how many were in flight with it."""
    gate, sent = asyncio.Event(), []
    flying = 0

    async def commit(offsets: object = None) -> None:
        nonlocal flying
        flying += 1
        sent.append(flying)
        await gate.wait()
        await asyncio.sleep(0.01)
        flying -= 1

    runner.consumer.commit = commit  # type: ignore[method-assign]
    return gate, sent


async def test_a_batch_returns_with_its_commit_in_flight_and_the_next_waits_for_it(
    runner: KafkaRunner,
) -> None:
    gate, sent = _gate_commits(runner)
    await asyncio.wait_for(runner._handle({}), 5)  # not held up by the broker's answer
    assert len(sent) == 1
    second = asyncio.create_task(runner._handle({}))
    third = asyncio.create_task(runner._handle({}))  # as a cancel's batch, handled beside the work
    await asyncio.sleep(0.2)
    assert len(sent) == 1 and not second.done() and not third.done()
    gate.set()
    await asyncio.wait_for(asyncio.gather(second, third), 5)
    await asyncio.wait_for(runner.committed(), 5)
    assert sent == [1, 1, 1]  # one commit in flight at a time: they apply in order


async def test_partitions_are_given_up_once_the_last_commit_is_answered(runner: KafkaRunner) -> None:
    gate, _ = _gate_commits(runner)
    await runner._handle({})
    revoking = asyncio.create_task(_Rebalance(runner).on_partitions_revoked(set()))
    await asyncio.sleep(0.2)
    assert not revoking.done()  # else the next owner would start before what this one handled
    gate.set()
    await asyncio.wait_for(revoking, 5)
