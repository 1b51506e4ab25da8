"""The example worker in CONTRIBUTING.md, run as written: registered, in the
topology and the AsyncAPI document, and served by the in-memory transport."""

from __future__ import annotations

import asyncio
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard import workers
from switchboard.bus import BusSettings, transport
from switchboard.bus.subjects import STREAMS
from switchboard.schemas import EVENT_TYPES, Transcript
from switchboard.streams import topology
from switchboard.streams.asyncapi import document
from tests.conftest import fresh_namespace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example() -> Iterator[types.ModuleType]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## Adding a worker kind", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "CONTRIBUTING.md shows the example worker"
    saved_types, saved_streams = dict(EVENT_TYPES), list(STREAMS)
    module = types.ModuleType("word_count")
    sys.modules["word_count"] = module
    exec(compile(code.group(1), "CONTRIBUTING.md", "exec"), module.__dict__)
    workers.REGISTRY["word-count"] = "word_count:build"  # the one line the docs ask for
    topology.hops.cache_clear()
    try:
        yield module
    finally:  # leave the process as it was: no extra stream for later tests to provision
        del workers.REGISTRY["word-count"]
        sys.modules.pop("word_count", None)
        EVENT_TYPES.clear()
        EVENT_TYPES.update(saved_types)
        STREAMS[:] = saved_streams
        topology.hops.cache_clear()


async def test_the_documented_worker_registers_and_runs(example: types.ModuleType) -> None:
    hop = next(h for h in topology.hops() if h.worker == "word-count")
    assert hop.inputs == ("voice.transcript",) and hop.outputs == ("notes.words",)
    assert "word-count" in topology.readers("voice.transcript")
    assert "word-count.send.notes.words" in document()["operations"]

    s = BusSettings(broker="memory", namespace=fresh_namespace(), partitions=2)
    bus = transport(s)
    await bus.start()
    stop = asyncio.Event()
    task = asyncio.create_task(bus.serve(workers.load("word-count"), stop))
    try:
        publish = bus.publisher("test@1")
        await publish(Transcript(correlation_id="s", segment_id="a", text="one two", is_final=False))
        await publish(Transcript(correlation_id="s", segment_id="b", text="one two three", is_final=True))
        for _ in range(500):
            counted = await bus.read(s.namespace, "notes.words")
            if counted:
                break
            await asyncio.sleep(0.01)
        assert [r.body["words"] for r in counted] == [3]
    finally:
        stop.set()
        await task
        await bus.close()
