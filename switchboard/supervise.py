"""Run child processes (workers, the edge) and restart the ones that die."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started: float = field(default=0.0)

    def start(self) -> None:
        # own session: a Ctrl-C reaches the supervisor alone, which stops children in order
        self.proc = subprocess.Popen(self.argv, start_new_session=True)
        self.started = time.monotonic()


def supervise(children: list[Child], *, restart: bool = True) -> int:
    """Start every child; restart crashed ones with backoff; stop all on SIGINT/SIGTERM."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.start()
    while not stopping:
        time.sleep(0.5)
        for child in children:
            assert child.proc
            code = child.proc.poll()
            if code is None or stopping:
                continue
            if not restart:
                stopping = True
                break
            delay = min(30.0, 2.0**child.restarts) if time.monotonic() - child.started < 30 else 1.0
            child.restarts += 1
            log.warning("child exited; restarting", extra={"child": child.name, "code": code, "in_s": delay})
            time.sleep(delay)
            child.start()
    for child in children:
        if child.proc and child.proc.poll() is None:
            child.proc.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        if child.proc:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
    return 0
