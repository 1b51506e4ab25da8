"""The same pipeline semantics against a real Kafka-protocol broker (Tansu)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Awaitable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

from switchboard.bus import BusSettings, Context, Worker, envelope, transport
from switchboard.bus.kafka import provision_kafka
from switchboard.bus.kafka.client import BUSY_FETCH_WAIT_S, FetchWait
from switchboard.bus.kafka.runner import KafkaPublisher, OutBatch
from switchboard.bus.subjects import address
from switchboard.schemas import EVENT_TYPES, Cancel, DeadLetter, Event, JobSubmitted, Transcript
from tests.helpers import jobs, running
from tests.relay import relay

pytestmark = pytest.mark.kafka


async def _consume(settings: BusSettings, subject: str, n: int, wait_s: float = 40.0) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        address(settings.namespace, subject),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got = []
    deadline = time.monotonic() + wait_s
    try:
        while len(got) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend(records)
    finally:
        await consumer.stop()
    return got


async def _publish(settings: BusSettings, events: list) -> None:  # type: ignore[type-arg]
    async with transport(settings) as bus:
        publish = bus.publisher("test@1")
        for ev in events:
            await publish(ev)


def _seqs(records: list) -> dict[str, list[int]]:  # type: ignore[type-arg]
    seqs: dict[str, list[int]] = defaultdict(list)
    for r in records:
        body = json.loads(r.value)
        seqs[body["correlation_id"]].append(int(body["message"].split("@")[0]))
    return seqs


async def test_pipeline_order_envelope_and_dead_letters(kafka_settings: BusSettings) -> None:
    sent = jobs(sessions=4, per_session=10)
    bad = JobSubmitted(correlation_id="s-bad", kind="relay", params={"permanent": True})
    await _publish(kafka_settings, [*sent, bad, sent[0]])  # sent[0] again: a duplicate
    async with running(relay, kafka_settings):
        out = await _consume(kafka_settings, "jobs.status", len(sent))
        dead = await _consume(kafka_settings, "dead.letter", 1)
    assert len(out) == len(sent)
    for session, seqs in _seqs(out).items():
        assert seqs == list(range(10)), session
    headers = {k: v.decode() for k, v in out[0].headers}
    sent_with = envelope.read(headers)
    assert sent_with.producer == relay.producer
    assert sent_with.causation_id in {e.id for e in sent}
    letter = DeadLetter.model_validate_json(dead[0].value)
    assert letter.error_kind == "handler" and letter.correlation_id == "s-bad"
    assert out[0].key.decode() == sent_with.correlation_id


async def test_batched_outputs_land_where_publish_puts_them_in_order(kafka_settings: BusSettings) -> None:
    await provision_kafka(kafka_settings, ["jobs.submitted"])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.kafka_bootstrap)
    await producer.start()
    sessions = [f"s{i}" for i in range(5)]
    try:
        publisher = KafkaPublisher(producer, kafka_settings, "test@1")
        for s in sessions:  # one event each the plain way: the key's partition
            await publisher.publish(JobSubmitted(correlation_id=s, kind="echo", params={"n": -1}))
        batch = publisher.batch()
        for n in range(60):  # 2 KB each: several record batches per partition
            for s in sessions:
                event = JobSubmitted(correlation_id=s, kind="echo", params={"n": n, "pad": "x" * 2_000})
                if (waiting := batch.put(event)) is not None:  # a record batch handed over
                    await waiting
        await publisher.flush(batch)
    finally:
        await producer.stop()
    records = await _consume(kafka_settings, "jobs.submitted", len(sessions) * 61)
    order: dict[str, list[int]] = defaultdict(list)
    partition: dict[str, int] = {}
    for r in records:
        body = json.loads(r.value)
        session = body["correlation_id"]
        assert r.partition == partition.setdefault(session, r.partition), session
        order[session].append(body["params"]["n"])
    assert {s: order[s] for s in sessions} == {s: [-1, *range(60)] for s in sessions}


async def test_records_that_are_not_events_do_not_hold_up_the_partition(kafka_settings: BusSettings) -> None:
    sent = jobs(sessions=1, per_session=4)
    await provision_kafka(kafka_settings, ["jobs.submitted", "jobs.status"])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.kafka_bootstrap)
    await producer.start()
    try:
        topic = address(kafka_settings.namespace, "jobs.submitted")
        for ev in sent:
            garbage = [("junk", b"\xff\xfe")] if ev is sent[1] else []
            headers = [(k, v.encode()) for k, v in envelope.headers(ev, "test@1").items()] + garbage
            await producer.send_and_wait(topic, envelope.encode(ev), key=b"s0", headers=headers)
            if ev is sent[2]:  # a record with no value at all (a tombstone): a dead letter
                await producer.send_and_wait(topic, None, key=b"s0")
    finally:
        await producer.stop()
    async with running(relay, kafka_settings):
        out = await _consume(kafka_settings, "jobs.status", len(sent), wait_s=30)
        dead = await _consume(kafka_settings, "dead.letter", 1)
    assert _seqs(out) == {"s0": [0, 1, 2, 3]}
    assert DeadLetter.model_validate_json(dead[0].value).error_kind == "malformed"


def _slow_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit is answered half a second late: one is still in flight when
    the next batch is handled, when the replica stops and when partitions move."""
    real_commit = AIOKafkaConsumer.commit

    async def slow_commit(self: AIOKafkaConsumer, offsets: object = None) -> None:
        await asyncio.sleep(0.5)
        await real_commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", slow_commit)


@pytest.mark.parametrize(
    "late_commits", [False, True], ids=["commits-answered-at-once", "commit-in-flight-at-stop"]
)
async def test_committed_offsets_survive_a_restart(
    kafka_settings: BusSettings, monkeypatch: pytest.MonkeyPatch, late_commits: bool
) -> None:
    if late_commits:  # a stop waits for the last commit's answer
        _slow_commits(monkeypatch)
    first, second = jobs(sessions=3, per_session=5), jobs(sessions=3, per_session=5)
    await _publish(kafka_settings, first)
    async with running(relay, kafka_settings):
        assert len(await _consume(kafka_settings, "jobs.status", len(first))) == len(first)
    await _publish(kafka_settings, second)
    async with running(relay, kafka_settings):  # same consumer group: resumes after the commit
        out = await _consume(kafka_settings, "jobs.status", len(first) + len(second))
        await asyncio.sleep(2.0)
        out = await _consume(kafka_settings, "jobs.status", len(first) + len(second))
    assert len(out) == len(first) + len(second)  # nothing handled twice


async def test_outputs_that_fail_to_publish_are_retried_not_committed_past(
    kafka_settings: BusSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = OutBatch.put
    failures = 0

    def flaky_put(self: OutBatch, event: Event) -> Awaitable[None] | None:
        nonlocal failures
        if self.publisher.name == relay.producer and failures < 3:  # the broker does not take these
            failures += 1
            raise KafkaTimeoutError("no produce ack")
        return real_put(self, event)

    monkeypatch.setattr(OutBatch, "put", flaky_put)
    sent = jobs(sessions=2, per_session=8)
    await _publish(kafka_settings, sent)
    async with running(relay, kafka_settings):
        out = await _consume(kafka_settings, "jobs.status", len(sent), wait_s=90)
    assert failures == 3
    for session, seqs in _seqs(out).items():
        assert seqs == list(range(8)), session  # none lost, none twice, in order


async def test_partitions_move_after_the_last_commit(
    kafka_settings: BusSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second replica joins while the first is busy with commits in flight:
    nothing is lost or handled twice (the handover itself: test_kafka_commits.py)."""
    _slow_commits(monkeypatch)
    sent = jobs(sessions=8, per_session=12, sleep=0.02)
    await _publish(kafka_settings, sent)
    async with running(relay, kafka_settings):
        assert len(await _consume(kafka_settings, "jobs.status", 8, wait_s=60)) >= 8  # the first is busy
        async with running(relay, kafka_settings):
            out = await _consume(kafka_settings, "jobs.status", len(sent), wait_s=90)
            await asyncio.sleep(2.0)
            out = await _consume(kafka_settings, "jobs.status", len(sent))
    for session, seqs in _seqs(out).items():
        assert seqs == list(range(12)), session  # none lost, none twice, in order


def _pair(label: str, seen: list[tuple[str, str, str]]) -> Worker:
    """A worker kind reading two subjects that records which replica saw what."""
    w = Worker("pair", emits=())

    @w.handler(Transcript)
    async def on_transcript(e: Transcript, ctx: Context) -> None:
        seen.append((e.correlation_id, ctx.subject, label))

    @w.handler(Cancel)
    async def on_cancel(e: Cancel, ctx: Context) -> None:
        seen.append((e.correlation_id, ctx.subject, label))

    return w


async def test_one_replica_gets_a_session_on_every_subject(kafka_settings: BusSettings) -> None:
    """Two live replicas: each session's transcripts and cancels go to the same
    one (a cancel must reach the replica answering), and both get sessions."""
    seen: list[tuple[str, str, str]] = []
    async with running(_pair("a", seen), kafka_settings), running(_pair("b", seen), kafka_settings):
        sessions = [f"s{i}" for i in range(12)]
        async with transport(kafka_settings) as bus:
            publish = bus.publisher("test@1")
            deadline = time.monotonic() + 60
            while {label for *_, label in seen} != {"a", "b"}:  # until the group is rebalanced
                assert time.monotonic() < deadline, "the second replica never got partitions"
                for s in sessions:
                    await publish(Cancel(correlation_id=s))
                await asyncio.sleep(1.0)
            await asyncio.sleep(1.0)
            seen.clear()
            for s in sessions:
                await publish(Transcript(correlation_id=s, segment_id=f"{s}-0", text="hi", is_final=True))
                await publish(Cancel(correlation_id=s))
            while len(seen) < 2 * len(sessions):
                assert time.monotonic() < deadline + 30, seen
                await asyncio.sleep(0.2)
    owners: dict[str, set[str]] = defaultdict(set)
    for session, _, label in seen:
        owners[session].add(label)
    assert all(len(o) == 1 for o in owners.values()), owners
    assert {label for o in owners.values() for label in o} == {"a", "b"}, owners


async def test_topics_no_worker_reads_are_reported(
    kafka_settings: BusSettings, caplog: pytest.LogCaptureFixture
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(f"{kafka_settings.namespace}.analyst.codex", b"{}")  # Tansu creates it
    finally:
        await producer.stop()
    with caplog.at_level("ERROR", logger="switchboard.bus.kafka.client"):
        await provision_kafka(kafka_settings, list(EVENT_TYPES))
    [record] = [r for r in caplog.records if "no worker reads" in r.message]
    assert record.topics == [f"{kafka_settings.namespace}.analyst.codex"]  # type: ignore[attr-defined]


async def test_fetches_wait_briefly_while_records_come_and_long_once_idle(
    kafka_settings: BusSettings,
) -> None:
    """Tansu answers a fetch that found nothing only when its wait ends: while records
    come, the consumer's fetches wait briefly; a read that finds none gives it its own wait back."""
    consumer = AIOKafkaConsumer(
        address(kafka_settings.namespace, "jobs.submitted"),
        bootstrap_servers=kafka_settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    wait = FetchWait(consumer, 100)
    try:
        await _publish(kafka_settings, jobs(sessions=2, per_session=2))
        got = 0
        deadline = time.monotonic() + 40
        while got < 4 and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            wait.saw(bool(batches))
            got += sum(len(r) for r in batches.values())
        assert got == 4
        # the wait aiokafka puts in its next fetch requests
        assert consumer._fetcher._fetch_max_wait_ms == int(BUSY_FETCH_WAIT_S * 1000)
        wait.saw(bool(await consumer.getmany(timeout_ms=500)))  # nothing more came
        assert consumer._fetcher._fetch_max_wait_ms == 100
    finally:
        await consumer.stop()
