"""A NATS connection that reconnects forever and logs its state changes once each."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client

from ..config import BusSettings

log = logging.getLogger(__name__)


async def connect_nats(settings: BusSettings, name: str) -> Client:
    async def on_error(exc: Exception) -> None:
        log.warning("nats connection: %s", type(exc).__name__, extra={"client": name})

    async def on_disconnect() -> None:
        log.info("disconnected from NATS", extra={"client": name})

    async def on_reconnect() -> None:
        log.info("reconnected to NATS", extra={"client": name})

    return await nats.connect(
        settings.nats_url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
