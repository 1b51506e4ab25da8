"""Code generation worker.

analyst.question -> analyst.code (attempt 1)
analyst.result (failed, attempts left) -> analyst.code (next attempt, with the error)

The LLM (``workers.engines.llm``, chosen by SWITCHBOARD_LLM_*) is loaded once
at start. Each attempt is its own event, so a replay shows the whole path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from switchboard.bus import Context, Worker
from switchboard.schemas import Code, Event, JobStatus, Question, Result
from switchboard.workers.engines.llm import LLM, LLMError, LLMUnavailable, load_llm

from . import datasets, prompts, schema_rag
from .cache import Cache, cache_key, make_cache
from .chinook import Table
from .datasets import AnalystSettings, data_version, dataset

settings = AnalystSettings()
_llm: LLM | None = None
_cache: Cache | None = make_cache()
MAX_TOKENS = 320
RESAMPLE_TEMPERATURES = (0.7, 1.0)  # a retry that wrote the failed code again is sampled anew


async def _load() -> None:
    global _llm
    if _llm is None:
        _llm = await asyncio.to_thread(load_llm, None, "code")


def use(llm: LLM, cache: Cache | None = None) -> None:
    """Hand in an engine and a cache (tests, or an embedding application)."""
    global _llm, _cache
    _llm = llm
    _cache = cache


def _key(question: str, ds_name: str, language: str) -> str:
    assert _llm is not None
    return cache_key(question, ds_name, data_version(), _llm.capabilities.name, language)


worker = Worker(
    "codegen",
    version="0.1.0",
    emits=(Code, Result, JobStatus),
    on_start=_load,
    ack_wait_s=120,
    sessions_side_by_side=True,
)


def _language(q: Question) -> str:
    if q.language:
        return q.language
    wants_chart = any(w in q.question.lower() for w in ("chart", "plot", "graph", "histogram"))
    return "python" if wants_chart else "sql"


async def _generate(
    question: str, ds_name: str, language: str, previous: str | None, error: str | None
) -> str:
    assert _llm is not None, "codegen started without an LLM"
    ds = await asyncio.to_thread(dataset, ds_name, settings)
    dialect = {"postgres": "PostgreSQL", "sqlite": "SQLite"}.get(ds.dialect, "DuckDB")
    schema = await _schema(ds, question)
    msgs = prompts.messages(question, language, dialect, schema, previous, error)
    code = prompts.extract_code(await _llm.complete(msgs, max_tokens=MAX_TOKENS), language)
    # greedy decoding tends to write the failed code again, word for word: sample
    # until something else comes (a retry of the same code can only fail the same way)
    for temperature in RESAMPLE_TEMPERATURES:
        if previous is None or not _same(code, previous):
            break
        reply = await _llm.complete(msgs, max_tokens=MAX_TOKENS, temperature=temperature)
        code = prompts.extract_code(reply, language)
    return code


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


async def _schema(ds: datasets.Dataset, question: str) -> str:
    """Every table, or for a large schema the ones retrieved for this question."""
    tables: Sequence[Table] = await asyncio.to_thread(datasets.tables, ds)
    if len(tables) > settings.schema_rag_tables:
        tables = await asyncio.to_thread(
            schema_rag.relevant, ds.name, tables, question, settings.schema_rag_k
        )
    return prompts.schema_text(tables)


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
    )


def _status(correlation_id: str, state: str, progress: float, message: str, **result: object) -> JobStatus:
    return JobStatus(
        correlation_id=correlation_id,
        kind="analyst.ask",
        state=state,
        progress=progress,
        message=message[:1000],
        result=result,
    )


def _outcome(r: Result) -> JobStatus:
    """The job's last status from its final result (the full table stays on analyst.result)."""
    if not r.ok:
        return _status(r.correlation_id, "failed", 1.0, f"{r.error_kind}: {r.error}", attempts=r.attempt)
    summary: dict[str, object] = {"attempts": r.attempt, "cached": r.cached, "code": r.code[:4000]}
    if r.table:
        summary |= {
            "rows": r.table.total_rows or len(r.table.rows),
            "columns": ", ".join(r.table.columns)[:4000],
        }
        if len(r.table.rows) == 1 and len(r.table.columns) == 1:
            summary["answer"] = r.table.rows[0][0]
    return _status(r.correlation_id, "succeeded", 1.0, "answered", **summary)


@worker.handler(Question)
async def on_question(q: Question, ctx: Context) -> list[Event]:
    out = await _answer(q)
    if q.job:
        if isinstance(out, Result):
            return [out, _outcome(out)]
        return [out, _status(q.correlation_id, "running", 0.3, f"running attempt 1 ({out.language})")]
    return [out]


async def _answer(q: Question) -> Code | Result:
    language = _language(q)
    if _cache is not None:
        hit = await _cache.get(_key(q.question, q.dataset, language))
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
                }
            )
    try:
        code = await _generate(q.question, q.dataset, language, None, None)
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
    assert _llm is not None
    return Code(
        correlation_id=q.correlation_id,
        question_id=q.id,
        dataset=q.dataset,
        language=language,
        code=code,
        attempt=1,
        max_attempts=q.max_attempts,
        model=_llm.capabilities.name[:128],
        question=q.question,
        job=q.job,
    )


@worker.handler(Result)
async def on_result(r: Result, ctx: Context) -> list[Event]:
    if r.error_kind == "llm":
        return []  # codegen's own failure: already reported where it happened
    retry = await _next_attempt(r)
    if not r.job or r.cached:
        return [retry] if retry else []
    if retry is None:
        return [_outcome(r)]
    step = f"attempt {r.attempt} failed ({r.error_kind}); running attempt {retry.attempt}"
    return [retry, _status(r.correlation_id, "running", min(0.9, 0.3 + 0.2 * r.attempt), step)]


async def _next_attempt(r: Result) -> Code | None:
    """Self-correction: a failed attempt with attempts left gets a new one;
    a fresh success is remembered for identical questions."""
    if r.ok:
        if _cache is not None and not r.cached and r.language and r.dataset and _llm is not None:
            await _cache.put(_key(r.question, r.dataset, r.language), r.model_dump_json().encode())
        return None
    if r.error_kind == "llm" or r.attempt >= r.max_attempts or not r.language or not r.dataset:
        return None
    try:
        code = await _generate(r.question, r.dataset, r.language, r.code, r.error)
    except Exception:  # the dataset or the model failed: the failed result stands as the answer
        return None
    assert _llm is not None
    return Code(
        correlation_id=r.correlation_id,
        question_id=r.question_id,
        dataset=r.dataset,
        language=r.language,
        code=code or r.code,
        attempt=r.attempt + 1,
        max_attempts=r.max_attempts,
        model=_llm.capabilities.name[:128],
        question=r.question,
        previous_error=(r.error or "")[:20_000],
        job=r.job,
    )
