"""Each replica says on the bus what it is doing, and the edge's board tells a
kind still loading its model from one that serves, and from one gone."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from switchboard.bus import BusSettings, Context, Worker, handles, loading, transport
from switchboard.bus.runtime import run_worker
from switchboard.edge.hub import Hub
from switchboard.schemas import JobStatus, JobSubmitted
from tests.conftest import fresh_namespace
from tests.memory_chain import until


class SlowToLoad:
    """A worker whose model takes until ``loaded`` is set."""

    def __init__(self) -> None:
        self.loaded = asyncio.Event()

    async def start(self) -> None:
        await self.loaded.wait()

    def about(self) -> str:
        return "model tiny-test"

    @handles(JobSubmitted)
    async def on_job(self, job: JobSubmitted, ctx: Context) -> JobStatus:
        return ctx.job.status("running", kind=job.kind)


@contextlib.asynccontextmanager
async def watched(service: object, kind: str) -> AsyncIterator[tuple[Hub, asyncio.Event, asyncio.Task[None]]]:
    """One replica of the service (heartbeat 0.2 s) and an edge hub reading the board, on the memory bus."""
    settings = BusSettings(broker="memory", namespace=fresh_namespace(), partitions=2)
    worker = Worker.of(service, kind, emits=(JobStatus,))
    hub = Hub(transport(settings))
    await hub.start()
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(worker, settings, stop, heartbeat_s=0.2))
    try:
        yield hub, stop, running
    finally:
        stop.set()
        await asyncio.gather(running, return_exceptions=True)
        await hub.stop()


async def test_the_board_follows_a_replica_from_loading_to_ready_to_gone() -> None:
    service = SlowToLoad()
    async with watched(service, "slow-model") as (hub, stop, running):
        await until(lambda: hub.board.kinds().get("slow-model", {}).get("state") == "loading")
        [loading] = hub.board.kinds()["slow-model"]["replicas"].values()
        assert loading["detail"] == "loading model tiny-test"  # what it is loading
        assert hub.board.not_ready(("slow-model", "never-heard-of")) == {"slow-model": "loading"}
        service.loaded.set()
        await until(lambda: hub.board.kinds()["slow-model"]["state"] == "ready")
        [replica] = hub.board.kinds()["slow-model"]["replicas"].values()
        assert replica["state"] == "ready" and replica["detail"] == "slow-model@0.1.0, model tiny-test"
        assert hub.board.not_ready(("slow-model",)) == {}
        [said] = hub.board.replicas["slow-model"].values()
        first_at = said.at
        await until(
            lambda: next(iter(hub.board.replicas["slow-model"].values())).at > first_at
        )  # a heartbeat
        [beat] = hub.board.replicas["slow-model"].values()
        assert beat.detail == "slow-model@0.1.0, model tiny-test"  # it keeps saying what it runs
        stop.set()
        await running
        await until(lambda: hub.board.kinds()["slow-model"]["state"] == "gone")  # said it stopped
        assert hub.board.not_ready(("slow-model",)) == {"slow-model": "gone"}


class Reporting:
    """A worker whose start reports its progress from a loading thread."""

    def __init__(self) -> None:
        self.halfway = threading.Event()
        self.finish = threading.Event()

    def _load(self) -> None:
        loading.report("reading weights", 0.5)
        self.halfway.set()
        self.finish.wait(60)

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    @handles(JobSubmitted)
    async def on_job(self, job: JobSubmitted, ctx: Context) -> JobStatus:
        return ctx.job.status("running", kind=job.kind)


async def test_a_long_load_says_its_progress_and_stays_alive() -> None:
    service = Reporting()
    async with watched(service, "big-model") as (hub, _, _):

        def replica() -> dict[str, object]:
            return next(iter(hub.board.kinds().get("big-model", {}).get("replicas", {}).values()), {})

        await until(lambda: replica().get("progress") == 0.5)
        assert replica()["state"] == "loading" and replica()["detail"] == "reading weights"
        said = next(iter(hub.board.replicas["big-model"].values())).at
        await until(lambda: next(iter(hub.board.replicas["big-model"].values())).at > said + 1.0)
        assert hub.board.kinds()["big-model"]["state"] == "loading"  # five heartbeats on: not gone
        service.finish.set()
        await until(lambda: hub.board.kinds()["big-model"]["state"] == "ready")
        assert "progress" not in replica()


def test_loading_reports_outside_a_start_do_nothing() -> None:
    loading.report("nobody listens", 0.3)  # an engine loaded by a script, not a worker


def test_a_replica_that_stops_saying_anything_is_gone() -> None:
    from switchboard.schemas import WorkerState
    from switchboard.streams.board import Board

    board = Board()
    said = WorkerState(correlation_id="stt", kind="stt", replica="a", state="ready", heartbeat_s=10)
    board.take(said.model_dump_json().encode())
    at = said.created_at.timestamp()
    assert board.kinds(now=at + 20)["stt"]["state"] == "ready"  # a heartbeat or two late
    assert board.kinds(now=at + 60)["stt"] == {"state": "gone", "replicas": {}}


def test_only_what_holds_up_new_work_refuses_it() -> None:
    from switchboard.schemas import WorkerState
    from switchboard.streams.board import Board

    board = Board()
    for kind, state in (("codegen", "ready"), ("sql", "ready"), ("sandbox", "loading")):
        said = WorkerState(correlation_id=kind, kind=kind, replica="a", state=state)  # type: ignore[arg-type]
        board.take(said.model_dump_json().encode())
    at = said.created_at.timestamp()
    analyst = ("codegen", "sandbox", "sql")
    assert board.not_ready(analyst, ("codegen",), now=at) == {"sandbox": "loading"}  # it will be ready soon
    gone = board.kinds(now=at + 120)  # all three stopped saying anything
    assert {k: v["state"] for k, v in gone.items()} == {"codegen": "gone", "sandbox": "gone", "sql": "gone"}
    assert board.not_ready(analyst, ("codegen",), now=at + 120) == {"codegen": "gone"}  # what takes it in
    from datetime import UTC, datetime

    fresh = WorkerState(
        correlation_id="codegen",
        kind="codegen",
        replica="b",
        state="ready",
        created_at=datetime.fromtimestamp(at + 119, UTC),  # a new replica, two minutes on
    )
    board.take(fresh.model_dump_json().encode())
    later = at + 120
    assert board.not_ready(analyst, ("codegen",), now=later) == {}  # a gone sandbox holds up no SQL question


def test_what_holds_up_a_request_is_said_in_words() -> None:
    from switchboard.schemas import WorkerState
    from switchboard.streams.board import Board

    board = Board()
    board.take(
        WorkerState(correlation_id="codegen", kind="codegen", replica="a", state="loading")
        .model_dump_json()
        .encode()
    )
    assert board.holding_up("analyst.question") == "codegen is loading"
    assert board.holding_up("jobs.submitted", "analyst.question") == "codegen is loading"
    assert board.holding_up("voice.transcript") == ""  # another pipeline: nothing holds it up
