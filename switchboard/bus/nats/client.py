"""A NATS connection that reconnects forever and logs its state changes once each."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client

from ..config import BusSettings

log = logging.getLogger(__name__)


async def connect_nats(settings: BusSettings, name: str, *, forever: bool = True) -> Client:
    """``forever``: a server process keeps trying to reach NATS (and reconnects);
    a command gives up after a few seconds with ``NoServersError``."""

    async def on_error(exc: Exception) -> None:
        log.log(
            logging.WARNING if forever else logging.DEBUG,
            "nats connection: %s",
            type(exc).__name__,
            extra={"client": name},
        )

    async def on_disconnect() -> None:
        log.info("disconnected from NATS", extra={"client": name})

    async def on_reconnect() -> None:
        log.info("reconnected to NATS", extra={"client": name})

    return await nats.connect(
        settings.nats_url,
        name=name,
        max_reconnect_attempts=-1 if forever else 2,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
