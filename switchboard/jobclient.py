"""Submit a job on the bus and follow its jobs.status until it ends (the CLI's
``music ...`` commands). Ctrl-C cancels the job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from bus import envelope
from bus.config import BusSettings
from bus.jetstream import JetStreamPublisher, provision
from bus.runtime import connect_nats
from bus.subjects import address
from schemas import TERMINAL_STATES, JobCancel, JobStatus, JobSubmitted, new_id

NO_WORKER_HINT_S = 20.0


async def run_job(
    settings: BusSettings,
    kind: str,
    params: dict[str, Any],
    on_status: Callable[[JobStatus], None],
    on_silence: Callable[[], None] | None = None,
) -> JobStatus:
    nc = await connect_nats(settings, "cli")
    job_id = new_id()
    statuses: asyncio.Queue[JobStatus] = asyncio.Queue()

    async def on_msg(msg: Any) -> None:
        if (msg.headers or {}).get(envelope.CORRELATION_ID) == job_id:
            with contextlib.suppress(ValueError):
                statuses.put_nowait(JobStatus.model_validate_json(msg.data))

    try:
        await provision(nc.jetstream(), settings)
        sub = await nc.subscribe(address(settings.namespace, "jobs.status") + ".>", cb=on_msg)
        publisher = JetStreamPublisher(nc, settings, "cli@0.1.0")
        await publisher.publish(JobSubmitted(correlation_id=job_id, kind=kind, params=params))
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
            await publisher.publish(
                JobCancel(correlation_id=job_id, reason="cancelled from the command line")
            )
            raise
        finally:
            await sub.unsubscribe()
    finally:
        await nc.drain()
