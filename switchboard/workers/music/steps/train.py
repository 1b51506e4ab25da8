"""music-train: the job music.train -> music.model checkpoints.

Trains a GPT-2 from a config on a dataset version (or resumes a model
version), with progress and loss on jobs.status, a music.model event per
checkpoint and a final one, and stops on jobs.cancel or its time budget."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import Event, JobStatus, ModelCheckpoint, TrainRequest
from switchboard.schemas.jobs import JobState

from .. import model
from .common import CancellableStep, MusicSettings, Throttle, in_thread, quiet_after_cancel

KIND = "music.train"


async def _warm() -> None:
    """Import transformers and torch at start, not on the first job."""
    await asyncio.to_thread(importlib.import_module, "transformers.trainer")


def _line(p: model.Progress, loss: float | None, valid: float | None) -> str:
    parts = [f"step {p.step}/{p.max_steps}"]
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    if valid is not None:
        parts.append(f"valid loss {valid:.3f}")
    if p.tokens_per_s:
        parts.append(f"{p.tokens_per_s:.0f} tokens/s")
    return ", ".join(parts)


def _losses(result: dict[str, Any]) -> str:
    """The run's losses in words ("no loss yet" for a run stopped before its first step)."""
    parts = [f"{name} {result[key]}" for name, key in (("loss", "train_loss"), ("valid", "valid_loss"))]
    known = [p for p, key in zip(parts, ("train_loss", "valid_loss"), strict=True) if result[key] is not None]
    return ", ".join(known) or "no loss yet"


class TrainStep(CancellableStep):
    """The music-train worker kind's handlers."""

    async def start(self) -> None:
        """Warm up before the first job."""
        await _warm()

    @handles(TrainRequest)
    @quiet_after_cancel
    async def on_train(self, req: TrainRequest, ctx: Context) -> AsyncIterator[Event]:
        over = self.settings.train_limits(req)
        if over:
            yield ctx.job.status("failed", message=over)
            return
        s = self.store()
        throttle = Throttle(2.0)
        last_loss: float | None = None
        valid_loss: float | None = None

        def run(emit: Callable[[Any], None]) -> dict[str, Any]:
            return model.train(s, req, emit, lambda: self.cancelled(req.correlation_id))

        yield ctx.job.status("running", 0.0, "preparing the data")
        try:
            async for done, item in in_thread(run):
                if done:
                    result = item
                    break
                p: model.Progress = item
                last_loss = p.train_loss if p.train_loss is not None else last_loss
                valid_loss = p.valid_loss if p.valid_loss is not None else valid_loss
                if p.checkpoint:
                    yield ModelCheckpoint(
                        correlation_id=req.correlation_id,
                        causation_id=req.id,
                        model_version=p.checkpoint.split("/")[-2][:128],
                        step=p.step,
                        epoch=0.0,
                        train_loss=last_loss,
                        valid_loss=valid_loss,
                        path=p.checkpoint[:1000],
                    )
                elif p.valid_loss is not None or throttle():
                    message = _line(p, last_loss, valid_loss)
                    yield ctx.job.status("running", p.step / max(1, p.max_steps), message)
        except (LookupError, ValueError) as exc:
            yield ctx.job.status("failed", message=str(exc))
            return
        version = result["model_version"]
        yield ModelCheckpoint(
            correlation_id=req.correlation_id,
            causation_id=req.id,
            model_version=version,
            step=result["steps"],
            epoch=0.0,
            train_loss=result["train_loss"],
            valid_loss=result["valid_loss"],
            path=str(s.models / version / "final"),
            final=True,
            metrics={k: result[k] for k in ("parameters", "seconds", "tokens_per_s", "train_windows")},
        )
        state: JobState = "cancelled" if self.cancelled(req.correlation_id) else "succeeded"
        why = (
            " (stopped: cancelled)"
            if state == "cancelled"
            else " (time budget reached)"
            if result["stopped_early"]
            else ""
        )
        yield ctx.job.status(
            state,
            1.0,
            f"model {version}: {result['steps']} steps, {_losses(result)}{why}",
            model_version=version,
            steps=result["steps"],
            train_loss=result["train_loss"],
            valid_loss=result["valid_loss"],
            tokens_per_s=result["tokens_per_s"],
            seconds=result["seconds"],
            parameters=result["parameters"],
            loss_plot=f"/music/models/{version}/loss.png",
        )


def build(settings: MusicSettings | None = None) -> Worker:
    """The music-train worker kind over the music store that ``settings`` name."""
    return Worker.of(
        TrainStep(settings),
        "music-train",
        version="0.1.0",
        emits=(ModelCheckpoint, JobStatus),
        job_kind=KIND,
        job_starts=TrainRequest,
    )
