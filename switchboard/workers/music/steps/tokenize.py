"""music-tokenize: the job music.tokenize -> music.tokens (one per piece).

Every clustered piece becomes [semantic token] + REMI tokens (miditok) + EOS,
written as a new dataset version with train/valid/test splits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from switchboard.bus import Context, Worker, handles
from switchboard.schemas import Event, JobStatus, TokenizeRequest, Tokens
from switchboard.schemas.music import MAX_TOKENS

from .. import features
from .common import CancellableStep, MusicSettings, Throttle, in_thread, quiet_after_cancel

KIND = "music.tokenize"


async def _warm() -> None:
    """Import miditok (and torch) at start, not on the first job."""
    await asyncio.to_thread(features.tokenizer)


class TokenizeStep(CancellableStep):
    """The music-tokenize worker kind's handlers."""

    async def start(self) -> None:
        """Warm up before the first job."""
        await _warm()

    @handles(TokenizeRequest)
    @quiet_after_cancel
    async def on_tokenize(self, req: TokenizeRequest, ctx: Context) -> AsyncIterator[Event]:
        if self.cancelled(req.correlation_id):
            return  # cancelled before it began
        s = self.store()
        throttle = Throttle()

        def build(emit: Callable[[Any], None]) -> dict[str, Any]:
            return features.build_dataset(s, lambda done, total: emit((done, total)))

        try:
            async for done, item in in_thread(build):
                if done:
                    summary = item
                elif throttle():
                    yield ctx.job.status("running", 0.9 * item[0] / item[1], f"tokenized {item[0]}/{item[1]}")
        except LookupError as exc:
            yield ctx.job.status("failed", message=str(exc))
            return
        version = summary["version"]
        rows = await asyncio.to_thread(features.sequences, s.datasets / version, None)
        for row in rows:
            yield Tokens(
                correlation_id=req.correlation_id,
                causation_id=req.id,
                piece_id=row["piece_id"],
                tokenizer="REMI",
                cluster=row["cluster"],
                tokens=row["ids"][:MAX_TOKENS],
                split=row["split"],
                dataset_version=version,
            )
        for line in summary["skipped"]:
            yield ctx.job.status("running", 0.95, f"skipped {line}")
        splits = summary["splits"]
        yield ctx.job.status(
            "succeeded",
            1.0,
            f"dataset {version}: {summary['pieces']} pieces (train {splits['train']}, valid {splits['valid']}, "
            f"test {splits['test']}), vocabulary {summary['vocab']}",
            dataset_version=version,
            pieces=summary["pieces"],
            vocab=summary["vocab"],
            train=splits["train"],
            valid=splits["valid"],
            test=splits["test"],
            train_tokens=summary["tokens"]["train"],
            skipped=len(summary["skipped"]),
        )


def build(settings: MusicSettings | None = None) -> Worker:
    """The music-tokenize worker kind over the music store that ``settings`` name."""
    return Worker.of(
        TokenizeStep(settings),
        "music-tokenize",
        version="0.1.0",
        emits=(Tokens, JobStatus),
        job_kind=KIND,
        job_starts=TokenizeRequest,
    )
