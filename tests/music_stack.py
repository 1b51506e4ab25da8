"""The jobs worker and the six music workers on real NATS, in this process
(tests only), with the music store in a temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import pytest

from switchboard.bus import BusSettings
from switchboard.bus.nats.runner import NatsRunner
from switchboard.jobclient import run_job
from switchboard.schemas import JobStatus
from switchboard.workers import jobs
from switchboard.workers.music.steps import embed, evaluate, generate, ingest, tokenize, train
from switchboard.workers.music.store import MusicSettings

STEPS = (ingest, embed, tokenize, train, generate, evaluate)


@asynccontextmanager
async def music_stack(
    nats_settings: BusSettings, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    settings = MusicSettings(dir=folder, ingest_roots=[folder.parent])
    monkeypatch.setenv("SWITCHBOARD_MUSIC_DIR", str(folder))  # the edge reads it
    nc = await nats.connect(nats_settings.nats_url)
    workers = [jobs.build(), *(step.build(settings) for step in STEPS)]
    runners = [NatsRunner(nc, w, nats_settings) for w in workers]
    for r in runners:
        await r.start()
    try:
        yield
    finally:
        for r in runners:
            await r.stop()
        await nc.close()


async def job(settings: BusSettings, kind: str, **params: Any) -> tuple[JobStatus, list[JobStatus]]:
    """Run a job to its end: the last status and every status on the way."""
    seen: list[JobStatus] = []
    last = await run_job(settings, kind, params, seen.append)
    return last, seen
