"""The switchboard command as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from switchboard.bus import BusSettings, transport
from switchboard.schemas import JobSubmitted
from tests.helpers import ROOT

pytestmark = pytest.mark.nats


def sb(*args: str, settings: BusSettings | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if settings:
        env["SWITCHBOARD_NATS_URL"] = settings.nats_url
    return subprocess.run(
        [sys.executable, "-m", "switchboard.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


def test_unknown_worker_is_a_clear_error() -> None:
    result = sb("worker", "no-such-worker")
    assert result.returncode == 2
    assert "unknown worker 'no-such-worker'" in result.stderr and "jobs" in result.stderr


def test_streams_and_replay_commands(nats_settings: BusSettings) -> None:
    ns = nats_settings.namespace

    async def submit() -> None:
        async with transport(nats_settings) as bus:
            await bus.publisher("test@1")(JobSubmitted(correlation_id="c1", kind="relay"))

    asyncio.run(submit())
    result = sb(
        "replay", "run", "--into", ns + "-r", "--pipeline", "jobs", "--namespace", ns, settings=nats_settings
    )
    assert result.returncode == 0, result.stderr
    assert "replayed 1 events" in result.stdout
    listed = sb("streams", "--namespace", ns + "-r", "--json", settings=nats_settings)
    assert listed.returncode == 0, listed.stderr
    held = {s["subject"]: s["messages"] for s in json.loads(listed.stdout) if s["messages"]}
    assert held == {"jobs.submitted": 1}
    shown = sb("streams", "--namespace", ns, "--partitions", settings=nats_settings)
    assert shown.returncode == 0 and "jobs.submitted" in shown.stdout
    refused = sb("replay", "run", "--into", ns, "--namespace", ns, settings=nats_settings)
    assert refused.returncode == 2 and "live namespace" in refused.stderr
    dropped = sb("replay", "drop", ns + "-r", settings=nats_settings)
    assert dropped.returncode == 0 and "JOBS" in dropped.stdout


@pytest.mark.parametrize("broker", ["nats", "kafka"])
def test_commands_that_need_the_bus_fail_fast_when_it_is_down(broker: str) -> None:
    """One clear line and exit 2 within seconds, not a retry loop."""
    from switchboard.bus.servers import free_port

    port = free_port()  # nothing listens there
    env = {
        **os.environ,
        "SWITCHBOARD_BROKER": broker,
        "SWITCHBOARD_NATS_URL": f"nats://127.0.0.1:{port}",
        "SWITCHBOARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
    }
    for args in (["streams"], ["replay", "drop", "gone-r"], ["music", "tokenize"]):
        result = subprocess.run(
            [sys.executable, "-m", "switchboard.cli", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,  # a hang fails here
        )
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "cannot reach the bus" in lines[0], (args, result.stderr)
