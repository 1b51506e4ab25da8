"""The in-process transport runs workers through the production processor path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from switchboard.bus import BusSettings, Context, Worker, envelope, transport
from switchboard.bus.memory.transport import MemoryTransport
from switchboard.bus.transport import Slice
from switchboard.schemas import AnswerDelta, DeadLetter, JobStatus, JobSubmitted
from tests.conftest import fresh_namespace
from tests.relay import relay


def settings() -> BusSettings:
    return BusSettings(broker="memory", namespace=fresh_namespace(), partitions=4, retry_backoff_s=0.0)


@contextlib.asynccontextmanager
async def serving(s: BusSettings, *workers: Worker) -> AsyncIterator[MemoryTransport]:
    bus = transport(s)
    assert isinstance(bus, MemoryTransport)
    await bus.start()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(bus.serve(w, stop)) for w in workers]
    try:
        yield bus
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await bus.close()


async def until(check: Callable[[], object], wait_s: float = 10.0) -> None:
    for _ in range(int(wait_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("not in time")


async def test_sessions_keep_their_order_and_outputs_their_envelope() -> None:
    s = settings()
    async with serving(s, relay) as bus:
        got: list[tuple[dict[str, str], bytes]] = []
        async with bus.tail(["jobs.status"], lambda subject, h, d: got.append((h, d))):
            publish = bus.publisher("test@1")
            sent = [
                JobSubmitted(correlation_id=f"s{k}", kind="relay", params={"seq": i})
                for i in range(10)
                for k in range(3)
            ]
            for job in sent:
                await publish(job)
            await until(lambda: len(got) == len(sent))
    by_session: dict[str, list[int]] = {}
    for headers, body in got:
        status = JobStatus.model_validate_json(body)
        by_session.setdefault(status.correlation_id, []).append(int(status.message.split("@")[0]))
        assert envelope.read(headers).producer == relay.producer
        assert headers[envelope.EVENT_ID] == envelope.derived_id(status.causation_id or "", "relay", 0)
    assert by_session == {f"s{k}": list(range(10)) for k in range(3)}


async def test_garbage_and_failures_are_dead_letters_and_duplicates_are_dropped() -> None:
    s = settings()
    async with serving(s, relay) as bus:
        await bus.publish_raw("jobs.submitted", 1, b"\x00garbage")
        publish = bus.publisher("test@1")
        job = JobSubmitted(correlation_id="s", kind="relay", params={"seq": 1})
        await publish(JobSubmitted(correlation_id="s", kind="relay", params={"fail": True}))
        await publish(job)
        await publish(job)  # the same id again: stored once
        dead: list[DeadLetter] = []
        out: list[bytes] = []
        for _ in range(500):
            dead = [
                DeadLetter.model_validate_json(r.data) for r in await bus.read(s.namespace, "dead.letter")
            ]
            out = [r.data for r in await bus.read(s.namespace, "jobs.status")]
            if len(dead) == 2 and out:
                break
            await asyncio.sleep(0.02)
    assert sorted(d.error_kind for d in dead) == ["handler", "malformed"]
    assert len(out) == 1


async def test_an_undeclared_output_is_a_dead_letter() -> None:
    sloppy = Worker("sloppy", emits=(JobStatus,))

    @sloppy.handler(JobSubmitted)
    async def handle(job: JobSubmitted, ctx: Context) -> AnswerDelta:
        return AnswerDelta(correlation_id=job.correlation_id, answer_id="a", index=0, text="x")

    s = settings()
    async with serving(s, sloppy) as bus:
        await bus.publisher("t")(JobSubmitted(correlation_id="s", kind="k"))
        for _ in range(500):
            if await bus.read(s.namespace, "dead.letter"):
                break
            await asyncio.sleep(0.02)
        assert await bus.read(s.namespace, "voice.answer.delta") == []
        [letter] = await bus.read(s.namespace, "dead.letter")
    assert "emits" in DeadLetter.model_validate_json(letter.data).error


async def test_replay_copy_report_and_drop() -> None:
    s = settings()
    async with serving(s, relay) as bus:
        publish = bus.publisher("test@1")
        for i in range(4):
            await publish(JobSubmitted(correlation_id=f"s{i % 2}", kind="relay", params={"seq": i}))
        for _ in range(500):
            if len(await bus.read(s.namespace, "jobs.status")) == 4:
                break
            await asyncio.sleep(0.02)
        reports = {r.subject: r for r in await bus.report({"jobs.submitted": ["relay"]})}
        assert reports["jobs.submitted"].messages == 4
        assert reports["jobs.submitted"].by_worker()["relay"]["lag"] == 0
        with pytest.raises(ValueError, match="live namespace"):
            await bus.copy(s.namespace, Slice(["jobs.submitted"]))
        target = s.namespace + "-r"
        assert await bus.copy(target, Slice(["jobs.submitted"], correlation_ids={"s1"})) == 2
        copied = await bus.read(target, "jobs.submitted")
        assert [r.headers[envelope.REPLAY_OF].split(":")[0] for r in copied] == [s.namespace] * 2
        seen: list[str] = []
        async with bus.tail(["jobs.status"], lambda subject, h, d: seen.append(subject), from_start=True):
            assert seen == ["jobs.status"] * 4  # the stored history first
        assert await bus.drop(target) == [target]
        assert await bus.read(target, "jobs.submitted") == []
