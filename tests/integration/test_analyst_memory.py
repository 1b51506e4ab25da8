"""The analyst's memory on the in-memory transport: every question is kept with
how it ended; a user's "right" makes the pair a worked example for questions
like it, "wrong" drops it and its cached result; only the asker may judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.schemas import Feedback, Question, Result
from switchboard.workers.analyst import codegen, datasets, sql
from switchboard.workers.analyst.cache import MemoryCache
from switchboard.workers.analyst.memory import Memory
from tests.fakes import FakeEmbedder, FakeLLM
from tests.memory_chain import on_memory


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    return Memory(f"sqlite:///{tmp_path / 'memory.db'}", FakeEmbedder().embed)


async def _ask(
    duck: Path, memory: Memory, llm: FakeLLM, *events: object, cache: MemoryCache | None = None
) -> list[Result]:
    settings = datasets.AnalystSettings(data_dir=duck.parent, words=False)
    workers = [codegen.build(llm, cache, settings, memory=memory), sql.build(settings)]
    async with on_memory(*workers) as (bus, seen):
        publish = bus.publisher("test@1")
        for ev in events:
            await publish(ev)  # type: ignore[arg-type]
            await bus.drained()
    return [e for e in seen if isinstance(e, Result)]


QUESTION = "How many tracks does each genre have?"
SQL = "SELECT g.name, count(*) AS n FROM track t JOIN genre g ON g.genre_id = t.genre_id GROUP BY g.name"


async def test_a_question_is_kept_with_how_it_ended(duck: Path, memory: Memory) -> None:
    llm = FakeLLM(
        ["```sql\nSELECT count(*) FROM tracks\n```", f"```sql\n{SQL}\n```", "SELECT 1 FROM nowhere"]
    )
    q = Question(correlation_id="s1", question=QUESTION, dataset="chinook", language="sql")
    bad = Question(correlation_id="s1", question="?", dataset="chinook", language="sql", max_attempts=1)
    await _ask(duck, memory, llm, q, bad)
    gave_up, answered = memory.history()
    assert answered.question == QUESTION and answered.verdict == "answered"
    assert answered.attempts == 2 and answered.rows == 25 and answered.code == SQL
    assert answered.latency_ms is not None and answered.latency_ms >= 0
    assert gave_up.verdict == "gave up" and "nowhere" in gave_up.error and gave_up.rows is None


async def test_a_confirmed_pair_is_shown_for_a_question_like_it(duck: Path, memory: Memory) -> None:
    cache = MemoryCache(3600, 10)
    llm = FakeLLM([f"```sql\n{SQL}\n```", "```sql\nSELECT 1 AS one\n```"])
    q = Question(correlation_id="s1", question=QUESTION, dataset="chinook", language="sql")
    await _ask(duck, memory, llm, q, cache=cache)
    # another session cannot judge it; the asker can
    stranger = Feedback(correlation_id="s2", question_id=q.id, verdict="right")
    await _ask(duck, memory, llm, stranger)
    assert memory.history()[0].feedback is None
    await _ask(duck, memory, llm, Feedback(correlation_id="s1", question_id=q.id, verdict="right"))
    assert memory.history()[0].feedback == "right"

    like = Question(
        correlation_id="s3", question="How many tracks does each genre have, most first?", dataset="chinook"
    )
    await _ask(duck, memory, llm, like)
    prompt = llm.prompts[-1]
    shown = [m["content"] for m in prompt]
    at = shown.index(QUESTION)  # the confirmed pair, as a worked example just before the question
    assert SQL in shown[at + 1] and shown[-1] == like.question
    unlike = Question(correlation_id="s4", question="Which employee sold the most?", dataset="chinook")
    llm.replies.append("```sql\nSELECT 1 AS one\n```")
    await _ask(duck, memory, llm, unlike)
    assert QUESTION not in [m["content"] for m in llm.prompts[-1]]  # not near enough
    # another dataset or language does not get it either
    assert memory.nearest(like.question, "music", "sql") == []
    assert memory.nearest(like.question, "chinook", "python") == []


async def test_wrong_drops_the_pair_and_its_cached_answer(duck: Path, memory: Memory) -> None:
    cache = MemoryCache(3600, 10)
    llm = FakeLLM([f"```sql\n{SQL}\n```", f"```sql\n{SQL} ORDER BY n DESC\n```"])
    q = Question(correlation_id="s1", question=QUESTION, dataset="chinook", language="sql")
    await _ask(duck, memory, llm, q, Feedback(correlation_id="s1", verdict="right"), cache=cache)
    assert memory.nearest(QUESTION, "chinook", "sql")
    # a job's verdict names no question: the latest of its correlation
    await _ask(duck, memory, llm, Feedback(correlation_id="s1", verdict="wrong"), cache=cache)
    assert memory.history()[0].feedback == "wrong"
    assert memory.nearest(QUESTION, "chinook", "sql") == []
    again = Question(correlation_id="s5", question=QUESTION, dataset="chinook", language="sql")
    results = await _ask(duck, memory, llm, again, cache=cache)
    assert not results[-1].cached and results[-1].code.endswith("ORDER BY n DESC")


async def test_history_and_the_regression_set_from_the_cli(
    duck: Path, memory: Memory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = FakeLLM([f"```sql\n{SQL}\n```", "```sql\nSELECT count(*) AS n FROM artist\n```"])
    q = Question(correlation_id="s1", question=QUESTION, dataset="chinook", language="sql")
    other = Question(correlation_id="s2", question="How many artists?", dataset="chinook", language="sql")
    await _ask(duck, memory, llm, q, other, Feedback(correlation_id="s1", verdict="right"))
    monkeypatch.setenv("SWITCHBOARD_ANALYST_MEMORY_URL", memory.url)
    runner = CliRunner()
    shown = runner.invoke(app, ["analyst", "history"])
    assert shown.exit_code == 0, shown.output
    assert "How many artists?" in shown.output and QUESTION in shown.output
    assert "marked right" in shown.output and "answered" in shown.output and "25 rows" in shown.output
    out = tmp_path / "confirmed.json"
    exported = runner.invoke(app, ["analyst", "history", "--export", str(out)])
    assert exported.exit_code == 0 and "1 confirmed" in exported.output
    assert json.loads(out.read_text()) == [
        {"question": QUESTION, "gold": SQL, "language": "sql", "dataset": "chinook"}
    ]
    monkeypatch.setenv("SWITCHBOARD_ANALYST_MEMORY_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    down = runner.invoke(app, ["analyst", "history"])
    assert down.exit_code == 2 and "analyst memory" in down.output and "Traceback" not in down.output
