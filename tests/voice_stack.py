"""The five voice workers and the edge, on real NATS, in this process (tests
only): real models unless engines are handed in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from switchboard.bus import BusSettings, Worker
from switchboard.bus.nats.runner import NatsRunner
from switchboard.edge.settings import EdgeSettings
from switchboard.workers.voice import llm, retrieve, store, stt, tts, vad
from tests.edge_server import edge_server


@dataclass
class VoiceStack:
    port: int
    workers: dict[str, Worker]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def service(self, name: str) -> Any:
        """The object behind a worker kind (to swap an engine mid-test)."""
        return self.workers[name].service


def voice_workers(settings: store.VoiceSettings, **engines: Any) -> list[Worker]:
    """The voice kinds built with ``settings``; engines by name (vad, stt, embedder,
    passages, llm, tts) replace the real ones."""
    return [
        vad.build(engines.get("vad")),
        stt.build(engines.get("stt")),
        retrieve.build(settings, engines.get("embedder"), engines.get("passages")),
        llm.build(engines.get("llm"), settings),
        tts.build(engines.get("tts")),
    ]


def voice_settings(tmp_path: Path) -> store.VoiceSettings:
    return store.VoiceSettings(
        db_url=f"sqlite:///{tmp_path / 'voice.db'}", kb_collection=f"kb-test-{uuid.uuid4().hex[:8]}"
    )


@asynccontextmanager
async def voice_stack(
    nats_settings: BusSettings, tmp_path: Path, edge: EdgeSettings | None = None, **engines: Any
) -> AsyncIterator[VoiceStack]:
    workers = voice_workers(voice_settings(tmp_path), **engines)
    nc = await nats.connect(nats_settings.nats_url)
    runners = [NatsRunner(nc, w, nats_settings) for w in workers]
    for r in runners:
        await r.start()
    for w in workers:  # models load before the clock starts
        assert w.on_start
        await w.on_start()
    try:
        async with edge_server(nats_settings, edge) as port:
            yield VoiceStack(port, {w.name: w for w in workers})
    finally:
        for r in runners:
            await r.stop()
        await nc.close()
