"""Retrieval worker: voice.transcript (final) -> voice.context.

Passages nearest the user's words from the knowledge base (a FAQ question
close enough brings its stored answer), and the session's history trimmed to a
token budget. Typed chat (source=text) takes the same path."""

from __future__ import annotations

import asyncio

from switchboard.bus import Context, Worker, handles, loading
from switchboard.schemas import ChatTurn, Passage, Transcript
from switchboard.schemas import Context as VoiceContext
from switchboard.workers.engines.embed import Embedder, load_embedder
from switchboard.workers.engines.vectors import Collection, collection

from . import kb, store


class RetrieveWorker:
    """Finds passages with an embedder and a vector collection, history in the store."""

    def __init__(
        self,
        settings: store.VoiceSettings | None = None,
        embedder: Embedder | None = None,
        passages: Collection | None = None,
    ) -> None:
        self.settings = settings or store.VoiceSettings()
        self.embedder = embedder
        self.collection = passages

    async def start(self) -> None:
        """Load the embedder, open the store, and fill an empty knowledge base with the starter one."""
        if self.embedder is None:
            loading.report("loading the embedder", 0.0)
            self.embedder = await asyncio.to_thread(load_embedder)
        if self.collection is None:
            loading.report("opening the knowledge base", 0.5)
            self.collection = await asyncio.to_thread(collection, self.settings.kb_collection)
        loading.report("opening the history store", 0.7)
        await asyncio.to_thread(store.engine, self.settings.db_url)
        loading.report("checking the knowledge base", 0.8)
        await asyncio.to_thread(kb.ensure_starter, self.settings, self.embedder, self.collection)

    def passages(self, question: str) -> list[Passage]:
        """The knowledge base's passages near ``question`` (a close FAQ question brings its answer)."""
        assert self.embedder is not None and self.collection is not None, "retrieve was not started"
        s = self.settings
        hits = self.collection.query(self.embedder.embed([question])[0], k=s.passages)
        out = []
        for h in hits:
            if h.distance > s.max_distance:
                continue
            if h.metadata.get("kind") == "faq":
                if h.distance > s.faq_distance:
                    continue
                row = store.faq_answer(s.db_url, int(h.metadata["faq_id"]))
                if row is None:
                    continue
                text, source = row.answer, f"faq:{row.source}"
            else:
                text, source = h.text, str(h.metadata.get("source", "kb"))
            out.append(Passage(text=text[:20_000], source=source[:1000], score=round(1 - h.distance, 4)))
        return out

    @handles(Transcript)
    async def on_transcript(self, t: Transcript, ctx: Context) -> VoiceContext | None:
        """The context for a final transcript's answer: passages and history."""
        if not t.is_final or not t.text.strip():
            return None
        found = await asyncio.to_thread(self.passages, t.text)
        past = await asyncio.to_thread(
            store.history, self.settings.db_url, t.correlation_id, self.settings.history_tokens
        )
        return VoiceContext(
            correlation_id=t.correlation_id,
            turn_id=t.id,
            query=t.text,
            passages=found,
            history=[ChatTurn(role=r, content=c) for r, c in past[-64:]],
        )


def build(
    settings: store.VoiceSettings | None = None,
    embedder: Embedder | None = None,
    passages: Collection | None = None,
) -> Worker:
    """The retrieve worker kind, with its engines (loaded at start when not given)."""
    return Worker.of(
        RetrieveWorker(settings, embedder, passages), "retrieve", version="0.1.0", emits=(VoiceContext,)
    )
