"""The edge app served by uvicorn on a free port, in this process (tests only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from switchboard.bus import BusSettings
from switchboard.bus.servers import free_port
from switchboard.edge.app import create_app, server_config
from switchboard.edge.settings import EdgeSettings


@asynccontextmanager
async def edge_server(settings: BusSettings, edge: EdgeSettings | None = None) -> AsyncIterator[int]:
    """Yields the port once the edge accepts connections (open, unless ``edge`` says otherwise)."""
    port = free_port()
    edge = edge or EdgeSettings(open=True)
    server = uvicorn.Server(server_config(create_app(settings, edge), edge, "127.0.0.1", port))
    task = asyncio.create_task(server.serve())
    for _ in range(200):  # noqa: ASYNC110  (uvicorn exposes no start event)
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        await task
