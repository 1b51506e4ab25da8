"""Five pass-through hops: on the bus (``sb``); with raw nats-py's own
JetStream API, ``fetch`` and ``publish_async`` (``raw``); with raw nats-py
reading and publishing as the bus does, one open pull request per batch and
one ack for it, acks of the outputs counted on one inbox (``raw-lean``: the
bus's I/O without its typing, envelope, dedupe and metrics); and the naive
FastStream JetStream chain (``faststream``: a subscriber per hop publishing
to the next, FastStream's defaults).

All but the last keep the same delivery contract: durable pull consumers,
acked after the next hop's publish is confirmed by the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from typing import Annotated, Literal

import nats
from nats.aio.msg import Msg
from nats.js import api
from pydantic import StringConstraints, create_model

from switchboard.bus import BusSettings, Context, Worker
from switchboard.bus.nats.publish import Pipeline
from switchboard.bus.nats.pull import Puller, RequestLost
from switchboard.bus.nats.runner import NatsRunner
from switchboard.bus.subjects import StreamSpec, register_stream
from switchboard.schemas import Event, register

HOPS = 5
Payload = Annotated[str, StringConstraints(max_length=4_096)]
HOP_EVENTS: list[type[Event]] = [
    register(
        create_model(  # type: ignore[call-overload]
            f"Hop{i}",
            __base__=Event,
            type=(Literal[f"bench.h{i}"], f"bench.h{i}"),  # type: ignore[valid-type]
            t0=(float, ...),
            payload=(Payload, ...),
        )
    )
    for i in range(HOPS + 1)
]
register_stream(StreamSpec("bench", ("bench",), max_age_s=600))


def hop_worker(i: int) -> Worker:
    worker = Worker(f"hop{i}", emits=(HOP_EVENTS[i + 1],))
    out = HOP_EVENTS[i + 1]

    @worker.handler(HOP_EVENTS[i])
    async def forward(event: Event, ctx: Context) -> Event:
        return out(correlation_id=event.correlation_id, t0=event.t0, payload=event.payload)  # type: ignore[attr-defined]

    return worker


async def run_sb(settings: BusSettings, stop: asyncio.Event) -> None:
    nc = await nats.connect(settings.nats_url)
    runners = [NatsRunner(nc, hop_worker(i), settings) for i in range(HOPS)]
    for r in runners:
        await r.start()
    await stop.wait()
    for r in runners:
        await r.stop()
    await nc.close()


RAW_STREAM = "BENCHRAW"


async def setup_raw(js: nats.js.JetStreamContext) -> None:
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(RAW_STREAM)
    await js.add_stream(name=RAW_STREAM, subjects=["raw.>"], max_age=600)


async def run_raw(nats_url: str, stop: asyncio.Event, batch: int = 64, lean: bool = False) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream(publish_async_max_pending=4_000)
    pipeline = Pipeline(nc)

    async def hop(i: int) -> None:
        if lean:
            await hop_lean(i)
            return
        sub = await js.pull_subscribe(
            f"raw.h{i}",
            durable=f"rawhop{i}",
            stream=RAW_STREAM,
            config=api.ConsumerConfig(ack_policy=api.AckPolicy.EXPLICIT, max_ack_pending=batch * 4),
        )
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=0.5)
            except TimeoutError:
                continue
            await forward(i, msgs)
            for m in msgs:
                await m.ack()

    async def hop_lean(i: int) -> None:
        config = api.ConsumerConfig(
            durable_name=f"pullhop{i}",
            filter_subject=f"raw.h{i}",
            ack_policy=api.AckPolicy.ALL,
            max_ack_pending=batch,
        )
        await js.add_consumer(RAW_STREAM, config)
        puller = Puller(nc, RAW_STREAM, f"pullhop{i}", batch, 0.5)
        await puller.start()
        while not stop.is_set():
            try:
                msgs = await puller.fetch(0.5)
            except RequestLost:
                continue
            if msgs:
                sends = pipeline.batch()
                for m in msgs:
                    msg_id = f"{(m.headers or {}).get('Nats-Msg-Id')}.{i}"
                    await sends.send(f"raw.h{i + 1}", m.data, {"Nats-Msg-Id": msg_id})
                await sends.flush()
                await msgs[-1].ack()

    async def forward(i: int, msgs: list[Msg]) -> None:
        # a fresh dedupe id per hop, as the bus derives one per output
        futures = [
            await js.publish_async(
                f"raw.h{i + 1}",
                m.data,
                headers={"Nats-Msg-Id": f"{(m.headers or {}).get('Nats-Msg-Id')}.{i}"},
            )
            for m in msgs
        ]
        await asyncio.gather(*futures)

    tasks = [asyncio.create_task(hop(i)) for i in range(HOPS)]
    await stop.wait()
    await asyncio.gather(*tasks)
    await nc.close()


async def run_faststream(nats_url: str, stop: asyncio.Event) -> None:
    from faststream.nats import JStream, NatsBroker
    from faststream.nats.annotations import NatsMessage

    broker = NatsBroker(nats_url, logger=None)
    stream = JStream(RAW_STREAM, declare=False)

    def hop(i: int) -> None:
        # FastStream warns that a durable push consumer does not scale out: naive on purpose
        with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
            subscriber = broker.subscriber(f"raw.h{i}", stream=stream, durable=f"fshop{i}")

        @subscriber
        async def forward(msg: NatsMessage) -> None:
            await broker.publish(msg.body, f"raw.h{i + 1}", stream=RAW_STREAM)

    for i in range(HOPS):
        hop(i)
    async with broker:
        await broker.start()
        await stop.wait()
