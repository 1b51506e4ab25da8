"""`switchboard up` on Kafka as a user runs it: it starts Tansu when nothing
answers, the edge takes jobs over HTTP, and the CLI's job commands work."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from switchboard.bus.servers import free_port, port_open
from tests.conftest import fresh_namespace
from tests.helpers import ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_up_on_kafka_runs_the_edge_workers_and_cli(tmp_path: Path) -> None:
    kafka, http = free_port(), free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_BROKER": "kafka",
        "SWITCHBOARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
        "SWITCHBOARD_NAMESPACE": fresh_namespace(),
        "SWITCHBOARD_MUSIC_DIR": str(tmp_path / "music"),
        "SWITCHBOARD_EDGE_TOKEN_FILE": str(tmp_path / "edge-token"),
    }
    me = [sys.executable, "-m", "switchboard.cli"]
    log = tmp_path / "up.log"
    with log.open("w") as out:  # a file, not a pipe nobody drains
        up = subprocess.Popen(
            [
                *me,
                "up",
                "--port",
                str(http),
                *("--only", "jobs", "--only", "music-ingest", "--only", "music-embed"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{http}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        printed = log.read_text()
        assert "started here: Tansu" in printed
        # closed by default: the address `up` printed carries the token the edge made
        token = re.search(rf"http://127\.0\.0\.1:{http}/\?token=(\S+)", printed)
        assert token, printed
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        assert httpx.post(f"http://127.0.0.1:{http}/jobs", json={"kind": "music.tokenize"}).status_code == 401
        refused = httpx.post(f"http://127.0.0.1:{http}/jobs", json={"kind": "no.such.kind"}, headers=auth)
        assert refused.status_code == 400 and "unknown job kind" in refused.json()["detail"]

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*me, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
            )

        done = cli("music", "ingest", "--collection", "bach", "--limit", "2")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["pieces"] == 2 and "[succeeded 100%]" in done.stderr
        ns = env["SWITCHBOARD_NAMESPACE"]
        shown = cli("streams")
        assert re.search(r"jobs\.submitted +1 msgs", shown.stdout) and "  jobs " in shown.stdout, shown
        copied = cli("replay", "run", "--into", ns + "-rp", "--pipeline", "jobs")
        assert copied.returncode == 0 and "replayed 1 events" in copied.stdout, copied  # 1 job: 1 input
        dropped = cli("replay", "drop", ns + "-rp")
        assert f"{ns}-rp.jobs.submitted" in dropped.stdout, dropped
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
    assert not port_open("127.0.0.1", kafka)  # the Tansu it started is gone
