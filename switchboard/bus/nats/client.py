"""A NATS connection that reconnects forever and logs its state changes once
each (a long outage: its first failure, a count every 100, the recovery)."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client

from ..config import BusSettings
from ..flapping import Flapping

log = logging.getLogger(__name__)


async def connect_nats(settings: BusSettings, name: str, *, forever: bool = True) -> Client:
    """``forever``: a server process keeps trying to reach NATS (and reconnects);
    a command gives up after a few seconds with ``NoServersError``."""
    # every reconnect attempt (twice a second while the server is away) reports an
    # error: the first is logged, then every 100th with the count, then the recovery
    failing = Flapping(log, "nats connection", transient=(Exception,), every=100, client=name)

    async def on_error(exc: Exception) -> None:
        if forever:
            failing.failed(exc)
        else:
            log.debug("nats connection: %s", type(exc).__name__, extra={"client": name})

    async def on_disconnect() -> None:
        log.info("disconnected from NATS", extra={"client": name})

    async def on_reconnect() -> None:
        if failing.failures:
            failing.ok()
        else:
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
