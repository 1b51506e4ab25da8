"""Analyst benchmark: 40 questions with gold answers (20 SQL over Chinook, 20
Python over the score corpus and Chinook) through the real pipeline on NATS
JetStream: codegen (the model server on SWITCHBOARD_LLM_SERVER_URL, or one
started for the run with the default model; SWITCHBOARD_LLM_* choose another
engine) -> sql / sandbox -> result, with self-correction.

    python bench/analyst/run.py [--limit N] [--attempts 3] [--only sql|python] [--questions FILE]

Prints, per question, whether the answer matched the gold answer, the attempts
used and the latency question -> final result; then execution accuracy,
attempts and p50/p95 latency. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nats  # noqa: E402

from bench.analyst.questions import QUESTIONS, Q  # noqa: E402
from switchboard.bus import BusSettings  # noqa: E402
from switchboard.bus.nats.jetstream import JetStreamPublisher, provision  # noqa: E402
from switchboard.bus.nats.runner import NatsRunner  # noqa: E402
from switchboard.bus.nats.streams import drop  # noqa: E402
from switchboard.bus.servers import ensure_nats  # noqa: E402
from switchboard.bus.subjects import address  # noqa: E402
from switchboard.schemas import Insight, Question, Result  # noqa: E402
from switchboard.workers.analyst import codegen, datasets, prompts, sql, sqlexec  # noqa: E402
from switchboard.workers.analyst import python as python_worker  # noqa: E402
from switchboard.workers.analyst.cache import CacheSettings  # noqa: E402
from switchboard.workers.analyst.sqlguard import check  # noqa: E402
from tests.model_server import serving  # noqa: E402


def _norm(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float):
        return round(float(v), 2) if math.isfinite(float(v)) else None
    s = str(v).strip()
    try:
        return round(float(s), 2)
    except ValueError:
        return s.lower()


_same_code = codegen._same


def matches(gold: list[list[Any]], columns: list[str], rows: list[list[Any]]) -> bool:
    """Gold columns found among the answer's columns (any order, extras allowed),
    with the same rows, order ignored."""
    if len(rows) != len(gold):
        return False
    if not gold:
        return True
    width = len(gold[0])
    want = sorted(map(repr, ([_norm(v) for v in r] for r in gold)))
    for cols in itertools.permutations(range(len(columns)), width):
        got = sorted(repr([_norm(r[i]) for i in cols]) for r in rows)
        if got == want:
            return True
    return False


gave_up: set[str] = set()  # questions whose verdict came: no further attempt
spoken: set[str] = set()  # questions whose answer in words came: that result is final


async def ask(
    pub: JetStreamPublisher, results: dict[str, list[Result]], q: Q, attempts: int, wait_s: float
) -> tuple[Result | None, float]:
    corr = "b" + uuid.uuid4().hex[:10]
    results[corr] = []
    event = Question(
        correlation_id=corr,
        question=q.question,
        dataset=q.dataset,
        language=q.language,
        max_attempts=attempts,
    )  # type: ignore[arg-type]
    start = time.perf_counter()
    await pub.send(event)
    await pub.flush()
    while time.perf_counter() - start < wait_s:
        if results[corr]:
            r = max(results[corr], key=lambda x: x.attempt)  # the latest attempt
            if r.ok and codegen.doubtful(r) and r.attempt < r.max_attempts and corr not in spoken:
                pass  # an empty-looking answer gets a second look: wait for it (or its words)
            elif codegen.fell_back(r):
                pass  # the second look failed: the answer it looked at comes again
            elif r.ok or r.attempt >= r.max_attempts or r.error_kind == "llm" or corr in gave_up:
                return r, time.perf_counter() - start
        await asyncio.sleep(0.05)
    return None, time.perf_counter() - start


async def main() -> None:
    with serving():
        await bench()


async def bench() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="first N questions of each language")
    ap.add_argument("--attempts", type=int, default=3)
    ap.add_argument("--only", choices=("sql", "python"))
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--verbose", action="store_true", help="show the code and error of each miss")
    ap.add_argument(
        "--pascal",
        action="store_true",
        help="ask the SQL questions also of a database of yours: the data as SQLite with PascalCase names",
    )
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="with --pascal: ask them again prompted as before, for a ratio",
    )
    ap.add_argument(
        "--postgres",
        metavar="URL",
        help="ask the SQL questions also over PostgreSQL: the data is loaded there with this "
        "admin URL and read through a read-only role (e.g. postgresql+psycopg://postgres@127.0.0.1/test)",
    )
    ap.add_argument(
        "--questions",
        type=Path,
        help="also ask these: a regression set from `switchboard analyst history --export`",
    )
    args = ap.parse_args()
    extra = []
    if args.questions:
        import json

        known = set(datasets.DATASETS)
        for item in json.loads(args.questions.read_text()):
            if item.get("dataset", "chinook") not in known or item.get("language") != "sql":
                print(f"skipped (not a built-in dataset or not SQL): {item.get('question', '')[:60]}")
                continue
            extra.append(Q(item["question"], item["gold"], "sql", item.get("dataset", "chinook")))
    questions = [q for q in [*QUESTIONS, *extra] if not args.only or q.language == args.only]
    if args.limit:
        questions = [
            q
            for lang in ("sql", "python")
            for q in [x for x in questions if x.language == lang][: args.limit]
        ]

    url = os.environ.get("SWITCHBOARD_NATS_URL", "nats://127.0.0.1:4222")
    server = ensure_nats(url)
    data = Path(tempfile.mkdtemp(prefix="bench-analyst-"))
    datasets.load_duckdb(data / datasets.DUCKDB_FILE)
    yours = {}
    if args.pascal:
        from bench.analyst.pascal import pascal_copy

        yours = {"chinook-pascal": pascal_copy(data / datasets.DUCKDB_FILE, data / "chinook-pascal.db")}
        questions += [
            replace(q, dataset="chinook-pascal")
            for q in questions
            if q.language == "sql" and q.dataset == "chinook"
        ]
    pg_reader = None
    if args.postgres:
        datasets.load_postgres(args.postgres)
        pg_reader = datasets.create_reader(args.postgres)
        questions += [
            replace(q, dataset="chinook-pg")
            for q in questions
            if q.language == "sql" and q.dataset == "chinook"
        ]
    settings_a = datasets.AnalystSettings(data_dir=data, databases=yours, postgres_url=pg_reader)
    # no result cache: every question is answered afresh
    writer = codegen.build(settings=settings_a, cache_settings=CacheSettings(ttl_s=0))
    t = time.perf_counter()
    assert writer.on_start
    await writer.on_start()
    load_s = time.perf_counter() - t
    model = writer.service.model  # type: ignore[union-attr]

    ns = "bencha" + uuid.uuid4().hex[:6]
    settings = BusSettings(nats_url=url, namespace=ns)
    nc = await nats.connect(url)
    js = nc.jetstream()
    await provision(js, settings)
    results: dict[str, list[Result]] = {}

    async def on_result(msg: Any) -> None:
        r = Result.model_validate_json(msg.data)
        results.setdefault(r.correlation_id, []).append(r)

    await nc.subscribe(address(ns, "analyst.result") + ".*", cb=on_result)

    async def on_insight(msg: Any) -> None:
        words = Insight.model_validate_json(msg.data)
        if words.last and words.text.startswith("could not answer"):
            gave_up.add(words.correlation_id)
        elif words.last:
            spoken.add(words.correlation_id)

    await nc.subscribe(address(ns, "analyst.insight") + ".*", cb=on_insight)
    workers = (writer, sql.build(settings_a), python_worker.build(settings_a))
    runners = [NatsRunner(nc, w, settings) for w in workers]
    for r in runners:
        await r.start()
    pub = JetStreamPublisher(nc, settings, "bench@1")
    rows: list[tuple[Q, bool, int, float, Result | None]] = []
    before: list[tuple[Q, bool, int, float, Result | None]] = []
    print(f"model: {model} (loaded in {load_s:.1f} s); {len(questions)} questions")

    async def run(qs: list[Q], into: list[tuple[Q, bool, int, float, Result | None]]) -> None:
        for i, q in enumerate(qs, 1):
            final, latency = await ask(pub, results, q, args.attempts, args.timeout)
            same = {"chinook-pascal": "chinook", "chinook-pg": "chinook", "music-pg": "music"}
            ds = datasets.dataset(same.get(q.dataset, q.dataset))
            gold = sqlexec.run_duckdb(data / datasets.DUCKDB_FILE, check(q.gold, tables=set(ds.tables)), 30)
            ok = bool(
                final
                and final.ok
                and final.table
                and matches(gold.rows, final.table.columns, final.table.rows)
            )
            used = final.attempt if final else args.attempts
            into.append((q, ok, used, latency, final))
            status = "ok  " if ok else ("FAIL" if final and final.ok else "ERR ")
            print(
                f"{i:2} {status} {q.language:6} {q.dataset[:8]:8} attempts={used} {latency:5.1f}s  {q.question[:60]}",
                flush=True,
            )
            if args.verbose and final and not ok:
                print("   code:", final.code.replace("\n", "\n         "))
                print("   error:", prompts.last_lines(final.error, 1) if final.error else "-")
                if final.table:
                    print("   got:", final.table.columns, final.table.rows[:3], " gold:", gold.rows[:3])

    try:
        await run(questions, rows)
        if args.pascal and args.baseline:
            # the same run, prompted as before: the built-in store's examples for every
            # database, and a retry that is shown only its error
            print("baseline: the database of yours with the previous prompting")
            saved = prompts.examples, prompts.fix_hints
            prompts.examples = lambda language, tables: prompts.EXAMPLES[language]  # type: ignore[assignment]
            prompts.fix_hints = lambda error, code, tables: ""  # type: ignore[assignment]
            try:
                await run([q for q in questions if q.dataset == "chinook-pascal"], before)
            finally:
                prompts.examples, prompts.fix_hints = saved  # type: ignore[assignment]
    finally:
        for r in runners:
            await r.stop()
        await drop(js, ns)
        await nc.close()
        if server:
            server.terminate()

    def report(label: str, part: list[tuple[Q, bool, int, float, Result | None]]) -> None:
        if not part:
            return
        lat = sorted(r[3] for r in part)
        acc = sum(r[1] for r in part) / len(part)
        ran = sum(1 for r in part if r[4] and r[4].ok) / len(part)
        p95 = lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)]
        tried = [results.get(r[4].correlation_id, []) if r[4] else [] for r in part]
        attempts = sum(len(t) for t in tried)
        # an attempt that runs the code of an earlier one that failed (the answer that
        # ran, run again after a failed second look, is not a repeat of a failure)
        repeated = sum(
            1
            for t in tried
            for i, x in enumerate(t)
            if any(_same_code(x.code, y.code) and not y.ok for y in t[:i])
        )
        print(
            f"{label:7} n={len(part):3}  execution accuracy {acc:.0%}  ran without error {ran:.0%}  "
            f"attempts mean {statistics.mean(r[2] for r in part):.2f}  "
            f"repeated attempts {repeated / max(1, attempts):.0%}  "
            f"latency p50 {statistics.median(lat):.1f} s  p95 {p95:.1f} s"
        )

    print()
    report("sql", [r for r in rows if r[0].language == "sql" and r[0].dataset in ("chinook", "music")])
    report("pg", [r for r in rows if r[0].dataset.endswith("-pg")])  # the same over PostgreSQL
    report("python", [r for r in rows if r[0].language == "python"])
    report("yours", [r for r in rows if r[0].dataset == "chinook-pascal"])  # SQLite, PascalCase names
    for level in ("easy", "medium", "hard"):
        report(level, [r for r in rows if r[0].level == level])
    report("before", before)  # the same, prompted as before (--baseline)
    if before:
        after = [r for r in rows if r[0].dataset == "chinook-pascal"]
        a, b = sum(r[1] for r in after), sum(r[1] for r in before)
        print(
            f"yours: execution accuracy ratio now/before = {a / max(1, b):.2f} ({a} vs {b} of {len(after)})"
        )
    report("all", rows)


if __name__ == "__main__":
    asyncio.run(main())
