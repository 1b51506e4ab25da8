"""Submit a job on the bus and follow its jobs.status until it ends (the CLI's
``music ...`` commands), on any broker. Ctrl-C cancels the job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from switchboard.bus import envelope
from switchboard.bus.config import BusSettings
from switchboard.bus.transport import transport
from switchboard.schemas import TERMINAL_STATES, Event, JobCancel, JobStatus, JobSubmitted, advances, new_id

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

    async with _link(settings, take) as publish:
        await publish(JobSubmitted(correlation_id=job_id, kind=kind, params=params))
        state: str | None = None
        quiet_s = NO_WORKER_HINT_S  # a silence this long gets a hint; each hint doubles it (a slow step is not a stall)
        try:
            while True:
                try:
                    status = await asyncio.wait_for(statuses.get(), quiet_s)
                except TimeoutError:
                    if on_silence:
                        on_silence()
                    quiet_s *= 2
                    continue
                if not advances(state, status.state):
                    continue  # a late status of a step that had not heard of the end yet
                state = status.state
                on_status(status)
                if status.state in TERMINAL_STATES:
                    return status
        except asyncio.CancelledError:
            await publish(JobCancel(correlation_id=job_id, reason="cancelled from the command line"))
            raise


@contextlib.asynccontextmanager
async def _link(settings: BusSettings, take: Take) -> AsyncIterator[Publish]:
    """A publisher, while every jobs.status written from now on goes to ``take``."""

    def on_status(subject: str, headers: dict[str, str], data: bytes) -> None:
        take(envelope.read(headers).correlation_id, data)

    async with transport(settings, "cli", patient=False) as bus, bus.tail(["jobs.status"], on_status):
        yield bus.publisher(PRODUCER)
