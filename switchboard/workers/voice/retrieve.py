"""Retrieval worker: voice.transcript (final) -> voice.context.

Passages nearest the user's words from the knowledge base (a FAQ question
close enough brings its stored answer), and the session's history trimmed to a
token budget. Typed chat (source=text) takes the same path."""

from __future__ import annotations

import asyncio

from switchboard.bus import Context, Worker
from switchboard.schemas import ChatTurn, Passage, Transcript
from switchboard.schemas import Context as VoiceContext
from switchboard.workers.engines.embed import load_embedder
from switchboard.workers.engines.vectors import collection

from . import kb, store

settings = store.VoiceSettings()


async def _load() -> None:
    await asyncio.to_thread(load_embedder)
    await asyncio.to_thread(store.engine, settings.db_url)
    await asyncio.to_thread(kb.ensure_starter, settings)


worker = Worker("retrieve", version="0.1.0", emits=(VoiceContext,), on_start=_load)


def passages(question: str) -> list[Passage]:
    hits = collection(settings.kb_collection).query(load_embedder().embed([question])[0], k=settings.passages)
    out = []
    for h in hits:
        if h.distance > settings.max_distance:
            continue
        if h.metadata.get("kind") == "faq":
            if h.distance > settings.faq_distance:
                continue
            row = store.faq_answer(settings.db_url, int(h.metadata["faq_id"]))
            if row is None:
                continue
            text, source = row.answer, f"faq:{row.source}"
        else:
            text, source = h.text, str(h.metadata.get("source", "kb"))
        out.append(Passage(text=text[:20_000], source=source[:1000], score=round(1 - h.distance, 4)))
    return out


@worker.handler(Transcript)
async def on_transcript(t: Transcript, ctx: Context) -> VoiceContext | None:
    if not t.is_final or not t.text.strip():
        return None
    found = await asyncio.to_thread(passages, t.text)
    past = await asyncio.to_thread(store.history, settings.db_url, t.correlation_id, settings.history_tokens)
    return VoiceContext(
        correlation_id=t.correlation_id,
        turn_id=t.id,
        query=t.text,
        passages=found,
        history=[ChatTurn(role=r, content=c) for r, c in past[-64:]],
    )
