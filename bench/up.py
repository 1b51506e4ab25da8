"""``switchboard up`` from nothing: seconds until every worker kind is ready,
and the memory the whole stack holds then (PSS: pages shared between
processes, such as torch's libraries, counted once in all).

    python bench/up.py [--only KIND ...] [--warm-cache] [--timeout 900]

Runs ``switchboard up`` in an empty folder (its own edge token, NATS data,
ChromaDB, voice database), with a fresh namespace, its own edge and model
server ports, and an empty model cache (the packaged model is joined from its
parts as on a fresh clone; ``--warm-cache`` keeps the usual cache). A kind is
ready when it logs "worker running" (after its models are loaded: the LLM
kinds wait for the model server to serve); the stack is ready when every kind
is and the edge's /readyz answers 200 (its bus ok, when no LLM kind runs). Prints each kind's seconds, the total,
and the proportional set size of every process ``up`` started, summed. NATS
is attached to when one answers (not counted), as ``make up`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import nats  # noqa: E402
import psutil  # noqa: E402

from switchboard.bus.nats.streams import drop  # noqa: E402
from switchboard.bus.servers import free_port, stop  # noqa: E402
from switchboard.workers import REGISTRY  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNNING = re.compile(r"worker running .*worker=([\w-]+)")


def tree_pss_mb(pid: int) -> tuple[float, dict[str, float]]:
    root = psutil.Process(pid)
    per: dict[str, float] = {}
    for p in [root, *root.children(recursive=True)]:
        try:
            cmd = p.cmdline()
            mb = p.memory_full_info().pss / 2**20
        except psutil.Error:
            continue
        name = next((a for a in reversed(cmd) if a in REGISTRY or a in ("edge", "serve", "up")), p.name())
        per[name] = per.get(name, 0.0) + mb
    return sum(per.values()), per


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="worker kinds (default: all)")
    ap.add_argument("--warm-cache", action="store_true", help="keep the joined model files")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args()
    kinds = sorted(args.only or REGISTRY)
    work = Path(tempfile.mkdtemp(prefix="sb-up-"))
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_NAMESPACE": f"bench{uuid.uuid4().hex[:6]}",
        "SWITCHBOARD_LLM_SERVER_URL": f"http://127.0.0.1:{free_port()}",
        "SWITCHBOARD_EDGE_OPEN": "1",  # bench only: bound to 127.0.0.1
        "PYTHONPATH": str(ROOT),
    }
    if not args.warm_cache:
        env["SWITCHBOARD_MODEL_DIR"] = str(work / "models")
    argv = [sys.executable, "-m", "switchboard.cli", "up", "--port", str(port)]
    for k in args.only or []:
        argv += ["--only", k]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    ready: dict[str, float] = {}
    uses_model = bool({"llm", "codegen"} & set(kinds))
    log: list[str] = []

    def read() -> None:
        assert proc.stdout
        for line in proc.stdout:
            log.append(line)
            m = RUNNING.search(line)
            if m and m.group(1) not in ready:
                ready[m.group(1)] = time.perf_counter() - t0

    threading.Thread(target=read, daemon=True).start()
    edge_ready = None
    try:
        while time.perf_counter() - t0 < args.timeout and proc.poll() is None:
            if edge_ready is None:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    # without the LLM kinds no model server is started: the bus is what counts
                    if r.status_code == 200 or (not uses_model and r.json().get("bus") == "ok"):
                        edge_ready = time.perf_counter() - t0
                except httpx.HTTPError:
                    pass
            if edge_ready is not None and set(kinds) <= set(ready):
                break
            time.sleep(0.5)
        total = time.perf_counter() - t0
        time.sleep(5)  # settle: the first requests' buffers, then measure
        pss, per = tree_pss_mb(proc.pid) if proc.poll() is None else (float("nan"), {})
        for k in kinds:
            print(f"  {k:16} ready at {ready[k]:6.1f} s" if k in ready else f"  {k:16} NOT READY")
        print(
            f"  {'edge /readyz':16} 200 at {edge_ready:6.1f} s"
            if edge_ready
            else "  edge /readyz     never 200"
        )
        done = set(kinds) <= set(ready) and edge_ready is not None
        print(
            f"up: {'every kind ready' if done else 'NOT all ready'} in {total:.1f} s; memory (PSS) {pss / 1024:.2f} GiB"
        )
        for name, mb in sorted(per.items(), key=lambda kv: -kv[1]):
            print(f"    {name:16} {mb:7.0f} MiB")
        if not done:
            print("".join(log[-30:]))
    finally:
        stop(proc, 60)
        asyncio.run(
            _drop(env["SWITCHBOARD_NAMESPACE"], env.get("SWITCHBOARD_NATS_URL", "nats://127.0.0.1:4222"))
        )


async def _drop(namespace: str, url: str) -> None:
    """The run's streams and leases go: each stream reserves its byte limit on the server."""
    nc = await nats.connect(url)
    await drop(nc.jetstream(), namespace)
    await nc.close()


if __name__ == "__main__":
    main()
