"""What every command shares: settings, errors, the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from switchboard.bus.config import BusSettings
from switchboard.bus.transport import Transport

Namespace = Annotated[str | None, typer.Option(help="Subject/stream namespace [env SWITCHBOARD_NAMESPACE]")]
T = TypeVar("T")


def settings_for(namespace: str | None = None) -> BusSettings:
    settings = BusSettings()
    if namespace:
        settings = BusSettings(**{**settings.model_dump(), "namespace": namespace})
    return settings


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def on_bus(settings: Any, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; a bus that cannot be reached is a clear error, not a traceback."""
    from switchboard.bus.transport import transport_class

    broker = transport_class(settings.broker)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connect errors: said once, below
    try:
        return asyncio.run(work)
    except broker.unreachable as exc:
        where = broker(settings).address
        fail(f"cannot reach the bus at {where}: {exc} (start it with `switchboard up`)")
        raise  # unreachable: _fail exits


def bus_for(settings: BusSettings, provision: bool = True) -> Transport:
    """The configured broker's transport, for ``async with``."""
    from switchboard.bus.transport import transport

    return transport(settings, "switchboard-cli", provision=provision, patient=False)
