"""LLM engine benchmark: the model server (llama.cpp, parallel slots) against
the transformers engine, on the same model and the same prompts, one after the
other in one run.

    python bench/llm/run.py [--model qwen2.5-coder-1.5b] [--tokens 64] [--skip-transformers]

For each engine: load seconds, resident memory, prefill seconds of a ~400-token
prompt (first token, uncached), first token with that prefix cached (same
schema, another question), decode tokens/s of one stream, and of 4 concurrent
streams (aggregate, and each stream's first token). Tokens are counted with the
model's own tokenizer (the server's /tokenize) for both engines. Printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402
import psutil  # noqa: E402

from switchboard.workers.engines.llm import LLM, LLMSettings, TransformersLLM, load_llm  # noqa: E402
from switchboard.workers.engines.models import resolve  # noqa: E402
from tests.model_server import model_server  # noqa: E402

TABLES = [
    ("album", ["album_id INTEGER", "title VARCHAR", "artist_id INTEGER"]),
    ("artist", ["artist_id INTEGER", "name VARCHAR"]),
    ("customer", ["customer_id INTEGER", "first_name VARCHAR", "last_name VARCHAR", "company VARCHAR",
                  "city VARCHAR", "state VARCHAR", "country VARCHAR", "email VARCHAR", "support_rep_id INTEGER"]),
    ("employee", ["employee_id INTEGER", "last_name VARCHAR", "first_name VARCHAR", "title VARCHAR",
                  "reports_to INTEGER", "hire_date TIMESTAMP", "city VARCHAR", "country VARCHAR"]),
    ("genre", ["genre_id INTEGER", "name VARCHAR"]),
    ("invoice", ["invoice_id INTEGER", "customer_id INTEGER", "invoice_date TIMESTAMP",
                 "billing_city VARCHAR", "billing_country VARCHAR", "total DECIMAL(10,2)"]),
    ("invoice_line", ["invoice_line_id INTEGER", "invoice_id INTEGER", "track_id INTEGER",
                      "unit_price DECIMAL(10,2)", "quantity INTEGER"]),
    ("media_type", ["media_type_id INTEGER", "name VARCHAR"]),
    ("playlist", ["playlist_id INTEGER", "name VARCHAR"]),
    ("playlist_track", ["playlist_id INTEGER", "track_id INTEGER"]),
    ("track", ["track_id INTEGER", "name VARCHAR", "album_id INTEGER", "media_type_id INTEGER",
               "genre_id INTEGER", "composer VARCHAR", "milliseconds INTEGER", "bytes INTEGER",
               "unit_price DECIMAL(10,2)"]),
]  # fmt: skip
SCHEMA = "\n".join(f"CREATE TABLE {t} ({', '.join(cols)});" for t, cols in TABLES)
SYSTEM = (
    "You write one DuckDB SQL query that answers the user's question about this database. "
    "Use only these tables and columns. Answer with the query in a ```sql block and nothing else.\n\n"
    + SCHEMA
    + "\n\nRules: join on the id columns; name every output column; no comments; "
    "prefer explicit JOIN ... ON; use LIMIT for 'top' questions; dates are TIMESTAMPs.\n\n"
    "Example. Question: How many tracks does each media type have, most first?\n"
    "```sql\nSELECT m.name AS media_type, COUNT(*) AS tracks FROM track t "
    "JOIN media_type m ON m.media_type_id = t.media_type_id GROUP BY m.name ORDER BY tracks DESC\n```\n"
    "Example. Question: Which customers spent more than 45 in total?\n"
    "```sql\nSELECT c.first_name, c.last_name, SUM(i.total) AS spent FROM customer c "
    "JOIN invoice i ON i.customer_id = c.customer_id GROUP BY c.customer_id, c.first_name, c.last_name "
    "HAVING SUM(i.total) > 45 ORDER BY spent DESC\n```"
)
QUESTIONS = [
    "Which five artists have the most tracks? Show each artist's name and the track count.",
    "What is the total revenue per billing country, highest first?",
    "Which genre has the longest average track length in minutes?",
    "How many customers does each support representative look after?",
    "List the ten best-selling tracks by quantity sold, with their album title.",
]


def prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


class Counter:
    """Tokens of a text, by the model's own tokenizer (the server's /tokenize)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, text: str) -> int:
        r = httpx.post(f"{self.url}/tokenize", json={"content": text}, timeout=30)
        return len(r.json()["tokens"])


async def one(
    llm: LLM, messages: list[dict[str, str]], tokens: int, t0: float | None = None
) -> dict[str, Any]:
    start = t0 if t0 is not None else time.perf_counter()
    first = None
    text = ""
    async for piece in llm.stream(messages, max_tokens=tokens):
        if first is None:
            first = time.perf_counter()
        text += piece
    end = time.perf_counter()
    assert first is not None, "no tokens"
    return {"first_s": first - start, "decode_s": end - first, "text": text, "end": end}


async def measure(llm: LLM, count: Counter, tokens: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cold = await one(llm, prompt(0), tokens)
    out["prefill_s"] = cold["first_s"]
    warm = await one(llm, prompt(1), tokens)  # same system prompt and schema, another question
    out["cached_first_s"] = warm["first_s"]
    n = count(warm["text"])
    out["decode_tps"] = (n - 1) / warm["decode_s"] if warm["decode_s"] > 0 else float("nan")
    # together, so that each slot holds a prompt: llama.cpp fills an empty slot
    # from scratch, and moves cached prompts between slots only once all are in use
    await asyncio.gather(*(one(llm, prompt(i), 1) for i in range(4)))
    t0 = time.perf_counter()
    runs = await asyncio.gather(*(one(llm, prompt(i), tokens, t0) for i in range(4)))
    total = sum(count(r["text"]) for r in runs)
    out["x4_tps"] = total / (max(r["end"] for r in runs) - t0)
    out["x4_first_s"] = sorted(r["first_s"] for r in runs)
    return out


def report(name: str, load_s: float, mem_mb: float, m: dict[str, Any]) -> None:
    firsts = ", ".join(f"{s:.2f}" for s in m["x4_first_s"])
    print(
        f"{name:14} load {load_s:6.1f} s  RSS {mem_mb:7.0f} MiB  prefill(~400 tok) {m['prefill_s']:6.2f} s  "
        f"first token cached {m['cached_first_s']:5.2f} s  decode x1 {m['decode_tps']:5.1f} tok/s  "
        f"x4 {m['x4_tps']:5.1f} tok/s (first tokens {firsts} s)"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--tokens", type=int, default=64, help="tokens per answer")
    ap.add_argument("--skip-transformers", action="store_true")
    args = ap.parse_args()
    resolve(args.model)  # join the parts before any clock starts
    t = time.perf_counter()
    with model_server(args.model, slots=4, context_tokens=LLMSettings().context_tokens) as (url, proc):
        load_s = time.perf_counter() - t
        count = Counter(url)
        prompt_tokens = count(SYSTEM) + count(QUESTIONS[0])
        print(f"model {args.model}; prompt ~{prompt_tokens} tokens; {args.tokens} tokens per answer")
        server = load_llm(LLMSettings(engine="server", server_url=url))
        m = await measure(server, count, args.tokens)
        report("server", load_s, rss_mb(proc.pid), m)
        if args.skip_transformers:
            return
        before = rss_mb(os.getpid())
        t = time.perf_counter()
        tf = TransformersLLM(resolve(args.model), threads=os.cpu_count() or 2, quantize="none")
        tf_load = time.perf_counter() - t
        m2 = await measure(tf, count, args.tokens)
        report("transformers", tf_load, rss_mb(os.getpid()) - before, m2)
        print(
            f"server / transformers: decode x1 {m['decode_tps'] / m2['decode_tps']:.1f}x, "
            f"x4 {m['x4_tps'] / m2['x4_tps']:.1f}x, prefill {m2['prefill_s'] / m['prefill_s']:.1f}x faster, "
            f"load {tf_load / load_s:.1f}x faster"
        )


if __name__ == "__main__":
    asyncio.run(main())
