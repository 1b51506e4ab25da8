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

from . import kb, notes, store


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
        self.sentence_vectors: notes.SentenceVectors | None = None

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
        """The notes for ``question``: a close FAQ question's stored answer, else the
        knowledge base's sentences nearest it (``notes.pick``)."""
        assert self.embedder is not None and self.collection is not None, "retrieve was not started"
        s = self.settings
        vector = self.embedder.embed([question])[0]
        hits = self.collection.query(vector, k=s.passages)
        answers, docs = [], []
        for h in hits:
            if h.metadata.get("kind") != "faq":
                text = notes.after_overlap(h.text) if int(h.metadata.get("chunk", 0)) > 0 else h.text
                docs.append((text, str(h.metadata.get("source", "kb")), 0.0))
                continue
            row = store.faq_answer(s.db_url, int(h.metadata["faq_id"]))
            if row is None:
                continue
            if h.distance <= s.faq_distance:
                answers.append(
                    Passage(
                        text=row.answer[:20_000],
                        source=f"faq:{row.source}"[:1000],
                        score=round(1 - h.distance, 4),
                    )
                )
            else:  # a farther FAQ question still vouches for its answer as much as it is near
                docs.append((row.answer, f"faq:{row.source}", 1 - h.distance))
        if answers:
            return answers  # a curated answer: other notes would only cost reading time
        if self.sentence_vectors is None:
            self.sentence_vectors = notes.SentenceVectors(self.embedder)
        picked = notes.pick(
            vector, docs, self.sentence_vectors, budget=s.notes_chars, min_score=1 - s.max_distance
        )
        return [Passage(text=t[:20_000], source=src[:1000], score=score) for t, src, score in picked]

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
