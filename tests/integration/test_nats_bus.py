"""The bus against a real NATS JetStream server."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable

import nats
import pytest

from switchboard.bus import BusSettings, envelope
from switchboard.bus.nats.jetstream import JetStreamPublisher, provision
from switchboard.bus.nats.publish import Batch
from switchboard.bus.nats.runner import NatsRunner
from switchboard.bus.nats.streams import read
from switchboard.bus.subjects import address
from switchboard.bus.transport import Recorded
from switchboard.schemas import DeadLetter, JobSubmitted
from tests.helpers import by_session, collect, jobs, spawn_worker
from tests.relay import calls, relay

pytestmark = pytest.mark.nats


async def _connect(settings: BusSettings):  # type: ignore[no-untyped-def]
    nc = await nats.connect(settings.nats_url)
    await provision(nc.jetstream(), settings)
    return nc, JetStreamPublisher(nc, settings, "test@1")


async def test_chain_keeps_session_order_and_envelope(nats_settings: BusSettings) -> None:
    nc, pub = await _connect(nats_settings)
    runner = NatsRunner(nc, relay, nats_settings)
    await runner.start()
    try:
        sent = jobs(sessions=5, per_session=20)
        for ev in sent:
            await pub.publish(ev)
        out = await collect(nc.jetstream(), nats_settings.namespace, "jobs.status", len(sent))
        assert len(out) == len(sent)
        for session, seqs in by_session(out).items():
            assert seqs == list(range(20)), session
        first = out[0]
        sent_with = envelope.read(first.headers)
        cause = next(e for e in sent if e.id == sent_with.causation_id)
        assert sent_with.correlation_id == cause.correlation_id
        assert sent_with.producer == relay.producer
        assert sent_with.schema == "1" and sent_with.published_at
        assert set(first.headers) == {envelope.EVENT_ID, envelope.ENVELOPE}
        assert first.headers[envelope.EVENT_ID] == json.loads(first.data)["id"]
        assert json.loads(first.data)["causation_id"] == cause.id
    finally:
        await runner.stop()
        await nc.close()


async def test_bad_input_goes_to_dead_letters_and_does_not_block(nats_settings: BusSettings) -> None:
    nc, pub = await _connect(nats_settings)
    js = nc.jetstream()
    runner = NatsRunner(nc, relay, nats_settings)
    await runner.start()
    try:
        subject = address(nats_settings.namespace, "jobs.submitted", 0)
        await js.publish(subject, b"\xff not json", headers={"Sb-Corr": "s-bad"})  # as before one header
        await js.publish(subject, b"x" * 1_010_000)
        await js.publish(subject, b"{}", headers={envelope.ENVELOPE: "99 s-new - 0 next@2"})
        await pub.publish(JobSubmitted(correlation_id="s-fail", kind="relay", params={"fail": True}))
        await pub.publish(JobSubmitted(correlation_id="s-perm", kind="relay", params={"permanent": True}))
        good = JobSubmitted(correlation_id="s-good", kind="relay", params={"seq": 1})
        await pub.publish(good)

        dead = await collect(js, nats_settings.namespace, "dead.letter", 5)
        letters = {DeadLetter.model_validate_json(d.data).error_kind for d in dead}
        assert letters == {"malformed", "oversized", "schema_version", "handler"}
        by_kind = [DeadLetter.model_validate_json(d.data) for d in dead]
        failed = next(d for d in by_kind if d.correlation_id == "s-fail")
        assert "RuntimeError: boom" in failed.error
        assert JobSubmitted.model_validate_json(failed.original).params["fail"] is True
        bad = next(d for d in by_kind if d.correlation_id == "s-bad")
        assert bad.original == b"\xff not json" and "invalid jobs.submitted" in bad.error
        out = await collect(js, nats_settings.namespace, "jobs.status", 1)
        assert [json.loads(o.data)["correlation_id"] for o in out] == ["s-good"]
    finally:
        await runner.stop()
        await nc.close()


async def test_duplicates_are_handled_once(nats_settings: BusSettings) -> None:
    nc, pub = await _connect(nats_settings)
    js = nc.jetstream()
    ev = JobSubmitted(correlation_id="s-dup", kind="relay", params={"seq": 7})
    first = await pub.publish(ev)
    again = await pub.publish(ev)  # same Nats-Msg-Id: the stream drops it
    assert again.duplicate and again.seq == first.seq
    # the same event under another message id reaches the consumer; the worker skips it
    hdrs = envelope.headers(ev, "test@1")
    hdrs[envelope.EVENT_ID] = "other"
    await js.publish(address(nats_settings.namespace, "jobs.submitted", 1), envelope.encode(ev), headers=hdrs)
    await pub.publish(JobSubmitted(correlation_id="s-dup", kind="relay", params={"seq": 8}))
    runner = NatsRunner(nc, relay, nats_settings)
    await runner.start()
    try:
        out = await collect(js, nats_settings.namespace, "jobs.status", 2)
        await asyncio.sleep(1.0)
        out = await collect(js, nats_settings.namespace, "jobs.status", 2)
        assert sorted(by_session(out)["s-dup"]) == [7, 8]
    finally:
        await runner.stop()
        await nc.close()


async def test_killed_worker_loses_nothing(nats_settings: BusSettings) -> None:
    nc, pub = await _connect(nats_settings)
    js = nc.jetstream()
    sent = jobs(sessions=4, per_session=10, sleep=0.05)
    for ev in sent:
        await pub.publish(ev)
    proc = spawn_worker(nats_settings)
    try:
        partial = await collect(js, nats_settings.namespace, "jobs.status", 5)
        assert 5 <= len(partial) < len(sent), "worker should be killed mid-stream"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc = spawn_worker(nats_settings)
        out = await collect(js, nats_settings.namespace, "jobs.status", len(sent), wait_s=60)
        seqs = by_session(out)
        assert {s: sorted(set(v)) for s, v in seqs.items()} == {f"s{i}": list(range(10)) for i in range(4)}
        for v in seqs.values():  # redelivered work keeps the session's order
            assert v == sorted(v)
    finally:
        proc.terminate()
        proc.wait(10)
        await nc.close()


async def test_a_message_that_keeps_killing_its_worker_ends_as_poison(nats_settings: BusSettings) -> None:
    """Each new owner reclaims the dead one's messages at once; the delivery
    count still rises, so after max_deliver the message is a dead letter and the
    session's next message is handled. (Messages fetched in the same batch as a
    poison one share its delivery count: the next one is sent after it.)"""
    settings = nats_settings.model_copy(update={"max_deliver": 3})
    nc, pub = await _connect(settings)
    js = nc.jetstream()
    await pub.publish(JobSubmitted(correlation_id="s-poison", kind="relay", params={"exit": True}))
    try:
        dead: list[Recorded] = []
        for _ in range(settings.max_deliver + 2):
            proc = spawn_worker(settings)  # dies on the poison, or dead-letters it and serves on
            deadline = time.monotonic() + 60
            while proc.poll() is None and not dead and time.monotonic() < deadline:
                dead = await read(js, settings.namespace, "dead.letter")
                await asyncio.sleep(0.3)
            if dead:
                break
        assert [DeadLetter.model_validate_json(d.data).error_kind for d in dead] == ["poison"]
        await pub.publish(JobSubmitted(correlation_id="s-poison", kind="relay", params={"seq": 1}))
        out = await collect(js, settings.namespace, "jobs.status", 1, wait_s=60)
        assert by_session(out) == {"s-poison": [1]}
    finally:
        proc.terminate()
        proc.wait(10)
        await nc.close()


async def test_two_replicas_share_partitions_in_order(nats_settings: BusSettings) -> None:
    nc, pub = await _connect(nats_settings)
    js = nc.jetstream()
    procs = [spawn_worker(nats_settings), spawn_worker(nats_settings)]
    try:
        kv = None
        owners: set[str] = set()
        deadline = time.monotonic() + 90  # two workers start and take leases (slow on a busy box)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            try:
                kv = kv or await js.key_value(f"{nats_settings.namespace}_leases")
                keys = await kv.keys()
            except (nats.js.errors.NotFoundError, nats.js.errors.NoKeysError):
                continue
            owners = {(await kv.get(k)).value.decode() for k in keys if ".p." in k}
            if len(owners) == 2 and len([k for k in keys if ".p." in k]) == nats_settings.partitions:
                break
        assert len(owners) == 2, "both replicas should own partitions"
        sent = jobs(sessions=12, per_session=15, sleep=0.01)
        for ev in sent[: len(sent) // 2]:
            await pub.publish(ev)
        await collect(js, nats_settings.namespace, "jobs.status", len(sent) // 4)
        procs[0].send_signal(signal.SIGKILL)  # one replica dies mid-stream
        for ev in sent[len(sent) // 2 :]:
            await pub.publish(ev)
        out = await collect(js, nats_settings.namespace, "jobs.status", len(sent), wait_s=60)
        seqs = by_session(out)
        assert len(seqs) == 12
        for session, v in seqs.items():
            assert sorted(set(v)) == list(range(15)), session
            deduped = list(dict.fromkeys(v))
            assert deduped == sorted(deduped), session
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        await nc.close()


async def test_outputs_that_fail_to_publish_are_retried_not_acked_away(nats_settings: BusSettings) -> None:
    nc, pub = await _connect(nats_settings)
    runner = NatsRunner(nc, relay, nats_settings)
    failures = 0

    class FlakyBatch(Batch):
        def confirmation(self, timeout_s: float = 30.0) -> asyncio.Future[None]:
            nonlocal failures
            if failures >= 3:
                return super().confirmation(timeout_s)
            # the stream does not confirm the first batches' outputs, and says so late:
            # the batches after them are handled meanwhile, and must be handled again
            failures += 1
            self.abandon()
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.05, failed.set_exception, TimeoutError("no publish ack"))
            return failed

    runner.publisher.batch = lambda: FlakyBatch(runner.publisher.pipeline)  # type: ignore[method-assign]
    await runner.start()
    try:
        sent = jobs(sessions=2, per_session=15)
        for ev in sent:
            await pub.publish(ev)
        out = await collect(nc.jetstream(), nats_settings.namespace, "jobs.status", len(sent), wait_s=60)
        assert failures == 3
        for session, seqs in by_session(out).items():
            assert seqs == list(range(15)), session  # none lost, none twice, in order
    finally:
        await runner.stop()
        await nc.close()


async def test_a_batch_not_confirmed_is_handled_again_with_every_batch_after_it(
    nats_settings: BusSettings,
) -> None:
    """A partition's batches are handled while earlier ones wait for the stream's
    acks. When an earlier batch's outputs are refused, it and every batch handled
    after it are handled again, in order; the stream keeps each output once."""
    nc, pub = await _connect(nats_settings)
    runner = NatsRunner(nc, relay, nats_settings)
    refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _first_confirmed_by(runner, refused)  # answered once the batches after it are handled
    calls.clear()
    await runner.start()
    try:
        sent = jobs(sessions=1, per_session=12)
        await pub.publish(sent[0])  # a batch of its own
        await _until(lambda: len(calls) >= 1)
        for ev in sent[1:]:
            await pub.publish(ev)
        await _until(lambda: len(calls) >= len(sent))
        refused.set_exception(TimeoutError("no publish ack"))
        await _until(lambda: len(calls) >= 2 * len(sent))
        assert calls == [e.id for e in sent] * 2  # every one again, in order
        out = await collect(nc.jetstream(), nats_settings.namespace, "jobs.status", len(sent), wait_s=60)
        await asyncio.sleep(0.5)  # anything stored twice would be there by now
        out = await collect(nc.jetstream(), nats_settings.namespace, "jobs.status", len(sent))
        assert by_session(out) == {"s0": list(range(12))}
    finally:
        if not refused.done():  # a failed check: let the runner stop
            refused.set_exception(TimeoutError("no publish ack"))
        await runner.stop()
        await nc.close()


async def test_after_a_reconnect_batches_in_hand_settle_before_the_next_is_handled(
    nats_settings: BusSettings,
) -> None:
    """What the old connection sent may be lost: it is settled (here refused, and
    handled again) before anything newer is handled and sent on the new one."""
    nc, pub = await _connect(nats_settings)
    runner = NatsRunner(nc, relay, nats_settings)
    refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _first_confirmed_by(runner, refused)
    calls.clear()
    await runner.start()
    try:
        sent = jobs(sessions=1, per_session=2)
        await pub.publish(sent[0])
        await _until(lambda: len(calls) >= 1)
        nc.stats["reconnects"] += 1  # as if the connection was lost and made again
        await pub.publish(sent[1])
        await asyncio.sleep(0.5)
        assert calls == [sent[0].id]  # the next batch waits for the one in hand
        refused.set_exception(TimeoutError("no publish ack"))
        await _until(lambda: len(calls) >= 3)
        assert calls == [sent[0].id, sent[0].id, sent[1].id]
        out = await collect(nc.jetstream(), nats_settings.namespace, "jobs.status", len(sent), wait_s=60)
        assert by_session(out) == {"s0": [0, 1]}
    finally:
        if not refused.done():  # a failed check: let the runner stop
            refused.set_exception(TimeoutError("no publish ack"))
        await runner.stop()
        await nc.close()


def _first_confirmed_by(runner: NatsRunner, answer: asyncio.Future[None]) -> None:
    """The runner's first batch is confirmed by ``answer`` (the test sets it), the rest by the stream."""
    first = True

    class Answered(Batch):
        def confirmation(self, timeout_s: float = 30.0) -> asyncio.Future[None]:
            nonlocal first
            if not first:
                return super().confirmation(timeout_s)
            first = False
            self.abandon()
            return answer

    runner.publisher.batch = lambda: Answered(runner.publisher.pipeline)  # type: ignore[method-assign]


async def _until(condition: Callable[[], bool], wait_s: float = 60.0) -> None:
    deadline = time.monotonic() + wait_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    "tail", ["analyst.code", "analyst.code.99", "analyst.code.3.extra", "analyst.codex.1"]
)
async def test_subjects_no_worker_reads_are_refused(nats_settings: BusSettings, tail: str) -> None:
    nc, _ = await _connect(nats_settings)
    try:
        with pytest.raises(nats.js.errors.NoStreamResponseError):
            await nc.jetstream().publish(f"{nats_settings.namespace}.{tail}", b"{}", timeout=2)
        ok = await nc.jetstream().publish(address(nats_settings.namespace, "analyst.code", 3), b"{}")
        assert ok.seq >= 1
    finally:
        await nc.close()
