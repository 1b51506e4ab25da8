"""Code generation worker.

analyst.question -> analyst.code (attempt 1)
analyst.result (failed, attempts left) -> analyst.code (next attempt, with the error)

The LLM (``workers.engines.llm``, chosen by SWITCHBOARD_LLM_*) is loaded once
at start. Each attempt is its own event, so a replay shows the whole path.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from switchboard.bus import Context, Worker, handles
from switchboard.bus.cancels import CancellableWork, JobCancelled
from switchboard.bus.jobs import JobReport
from switchboard.schemas import Code, Event, Feedback, Insight, JobCancel, JobStatus, Question, Result
from switchboard.workers.engines.llm import LLM, LLMError, LLMUnavailable, Message, load_llm

from . import datasets, prompts, samples, schema_rag
from .cache import Cache, CacheSettings, cache_key, make_cache
from .chinook import Table
from .datasets import AnalystSettings, data_version, dataset
from .memory import Memory

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TOKENS = 320
WORDS_TOKENS = 80  # one or two sentences
# a retry that wrote the failed code again: asked afresh, then sampled
RESAMPLE_TEMPERATURES = (0.0, 0.7, 1.0)
Describe = Callable[[str, str], Awaitable[tuple[str, Sequence[Table]]]]
"""(dataset, question) -> (SQL dialect, the tables the prompt shows)."""


def _engine() -> str:
    from switchboard.workers.engines.llm import SERVER_MODEL, LLMSettings

    llm = LLMSettings()
    return f"{llm.model or SERVER_MODEL} on the model server" if llm.engine == "server" else llm.engine


def _language(q: Question) -> str:
    if q.language:
        return q.language
    wants_chart = any(w in q.question.lower() for w in ("chart", "plot", "graph", "histogram"))
    return "python" if wants_chart else "sql"


_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")


def _normal(code: str) -> str:
    """Code up to whitespace and the case of keywords and names; quoted text as written."""
    parts = _QUOTED.split(code)
    return "".join(p if i % 2 else " ".join(p.split()).lower() for i, p in enumerate(parts))


def _same(a: str, b: str) -> bool:
    return _normal(a) == _normal(b)


def digest(code: str) -> str:
    """Code's fingerprint up to whitespace and case (quoted text as written)."""
    return hashlib.sha256(_normal(code).encode()).hexdigest()[:16]


class CodegenWorker:
    """Writes code with one LLM engine, remembers answers in a cache."""

    def __init__(
        self,
        llm: LLM | None = None,
        cache: Cache | None = None,
        settings: AnalystSettings | None = None,
        describe: Describe | None = None,
        memory: Memory | None = None,
    ) -> None:
        self.llm = llm
        self.cache = cache
        self.settings = settings or AnalystSettings()
        self.describe: Describe = describe or self._describe
        self.work = CancellableWork()
        url = self.settings.memory()
        self.memory = memory or (Memory(url) if url else None)

    async def _remember(self, what: str, call: Callable[[Memory], T]) -> T | None:
        """A call on the memory store off the event loop; a store that fails costs a
        warning, never the answer."""
        if self.memory is None:
            return None
        try:
            return await asyncio.to_thread(call, self.memory)
        except Exception as exc:  # the store's database is away or refuses: answer anyway
            log.warning("analyst memory: %s failed: %s", what, type(exc).__name__)
            return None

    def about(self) -> str:
        """The code model it uses."""
        return f"model {self.llm.capabilities.name}" if self.llm else f"model ({_engine()})"

    async def start(self) -> None:
        """Connect to the code model (unless one was handed in)."""
        if self.llm is None:
            self.llm = await asyncio.to_thread(load_llm, None, "code")

    @property
    def model(self) -> str:
        assert self.llm is not None, "codegen started without an LLM"
        return self.llm.capabilities.name[:128]

    def _key(self, question: str, ds_name: str, language: str) -> str:
        return cache_key(question, ds_name, data_version(), self.model, language)

    async def _describe(self, ds_name: str, question: str) -> tuple[str, Sequence[Table]]:
        """The dataset's dialect, and every table, or for a large schema the ones
        retrieved for this question."""
        ds = await asyncio.to_thread(dataset, ds_name, self.settings)
        dialect = {"postgres": "PostgreSQL", "sqlite": "SQLite"}.get(ds.dialect, "DuckDB")
        tables: Sequence[Table] = await asyncio.to_thread(datasets.tables, ds)
        if len(tables) > self.settings.schema_rag_tables:
            tables = await asyncio.to_thread(
                schema_rag.relevant, ds.name, tables, question, self.settings.schema_rag_k
            )
        if self.settings.sample_values:
            tables = await asyncio.to_thread(samples.with_samples, ds, tables, self.settings)
        return dialect, tables

    async def generate(
        self,
        question: str,
        ds_name: str,
        language: str,
        previous: str | None,
        error: str | None,
        fresh: bool = False,
        tried: Sequence[str] = (),
    ) -> str:
        """Code for the question; on a retry, different from the ``previous`` code.
        A retry after an error is asked ``fresh``: the question again with the error
        and the facts that fix it, not the failed code (shown it, a small model
        writes it again, or drifts to a worked example); a second look at an answer
        that ran is shown its code, which may be right. Code whose digest is in
        ``tried`` (an earlier attempt's) is sampled anew like the previous code."""
        assert self.llm is not None, "codegen started without an LLM"
        dialect, tables = await self.describe(ds_name, question)
        schema = prompts.schema_text(tables)
        learned = await self._remember(
            "nearest",
            lambda m: m.nearest(
                question,
                ds_name,
                language,
                self.settings.learned_examples,
                self.settings.learned_similarity,
            ),
        )

        def chat(fresh: bool) -> list[Message]:
            return prompts.messages(
                question, language, dialect, schema, previous, error, tables, learned or (), fresh=fresh
            )

        def again(code: str) -> bool:
            return previous is not None and (_same(code, previous) or digest(code) in tried)

        code = prompts.extract_code(await self.llm.complete(chat(fresh), max_tokens=MAX_TOKENS), language)
        if not again(code):
            return code
        # the failed code again, word for word: asked afresh, then sampled until
        # something else comes (the same code can only fail the same way)
        temperatures = RESAMPLE_TEMPERATURES[1:] if fresh else RESAMPLE_TEMPERATURES
        for temperature in temperatures:
            reply = await self.llm.complete(chat(True), max_tokens=MAX_TOKENS, temperature=temperature)
            code = prompts.extract_code(reply, language)
            if not again(code):
                break
        return code

    @handles(JobCancel)
    async def on_cancel(self, cancel: JobCancel, ctx: Context) -> None:
        """Stop writing code for the job at once (the model stops generating)."""
        self.work.cancel(cancel.correlation_id, cancel.created_at)

    @handles(Feedback)
    async def on_feedback(self, fb: Feedback, ctx: Context) -> None:
        """A user's verdict on their answer: right keeps the pair as a worked example,
        wrong drops it and its cached result."""
        row = await self._remember(
            "feedback",
            lambda m: m.judge(fb.correlation_id, fb.question_id, fb.verdict),
        )
        if row is None:
            return  # not a question of this session or job, or one with no answer
        if fb.verdict == "wrong" and self.cache is not None:
            await self.cache.drop(self._key(row.question, row.dataset, row.language))

    @handles(Question)
    async def on_question(self, q: Question, ctx: Context) -> AsyncIterator[Event]:
        """The first attempt's code (or a cached result); a job also gets its status."""
        language = _language(q)
        await self._remember(
            "question",
            lambda m: m.asked(q.id, q.correlation_id, q.question, q.dataset, language, q.created_at),
        )
        if q.job:
            yield ctx.job.status("running", 0.1, f"writing {_lang(language)} (attempt 1)")
        try:
            out = await self.work.run(q.correlation_id, self._answer(q))
        except JobCancelled:
            return  # the jobs worker has said "cancelled"; nothing more for this job
        yield out
        if q.job:
            if isinstance(out, Result):
                yield _outcome(out, ctx.job)
            else:
                yield ctx.job.status("running", 0.3, f"running {_lang(out.language)} (attempt 1)")

    async def _answer(self, q: Question) -> Code | Result:
        language = _language(q)
        if self.cache is not None:
            hit = await self.cache.get(self._key(q.question, q.dataset, language))
            if hit is not None:
                stored = Result.model_validate_json(hit)
                return stored.model_copy(
                    update={
                        "correlation_id": q.correlation_id,
                        "question_id": q.id,
                        "cached": True,
                        "attempt": 1,
                        "created_at": datetime.now(UTC),
                        "job": q.job,
                        "asked_at": q.created_at,
                    }
                )
        try:
            code = await self.generate(q.question, q.dataset, language, None, None)
        except KeyError as exc:
            return _failed(q, language, str(exc))
        except LLMUnavailable:
            raise  # the model server is restarting: the bus hands the question over again
        except LLMError as exc:
            return _failed(q, language, f"the model failed: {exc}")
        except Exception as exc:  # a database of yours that cannot be read for its schema
            return _failed(q, language, f"{q.dataset}: {type(exc).__name__}: {exc}")
        if not code:
            return _failed(q, language, "the model wrote no code")
        return Code(
            correlation_id=q.correlation_id,
            question_id=q.id,
            dataset=q.dataset,
            language=language,
            code=code,
            attempt=1,
            max_attempts=q.max_attempts,
            model=self.model,
            question=q.question,
            job=q.job,
            asked_at=q.created_at,
        )

    @handles(Result)
    async def on_result(self, r: Result, ctx: Context) -> AsyncIterator[Event]:
        """A failed attempt with attempts left gets the next one; a final answer is
        also stated in words; a job gets its status."""
        if r.error_kind == "llm":
            await self._ended(r)
            return  # codegen's own failure: already reported where it happened
        try:
            retry = await self.work.run(r.correlation_id, self.next_attempt(r))
        except JobCancelled:
            return
        if retry is None:
            await self._ended(r)
        words = ""
        if retry is None and r.ok and r.table and self.settings.words and not r.cached:
            async for piece in self.words(r):
                words += piece.text
                yield piece
        elif retry is None and not r.ok:  # the verdict, in words: it gave up, and why
            yield Insight(
                correlation_id=r.correlation_id,
                question_id=r.question_id,
                index=0,
                text=_gave_up(r),
                last=True,
            )
        if self.work.cancelled(r.correlation_id):
            return
        if not r.job or r.cached:
            if retry:
                yield retry
            return
        if retry is None:
            yield _outcome(r, ctx.job, words)
            return
        step = f"attempt {retry.attempt}: {_problem(r)}{_since(r)}"
        yield retry
        yield ctx.job.status("running", min(0.9, 0.3 + 0.2 * r.attempt), step)

    async def words(self, r: Result) -> AsyncIterator[Insight]:
        """The final result in one or two sentences, streamed as it is written (a
        failing model leaves the answer without words, not without its table)."""
        assert self.llm is not None and r.table is not None
        total = r.table.total_rows or len(r.table.rows)
        plain = _nothing(r.table.rows)
        if plain:  # nothing to state: a small model asked anyway invents names and numbers
            yield Insight(correlation_id=r.correlation_id, question_id=r.question_id, index=0, text=plain)
            yield Insight(correlation_id=r.correlation_id, question_id=r.question_id, index=1, last=True)
            return
        msgs = prompts.words_messages(r.question, r.table.columns, r.table.rows, total)
        index = 0
        try:
            async for piece in self.llm.stream(msgs, max_tokens=WORDS_TOKENS, temperature=0.0):
                if self.work.cancelled(r.correlation_id):
                    break
                if piece:
                    yield Insight(
                        correlation_id=r.correlation_id,
                        question_id=r.question_id,
                        index=index,
                        text=piece[:1000],
                    )
                    index += 1
        except LLMError:
            pass
        yield Insight(correlation_id=r.correlation_id, question_id=r.question_id, index=index, last=True)

    async def next_attempt(self, r: Result) -> Code | None:
        """Self-correction: a failed attempt with attempts left gets a new one, and
        so does an answer that looks empty (once); a final success is remembered
        for identical questions."""
        why = doubtful(r)
        if r.ok and why is None:
            if self.cache is not None and not r.cached and r.language and r.dataset and self.llm is not None:
                await self.cache.put(
                    self._key(r.question, r.dataset, r.language), r.model_dump_json().encode()
                )
            return None
        if not r.language or not r.dataset:
            return None
        if fell_back(r):
            # a second look that failed: the answer it looked at ran, so that stands (run again)
            return self._after(
                r,
                r.fallback or "",
                max_attempts=max(r.max_attempts, r.attempt + 1),
                rechecked=True,
                tried=r.tried,
            )
        if r.error_kind == "llm" or r.attempt >= r.max_attempts:
            return None
        if writes(r):
            return None  # it was asked to change data: another attempt would only try again
        problem = why or r.error or ""
        try:
            tried = [*r.tried, digest(r.code)][-10:]
            code = await self.generate(
                r.question, r.dataset, r.language, r.code, problem, fresh=why is None, tried=tried
            )
        except Exception:  # the dataset or the model failed: the result stands as the answer
            return None
        if not code or _same(code, r.code) or digest(code) in tried:
            return None  # an earlier attempt's code, even resampled: it would end the same way
        return self._after(
            r,
            code,
            previous_error=problem[:20_000],
            rechecked=r.rechecked or r.ok,
            tried=tried,
            fallback=r.code if r.ok else None,
        )

    def _after(self, r: Result, code: str, **fields: Any) -> Code:
        """The attempt after ``r``, running ``code``."""
        return Code(
            **{
                "correlation_id": r.correlation_id,
                "question_id": r.question_id,
                "dataset": r.dataset,
                "language": r.language,
                "code": code,
                "attempt": r.attempt + 1,
                "max_attempts": r.max_attempts,
                "model": self.model,
                "question": r.question,
                "job": r.job,
                "asked_at": r.asked_at,
                **fields,
            }
        )

    async def _ended(self, r: Result) -> None:
        rows = (r.table.total_rows or len(r.table.rows)) if r.table else None
        await self._remember(
            "outcome",
            lambda m: m.ended(
                r.question_id,
                ok=r.ok,
                code=r.code,
                rows=rows,
                attempts=r.attempt,
                error=r.error or "",
                cached=r.cached,
            ),
        )


def _nothing(rows: Sequence[Sequence[object]]) -> str:
    """The words for a result with nothing in it ("" when it has something)."""
    if not rows:
        return "Nothing matches: the query ran and returned no rows."
    if all(v is None for row in rows for v in row):
        return "Nothing matches: the query ran and returned no value (NULL)."
    return ""


def fell_back(r: Result) -> bool:
    """Did a second look fail, so that the answer it looked at stands?"""
    return not r.ok and bool(r.fallback) and r.error_kind != "llm" and r.attempt < 10


def doubtful(r: Result) -> str | None:
    """Why an answer that ran may still be wrong (no rows, only NULL, a count of
    0: often a filter value written in the wrong case; the same row repeated: a
    grouping left out), to be looked at once more; None when it looks like an
    answer (or was looked at already)."""
    if not r.ok or r.table is None or r.rechecked or r.cached:
        return None
    rows = r.table.rows
    if not rows and not r.table.truncated:
        what = "returned no rows"
    elif len(rows) == 1 and all(v is None for v in rows[0]):
        what = "returned only NULL"
    elif len(rows) == 1 and len(rows[0]) == 1 and rows[0][0] == 0 and not isinstance(rows[0][0], bool):
        what = "returned 0"
    elif (distinct := len({repr(row) for row in rows})) < len(rows):
        return (
            f"The query ran but returned the same row more than once ({len(rows)} rows, {distinct} "
            "different): an answer per group needs GROUP BY (a condition on a group's total or "
            "average goes in HAVING), a list of different values needs DISTINCT, and a join may "
            "repeat rows. If that is the right answer, write the same code again."
        )
    else:
        return None
    return (
        f"The query ran but {what}. Check the filter values against the example values in the "
        "schema (text comparisons are case-sensitive) and the joins. If that is the right "
        "answer, write the same code again."
    )


_WRITE = re.compile(r"\b(DELETE|UPDATE|INSERT|DROP|CREATE|ALTER|TRUNCATE|MERGE|REPLACE|ATTACH|COPY)\b", re.I)


def writes(r: Result) -> bool:
    """Was the attempt refused because it would change data (asked to delete, update...)?"""
    error = r.error or ""
    refused = "only SELECT/WITH queries are allowed" in error or "read-only" in error
    return not r.ok and refused and bool(_WRITE.search(error))


def _lang(language: str) -> str:
    return "SQL" if language == "sql" else "Python"


def _problem(r: Result) -> str:
    """What went wrong with an attempt, in a few words (the kind and the error's last line)."""
    if r.ok:
        return "a second look at the result"
    if fell_back(r):
        return "the second look failed; the answer that ran stands"
    kind = {"runtime": "error", "refused": "refused query", "timeout": "timeout", "limit": "limit"}
    line = prompts.last_lines(r.error or "", 1)[:120]
    return (
        f"{kind.get(r.error_kind or '', 'error')}: {line}" if line else kind.get(r.error_kind or "", "error")
    )


def _since(r: Result) -> str:
    if r.asked_at is None:
        return ""
    return f" ({(datetime.now(UTC) - r.asked_at).total_seconds():.0f} s so far)"


def _failed(q: Question, language: str, message: str) -> Result:
    return Result(
        correlation_id=q.correlation_id,
        question_id=q.id,
        attempt=1,
        max_attempts=q.max_attempts,
        ok=False,
        error=message[:20_000],
        error_kind="llm",
        question=q.question,
        dataset=q.dataset,
        language=language,
        job=q.job,
        asked_at=q.created_at,
    )


def _gave_up(r: Result) -> str:
    """The verdict on a question it could not answer, in plain words."""
    if writes(r):
        return (
            "could not answer: this analyst only reads data; it does not delete, change or add anything "
            f"({prompts.last_lines(r.error or '', 1)})"
        )[:1000]
    tries = f"{r.attempt} attempt{'s' if r.attempt > 1 else ''}"
    return f"could not answer after {tries}: {r.error_kind}: {prompts.last_lines(r.error or 'failed', 1)}"[
        :1000
    ]


def _outcome(r: Result, job: JobReport, words: str = "") -> JobStatus:
    """The job's last status from its final result (the full table stays on analyst.result)."""
    if not r.ok:
        return job.status("failed", 1.0, _gave_up(r), attempts=r.attempt)
    summary: dict[str, Any] = {"attempts": r.attempt, "cached": r.cached, "code": r.code[:4000]}
    if words.strip():
        summary["words"] = words.strip()[:4000]
    if r.table:
        summary |= {
            "rows": r.table.total_rows or len(r.table.rows),
            "columns": ", ".join(r.table.columns)[:4000],
        }
        if len(r.table.rows) == 1 and len(r.table.columns) == 1:
            summary["answer"] = r.table.rows[0][0]
    return job.status("succeeded", 1.0, words.strip()[:1000] or "answered", **summary)


def build(
    llm: LLM | None = None,
    cache: Cache | None = None,
    settings: AnalystSettings | None = None,
    *,
    cache_settings: CacheSettings | None = None,
    describe: Describe | None = None,
    memory: Memory | None = None,
) -> Worker:
    """The codegen worker kind: an LLM (the model server unless given), a cache
    (``cache``, else the one ``cache_settings`` configure), the datasets' settings,
    the memory of questions and verdicts (the settings' ``memory_url`` unless given)."""
    service = CodegenWorker(llm, cache or make_cache(cache_settings), settings, describe, memory)
    return Worker.of(
        service,
        "codegen",
        version="0.1.0",
        emits=(Code, Result, Insight, JobStatus),
        ack_wait_s=120,
        sessions_side_by_side=True,
        job_kind="analyst.ask",
        job_starts=Question,
    )
