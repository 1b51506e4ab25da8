"""Voice notes benchmark: what the answer model reads before its first word.

    python bench/voice/notes.py [--no-answers]

For each question about the starter knowledge base (the answer's fact known,
as a pattern), side by side in one run:
- whole passages (the way notes were made before: the 3 nearest hits within
  0.6 cosine distance, a close FAQ question's answer among them, 800 characters);
- sentences (``notes.pick`` through the retrieve worker, today's default).
Prints the notes' length, how often the fact is in the notes, and, from the
model server (started here when none answers), the prompt tokens read, the
first token's latency (one stream, nothing else running) and how often the
spoken answer states the fact. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from switchboard.schemas import Context, Passage  # noqa: E402
from switchboard.workers.engines.embed import load_embedder  # noqa: E402
from switchboard.workers.engines.llm import Message  # noqa: E402
from switchboard.workers.engines.vectors import collection  # noqa: E402
from switchboard.workers.voice import kb, llm, retrieve, store  # noqa: E402
from tests.model_server import serving  # noqa: E402

# (question, a pattern the answer's fact matches); paraphrases, not the FAQ's own words
FACTS = [
    ("How can I run more copies of a worker?", r"replicas"),
    ("If a worker dies, is my message lost?", r"deliver|another copy|again"),
    ("How do I put my own files into the knowledge base?", r"ingest"),
    ("What does the assistant use to recognise speech?", r"whisper"),
    ("How do I launch everything?", r"make up|switchboard up"),
    ("What command runs the test suite?", r"make test"),
    ("Can I run recorded events again against a new version?", r"replay"),
    ("What is barge-in?", r"speak|stops|interrupt"),
    ("What can I ask the analyst about?", r"chinook|music21|data"),
    ("What happens when the analyst's query fails?", r"error|again|another attempt|retr"),
    ("How do I stop a long job?", r"cancel"),
    ("How do I check on a job's progress?", r"poll"),
    ("Which setting points Switchboard at NATS?", r"nats_url"),
    ("Which program speaks the answers aloud?", r"piper"),
    ("At what sample rate does the browser send audio?", r"16"),
    ("How are settings passed to Switchboard?", r"environment"),
    ("Does the analyst's code change the database?", r"read-only|read only|no\b|not"),
    ("How does the assistant notice that I stopped talking?", r"voice activity|detector"),
    ("Will I hear the start of the answer before it is finished?", r"sentence|yes"),
    ("What does the analyst show besides the answer?", r"code|table|chart"),
    ("Which model chooser setting picks Ollama?", r"llm_engine"),
    ("Are outputs done twice after a crash?", r"fixed ids|nothing|no\b|not"),
    ("Where does the assistant look for answers?", r"knowledge base|documents|vector"),
    ("Which file types can I ingest?", r"markdown|pdf|html|text"),
]


def whole_passages(worker: retrieve.RetrieveWorker, question: str) -> list[Passage]:
    """The notes as they were made before sentences: whole passages."""
    assert worker.embedder and worker.collection
    s = worker.settings
    out = []
    for h in worker.collection.query(worker.embedder.embed([question])[0], k=3):
        if h.distance > 0.6:
            continue
        if h.metadata.get("kind") == "faq":
            row = (
                store.faq_answer(s.db_url, int(h.metadata["faq_id"]))
                if h.distance <= s.faq_distance
                else None
            )
            if row is not None:
                out.append(Passage(text=row.answer, source="faq", score=1 - h.distance))
            continue
        out.append(Passage(text=h.text, source="doc", score=1 - h.distance))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-answers", action="store_true", help="notes only; no model server")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sb-notes-"))
    settings = store.VoiceSettings(
        db_url=f"sqlite:///{tmp / 'v.db'}", kb_collection=f"bench-{uuid.uuid4().hex[:8]}"
    )
    embedder = load_embedder()
    col = collection(settings.kb_collection)
    store.engine(settings.db_url)
    kb.ensure_starter(settings, embedder, col)
    worker = retrieve.RetrieveWorker(settings, embedder, col)
    ways = {
        "whole passages, 800 chars": (lambda q: whole_passages(worker, q), 800),
        f"sentences, {settings.notes_chars} chars": (worker.passages, settings.notes_chars),
    }
    try:
        made = {
            name: [(q, fact, llm.within(chars, [p.text for p in make(q)])) for q, fact in FACTS]
            for name, (make, chars) in ways.items()
        }
        for name, rows in made.items():
            sizes = [sum(map(len, texts)) for _, _, texts in rows]
            hits = sum(bool(re.search(fact, " ".join(texts), re.I)) for _, fact, texts in rows)
            print(
                f"{name:28} notes: mean {statistics.mean(sizes):.0f} chars, none for {sizes.count(0)}; "
                f"fact in the notes {hits}/{len(rows)}"
            )
        if not args.no_answers:
            with serving(4) as url:
                answers(made, url)
    finally:
        col.drop()


def ask(url: str, prompt: list[Message]) -> tuple[float, int, str]:
    """(first token s, prompt tokens read, answer) from the model server."""
    body = {"messages": prompt, "max_tokens": 40, "temperature": 0.0, "stream": True}
    start = time.monotonic()
    first, read, text = 0.0, 0, ""
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as r:
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            read = chunk.get("timings", {}).get("prompt_n", read)
            piece = (chunk.get("choices") or [{}])[0].get("delta", {}).get("content")
            if piece:
                first = first or time.monotonic() - start
                text += piece
    return first, read, text


def answers(made: dict[str, list[tuple[str, str, list[str]]]], url: str) -> None:
    out: dict[str, tuple[list[float], list[int], int]] = {}
    for name, rows in made.items():
        firsts, tokens, right = [], [], 0
        for i, (q, fact, texts) in enumerate(rows):
            passages = [Passage(text=t, source="kb", score=1.0) for t in texts]
            c = Context(correlation_id=f"n{i}", turn_id=f"t{i}", query=q, passages=passages, history=[])
            first, read, text = ask(url, llm.messages(c, 10_000))
            firsts.append(first)
            tokens.append(read)
            right += bool(re.search(fact, text, re.I))
        out[name] = (firsts, tokens, right)
    for name, (firsts, tokens, right) in out.items():
        print(
            f"{name:28} answers: prompt tokens read mean {statistics.mean(tokens):.0f}; first token p50 "
            f"{statistics.median(firsts):.2f} s, max {max(firsts):.2f} s; fact in the answer {right}/{len(firsts)}"
        )
    (a_first, _, a_right), (b_first, _, b_right) = out.values()
    ratio = statistics.median(b_first) / statistics.median(a_first)
    print(f"notes ratio first token p50 sentences/whole = {ratio:.2f}; facts stated {b_right} vs {a_right}")


if __name__ == "__main__":
    main()
