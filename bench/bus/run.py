"""Bus benchmark: a chain of 5 pass-through workers on real NATS JetStream,
against the same chain written with raw nats-py (with its own JetStream API,
and with the bus's reading and publishing) and the naive FastStream chain,
measured in one run (see chain.py).

    python bench/bus/run.py [--events 10000] [--size 1024] [--rounds 3] [--variants raw sb ...]

Prints events/s end to end through 5 hops, per-hop p50/p99 latency at a paced
load, CPU microseconds per event of the chain's process and of nats-server (when
it runs on this machine), and one line with the ratios (medians of alternating rounds: these
virtual machines show large run-to-run noise). Each chain runs in a child
process; this process publishes (messages encoded beforehand, so the producer
costs the same for both) and receives.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nats  # noqa: E402
import psutil  # noqa: E402

from bench.bus import chain  # noqa: E402
from switchboard.bus import BusSettings, envelope  # noqa: E402
from switchboard.bus.nats.jetstream import JetStreamPublisher, provision  # noqa: E402
from switchboard.bus.nats.streams import drop  # noqa: E402
from switchboard.bus.servers import ensure_nats  # noqa: E402
from switchboard.bus.subjects import address  # noqa: E402

NAMES = {
    "raw": "raw nats-py (fetch)",
    "sb": "switchboard",
    "raw-lean": "raw nats-py (lean)",
    "faststream": "faststream",
}


def _child(variant: str, settings_json: str) -> None:
    settings = BusSettings.model_validate_json(settings_json)

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        if variant == "sb":
            await chain.run_sb(settings, stop)
        elif variant == "faststream":
            await chain.run_faststream(settings.nats_url, stop)
        else:
            await chain.run_raw(settings.nats_url, stop, settings.batch, lean=variant == "raw-lean")

    profile = os.environ.get("BENCH_PROFILE")  # a file: the chain's cProfile stats go there
    if not profile:
        asyncio.run(run())
        return
    import cProfile

    prof = cProfile.Profile()
    prof.runcall(asyncio.run, run())
    prof.dump_stats(f"{profile}.{variant}")


class Sink:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.last = 0.0
        self.done = asyncio.Event()
        self.expect = 0
        self.timed = False

    async def on_msg(self, msg) -> None:  # type: ignore[no-untyped-def]
        now = time.time()
        # the t0 field is parsed only in the latency phase
        self.latencies.append(now - json.loads(msg.data)["t0"] if self.timed else 0.0)
        self.last = now
        if len(self.latencies) >= self.expect:
            self.done.set()

    def reset(self, expect: int, timed: bool = False) -> None:
        self.latencies.clear()
        self.expect = expect
        self.timed = timed
        self.done.clear()


async def measure(
    variant: str,
    settings: BusSettings,
    events: int,
    size: int,
    rate: float | None,
    broker: psutil.Process | None,
) -> dict[str, float]:
    """``rate``: the latency phase's pace in events/s (None: half this chain's throughput)."""
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream(publish_async_max_pending=4_000)
    if variant == "sb":
        await provision(js, settings)
        pub = JetStreamPublisher(nc, settings, "bench@1")
        last_subject = address(settings.namespace, "bench.h5") + ".>"
    else:
        await chain.setup_raw(js)
        last_subject = "raw.h5"
    sink = Sink()
    await nc.subscribe(last_subject, cb=sink.on_msg)
    proc = mp.get_context("spawn").Process(
        target=_child, args=(variant, settings.model_dump_json()), daemon=True
    )
    proc.start()
    child = psutil.Process(proc.pid)
    payload = "x" * (size - 200)  # the JSON envelope brings it to ~size bytes
    sessions = [f"s{i}" for i in range(64)]

    def encoded(i: int) -> tuple[str, bytes, dict[str, str]]:
        """The first hop's message, as the bus (or the raw chain) publishes it."""
        ev = chain.HOP_EVENTS[0](correlation_id=sessions[i % 64], t0=time.time(), payload=payload)  # type: ignore[call-arg]
        if variant == "sb":
            return pub.subject_for(ev), envelope.encode(ev), envelope.headers(ev, "bench@1")
        return "raw.h0", ev.model_dump_json().encode(), {"Nats-Msg-Id": ev.id}

    async def send(msg: tuple[str, bytes, dict[str, str]]) -> None:
        subject, data, hdrs = msg
        await js.publish_async(subject, data, headers=hdrs)

    try:
        # warm-up: consumers created, leases taken, code paths hot
        sink.reset(200)
        for i in range(200):
            await send(encoded(i))
            await asyncio.sleep(0.005)
        await js.publish_async_completed()
        await asyncio.wait_for(sink.done.wait(), 60)

        # throughput: everything published (windowed), time until the last one arrives
        prepared = [encoded(i) for i in range(events)]
        sink.reset(events)
        cpu0, bcpu0 = _cpu(child), _cpu(broker)
        start = time.time()
        for msg in prepared:
            await send(msg)
        await js.publish_async_completed()
        await asyncio.wait_for(sink.done.wait(), 600)
        throughput = events / (sink.last - start)
        chain_us = (_cpu(child) - cpu0) / events * 1e6
        broker_us = (_cpu(broker) - bcpu0) / events * 1e6 if broker else float("nan")

        # latency: a paced load under capacity (by default half the raw chain's)
        rate = rate or throughput / 2
        n = int(rate * 4)
        sink.reset(n, timed=True)
        cpu0 = _cpu(child)
        begin = time.monotonic()
        for i in range(n):
            await send(encoded(i))
            await asyncio.sleep(max(0.0, begin + (i + 1) / rate - time.monotonic()))
        await js.publish_async_completed()
        await asyncio.wait_for(sink.done.wait(), 120)
        paced_us = (_cpu(child) - cpu0) / n * 1e6
    finally:
        proc.terminate()
        proc.join(30)
        await nc.close()
    lat = sorted(sink.latencies)
    return {
        "events_per_s": throughput,
        "hop_p50_ms": statistics.median(lat) / chain.HOPS * 1e3,
        "hop_p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)] / chain.HOPS * 1e3,
        "chain_us": chain_us,
        "broker_us": broker_us,
        "rate": rate,
        "paced_us": paced_us,
    }


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return float(t.user + t.system)


def _nats_server(url: str) -> psutil.Process | None:
    """The nats-server process serving ``url`` (for its CPU per event), if it is on this machine."""
    port = int(url.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


async def _cleanup(url: str, ns: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await drop(js, ns)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(chain.RAW_STREAM)
    await nc.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument(
        "--rate",
        type=float,
        default=None,
        help="paced events/s for the latency phase (default: half the round's first chain's throughput)",
    )
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    ap.add_argument("--variants", nargs="+", choices=list(NAMES), default=list(NAMES))
    args = ap.parse_args()
    url = os.environ.get("SWITCHBOARD_NATS_URL", "nats://127.0.0.1:4222")
    server = ensure_nats(url)
    broker = _nats_server(url)
    results: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    try:
        for _ in range(args.rounds):
            rate = args.rate  # None: the round's first chain sets the pace for all
            for variant in args.variants:
                ns = "bench" + uuid.uuid4().hex[:6]
                settings = BusSettings(
                    nats_url=url, namespace=ns, partitions=args.partitions, batch=args.batch
                )
                try:
                    results[variant].append(
                        await measure(variant, settings, args.events, args.size, rate, broker)
                    )
                    rate = results[variant][-1]["rate"]
                finally:
                    await _cleanup(url, ns)
    finally:
        if server:
            server.terminate()

    def median(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in results[variant])

    print(
        f"events: {args.events} x {args.size} B through {chain.HOPS} hops, {args.partitions} partitions, "
        f"batch {args.batch}, {args.rounds} alternating rounds (medians); latency paced at"
        f" {median(args.variants[0], 'rate'):.0f} events/s"
        + ("" if args.rate else f" (half of {NAMES[args.variants[0]]}'s throughput)")
    )
    for variant in args.variants:
        runs = " ".join(f"{r['events_per_s']:.0f}" for r in results[variant])
        print(
            f"{NAMES[variant]:20} {median(variant, 'events_per_s'):6.0f} events/s (runs: {runs})   "
            f"per hop p50 {median(variant, 'hop_p50_ms'):.2f} ms  p99 {median(variant, 'hop_p99_ms'):.2f} ms"
            f"  CPU/event: chain {median(variant, 'chain_us'):.0f} us (paced {median(variant, 'paced_us'):.0f}),"
            f" nats-server {median(variant, 'broker_us'):.0f} us"
        )
    if "sb" not in results:
        return
    for raw in ("raw", "raw-lean"):
        if raw not in results:
            continue
        ratio = median("sb", "events_per_s") / median(raw, "events_per_s")
        added = median("sb", "hop_p50_ms") - median(raw, "hop_p50_ms")
        cpu = median("sb", "chain_us") / median(raw, "chain_us")
        if raw == "raw":
            print(
                f"nats ratio throughput switchboard/raw = {ratio:.2f} (goal >= 0.90); chain CPU ratio = {cpu:.2f}"
                f" (goal <= 1.3); added p50 per hop = {added:.2f} ms (goal <= 1 ms)"
            )
        else:  # the bus's own I/O code forwarding bytes: what typing, envelope and dedupe cost
            print(
                f"nats floor switchboard/raw-lean: throughput {ratio:.2f}x, chain CPU {cpu:.2f}x, added p50 per hop"
                f" {added:.2f} ms (raw-lean is the bus's pull and publish code with no typing, envelope or dedupe)"
            )
    if "faststream" in results:
        ratio = median("sb", "events_per_s") / median("faststream", "events_per_s")
        print(f"nats ratio throughput switchboard/faststream = {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
