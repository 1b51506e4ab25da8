"""The five voice workers with their real models and the edge, on real NATS,
in this process (tests only). Yields the edge's port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest

from switchboard.bus import BusSettings
from switchboard.bus.nats.runner import NatsRunner
from switchboard.workers.voice import llm, retrieve, store, stt, tts, vad
from tests.edge_server import edge_server

VOICE = (vad, stt, retrieve, llm, tts)


@asynccontextmanager
async def voice_stack(
    nats_settings: BusSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[int]:
    settings = store.VoiceSettings(
        db_url=f"sqlite:///{tmp_path / 'voice.db'}", kb_collection=f"kb-test-{uuid.uuid4().hex[:8]}"
    )
    monkeypatch.setattr(retrieve, "settings", settings)
    monkeypatch.setattr(llm, "settings", settings)
    nc = await nats.connect(nats_settings.nats_url)
    runners = [NatsRunner(nc, w.worker, nats_settings) for w in VOICE]
    for r in runners:
        await r.start()
    for w in VOICE:  # models load before the clock starts
        assert w.worker.on_start
        await w.worker.on_start()
    try:
        async with edge_server(nats_settings) as port:
            yield port
    finally:
        for r in runners:
            await r.stop()
        await nc.close()
