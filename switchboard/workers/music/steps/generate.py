"""music-generate: music.generate.request -> music.generated.

Prompt -> nearest semantic cluster -> sampled tokens -> a MIDI file checked
with pretty_midi, saved with its piano roll; both are served by the edge at
/music/generated/<id>.mid and .png, and come back in the event itself."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import Event, Generated, GenerateRequest, JobStatus

from .. import sample
from .common import CancellableStep, MusicSettings, Throttle, in_thread, quiet_after_cancel

KIND = "music.generate"


async def _warm() -> None:
    """Import the model code and MiniLM at start, not on the first request."""
    from .. import features

    await asyncio.to_thread(importlib.import_module, "transformers.models.gpt2")
    await asyncio.to_thread(features.embed, ["warm up"])


class GenerateStep(CancellableStep):
    """The music-generate worker kind's handlers."""

    async def start(self) -> None:
        """Warm up before the first job."""
        await _warm()

    @handles(GenerateRequest)
    @quiet_after_cancel
    async def on_generate(self, req: GenerateRequest, ctx: Context) -> AsyncIterator[Event]:
        s = self.store()
        throttle = Throttle(0.5)

        def run(emit: Callable[[Any], None]) -> tuple[sample.Piece, bytes]:
            piece = sample.generate(
                s,
                req.prompt,
                model_version=req.model_version,
                max_tokens=req.max_tokens,
                seconds=req.seconds,
                temperature=req.temperature,
                top_p=req.top_p,
                seed=req.seed,
                candidates=req.candidates,
                progress=emit,
                stop=lambda: self.cancelled(req.correlation_id),  # within a chunk of tokens
            )
            png = sample.piano_roll(piece.midi, req.prompt)
            s.generated.mkdir(parents=True, exist_ok=True)
            (s.generated / f"{req.id}.mid").write_bytes(piece.midi)
            (s.generated / f"{req.id}.png").write_bytes(png)
            return piece, png

        yield ctx.job.status("running", 0.0, "sampling")
        try:
            async for done, item in in_thread(run):
                if done:
                    piece, png = item
                elif throttle():
                    yield ctx.job.status("running", 0.95 * item, f"sampling: {int(100 * item)} %")
        except (LookupError, sample.NoMusic) as exc:
            yield ctx.job.status("failed", message=str(exc))
            return
        if self.cancelled(req.correlation_id):
            return  # a piece cut short by the cancel is not handed out
        values = piece.asked.as_scalars() | piece.met
        if piece.transposed:
            values["transposed"] = piece.transposed
        understood = piece.asked.summary()[:1000]
        yield Generated(
            correlation_id=req.correlation_id,
            causation_id=req.id,
            request_id=req.id,
            prompt=req.prompt,
            cluster=piece.cluster,
            model_version=piece.model_version,
            midi=piece.midi,
            token_count=len(piece.tokens),
            duration_s=round(piece.duration_s, 2),
            note_count=piece.notes,
            piano_roll=png,
            path=str(s.generated / f"{req.id}.mid"),
            understood=understood,
            attributes=values,
        )
        yield ctx.job.status(
            "succeeded",
            1.0,
            f"{piece.notes} notes, {piece.duration_s:.1f} s (cluster {piece.cluster}, model {piece.model_version})",
            midi_url=f"/music/generated/{req.id}.mid",
            piano_roll_url=f"/music/generated/{req.id}.png",
            notes=piece.notes,
            duration_s=round(piece.duration_s, 2),
            tokens=len(piece.tokens),
            cluster=piece.cluster,
            model_version=piece.model_version,
            understood=understood,
            **values,
        )


def build(settings: MusicSettings | None = None) -> Worker:
    """The music-generate worker kind over the music store that ``settings`` name."""
    return Worker.of(
        GenerateStep(settings),
        "music-generate",
        version="0.1.0",
        emits=(Generated, JobStatus),
        job_kind=KIND,
        job_starts=GenerateRequest,
    )
