"""Submit a job on the bus and follow its jobs.status until it ends (the CLI's
``music ...`` commands), on NATS or on Kafka. Ctrl-C cancels the job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bus import envelope
from bus.config import BusSettings
from bus.subjects import address
from schemas import TERMINAL_STATES, Event, JobCancel, JobStatus, JobSubmitted, new_id

NO_WORKER_HINT_S = 20.0
PRODUCER = "cli@0.1.0"
Take = Callable[[str, bytes], None]  # (correlation id, jobs.status payload)
Publish = Callable[[Event], Awaitable[object]]


async def run_job(
    settings: BusSettings,
    kind: str,
    params: dict[str, Any],
    on_status: Callable[[JobStatus], None],
    on_silence: Callable[[], None] | None = None,
) -> JobStatus:
    job_id = new_id()
    statuses: asyncio.Queue[JobStatus] = asyncio.Queue()

    def take(correlation_id: str, data: bytes) -> None:
        if correlation_id == job_id:
            with contextlib.suppress(ValueError):
                statuses.put_nowait(JobStatus.model_validate_json(data))

    link = _kafka if settings.broker == "kafka" else _nats
    async with link(settings, take) as publish:
        await publish(JobSubmitted(correlation_id=job_id, kind=kind, params=params))
        try:
            while True:
                try:
                    status = await asyncio.wait_for(statuses.get(), NO_WORKER_HINT_S)
                except TimeoutError:
                    if on_silence:
                        on_silence()
                    continue
                on_status(status)
                if status.state in TERMINAL_STATES:
                    return status
        except asyncio.CancelledError:
            await publish(JobCancel(correlation_id=job_id, reason="cancelled from the command line"))
            raise


@contextlib.asynccontextmanager
async def _nats(settings: BusSettings, take: Take) -> AsyncIterator[Publish]:
    from bus.jetstream import JetStreamPublisher, provision
    from bus.runtime import connect_nats

    nc = await connect_nats(settings, "cli")

    async def on_msg(msg: Any) -> None:
        take((msg.headers or {}).get(envelope.CORRELATION_ID, ""), msg.data)

    try:
        await provision(nc.jetstream(), settings)
        sub = await nc.subscribe(address(settings.namespace, "jobs.status") + ".>", cb=on_msg)
        try:
            yield JetStreamPublisher(nc, settings, PRODUCER).publish
        finally:
            await sub.unsubscribe()
    finally:
        await nc.drain()


@contextlib.asynccontextmanager
async def _kafka(settings: BusSettings, take: Take) -> AsyncIterator[Publish]:
    from bus.fs_runner import FastStreamPublisher
    from bus.kafka import headers_of, tail
    from bus.runtime import build_broker, provision_kafka
    from schemas import EVENT_TYPES

    def on_record(r: Any) -> None:
        take(headers_of(r).get(envelope.CORRELATION_ID, ""), r.value)

    await provision_kafka(settings, list(EVENT_TYPES))
    broker = build_broker(settings)
    async with tail(settings, [address(settings.namespace, "jobs.status")], on_record):
        try:
            await broker.start()  # after the tail: no status can come before it reads
            yield FastStreamPublisher(broker, settings, PRODUCER).publish
        finally:
            await broker.stop()
