"""A retry that writes the failed code again is sampled anew."""

from __future__ import annotations

from typing import Any

from switchboard.schemas import Result
from switchboard.workers.analyst import codegen
from switchboard.workers.analyst.chinook import Table
from tests.fakes import FakeLLM


class Scripted(FakeLLM):
    """Records the temperature of every call."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__(replies)
        self.temps: list[float] = []

    def _stream_impl(self, messages: Any, *, max_tokens: int, temperature: float) -> Any:
        self.temps.append(temperature)
        return super()._stream_impl(messages, max_tokens=max_tokens, temperature=temperature)


async def describe(dataset: str, question: str) -> tuple[str, list[Table]]:
    return "DuckDB", [Table("t", "t", (("x", "INTEGER", ""),), "a table")]


def writer(replies: list[str]) -> tuple[codegen.CodegenWorker, Scripted]:
    llm = Scripted(replies)
    return codegen.CodegenWorker(llm, describe=describe), llm


async def test_the_same_failed_code_is_not_retried_as_it_is() -> None:
    worker, llm = writer(
        [
            "```sql\nSELECT y FROM t\n```",
            "```sql\nselect  y from t\n```",
            "```sql\nSELECT  Y FROM t\n```",
            "```sql\nSELECT x FROM t\n```",
        ]
    )
    code = await worker.generate("q?", "d", "sql", "SELECT y FROM t", "no column y")
    assert code == "SELECT x FROM t"
    # greedy, greedy afresh, then sampled warmer until something else comes
    assert llm.temps == [0.0, 0.0, 0.7, 1.0]
    # asked afresh: the failed code is no longer the model's own answer to copy, but a note
    assert llm.prompts[0][-2] == {"role": "assistant", "content": "```sql\nSELECT y FROM t\n```"}
    fresh = llm.prompts[1]
    assert all(m["role"] != "assistant" or "SELECT y" not in m["content"] for m in fresh)
    assert (
        fresh[-1]["content"].startswith("q?")
        and "an earlier try failed with: no column y" in fresh[-1]["content"]
    )
    assert "SELECT y" not in fresh[-1]["content"]


async def test_new_code_and_first_attempts_are_taken_at_once() -> None:
    worker, llm = writer(["```sql\nSELECT x FROM t\n```"])
    assert await worker.generate("q?", "d", "sql", "SELECT y FROM t", "no column y") == "SELECT x FROM t"
    worker, llm = writer(["```sql\nSELECT y FROM t\n```"])
    assert await worker.generate("q?", "d", "sql", None, None) == "SELECT y FROM t"
    assert len(llm.temps) == 1


def failure(code: str, error: str, **fields: Any) -> Result:
    """A failed SQL attempt (the first of three unless told)."""
    base: dict[str, Any] = {"attempt": 1, "max_attempts": 3}
    return Result(
        correlation_id="s",
        question_id="q",
        ok=False,
        error=error,
        error_kind="runtime",
        question="q?",
        dataset="d",
        language="sql",
        code=code,
        **(base | fields),
    )


async def test_the_same_failing_code_is_never_run_again() -> None:
    same = "```sql\nSELECT y FROM t\n```"
    worker, llm = writer([same] * 3)
    failed = failure("SELECT y FROM t", "no column y")
    assert await worker.next_attempt(failed) is None  # asked afresh and resampled, still the same: stop
    assert llm.temps == [0.0, 0.7, 1.0]
    # a retry after an error is asked afresh from the start: no failed code to copy
    assert all("SELECT y" not in m["content"] for p in llm.prompts for m in p if m["role"] == "assistant")


async def test_no_attempt_runs_the_code_of_any_earlier_one() -> None:
    first, second = "SELECT y FROM t", "SELECT z FROM t"
    worker, llm = writer([f"```sql\n{first}\n```"] * 2 + ["```sql\nSELECT x FROM t\n```"])
    failed = failure(second, "no column z", attempt=2, max_attempts=4, tried=[codegen.digest(first)])
    retry = await worker.next_attempt(failed)  # attempt 1's code, twice: sampled on
    assert retry is not None and retry.code == "SELECT x FROM t" and retry.attempt == 3
    assert retry.tried == [codegen.digest(first), codegen.digest(second)]
    worker, llm = writer([f"```sql\n{first}\n```"] * 3)
    assert await worker.next_attempt(failed) is None  # only earlier code comes: the verdict
