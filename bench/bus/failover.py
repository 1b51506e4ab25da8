"""Failover benchmark: two replicas of a pass-through worker, one killed with
SIGKILL mid-stream, on real NATS JetStream and on Kafka (Tansu), at the
default lease, ack-wait and group settings.

    python bench/bus/failover.py [--brokers nats kafka] [--sessions 16] [--rate N] [--no-baseline]

Prints, per broker, the takeover (kill -> first answer on the slowest of the
killed replica's sessions), events lost, answers stored twice, answers a plain
subscriber saw twice, and frames a WebSocket client at the edge got twice.
Figures only; nothing is asserted. See tests/failover.py for the scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from switchboard.bus import BusSettings  # noqa: E402
from switchboard.bus.servers import ensure_kafka, ensure_nats, free_port, stop  # noqa: E402
from tests import failover  # noqa: E402

# within what each broker's chain keeps up with, so the figure is the takeover, not a backlog
# (the Kafka path's throughput is its own issue)
RATES = {"nats": 200.0, "kafka": 200.0}


async def one(broker: str, args: argparse.Namespace, baseline: bool = False) -> float | None:
    """One run; ``baseline``: as before this change (NATS: wait for the dead owner's
    ack_wait; Kafka: aiokafka's default 10 s session timeout)."""
    ns = "fo" + uuid.uuid4().hex[:8]
    if broker == "kafka":
        bootstrap = f"127.0.0.1:{free_port()}"
        server = ensure_kafka(bootstrap)
        settings = BusSettings(
            broker="kafka", kafka_bootstrap=bootstrap, namespace=ns, lease_ttl_s=10.0 if baseline else 6.0
        )
    else:
        server = ensure_nats(BusSettings().nats_url)
        settings = BusSettings(namespace=ns, reclaim=not baseline)
    try:
        rate = args.rate or RATES[broker]
        r = await failover.run(settings, sessions=args.sessions, rate=rate, log=print)
    finally:
        if broker == "nats":
            await drop_nats(settings)
        if server:
            stop(server)
    took = f"{r.takeover_s:.2f} s" if r.takeover_s is not None else "n/a"
    label = f"{broker} (baseline)" if baseline else broker
    label += f" at {rate:.0f}/s"
    print(
        f"{label}: takeover {took} over {r.dead_sessions} sessions of the killed replica;"
        f" sent {r.sent}, lost {r.lost}, stored twice {r.stored_twice},"
        f" plain subscriber saw {r.subscriber_repeats} repeats, WebSocket clients {r.client_repeats};"
        f" answered after the kill: {r.answered_by}"
    )
    return r.takeover_s


async def drop_nats(settings: BusSettings) -> None:
    import nats

    from switchboard.bus.nats.streams import drop

    nc = await nats.connect(settings.nats_url)
    await drop(nc.jetstream(), settings.namespace)
    await nc.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", nargs="+", default=["nats", "kafka"])
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--rate", type=float, help="jobs per second, all sessions together (default: RATES)")
    ap.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run NATS without reclaiming (the previous behaviour)",
    )
    args = ap.parse_args()
    for broker in args.brokers:
        took = await one(broker, args)
        if args.baseline:
            before = await one(broker, args, baseline=True)
            if took and before:
                print(f"{broker} takeover ratio (baseline / now): {before / took:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
