"""The answer worker's stream, with a scripted LLM (no bus)."""

from __future__ import annotations

import pytest

from switchboard.bus import Context
from switchboard.schemas import Answer, AnswerDelta
from switchboard.schemas import Context as VoiceContext
from switchboard.workers.voice import llm, store
from tests.fakes import FakeLLM


async def answer(reply: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Answer]:
    monkeypatch.setattr(store, "remember", lambda *a: None)
    worker = llm.LLMWorker(FakeLLM([reply]))
    c = VoiceContext(correlation_id="s1", turn_id="t1", query="How do I scale?", passages=[], history=[])
    out = [e async for e in worker.on_context(c, Context("llm", "voice.context", {}, 1))]
    deltas = [e for e in out if isinstance(e, AnswerDelta)]
    assert deltas[-1].last and [d.index for d in deltas] == list(range(len(deltas)))
    final = out[-1]
    assert isinstance(final, Answer)
    return "".join(d.text for d in deltas), final


async def test_a_label_copied_from_the_prompt_is_not_spoken(monkeypatch: pytest.MonkeyPatch) -> None:
    spoken, final = await answer("Answer: Start more copies of the worker.", monkeypatch)
    assert spoken.strip() == final.text == "Start more copies of the worker."
    assert final.finish_reason == "stop"


async def test_short_and_plain_answers_pass_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await answer("Yes.", monkeypatch))[1].text == "Yes."
    spoken, _ = await answer("The answer: it depends on the load.", monkeypatch)
    assert spoken.strip() == "The answer: it depends on the load."
