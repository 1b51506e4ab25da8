"""Cancelling jobs mid-work on Kafka (Tansu), through the edge's HTTP API as a
user would: the cancel reaches the replica doing the work, the model stops, a
sandbox run is killed, no status follows "cancelled", and a second DELETE is 409."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from switchboard.bus import BusSettings, transport
from switchboard.edge.app import create_app
from switchboard.edge.settings import EdgeSettings
from switchboard.schemas import JobStatus
from switchboard.workers import jobs
from switchboard.workers.analyst import codegen, datasets, sql
from switchboard.workers.analyst import python as python_worker
from switchboard.workers.analyst.cache import CacheSettings
from switchboard.workers.analyst.sandbox import Limits, Sandbox
from switchboard.workers.engines.llm import LLM
from tests.fakes import FakeLLM, SlowLLM
from tests.helpers import job_state, running, sandboxes
from tests.memory_chain import until

pytestmark = pytest.mark.kafka


@contextlib.asynccontextmanager
async def analyst_on_kafka(llm: LLM, settings: BusSettings, duck: Path) -> AsyncIterator[TestClient]:
    """The jobs, codegen, sql and python workers on Kafka, and an edge to ask them."""
    data = datasets.AnalystSettings(data_dir=duck.parent)
    async with (
        running(jobs.build(), settings),
        running(codegen.build(llm, settings=data, cache_settings=CacheSettings(ttl_s=0)), settings),
        running(sql.build(data), settings),
        running(python_worker.build(data, Sandbox(Limits(wall_s=120, cpu_s=120))), settings),
    ):
        client = TestClient(create_app(settings, EdgeSettings(open=True)))
        await asyncio.to_thread(client.__enter__)
        try:
            yield client
        finally:
            await asyncio.to_thread(client.__exit__, None, None, None)


async def submit(client: TestClient, params: dict[str, str]) -> str:
    """Submit an analyst.ask job once its workers are ready (503 until then); its id."""
    for _ in range(300):
        r = await asyncio.to_thread(client.post, "/jobs", json={"kind": "analyst.ask", "params": params})
        if r.status_code != 503:  # "not ready yet": the workers are still starting
            break
        await asyncio.sleep(0.2)
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


async def states_of(settings: BusSettings, job: str) -> list[str]:
    """Every status the bus holds for the job, in order."""
    async with transport(settings) as bus:
        recs = await bus.read(settings.namespace, "jobs.status")
    return [s.state for s in (JobStatus.model_validate_json(r.data) for r in recs) if s.correlation_id == job]


async def cancel(client: TestClient, settings: BusSettings, job: str) -> None:
    """DELETE the job; it ends cancelled, a second DELETE is refused."""
    r = await asyncio.to_thread(client.delete, f"/jobs/{job}")
    assert r.status_code == 202, r.text
    got = await asyncio.to_thread(job_state, client.get, job, "cancelled", 60)
    assert got["state"] == "cancelled", got
    assert (await asyncio.to_thread(client.delete, f"/jobs/{job}")).status_code == 409


async def test_cancel_stops_the_model_mid_answer(kafka_settings: BusSettings, duck: Path) -> None:
    slow = SlowLLM(words=100_000, delay_s=0.02)
    async with analyst_on_kafka(slow, kafka_settings, duck) as client:
        job = await submit(client, {"question": "How many artists?"})
        await until(lambda: slow.streams == 1)  # the model is writing
        await cancel(client, kafka_settings, job)
        await until(lambda: slow.stopped_early == 1)  # it stopped, 100,000 words early
    states = await states_of(kafka_settings, job)  # after the workers stopped: all they said
    assert states[-1] == "cancelled", states


async def test_cancel_kills_a_sandbox_run(kafka_settings: BusSettings, duck: Path) -> None:
    llm = FakeLLM(["```python\nwhile True:\n    pass\n```"])
    async with analyst_on_kafka(llm, kafka_settings, duck) as client:
        job = await submit(client, {"question": "Spin", "language": "python"})
        await until(lambda: bool(sandboxes()))  # the code is running in its sandbox
        await cancel(client, kafka_settings, job)
        await until(lambda: not sandboxes())  # killed, long before its 120 s limit
    states = await states_of(kafka_settings, job)
    assert states[-1] == "cancelled", states
