"""A pass-through worker over real schemas, for bus tests (a test double: tests only).

jobs.submitted(params.seq) -> jobs.status(message=seq). ``params.fail`` makes
the handler raise; ``params.sleep`` makes it slow; ``params.permanent`` raises
PermanentError.
"""

from __future__ import annotations

import asyncio
import os

from switchboard.bus import Context, PermanentError, Worker
from switchboard.schemas import JobStatus, JobSubmitted

relay = Worker("relay", version=os.environ.get("RELAY_VERSION", "1"), emits=(JobStatus,))
calls: list[str] = []


@relay.handler(JobSubmitted)
async def on_submitted(event: JobSubmitted, ctx: Context) -> JobStatus:
    calls.append(event.id)
    if event.params.get("sleep"):
        await asyncio.sleep(float(event.params["sleep"]))  # type: ignore[arg-type]
    if event.params.get("exit"):
        os._exit(1)  # the process dies mid-message, as a segfaulting model would make it
    if event.params.get("permanent"):
        raise PermanentError("this input can never work")
    if event.params.get("fail"):
        raise RuntimeError("boom")
    return JobStatus(
        correlation_id=event.correlation_id,
        kind=event.kind,
        state="running",
        message=f"{event.params.get('seq')}@{relay.version}",
    )
