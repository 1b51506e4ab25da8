"""question -> codegen -> sql/sandbox -> result, with self-correction, on the in-memory transport."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from switchboard.schemas import Code, Insight, JobStatus, JobSubmitted, Question, Result
from switchboard.workers import jobs
from switchboard.workers.analyst import codegen, datasets, prompts, sql
from switchboard.workers.analyst import python as python_worker
from switchboard.workers.analyst.cache import CacheSettings, MemoryCache, RedisCache, cache_key
from tests.fakes import FakeLLM
from tests.memory_chain import on_memory

STATUSES: list[JobStatus] = []
INSIGHTS: list[Insight] = []


async def _run(
    duck: Path,
    llm: FakeLLM,
    *events: object,
    cache: MemoryCache | None = None,
    settings: datasets.AnalystSettings | None = None,
) -> tuple[list[Code], list[Result]]:
    settings = settings or datasets.AnalystSettings(data_dir=duck.parent, words=False)
    workers = [
        codegen.build(llm, cache, settings, cache_settings=CacheSettings(ttl_s=0)),
        sql.build(settings),
        python_worker.build(settings),
        jobs.build(),
    ]
    async with on_memory(*workers) as (bus, seen):
        publish = bus.publisher("test@1")
        for ev in events:  # one after the other: each chain comes to rest before the next
            await publish(ev)  # type: ignore[arg-type]
            await bus.drained()
    STATUSES[:] = [e for e in seen if isinstance(e, JobStatus)]
    INSIGHTS[:] = [e for e in seen if isinstance(e, Insight)]
    codes = [e for e in seen if isinstance(e, Code)]
    results = [e for e in seen if isinstance(e, Result)]
    return sorted(codes, key=lambda c: c.attempt), sorted(results, key=lambda r: r.attempt)


async def test_failed_sql_is_corrected_on_the_next_attempt(duck: Path) -> None:
    llm = FakeLLM(
        [
            "```sql\nSELECT count(*) AS n FROM tracks\n```",
            "Sorry! ```sql\nSELECT count(*) AS n FROM track;\n```",
        ]
    )
    q = Question(
        correlation_id="s1", question="How many tracks are there?", dataset="chinook", language="sql"
    )
    codes, results = await _run(duck, llm, q)
    assert [c.attempt for c in codes] == [1, 2]
    assert "unknown table 'tracks'" in (codes[1].previous_error or "")
    assert [r.ok for r in results] == [False, True]
    assert results[-1].table and results[-1].table.rows == [[3503]]
    retry_prompt = llm.prompts[1]
    # asked afresh: the question, the error's headline and the nearest real table
    assert retry_prompt[-1]["content"].startswith("How many tracks are there?")
    assert "failed with: unknown table 'tracks'" in retry_prompt[-1]["content"]
    assert "There is no table tracks; the nearest are: track" in retry_prompt[-1]["content"]
    assert "track(track_id integer" in retry_prompt[0]["content"]  # the schema is in the prompt


async def test_attempts_are_bounded(duck: Path) -> None:
    llm = FakeLLM([f"SELECT * FROM nowhere{i}" for i in range(5)])
    q = Question(correlation_id="s2", question="?", dataset="chinook", language="sql", max_attempts=2)
    codes, results = await _run(duck, llm, q)
    assert len(codes) == 2 and len(results) == 2 and not results[-1].ok


async def test_the_same_failing_code_is_not_run_twice(duck: Path) -> None:
    llm = FakeLLM(["SELECT * FROM nowhere"] * 5)  # resampled, it writes the same again
    q = Question(correlation_id="s3", question="?", dataset="chinook", language="sql", max_attempts=3)
    codes, results = await _run(duck, llm, q)
    assert len(codes) == 1 and len(results) == 1 and not results[0].ok  # the failed result stands
    assert [i.text for i in INSIGHTS if i.last][0].startswith("could not answer after 1 attempt: refused:")


async def test_chart_questions_go_to_python_and_jobs_start_questions(duck: Path) -> None:
    llm = FakeLLM(
        [
            "```python\ndf = con.execute('select g.name, count(*) n from track join genre g using (genre_id) "
            "group by 1 order by 2 desc limit 5').df()\ndf.plot.bar(x='name', y='n')\nresult = df\n```"
        ]
    )
    job = JobSubmitted(
        correlation_id="job1",
        kind="analyst.ask",
        params={"question": "Plot the five biggest genres", "dataset": "chinook"},
    )
    codes, results = await _run(duck, llm, job)
    assert codes[0].language == "python" and codes[0].correlation_id == "job1" and codes[0].job
    assert results[0].ok and results[0].chart and results[0].chart.png
    states = {s.state: s for s in STATUSES}
    assert set(states) == {"queued", "running", "succeeded"}
    assert states["succeeded"].result["rows"] == 5 and states["succeeded"].progress == 1.0
    assert results[0].table and results[0].table.rows[0] == ["Rock", 1297]


async def test_identical_questions_are_answered_from_the_cache(duck: Path) -> None:
    llm = FakeLLM(["```sql\nSELECT count(*) AS n FROM artist\n```"])
    q1 = Question(correlation_id="s1", question="How many artists?", dataset="chinook", language="sql")
    q2 = Question(correlation_id="s2", question="how many  ARTISTS?", dataset="chinook", language="sql")
    cache = MemoryCache(ttl_s=60, max_entries=10)
    codes, results = await _run(duck, llm, q1, q2, cache=cache)
    assert len(codes) == 1 and len(llm.prompts) == 1
    fresh, cached = sorted(results, key=lambda r: r.cached)
    assert not fresh.cached and cached.cached and cached.correlation_id == "s2"
    assert cached.table == fresh.table and cached.table and cached.table.rows == [[275]]


async def test_redis_cache_round_trip() -> None:
    cache = RedisCache("redis://127.0.0.1:6379/0", ttl_s=5)
    key = cache_key(f"q {time.time()}", "chinook", "v", "m", "sql")
    assert await cache.get(key) is None
    await cache.put(key, b"{}")
    assert await cache.get(key) == b"{}"
    assert 0 < await cache.client.ttl(key) <= 5  # type: ignore[attr-defined]


async def test_a_job_that_fails_every_attempt_ends_failed(duck: Path) -> None:
    llm = FakeLLM(["SELECT * FROM nowhere", "SELECT * FROM nowhere"] * 3)
    job = JobSubmitted(
        correlation_id="job2",
        kind="analyst.ask",
        params={"question": "How many?", "language": "sql", "max_attempts": 2},
    )
    codes, results = await _run(duck, llm, job)
    assert len(results) == 1  # attempt 2 would have run the same code: not run
    final = [s for s in STATUSES if s.state == "failed"]
    assert len(final) == 1 and "unknown table 'nowhere'" in final[0].message
    assert final[0].message.startswith("could not answer after 1 attempt:")


async def test_the_answer_is_stated_in_words(duck: Path) -> None:
    llm = FakeLLM(["```sql\nSELECT count(*) AS n FROM artist\n```", "There are 275 artists."])
    job = JobSubmitted(correlation_id="job3", kind="analyst.ask", params={"question": "How many artists?"})
    settings = datasets.AnalystSettings(data_dir=duck.parent)  # words on, the default
    workers = [
        codegen.build(llm, settings=settings, cache_settings=CacheSettings(ttl_s=0)),
        sql.build(settings),
        jobs.build(),
    ]
    async with on_memory(*workers) as (bus, seen):
        await bus.publisher("test@1")(job)
        await bus.drained()
    words = [e for e in seen if isinstance(e, Insight)]
    assert "".join(w.text for w in words).strip() == "There are 275 artists." and words[-1].last
    assert "275" in llm.prompts[1][-1]["content"]  # written from the result table
    [done] = [e for e in seen if isinstance(e, JobStatus) and e.state == "succeeded"]
    assert done.result["words"] == "There are 275 artists." and done.result["answer"] == 275


def test_code_is_pulled_out_of_replies() -> None:
    assert prompts.extract_code("Here:\n```sql\nSELECT 1;\n```\nDone", "sql") == "SELECT 1"
    assert prompts.extract_code("You can run SELECT a FROM t; to get it", "sql") == "SELECT a FROM t"
    assert prompts.extract_code("```python\nresult = 1\n```", "python") == "result = 1"


@pytest.mark.slow  # the real MiniLM model and Chroma store
async def test_large_schemas_are_retrieved_not_pasted(
    duck: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # real MiniLM embeddings in a real (embedded) Chroma store
    monkeypatch.setenv("SWITCHBOARD_CHROMA_PATH", str(tmp_path / "chroma"))
    rag = datasets.AnalystSettings(data_dir=duck.parent, schema_rag_tables=4, schema_rag_k=2)
    llm = FakeLLM(["```sql\nSELECT count(*) FROM score WHERE composer = 'J.S. Bach'\n```"])
    q = Question(
        correlation_id="s9",
        question="How many pieces by each composer are in the score corpus?",
        dataset="music",
        language="sql",
    )
    codes, results = await _run(duck, llm, q, settings=rag)
    system = llm.prompts[0][0]["content"]
    assert "score(score_id integer" in system
    assert "playlist_track(" not in system and "employee(" not in system
    assert results[-1].ok and results[-1].table and results[-1].table.rows[0][0] >= 400


async def test_an_empty_result_gets_one_second_look(duck: Path) -> None:
    llm = FakeLLM(
        [
            "```sql\nSELECT count(*) AS n FROM customer WHERE country = 'usa'\n```",
            "```sql\nSELECT count(*) AS n FROM customer WHERE country = 'USA'\n```",
        ]
    )
    q = Question(
        correlation_id="e1", question="How many customers in the US?", dataset="chinook", language="sql"
    )
    codes, results = await _run(duck, llm, q)
    assert [c.attempt for c in codes] == [1, 2] and codes[1].rechecked
    assert "returned" not in (codes[0].previous_error or "") and "example values" in (
        codes[1].previous_error or ""
    )
    assert results[-1].table and results[-1].table.rows == [[13]]
    # an empty answer that is the answer: the same code again, and the empty table stands
    empty = "```sql\nSELECT first_name FROM customer WHERE country = 'Atlantis'\n```"
    q2 = Question(correlation_id="e2", question="Customers in Atlantis?", dataset="chinook", language="sql")
    codes, results = await _run(duck, FakeLLM([empty, empty, empty, empty]), q2)
    assert len(codes) == 1 and results[-1].ok and results[-1].table and results[-1].table.rows == []
    # a second look happens once: a rechecked empty answer is final
    llm = FakeLLM([empty, "```sql\nSELECT last_name FROM customer WHERE country = 'Atlantis'\n```", empty])
    q3 = Question(correlation_id="e3", question="Customers in Atlantis?", dataset="chinook", language="sql")
    codes, results = await _run(duck, llm, q3)
    assert len(codes) == 2 and results[-1].ok and results[-1].rechecked


async def test_a_result_of_repeated_rows_gets_one_second_look(duck: Path) -> None:
    """A grouping left out repeats rows: the model is told, and may group."""
    llm = FakeLLM(
        [
            "```sql\nSELECT billing_country FROM invoice WHERE total > 10\n```",
            "```sql\nSELECT billing_country FROM invoice GROUP BY 1 HAVING sum(total) > 100\n```",
        ]
    )
    q = Question(
        correlation_id="d1",
        question="Which billing countries have sales over 100 in total?",
        dataset="chinook",
        language="sql",
    )
    codes, results = await _run(duck, llm, q)
    assert [c.attempt for c in codes] == [1, 2] and codes[1].rechecked
    assert "the same row more than once" in (codes[1].previous_error or "")
    assert results[-1].table and len({r[0] for r in results[-1].table.rows}) == len(results[-1].table.rows)


async def test_a_second_look_that_fails_leaves_the_answer_that_ran(duck: Path) -> None:
    """No invoices in 2030: the empty answer is right; a second look that breaks
    it must not turn it into "could not answer"."""
    empty = "SELECT sum(total) AS total FROM invoice WHERE year(invoice_date) = 2030 GROUP BY billing_country"
    llm = FakeLLM([f"```sql\n{empty}\n```", "```sql\nSELECT sum(i.total) FROM invoices i\n```"])
    q = Question(
        correlation_id="f1", question="Sales per country in 2030?", dataset="chinook", language="sql"
    )
    settings = datasets.AnalystSettings(data_dir=duck.parent, words=True)
    codes, results = await _run(duck, llm, q, settings=settings)
    assert [c.attempt for c in codes] == [1, 2, 3] and codes[2].code == empty
    assert codes[1].fallback == empty and codes[2].fallback is None and codes[2].rechecked
    assert [r.ok for r in results] == [True, False, True]
    assert results[-1].table and results[-1].table.rows == []
    assert not any(i.text.startswith("could not answer") for i in INSIGHTS)
    # nothing to state: said plainly, not asked of the model (a small one invents a name)
    assert [i.text for i in INSIGHTS if i.text] == ["Nothing matches: the query ran and returned no rows."]
    assert len(llm.prompts) == 2


async def test_a_question_to_change_data_is_refused_in_words(duck: Path) -> None:
    llm = FakeLLM(["```sql\nDELETE FROM track WHERE genre_id = 1\n```", "```sql\nDROP TABLE track\n```"])
    q = Question(correlation_id="w1", question="Delete all rock tracks", dataset="chinook", language="sql")
    settings = datasets.AnalystSettings(data_dir=duck.parent, words=True)
    codes, results = await _run(duck, llm, q, settings=settings)
    assert len(codes) == 1 and not results[-1].ok  # no second try at a write
    (verdict,) = INSIGHTS
    assert verdict.text.startswith("could not answer: this analyst only reads data")
    counted = await sql.run(
        Code(
            correlation_id="w1",
            question_id="x",
            dataset="chinook",
            language="sql",
            code="select count(*) from track",
            attempt=1,
            max_attempts=1,
            model="t",
        ),
        settings,
    )
    assert counted.table and counted.table.rows == [[3503]]  # nothing was deleted


@pytest.mark.parametrize("text", ["", "   ", "word " * 10_000])
def test_an_empty_or_huge_question_is_refused(text: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Question(correlation_id="b1", question=text)
