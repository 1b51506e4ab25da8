"""A flapping bus under `switchboard up`: NATS is killed (SIGKILL, as a pulled
cable or a crashed broker) and started again on a cycle while the edge and the
workers run; what they logged is counted, and a job must go through after.
Shared by tests/integration/test_flapping_bus.py (short) and bench/bus/flapping.py
(five minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from switchboard.bus.servers import free_port, start_nats, stop

KINDS = "jobs,music-ingest,music-embed"  # one small model (MiniLM): the run is about the bus
JOB = {"kind": "music.ingest", "params": {"collection": "bach", "limit": 2}}


@dataclass
class Flapped:
    """What a run saw."""

    outages: int = 0
    lines_at_start: int = 0
    lines_flapping: int = 0  # from the first kill to the end
    tracebacks: int = 0
    jobs_after: list[str] = field(default_factory=list)  # the state each job after an outage ended in
    recovered_s: list[float] = field(default_factory=list)  # restart -> /readyz 200
    by_logger: dict[str, int] = field(default_factory=dict)

    @property
    def per_outage(self) -> float:
        return self.lines_flapping / max(1, self.outages)


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def _ready(client: httpx.Client, wait_s: float, up: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and up.poll() is None:
        try:
            if client.get("/readyz", timeout=5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _job(client: httpx.Client, wait_s: float) -> str:
    """Submit the job (retrying while the edge says the bus or a kind is not ready); its final state."""
    deadline = time.monotonic() + wait_s
    job = ""
    while not job and time.monotonic() < deadline:
        try:
            r = client.post("/jobs", json=JOB, timeout=10)
            if r.status_code == 202:
                job = r.json()["job_id"]
                break
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    while job and time.monotonic() < deadline:
        try:
            state = client.get(f"/jobs/{job}", timeout=10).json().get("state", "")
        except (httpx.HTTPError, ValueError):
            state = ""
        if state in ("succeeded", "failed", "cancelled"):
            return str(state)
        time.sleep(1.0)
    return "not submitted" if not job else "not finished"


def run(
    workdir: Path,
    duration_s: float,
    up_s: float = 20.0,
    down_s: float = 10.0,
    say: Callable[[str], Any] = print,
) -> Flapped:
    """Run `up` for ``duration_s`` of flapping (``up_s`` with the broker, ``down_s`` without)."""
    port, edge_port = free_port(), free_port()
    store = workdir / "nats"
    log_file = workdir / "up.log"
    env = {
        **os.environ,
        "SWITCHBOARD_NATS_URL": f"nats://127.0.0.1:{port}",
        "SWITCHBOARD_NAMESPACE": "flap" + uuid.uuid4().hex[:8],
        "SWITCHBOARD_MUSIC_DIR": str(workdir / "music"),
        "SWITCHBOARD_EDGE_OPEN": "1",
        "PYTHONUNBUFFERED": "1",
    }
    nats = start_nats(port, str(store))
    argv = [sys.executable, "-m", "switchboard.cli", "up", "--only", KINDS, "--port", str(edge_port)]
    argv += ["--metrics-port", "0", "--data-dir", str(store)]
    out = Flapped()
    with log_file.open("wb") as logf:
        up = subprocess.Popen(argv, cwd=workdir, env=env, stdout=logf, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{edge_port}")
    try:
        if not _ready(client, 300, up):
            raise RuntimeError("up was not ready within 300 s:\n" + "\n".join(_lines(log_file)[-30:]))
        first = _job(client, 300)
        if first != "succeeded":
            raise RuntimeError(f"the first job ended {first}:\n" + "\n".join(_lines(log_file)[-30:]))
        out.lines_at_start = len(_lines(log_file))
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            nats.send_signal(signal.SIGKILL)
            nats.wait()
            out.outages += 1
            say(f"outage {out.outages}: broker killed for {down_s:g} s")
            time.sleep(down_s)
            nats = start_nats(port, str(store))
            back = time.monotonic()
            if _ready(client, 120, up):
                out.recovered_s.append(time.monotonic() - back)
            out.jobs_after.append(_job(client, 180))
            say(
                f"  back: ready in {out.recovered_s[-1] if out.recovered_s else -1:.1f} s, job {out.jobs_after[-1]}"
            )
            time.sleep(max(0.0, min(up_s, end - time.monotonic())))
    finally:
        client.close()
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        stop(nats)
    lines = _lines(log_file)
    flapping = lines[out.lines_at_start :]
    out.lines_flapping = len(flapping)
    out.tracebacks = sum("Traceback" in line for line in flapping)
    for line in flapping:
        parts = line.split()
        name = parts[3] if len(parts) > 3 and parts[2] in ("INFO", "WARNING", "ERROR") else "(other)"
        out.by_logger[name] = out.by_logger.get(name, 0) + 1
    return out
