"""The analyst's memory, in a SQL database through SQLAlchemy (SQLite by
default, PostgreSQL by URL): every question with its code, result size,
attempts, latency and verdict; and the users' verdicts on answers. A question
marked right is a confirmed question -> code pair: the nearest ones (by text
embedding) are shown to the model as worked examples for new questions."""

from __future__ import annotations

import array
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, LargeBinary, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from switchboard.workers import sqldb

Embed = Callable[[Sequence[str]], list[list[float]]]


class Base(DeclarativeBase):
    pass


class Asked(Base):
    """One question and how it ended; ``feedback`` is the user's verdict on it."""

    __tablename__ = "analyst_question"
    question_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(64), index=True)
    question: Mapped[str] = mapped_column(Text)
    dataset: Mapped[str] = mapped_column(String(128), index=True)
    language: Mapped[str] = mapped_column(String(16))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    verdict: Mapped[str] = mapped_column(String(16), default="working")
    """working | answered | gave up"""
    code: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    cached: Mapped[int] = mapped_column(Integer, default=0)
    feedback: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)
    """right | wrong | unset"""
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The question's text embedding (float32), kept for confirmed pairs only."""


@dataclass(frozen=True)
class Example:
    """A confirmed question -> code pair and how near it is to the question at hand."""

    question: str
    code: str
    similarity: float


def _pack(vector: Sequence[float]) -> bytes:
    return array.array("f", vector).tobytes()


def _unpack(blob: bytes) -> list[float]:
    out = array.array("f")
    out.frombytes(blob)
    return out.tolist()


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)  # SQLite drops the zone


class Memory:
    """The store; ``embed`` turns questions into unit vectors (loaded on first use)."""

    def __init__(self, url: str, embed: Embed | None = None) -> None:
        self.url = url
        self._embed = embed

    @property
    def engine(self) -> Engine:
        return sqldb.engine(self.url, Base.metadata)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self._embed is None:
            from switchboard.workers.engines.embed import load_embedder

            self._embed = load_embedder().embed
        return self._embed(texts)

    def asked(
        self, question_id: str, correlation_id: str, question: str, dataset: str, language: str, at: datetime
    ) -> None:
        """Record a question (once: a redelivered one changes nothing)."""
        with Session(self.engine) as db, db.begin():
            if db.get(Asked, question_id) is None:
                db.add(
                    Asked(
                        question_id=question_id,
                        correlation_id=correlation_id,
                        question=question[:20_000],
                        dataset=dataset,
                        language=language,
                        asked_at=at,
                        verdict="working",
                    )
                )

    def ended(
        self,
        question_id: str,
        *,
        ok: bool,
        code: str,
        rows: int | None,
        attempts: int,
        error: str = "",
        cached: bool = False,
    ) -> None:
        """Record how a question ended: answered (with its code and result size) or not."""
        with Session(self.engine) as db, db.begin():
            row = db.get(Asked, question_id)
            if row is None:
                return
            row.verdict = "answered" if ok else "gave up"
            row.code, row.rows, row.attempts = code[:200_000], rows, attempts
            row.error, row.cached = error[:4000], int(cached)
            elapsed = datetime.now(UTC) - _aware(row.asked_at)
            row.latency_ms = max(0, int(elapsed.total_seconds() * 1000))

    def judge(self, correlation_id: str, question_id: str | None, verdict: str) -> Asked | None:
        """The user's verdict on an answered question of theirs (``None`` when there
        is no such question of this correlation, or it has no answer to judge)."""
        with Session(self.engine) as db, db.begin():
            if question_id:
                row = db.get(Asked, question_id)
            else:
                row = db.scalars(
                    select(Asked)
                    .where(Asked.correlation_id == correlation_id)
                    .order_by(Asked.asked_at.desc())
                ).first()
            if row is None or row.correlation_id != correlation_id or row.verdict != "answered":
                return None
            row.feedback = verdict
            row.embedding = _pack(self.embed([row.question])[0]) if verdict == "right" else None
            db.flush()
            db.expunge(row)
            return row

    def nearest(
        self, question: str, dataset: str, language: str, k: int = 2, min_similarity: float = 0.6
    ) -> list[Example]:
        """The ``k`` confirmed pairs of this dataset and language nearest the question
        (at least ``min_similarity`` cosine), nearest last."""
        with Session(self.engine) as db:
            pairs = db.execute(
                select(Asked.question, Asked.code, Asked.embedding).where(
                    Asked.feedback == "right",
                    Asked.dataset == dataset,
                    Asked.language == language,
                    Asked.embedding.is_not(None),
                )
            ).all()
        if not pairs or k <= 0:
            return []
        q = self.embed([question])[0]
        scored = []
        for text, code, blob in pairs:
            v = _unpack(blob or b"")
            if len(v) != len(q):
                continue  # written with another embedding model
            scored.append(Example(text, code, math.fsum(a * b for a, b in zip(q, v, strict=True))))
        best = sorted((e for e in scored if e.similarity >= min_similarity), key=lambda e: -e.similarity)
        return best[:k][::-1]

    def history(self, limit: int = 20, dataset: str | None = None, confirmed: bool = False) -> list[Asked]:
        """Past questions, newest first."""
        query = select(Asked).order_by(Asked.asked_at.desc()).limit(limit)
        if dataset:
            query = query.where(Asked.dataset == dataset)
        if confirmed:
            query = query.where(Asked.feedback == "right")
        with Session(self.engine) as db:
            rows = list(db.scalars(query))
            for r in rows:
                db.expunge(r)
        return rows


def regression_set(rows: Sequence[Asked]) -> list[dict[str, Any]]:
    """Confirmed SQL pairs as bench/analyst reads them (``--questions``): the
    question, its confirmed SQL as the gold, the language and the dataset."""
    return [
        {"question": r.question, "gold": r.code, "language": r.language, "dataset": r.dataset}
        for r in rows
        if r.feedback == "right" and r.language == "sql" and r.code
    ]
