"""The embedded LLM engine against the real packaged default chat model
(Qwen2.5-Coder-0.5B GGUF, joined from its part packages, int8)."""

from __future__ import annotations

import contextlib
import time

import pytest

from switchboard.workers.engines.llm import LLMSettings, TransformersLLM, load_llm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm() -> TransformersLLM:
    engine = load_llm(LLMSettings(engine="embedded"), role="chat")
    assert isinstance(engine, TransformersLLM)
    return engine


async def test_streams_a_correct_short_answer(llm: TransformersLLM) -> None:
    pieces = [
        p
        async for p in llm.stream(
            [{"role": "user", "content": "What is the capital of France?"}], max_tokens=24
        )
    ]
    assert len(pieces) > 1
    assert "Paris" in "".join(pieces)


async def test_stopping_the_stream_stops_generation(llm: TransformersLLM) -> None:
    start = time.monotonic()
    got = 0
    stream = llm.stream(
        [{"role": "user", "content": "Count from 1 to 500, one number per line."}], max_tokens=1000
    )
    async with contextlib.aclosing(stream):
        async for _ in stream:
            got += 1
            if got == 3:
                break
    assert time.monotonic() - start < 20  # 1000 tokens would take over a minute here
    # the engine is free again for the next request
    assert "Paris" in await llm.complete(
        [{"role": "user", "content": "What is the capital of France?"}], max_tokens=24
    )


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown LLM engine"):
        load_llm(LLMSettings(engine="gpt-cloud"))
