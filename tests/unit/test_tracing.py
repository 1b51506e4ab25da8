"""One voice turn, and one analyst question with its retry, are each one trace:
every worker's span is a child of the span that published its input (the
trace context travels in the envelope headers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard.bus import tracing
from switchboard.schemas import Answer, Question, SpeechAudio
from switchboard.workers.analyst import codegen, datasets, sql
from switchboard.workers.analyst.cache import CacheSettings
from tests.fakes import FakeLLM
from tests.memory_chain import on_memory, until
from tests.unit.test_voice_fakes import chain, chunks, engines, speech

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):  # one provider per process
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    EXPORTER.clear()
    tracing.enable()
    try:
        yield EXPORTER
    finally:
        tracing.enable(False)


def _chain_of(leaf: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """Span names from the root down to ``leaf``, following parents."""
    names = []
    span: ReadableSpan | None = leaf
    while span is not None:
        names.append(span.name)
        span = by_id.get(span.parent.span_id) if span.parent else None
    return names[::-1]


async def test_a_voice_turn_is_one_trace(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    fakes = engines(FakeLLM(["Start more replicas of it."]))
    async with chain(tmp_path, **fakes) as (bus, seen):
        publish = bus.publisher("test@1")
        for chunk in chunks("s1", speech(0.3) + speech(1.2, 220) + speech(1.0), end=True):
            await publish(chunk)
        await until(lambda: any(isinstance(e, SpeechAudio) and e.last for e in seen))
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    last_audio = [s for s in finished if s.name == "tts voice.answer.delta"][-1]
    assert _chain_of(last_audio, by_id) == [
        "vad voice.audio.chunk",
        "stt voice.speech.segment",
        "retrieve voice.transcript",
        "llm voice.context",
        "tts voice.answer.delta",
    ]
    answer_trace = last_audio.context.trace_id
    assert {s.name for s in finished if s.context.trace_id == answer_trace} >= {
        "vad voice.audio.chunk",
        "llm voice.context",
    }
    assert any(isinstance(e, Answer) for e in seen)


async def test_an_analyst_question_and_its_retry_are_one_trace(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    datasets.load_duckdb(tmp_path / datasets.DUCKDB_FILE)
    settings = datasets.AnalystSettings(data_dir=tmp_path)
    llm = FakeLLM(
        ["```sql\nSELECT count(*) AS n FROM tracks\n```", "```sql\nSELECT count(*) AS n FROM track\n```"]
    )
    workers = [
        codegen.build(llm, settings=settings, cache_settings=CacheSettings(ttl_s=0)),
        sql.build(settings),
    ]
    async with on_memory(*workers) as (bus, _):
        with tracing.span("edge analyst.question"):  # as the edge publishes a client's question
            await bus.publisher("test@1")(
                Question(correlation_id="q1", question="How many tracks?", dataset="chinook", language="sql")
            )
        await bus.drained()
    finished = spans.get_finished_spans()
    assert len({s.context.trace_id for s in finished}) == 1
    by_id = {s.context.span_id: s for s in finished}
    last = [s for s in finished if s.name == "codegen analyst.result"][-1]
    assert _chain_of(last, by_id) == [
        "edge analyst.question",
        "codegen analyst.question",
        "sql analyst.code",
        "codegen analyst.result",  # attempt 1 failed: codegen writes attempt 2
        "sql analyst.code",
        "codegen analyst.result",
    ]
