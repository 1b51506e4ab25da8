"""Drive a pipeline with events in and check events out (pipecat's run_test idea)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
from nats.js import JetStreamContext

from switchboard.bus import Worker
from switchboard.bus.config import BusSettings
from switchboard.bus.nats.streams import read
from switchboard.bus.transport import Recorded
from switchboard.schemas import JobSubmitted

ROOT = Path(__file__).resolve().parent.parent


def jobs(sessions: int, per_session: int, **params: object) -> list[JobSubmitted]:
    """Events interleaved across sessions, each carrying its per-session sequence number."""
    return [
        JobSubmitted(correlation_id=f"s{s}", kind="relay", params={"seq": i, **params})  # type: ignore[dict-item]
        for i in range(per_session)
        for s in range(sessions)
    ]


async def collect(
    js: JetStreamContext, namespace: str, subject: str, n: int, wait_s: float = 30.0
) -> list[Recorded]:
    deadline = time.monotonic() + wait_s
    got: list[Recorded] = []
    while time.monotonic() < deadline:
        got = await read(js, namespace, subject)
        if len(got) >= n:
            return got
        await asyncio.sleep(0.2)
    return got


def by_session(records: list[Recorded]) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = defaultdict(list)
    for r in records:
        body = json.loads(r.data)
        seqs[body["correlation_id"]].append(int(body["message"].split("@")[0]))
    return seqs


def spawn_worker(
    settings: BusSettings, target: str = "tests.relay:relay", **env: str
) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        **{f"SWITCHBOARD_{k.upper()}": str(v) for k, v in settings.model_dump().items()},
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "switchboard.cli", "worker", target],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def job_state(get: Any, job_id: str, state: str, wait_s: float = 30) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` (``get``: a client's get) until the job is in ``state``."""
    deadline = time.monotonic() + wait_s
    got: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = get(f"/jobs/{job_id}")
        got = r.json() if r.status_code == 200 else {}
        if got.get("state") == state:
            break
        time.sleep(0.2)
    return got


@contextlib.asynccontextmanager
async def running(worker: Worker, settings: BusSettings) -> AsyncIterator[None]:
    """One replica of ``worker`` in this process, on the configured broker."""
    from switchboard.bus.runtime import run_worker

    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(worker, settings, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def sandboxes() -> list[psutil.Process]:
    """This process's descendants running untrusted code; one that has exited (or
    was killed and is not yet reaped, a zombie) is not running any more."""
    running = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # ZombieProcess is one: gone meanwhile
            if p.status() != psutil.STATUS_ZOMBIE and "sandbox_child" in " ".join(p.cmdline()):
                running.append(p)
    return running
