"""A retry that writes the failed code again is sampled anew."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from switchboard.workers.analyst import codegen
from tests.fakes import FakeLLM


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def make(replies: list[str]) -> FakeLLM:
        llm = FakeLLM(replies)
        temps: list[float] = []
        inner = llm._stream_impl

        def stream(messages: Any, *, max_tokens: int, temperature: float) -> Any:
            temps.append(temperature)
            return inner(messages, max_tokens=max_tokens, temperature=temperature)

        llm._stream_impl = stream  # type: ignore[method-assign]
        llm.temps = temps  # type: ignore[attr-defined]
        monkeypatch.setattr(codegen, "_llm", llm)
        monkeypatch.setattr(codegen, "dataset", lambda name, settings: SimpleNamespace(dialect="duckdb"))

        async def schema(ds: Any, question: str) -> str:
            return "CREATE TABLE t (x INTEGER);"

        monkeypatch.setattr(codegen, "_schema", schema)
        return llm

    return make


async def test_the_same_failed_code_is_not_retried_as_it_is(scripted) -> None:  # type: ignore[no-untyped-def]
    llm = scripted(
        ["```sql\nSELECT y FROM t\n```", "```sql\nselect  y from t\n```", "```sql\nSELECT x FROM t\n```"]
    )
    code = await codegen._generate("q?", "d", "sql", "SELECT y FROM t", "no column y")
    assert code == "SELECT x FROM t"
    assert llm.temps[0] == 0.0 and all(t > 0 for t in llm.temps[1:]) and len(llm.temps) == 3


async def test_new_code_and_first_attempts_are_taken_at_once(scripted) -> None:  # type: ignore[no-untyped-def]
    llm = scripted(["```sql\nSELECT x FROM t\n```"])
    assert await codegen._generate("q?", "d", "sql", "SELECT y FROM t", "no column y") == "SELECT x FROM t"
    llm = scripted(["```sql\nSELECT y FROM t\n```"])
    assert await codegen._generate("q?", "d", "sql", None, None) == "SELECT y FROM t"
    assert len(llm.temps) == 1
