"""music-ingest: music.ingest.request -> music.midi.raw (one per piece).

Reads a music21 corpus collection or a folder of .mid files; every file that
is not a usable piece is reported on jobs.status with its reason. The last
piece is marked, so the embed worker can close the job when it is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import Event, IngestRequest, JobStatus, MidiRaw, PieceMeta

from .. import ingest
from .common import CancellableStep, MusicSettings, in_thread, quiet_after_cancel

KIND = "music.ingest"


def _raw(req: IngestRequest, data: bytes, p: ingest.Piece, seq: int, skipped: int, last: bool) -> MidiRaw:
    meta = PieceMeta(
        title=(p.title or "")[:1000],
        composer=(p.composer or "")[:1000],
        collection=(p.collection or "")[:1000],
        duration_s=p.duration_s,
        tempo_bpm=p.tempo_bpm,
        time_signature=p.time_signature,
        key=p.key,
        instruments=[i[:1000] for i in p.instruments[:64]],
        note_count=p.notes,
        pitch_min=p.lowest_pitch,
        pitch_max=p.highest_pitch,
    )
    return MidiRaw(
        correlation_id=req.correlation_id,
        causation_id=req.id,
        piece_id=p.piece_id,
        source=p.source[:1000],
        midi=data,
        meta=meta,
        description=p.description,
        seq=seq,
        last=last,
        skipped=skipped,
    )


class IngestStep(CancellableStep):
    """The music-ingest worker kind's handlers."""

    @handles(IngestRequest)
    @quiet_after_cancel
    async def on_ingest(self, req: IngestRequest, ctx: Context) -> AsyncIterator[Event]:
        try:
            folder = self.settings.ingest_folder(req.folder) if req.folder else None
        except ValueError as exc:
            yield ctx.job.status("failed", message=str(exc))
            return

        def read(emit: Callable[[Any], None]) -> None:
            cache = self.store().root / "cache" / "corpus"
            for item in ingest.pieces(req.collection, folder, req.limit, cache):
                if self.cancelled(req.correlation_id):
                    return
                emit(item)

        total = req.limit * (len(req.collection.split(",")) if req.collection else 1)
        yield ctx.job.status("running", 0.0, f"reading {req.collection or req.folder}")
        held: tuple[bytes, ingest.Piece] | None = None  # one piece behind, to mark the last
        seq = skipped = 0
        try:
            async for done, item in in_thread(read):
                if done:
                    break
                if isinstance(item, ingest.Skipped):
                    skipped += 1
                    yield ctx.job.status("running", seq / total, f"skipped {item.source}: {item.reason}")
                    continue
                if held is not None:
                    yield _raw(req, *held, seq, skipped, last=False)
                    seq += 1
                    if seq % 10 == 0:
                        yield ctx.job.status("running", 0.95 * seq / total, f"read {seq} pieces")
                held = item
        except ValueError as exc:
            yield ctx.job.status("failed", message=str(exc))
            return
        if self.cancelled(req.correlation_id):
            yield ctx.job.status("cancelled", message="cancelled")
            return
        if held is None:
            yield ctx.job.status(
                "succeeded", 1.0, f"no usable pieces ({skipped} skipped)", pieces=0, skipped=skipped
            )
            return
        yield ctx.job.status("running", 0.95, f"read {seq + 1} pieces ({skipped} skipped); storing")
        yield _raw(req, *held, seq, skipped, last=True)


def build(settings: MusicSettings | None = None) -> Worker:
    """The music-ingest worker kind over the music store that ``settings`` name."""
    return Worker.of(
        IngestStep(settings),
        "music-ingest",
        version="0.1.0",
        emits=(MidiRaw, JobStatus),
        job_kind=KIND,
        job_starts=IngestRequest,
    )
