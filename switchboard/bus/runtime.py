"""Run workers on the configured broker until stopped."""

from __future__ import annotations

import asyncio

from .config import BusSettings
from .transport import transport
from .worker import Worker


async def run_worker(worker: Worker, settings: BusSettings, stop: asyncio.Event) -> None:
    """Run one replica of ``worker`` on the configured broker until ``stop`` is set."""
    if worker.on_start:
        await worker.on_start()
    try:
        bus = transport(settings, worker.producer)
        async with bus:
            await bus.serve(worker, stop)
    finally:
        if worker.on_stop:
            await worker.on_stop()


__all__ = ["run_worker"]
