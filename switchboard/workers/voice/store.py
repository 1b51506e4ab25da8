"""The voice assistant's state outside any process: a knowledge base in the
vector store (document passages; FAQ questions pointing at answers), and, in a
SQL database through SQLAlchemy (SQLite by default, PostgreSQL in compose),
the FAQ table and each session's chat history."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import DateTime, Integer, String, Text, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from switchboard.workers import sqldb


class VoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_VOICE_", extra="ignore")

    db_url: str = "sqlite:///.switchboard/voice.db"
    kb_collection: str = "knowledge-base"
    passages: int = 4
    """Knowledge-base hits (passages and FAQ questions) read for each question."""
    max_distance: float = 0.6
    """Sentences farther than this (cosine distance) from the question are left out of the notes."""
    faq_distance: float = 0.25
    """A FAQ question this close to the user's is answered from the FAQ."""
    history_tokens: int = 600
    """Chat history kept in the prompt, roughly (4 characters a token)."""
    notes_chars: int = 400
    """Notes in the prompt, in characters: the model reads them before its
    first word (on 2 cores about 80 tokens/s, ~1 s per 300 characters)."""


class Base(DeclarativeBase):
    pass


class FAQ(Base):
    __tablename__ = "voice_faq"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300))


class Turn(Base):
    __tablename__ = "voice_turn"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Conversation(Base):
    """Who a conversation over HTTP (``POST /chat``) belongs to: only that client reads it."""

    __tablename__ = "voice_conversation"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def engine(url: str) -> Engine:
    return sqldb.engine(url, Base.metadata)


def history(url: str, session: str, budget_tokens: int) -> list[tuple[str, str]]:
    """The session's latest turns, oldest first, within the budget."""
    with Session(engine(url)) as db:
        rows = db.scalars(select(Turn).where(Turn.session == session).order_by(Turn.id.desc()).limit(64))
        out: list[tuple[str, str]] = []
        budget = budget_tokens * 4
        for t in rows:
            budget -= len(t.content)
            if budget < 0:
                break
            out.append((t.role, t.content))
    return out[::-1]


def remember(url: str, session: str, turns: list[tuple[str, str]]) -> None:
    now = datetime.now(UTC)
    with Session(engine(url)) as db, db.begin():
        db.add_all(Turn(session=session, role=r, content=c[:20_000], at=now) for r, c in turns)


def forget(url: str, session: str) -> None:
    with Session(engine(url)) as db, db.begin():
        db.execute(delete(Turn).where(Turn.session == session))


def faq_answer(url: str, faq_id: int) -> FAQ | None:
    with Session(engine(url)) as db:
        return db.get(FAQ, faq_id)


def add_faq(url: str, items: list[tuple[str, str, str]]) -> list[int]:
    """Store (question, answer, source) rows, replacing rows from the same sources."""
    with Session(engine(url)) as db, db.begin():
        sources = {s for _, _, s in items}
        db.execute(delete(FAQ).where(FAQ.source.in_(sources)))
        rows = [FAQ(question=q, answer=a, source=s) for q, a, s in items]
        db.add_all(rows)
        db.flush()
        return [r.id for r in rows]


def claim(url: str, conversation: str, owner: str) -> bool:
    """Make ``owner`` the conversation's owner if it has none; whether it is theirs."""
    with Session(engine(url)) as db, db.begin():
        row = db.get(Conversation, conversation)
        if row is None:
            db.add(Conversation(id=conversation, owner=owner, at=datetime.now(UTC)))
            return True
        return row.owner == owner


def owner_of(url: str, conversation: str) -> str | None:
    with Session(engine(url)) as db:
        row = db.get(Conversation, conversation)
        return row.owner if row else None


def conversations_of(url: str, owner: str, limit: int = 100) -> list[str]:
    """The owner's conversations, newest first."""
    with Session(engine(url)) as db:
        rows = db.scalars(
            select(Conversation.id)
            .where(Conversation.owner == owner)
            .order_by(Conversation.at.desc())
            .limit(limit)
        )
        return list(rows)
