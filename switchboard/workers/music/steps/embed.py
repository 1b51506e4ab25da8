"""music-embed: music.midi.raw -> music.embeddings, and the job music.embed.

Each piece is checked (it may come from any producer), stored with its
metadata and the MiniLM embedding of its description. ``music.embed.request``
clusters every stored piece (k-means): the semantic tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import Embeddings, EmbedRequest, Event, JobStatus, MidiRaw

from .. import features, ingest
from ..store import Store
from .common import CancellableStep, MusicSettings, quiet_after_cancel

MODEL = "all-MiniLM-L6-v2"


async def _warm() -> None:
    """Load MiniLM at start, not on the first piece."""
    await asyncio.to_thread(features.embed, ["warm up"])


def _store(store: Store, raw: MidiRaw) -> tuple[dict[str, Any], list[float]]:
    m = raw.meta
    piece = ingest.read_midi(
        raw.midi,
        raw.source,
        title=m.title or None,
        composer=m.composer or None,
        collection=m.collection or None,
    )
    description = raw.description or piece.description
    vector = features.embed([description])[0].tolist()
    record = {**piece.to_dict(), "piece_id": raw.piece_id, "description": description, "vector": vector}
    store.save_piece(raw.piece_id, raw.midi, record)
    return record, vector


class EmbedStep(CancellableStep):
    """The music-embed worker kind's handlers."""

    async def start(self) -> None:
        """Warm up before the first job."""
        await _warm()

    @handles(MidiRaw)
    @quiet_after_cancel
    async def on_piece(self, raw: MidiRaw, ctx: Context) -> AsyncIterator[Event]:
        if self.cancelled(raw.correlation_id):
            return  # cancelled before it began
        kind = "music.ingest"  # the ingest job's last piece closes it here, once stored
        try:
            record, vector = await asyncio.to_thread(_store, self.store(), raw)
            yield Embeddings(
                correlation_id=raw.correlation_id,
                causation_id=raw.id,
                piece_id=raw.piece_id,
                model=MODEL,
                description=record["description"],
                vector=vector,
            )
        except ingest.BadMidi as exc:
            yield ctx.job.status("running", message=f"skipped {raw.source}: {exc}", kind=kind)
        if raw.last:
            total = len(self.store().piece_ids())
            yield ctx.job.status(
                "succeeded",
                1.0,
                f"{raw.seq + 1} pieces stored; {total} in the corpus",
                pieces=raw.seq + 1,
                skipped=raw.skipped,
                corpus=total,
                kind=kind,
            )

    @handles(EmbedRequest)
    @quiet_after_cancel
    async def on_embed(self, req: EmbedRequest, ctx: Context) -> AsyncIterator[Event]:
        if self.cancelled(req.correlation_id):
            return  # cancelled before it began
        yield ctx.job.status("running", 0.1, f"embedding and clustering into {req.clusters} clusters")
        s = self.store()
        try:
            summary = await asyncio.to_thread(features.cluster_store, s, req.clusters)
        except (ValueError, LookupError) as exc:
            yield ctx.job.status("failed", message=str(exc))
            return
        for pid in s.piece_ids():
            rec = await asyncio.to_thread(s.piece, pid)
            yield Embeddings(
                correlation_id=req.correlation_id,
                causation_id=req.id,
                piece_id=pid,
                model=MODEL,
                description=rec["description"][:20_000],
                vector=rec["vector"],
                cluster=rec["cluster"],
            )
        sizes = " ".join(str(n) for n in summary["sizes"])
        yield ctx.job.status(
            "succeeded",
            1.0,
            f"{summary['pieces']} pieces in {summary['clusters']} clusters (sizes {sizes})",
            pieces=summary["pieces"],
            clusters=summary["clusters"],
            sizes=sizes,
            embedded=summary["embedded"],
        )


def build(settings: MusicSettings | None = None) -> Worker:
    """The music-embed worker kind over the music store that ``settings`` name."""
    return Worker.of(
        EmbedStep(settings),
        "music-embed",
        version="0.1.0",
        emits=(Embeddings, JobStatus),
        job_kind="music.embed",
        job_starts=EmbedRequest,
    )
