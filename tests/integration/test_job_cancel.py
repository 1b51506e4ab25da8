"""Cancelling an analyst job mid-work, on the in-memory transport with the real
jobs, codegen, sql and sandbox workers: the model stops generating, a sandbox
run is killed, and no status follows "cancelled"."""

from __future__ import annotations

import pytest

from switchboard.schemas import Code, JobCancel, JobStatus, JobSubmitted, Result, advances
from switchboard.workers import jobs
from switchboard.workers.analyst import codegen, datasets, sql
from switchboard.workers.analyst import python as python_worker
from switchboard.workers.analyst.cache import CacheSettings
from switchboard.workers.analyst.sandbox import Limits, Sandbox
from switchboard.workers.engines.llm import LLM
from tests.fakes import FakeLLM, SlowLLM
from tests.helpers import sandboxes
from tests.memory_chain import on_memory, until


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> datasets.AnalystSettings:
    folder = tmp_path_factory.mktemp("data")
    datasets.load_duckdb(folder / datasets.DUCKDB_FILE)
    return datasets.AnalystSettings(data_dir=folder)


def analyst(llm: LLM, settings: datasets.AnalystSettings) -> list[object]:
    return [
        jobs.build(),
        codegen.build(llm, settings=settings, cache_settings=CacheSettings(ttl_s=0)),
        sql.build(settings),
        python_worker.build(settings, Sandbox(Limits(wall_s=120, cpu_s=120))),
    ]


def after_cancel(seen: list[object], job: str) -> list[str]:
    states = [e.state for e in seen if isinstance(e, JobStatus) and e.correlation_id == job]
    assert "cancelled" in states, states
    return states[states.index("cancelled") + 1 :]


def test_the_job_state_machine() -> None:
    assert advances(None, "queued") and advances("queued", "running") and advances("running", "running")
    assert advances("running", "succeeded") and advances("queued", "cancelled")
    assert not advances("cancelled", "running") and not advances("succeeded", "cancelled")
    assert not advances("failed", "failed") and not advances("running", "queued")


async def test_cancel_stops_the_model_mid_answer(data: datasets.AnalystSettings) -> None:
    slow = SlowLLM(words=100_000, delay_s=0.02)
    async with on_memory(*analyst(slow, data)) as (bus, seen):  # type: ignore[arg-type]
        publish = bus.publisher("test@1")
        job = JobSubmitted(
            correlation_id="job-1", kind="analyst.ask", params={"question": "How many artists?"}
        )
        await publish(job)
        await until(lambda: slow.streams == 1)
        await publish(JobCancel(correlation_id="job-1", reason="test"))
        await until(lambda: slow.stopped_early == 1)
        await bus.drained()
    assert after_cancel(seen, "job-1") == []  # no "running" or "failed" after it
    assert not [e for e in seen if isinstance(e, Code | Result)]


async def test_cancel_kills_a_sandbox_run(data: datasets.AnalystSettings) -> None:
    llm = FakeLLM(["```python\nwhile True:\n    pass\n```"])
    async with on_memory(*analyst(llm, data)) as (bus, seen):  # type: ignore[arg-type]
        publish = bus.publisher("test@1")
        params = {"question": "Spin", "language": "python"}
        await publish(JobSubmitted(correlation_id="job-2", kind="analyst.ask", params=params))
        await until(lambda: bool(sandboxes()))  # the code is running in its sandbox
        await publish(JobCancel(correlation_id="job-2", reason="test"))
        await until(lambda: not sandboxes())  # killed, long before its 120 s limit
        await bus.drained()
    assert after_cancel(seen, "job-2") == []
    assert not [e for e in seen if isinstance(e, Result)]  # no timeout result: it was stopped
