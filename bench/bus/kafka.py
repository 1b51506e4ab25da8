"""Kafka bus benchmark: a chain of 5 pass-through hops on a Kafka-protocol
broker (Tansu, a fresh one for each chain), written three ways and measured in one run:

- ``sb``: the bus's own Kafka runner (bus/kafka/runner.py), 5 worker kinds;
- ``raw``: raw aiokafka as well as it can be written: a consumer group per
  hop, batched fetches, the outputs built into one record batch per partition
  and handed over whole (``send_batch``, as the bus does), awaited per batch,
  one commit per batch after the outputs are confirmed (the same durability),
  with the bus's producer, fetch wait and poll size (each made raw faster too);
- ``raw-typed``: ``raw`` with each hop reading its event with pydantic and
  writing the next one (as the bus's hops do), not on the goal's line: it
  splits the gap into what typed events cost and what the bus adds;
- ``faststream``: the naive FastStream chain (a subscriber per hop publishing
  to the next one, FastStream's defaults).

    python bench/bus/kafka.py [--events 20000] [--size 1024] [--rounds 2]

Prints events/s through the chain, per-hop p50/p99 latency at a paced load,
CPU microseconds per event of the chain's process and of the broker, and the
ratios on lines with "ratio" (medians of alternating rounds). Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing as mp
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from bench.bus import chain  # noqa: E402
from switchboard.bus import BusSettings, envelope, transport  # noqa: E402
from switchboard.bus.kafka import provision_kafka  # noqa: E402
from switchboard.bus.kafka.client import BUSY_FETCH_WAIT_S  # noqa: E402
from switchboard.bus.kafka.runner import FETCH_WAIT_S, poll_records  # noqa: E402
from switchboard.bus.kafka.runner import producer as bus_producer  # noqa: E402
from switchboard.bus.servers import free_port, start_tansu, stop  # noqa: E402
from switchboard.bus.subjects import address  # noqa: E402

HOPS = chain.HOPS
# every consumer waits as the bus's runners do: short while records come, long once idle
FETCH_WAIT_MS, BUSY_FETCH_WAIT_MS = int(FETCH_WAIT_S * 1000), int(BUSY_FETCH_WAIT_S * 1000)


def topics(variant: str, ns: str) -> list[str]:
    if variant == "sb":
        return [address(ns, f"bench.h{i}") for i in range(HOPS + 1)]
    return [f"{ns}.{variant}.h{i}" for i in range(HOPS + 1)]


async def run_sb(settings: BusSettings, halt: asyncio.Event) -> None:
    bus = transport(settings, "bench")
    await bus.start()
    await asyncio.gather(*(bus.serve(chain.hop_worker(i), halt) for i in range(HOPS)))
    await bus.close()


async def run_raw(settings: BusSettings, halt: asyncio.Event, typed: bool = False) -> None:
    names = topics("raw-typed" if typed else "raw", settings.namespace)
    producer = bus_producer(settings)  # the bus's producer settings
    await producer.start()

    async def hop(i: int) -> None:
        consumer = AIOKafkaConsumer(
            names[i],
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"{settings.namespace}.raw{i}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=poll_records(settings),  # polls as the bus's runners do
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        await consumer.start()
        topic = names[i + 1]
        partitions = sorted(await producer.partitions_for(topic))
        busy = False
        try:
            while not halt.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                if bool(batches) != busy:  # as the bus's FetchWait does: Tansu holds a fetch its whole wait
                    busy = bool(batches)
                    consumer._fetcher._fetch_max_wait_ms = BUSY_FETCH_WAIT_MS if busy else FETCH_WAIT_MS
                if not batches:
                    continue
                # one record batch per partition, handed over whole (send_batch): about half
                # the chain CPU of a send per record, each with its own future
                open_: dict[int, Any] = {}
                sent = []
                for records in batches.values():
                    for r in records:
                        # raw-typed: pydantic in, a new event out, as a typed hop written by hand would
                        value = forward(i, r.value) if typed else r.value
                        partition = partitions[_slot(r.key, len(partitions))]
                        headers = list(r.headers)
                        builder = open_.get(partition)
                        if builder is None:
                            builder = open_[partition] = producer.create_batch()
                        if builder.append(key=r.key, value=value, timestamp=None, headers=headers) is None:
                            builder.close()  # full: hand it over, start the next one
                            sent.append(await producer.send_batch(builder, topic, partition=partition))
                            builder = open_[partition] = producer.create_batch()
                            builder.append(key=r.key, value=value, timestamp=None, headers=headers)
                for partition, builder in open_.items():
                    builder.close()
                    sent.append(await producer.send_batch(builder, topic, partition=partition))
                await asyncio.gather(*sent)  # the outputs stored, then the commit
                await consumer.commit()
        finally:
            await consumer.stop()

    await asyncio.gather(*(hop(i) for i in range(HOPS)))
    await producer.stop()


@functools.lru_cache(maxsize=4096)
def _slot(key: bytes, partitions: int) -> int:
    """The partition index the producer's default partitioner gives a key (murmur2 in pure Python: once per session)."""
    return int(DefaultPartitioner()(key, range(partitions), None))


def forward(i: int, value: bytes) -> bytes:
    """``raw-typed``'s hop i: the event read and validated, the next one built and written."""
    event = chain.HOP_EVENTS[i].model_validate_json(value)
    out = chain.HOP_EVENTS[i + 1](
        correlation_id=event.correlation_id,
        causation_id=event.id,
        t0=event.t0,  # type: ignore[attr-defined]
        payload=event.payload,  # type: ignore[attr-defined]
    )
    return out.model_dump_json().encode()


async def run_faststream(settings: BusSettings, halt: asyncio.Event) -> None:
    from faststream.kafka import KafkaBroker
    from faststream.kafka.annotations import KafkaMessage

    names = topics("faststream", settings.namespace)
    broker = KafkaBroker(settings.kafka_bootstrap, logger=None)

    def hop(i: int) -> None:
        @broker.subscriber(names[i], group_id=f"{settings.namespace}.fs{i}", auto_offset_reset="earliest")
        async def forward(msg: KafkaMessage) -> None:
            await broker.publish(msg.body, names[i + 1], key=msg.raw_message.key)

    for i in range(HOPS):
        hop(i)
    async with broker:
        await broker.start()
        await halt.wait()


def _child(variant: str, settings_json: str) -> None:
    settings = BusSettings.model_validate_json(settings_json)

    async def main() -> None:
        halt = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, halt.set)
        if variant == "raw-typed":
            await run_raw(settings, halt, typed=True)
            return
        runner = {"sb": run_sb, "raw": run_raw, "faststream": run_faststream}[variant]
        await runner(settings, halt)

    asyncio.run(main())


async def measure(
    variant: str, settings: BusSettings, broker: psutil.Process, args: argparse.Namespace, rate: float | None
) -> dict[str, float]:
    """``rate``: the latency phase's pace in events/s (None: half this chain's throughput)."""
    names = topics(variant, settings.namespace)
    if variant == "sb":
        await provision_kafka(settings, [f"bench.h{i}" for i in range(HOPS + 1)])
    else:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(t, settings.partitions, 1) for t in names])
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=2)
    sink = AIOKafkaConsumer(
        names[-1],
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=BUSY_FETCH_WAIT_MS,  # the measure's own wait kept short
    )
    await producer.start()
    await sink.start()
    for tp in sink.assignment():
        await sink.position(tp)
    proc = mp.get_context("spawn").Process(
        target=_child, args=(variant, settings.model_dump_json()), daemon=True
    )
    proc.start()
    child = psutil.Process(proc.pid)
    payload = "x" * (args.size - 200)
    sessions = [f"s{i}" for i in range(64)]

    def encoded(i: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        ev = chain.HOP_EVENTS[0](correlation_id=sessions[i % 64], t0=time.time(), payload=payload)  # type: ignore[call-arg]
        hdrs = envelope.headers(ev, "bench@1")
        return envelope.encode(ev), ev.correlation_id.encode(), [(k, v.encode()) for k, v in hdrs.items()]

    async def send(batch: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
        futures = [await producer.send(names[0], data, key=key, headers=hdrs) for data, key, hdrs in batch]
        await asyncio.gather(*futures)

    async def receive(n: int, timed: bool, wait_s: float) -> tuple[list[float], float]:
        got: list[float] = []
        last = time.time()
        deadline = time.monotonic() + wait_s
        while len(got) < n and time.monotonic() < deadline:
            for records in (await sink.getmany(timeout_ms=200)).values():
                now = time.time()
                for r in records:
                    got.append(now - json.loads(r.value)["t0"] if timed else 0.0)
                last = now
        if len(got) < n:
            raise RuntimeError(f"{variant}: {len(got)} of {n} events came through")
        return got, last

    try:
        reader = asyncio.create_task(receive(200, False, 180))
        for i in range(200):  # warm-up: groups joined, partitions assigned
            await send([encoded(i)])
            await asyncio.sleep(0.01)
        await reader
        prepared = [encoded(i) for i in range(args.events)]
        cpu0, bcpu0 = child.cpu_times(), broker.cpu_times()
        reader = asyncio.create_task(receive(args.events, False, 600))
        start = time.time()
        for k in range(0, len(prepared), 256):
            await send(prepared[k : k + 256])
        _, last = await reader
        cpu1, bcpu1 = child.cpu_times(), broker.cpu_times()
        throughput = args.events / (last - start)
        rate = rate or throughput / 2
        n = int(rate * 4)
        reader = asyncio.create_task(receive(n, True, 180))
        begin = time.monotonic()
        sent = []  # not waited for one by one: the pace must not wait on the broker
        for i in range(n):
            data, key, hdrs = encoded(i)
            sent.append(await producer.send(names[0], data, key=key, headers=hdrs))
            await asyncio.sleep(max(0.0, begin + (i + 1) / rate - time.monotonic()))
        await asyncio.gather(*sent)
        latencies, _ = await reader
    finally:
        proc.terminate()
        proc.join(30)
        await sink.stop()
        await producer.stop()
    lat = sorted(latencies)
    used = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    broker_used = (bcpu1.user + bcpu1.system) - (bcpu0.user + bcpu0.system)
    return {
        "events_per_s": throughput,
        "hop_p50_ms": statistics.median(lat) / HOPS * 1e3,
        "hop_p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)] / HOPS * 1e3,
        "chain_us": used / args.events * 1e6,
        "broker_us": broker_used / args.events * 1e6,
        "rate": rate,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    # long enough for the steady state: hops take 40-100 ms each here, so filling and
    # draining five of them took a fifth to a third of a 3,000-event run
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument(
        "--rate",
        type=float,
        default=None,
        help="paced events/s for the latency phase (default: half the round's first chain's throughput)",
    )
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--variants",
        nargs="+",
        default=["raw", "sb", "raw-typed", "faststream"],
        choices=["raw", "sb", "raw-typed", "faststream"],
    )
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    for _ in range(args.rounds):
        rate = args.rate  # None: the round's first chain sets the pace for all
        for variant in args.variants:
            # a fresh broker for each chain: Tansu keeps every record in memory, so a
            # chain's figures do not depend on what the chains before it left there
            port = free_port()
            server = start_tansu(port)
            try:
                settings = BusSettings(
                    broker="kafka",
                    kafka_bootstrap=f"127.0.0.1:{port}",
                    namespace="kb" + uuid.uuid4().hex[:6],
                    partitions=args.partitions,
                    batch=args.batch,
                )
                results[variant].append(
                    await measure(variant, settings, psutil.Process(server.pid), args, rate)
                )
            finally:
                stop(server)
            rate = results[variant][-1]["rate"]

    def med(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in results[variant])

    print(
        f"kafka (Tansu): {args.events} x {args.size} B through {HOPS} hops, {args.partitions} partitions,"
        f" batch {args.batch}, {args.rounds} alternating rounds (medians); latency paced at"
        f" {med(args.variants[0], 'rate'):.0f} events/s"
        + ("" if args.rate else f" (half of the {args.variants[0]} chain's throughput)")
    )
    names = {"raw": "raw aiokafka", "sb": "switchboard", "raw-typed": "raw typed", "faststream": "faststream"}
    for v in args.variants:
        runs = " ".join(f"{r['events_per_s']:.0f}" for r in results[v])
        print(
            f"{names.get(v, v):13} {med(v, 'events_per_s'):7.0f} events/s (runs: {runs})  per hop p50"
            f" {med(v, 'hop_p50_ms'):.2f} ms p99 {med(v, 'hop_p99_ms'):.2f} ms  CPU/event: chain"
            f" {med(v, 'chain_us'):.0f} us, broker {med(v, 'broker_us'):.0f} us"
        )
    if "raw" in results and "sb" in results:
        print(
            f"kafka ratio throughput switchboard/raw = {med('sb', 'events_per_s') / med('raw', 'events_per_s'):.2f}"
            f" (goal >= 0.80); chain CPU ratio = {med('sb', 'chain_us') / med('raw', 'chain_us'):.2f};"
            f" added p50 per hop = {med('sb', 'hop_p50_ms') - med('raw', 'hop_p50_ms'):.2f} ms"
        )
    if "raw-typed" in results and "sb" in results:
        print(
            "kafka typed floor switchboard/raw-typed: throughput"
            f" {med('sb', 'events_per_s') / med('raw-typed', 'events_per_s'):.2f}x, chain CPU"
            f" {med('sb', 'chain_us') / med('raw-typed', 'chain_us'):.2f}x (raw-typed: raw aiokafka with"
            " pydantic in and out at each hop, without the envelope, dedupe, retries and metrics)"
        )
    if "faststream" in results and "sb" in results:
        print(
            f"kafka ratio throughput switchboard/faststream = "
            f"{med('sb', 'events_per_s') / med('faststream', 'events_per_s'):.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
