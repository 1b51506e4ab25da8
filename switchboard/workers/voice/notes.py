"""The notes an answer reads: the sentences of the retrieved passages nearest
the question, each with the sentence after it, within a character budget.

A passage is several hundred characters, and on a CPU the model reads about
70 tokens a second before its first word; most of a passage is off the
question. Scoring each sentence on its own also finds the one sentence that
answers when its passage as a whole is far from the question ("What is
barge-in?" against the voice paragraph).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from switchboard.workers.engines.embed import Embedder

_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_HEADING = re.compile(r"^#+\s*")
MIN_WORDS = 3
NEXT_SLACK = 0.15  # the sentence after a pick comes along if it scores this close to the floor


@dataclass(frozen=True)
class Sentence:
    text: str
    passage: int  # rank of its passage among the hits
    at: int  # position in its passage
    source: str


def after_overlap(text: str) -> str:
    """A later chunk of a document without its first fragment: the overlap with
    the chunk before, which starts mid-sentence (``kb.chunks``)."""
    parts = _BREAK.split(text, maxsplit=1)
    return parts[1] if len(parts) == 2 else text


def sentences(text: str) -> list[str]:
    """A passage's sentences; headings are left out."""
    out = []
    for part in _BREAK.split(text):
        part = part.strip()
        if not part or part.startswith("#") and len(_HEADING.sub("", part).split()) < MIN_WORDS + 2:
            continue
        part = _HEADING.sub("", part)
        if len(part.split()) >= MIN_WORDS:
            out.append(part)
    return out


class SentenceVectors:
    """Sentence embeddings (float32), kept for the sentences seen lately: a
    knowledge base repeats its sentences from question to question."""

    def __init__(self, embedder: Embedder, size: int = 5_000) -> None:
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for text, vector in zip(missing, self.embedder.embed(missing), strict=True):
            self._cache[text] = np.asarray(vector, dtype=np.float32)
        for text in texts:
            self._cache.move_to_end(text)
        rows = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return rows


def pick(
    question: Sequence[float],
    passages: Sequence[tuple[str, str, float]],
    vectors: SentenceVectors,
    *,
    budget: int,
    min_score: float,
) -> list[tuple[str, str, float]]:
    """(text, source, best score) per passage that gave a sentence, best passage
    first: sentences scoring ``min_score`` or more, best first, each with the
    one after it (it often carries the answer: "The analyst answers questions
    about data. Ask about the Chinook store ...") unless that one is far off the
    question, until ``budget`` characters. A passage's third item is a score
    its sentences get at least: a FAQ answer's, how near its question is."""
    found: dict[str, Sentence] = {}
    prior: dict[str, float] = {}
    for rank, (text, source, at_least) in enumerate(passages):
        for at, said in enumerate(sentences(text)):
            found.setdefault(said, Sentence(said, rank, at, source))  # overlapping chunks repeat sentences
            prior[said] = max(prior.get(said, 0.0), at_least)
    if not found:
        return []
    listed = list(found.values())
    near = vectors([s.text for s in listed]) @ np.asarray(question, dtype=np.float32)
    scores = {s.text: max(prior[s.text], float(n)) for s, n in zip(listed, near, strict=True)}
    following = {(s.passage, s.at): s for s in listed}
    chosen: dict[str, Sentence] = {}
    used = 0
    for s in sorted(listed, key=lambda s: -scores[s.text]):
        if scores[s.text] < min_score or used >= budget:
            break
        for part in (s, following.get((s.passage, s.at + 1))):
            if part is None or part.text in chosen or scores[part.text] < min_score - NEXT_SLACK:
                continue
            if used + len(part.text) > budget and chosen:
                break
            chosen[part.text] = part
            used += len(part.text) + 1
    by_passage: dict[int, list[Sentence]] = {}
    for s in chosen.values():
        by_passage.setdefault(s.passage, []).append(s)
    out = []
    for rank in sorted(by_passage, key=lambda r: -max(scores[s.text] for s in by_passage[r])):
        parts = sorted(by_passage[rank], key=lambda s: s.at)
        best = max(scores[s.text] for s in parts)
        out.append((" ".join(s.text for s in parts), parts[0].source, round(best, 4)))
    return out
