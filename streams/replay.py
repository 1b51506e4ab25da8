"""Replay: re-publish a recorded slice of a namespace into an isolated one.

The live system keeps running on its namespace (``sb``); the replay namespace
has its own streams, consumers and leases, so another worker version started
with ``SWITCHBOARD_NAMESPACE=<replay>`` processes the slice without touching
live traffic. Event ids are kept, so a worker of the same name derives the
same output ids and outputs can be paired with the recorded ones.
``streams/kafka_replay.py`` does the same on Kafka.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from bus import envelope
from bus.config import BusSettings
from bus.jetstream import provision
from bus.subjects import address, parse_address, partition_of, stream_for


@dataclass
class Slice:
    subjects: list[str]
    start_seq: int | None = None
    end_seq: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    correlation_ids: set[str] = field(default_factory=set)


@dataclass
class Recorded:
    subject: str
    seq: int  # the stream sequence (NATS) or the partition's offset (Kafka)
    time: datetime
    headers: dict[str, str]
    data: bytes
    partition: int | None = None  # Kafka

    @property
    def body(self) -> dict[str, Any]:
        return dict(json.loads(self.data))


async def read(js: JetStreamContext, namespace: str, subject: str, sl: Slice | None = None) -> list[Recorded]:
    """Every stored message of ``subject`` in ``namespace`` inside the slice, in stream order."""
    sl = sl or Slice([subject])
    stream = stream_for(subject).stream_name(namespace)
    try:
        info = await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        return []
    last = info.state.last_seq
    if sl.end_seq is not None:
        last = min(last, sl.end_seq)
    if info.state.messages == 0:
        return []
    config: dict[str, Any] = {"deliver_policy": api.DeliverPolicy.ALL}
    if sl.start_seq is not None:
        config = {"deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": sl.start_seq}
    elif sl.since is not None:
        config = {"deliver_policy": api.DeliverPolicy.BY_START_TIME, "opt_start_time": sl.since.isoformat()}
    sub = await js.pull_subscribe(
        address(namespace, subject) + ".>",
        stream=stream,
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0, **config),
    )
    out: list[Recorded] = []
    try:
        while True:
            try:
                msgs: list[Msg] = await sub.fetch(256, timeout=0.5)
            except TimeoutError:
                break
            done = False
            for m in msgs:
                meta = m.metadata
                seq = meta.sequence.stream
                if seq > last:
                    done = True
                    break
                ts = meta.timestamp
                if sl.until is not None and ts > sl.until:
                    done = True
                    break
                hdrs = dict(m.headers or {})
                if sl.correlation_ids and hdrs.get(envelope.CORRELATION_ID) not in sl.correlation_ids:
                    continue
                out.append(Recorded(parse_address(namespace, m.subject)[0], seq, ts, hdrs, m.data))
            if done or (msgs and msgs[-1].metadata.sequence.stream >= last):
                break
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()
    return out


async def replay(js: JetStreamContext, source: BusSettings, target_namespace: str, sl: Slice) -> int:
    """Copy the slice's messages into ``target_namespace``; returns how many were published."""
    if target_namespace == source.namespace:
        raise ValueError("replay into the live namespace would mix with live traffic; pick another")
    target = source.model_copy(update={"namespace": target_namespace})
    await provision(js, target)
    count = 0
    for subject in sl.subjects:
        for rec in await read(js, source.namespace, subject, sl):
            hdrs = dict(rec.headers)
            hdrs[envelope.REPLAY_OF] = f"{source.namespace}:{rec.seq}"
            key = hdrs.get(envelope.CORRELATION_ID, "")
            subj = address(target_namespace, subject, partition_of(key, target.partitions))
            await js.publish(subj, rec.data, headers=hdrs)
            count += 1
    return count


@dataclass
class Pair:
    key: str
    recorded: dict[str, Any] | None
    replayed: dict[str, Any] | None
    differences: list[str]
    latency_recorded_s: float | None = None
    latency_replayed_s: float | None = None


_VOLATILE = {"id", "created_at", "causation_id"}


def _diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if k not in _VOLATILE and a.get(k) != b.get(k))


def _latency(rec: Recorded, inputs: dict[str, float]) -> float | None:
    cause = rec.headers.get(envelope.CAUSATION_ID)
    out = rec.headers.get(envelope.PUBLISHED_AT)
    if cause in inputs and out:
        return float(out) - inputs[cause]
    return None


Reader = Callable[[str, str], Awaitable[list[Recorded]]]  # (namespace, subject) -> all of it


async def compare(
    reader: Reader, live: str, replayed: str, subject: str, input_subjects: Iterable[str]
) -> list[Pair]:
    """Pair each recorded output of ``subject`` with the replay's, by event id.

    Only recorded outputs of the replayed sessions (correlation ids) count.
    Latency is measured from the input that caused an output, where that
    input is one of the replayed ones.
    """
    live_t: dict[str, float] = {}
    replay_t: dict[str, float] = {}
    sessions: set[str] = set()
    for s in input_subjects:
        for r in await reader(replayed, s):
            if envelope.REPLAY_OF not in r.headers:
                continue
            eid = r.headers.get(envelope.EVENT_ID, "")
            replay_t[eid] = r.time.timestamp()
            live_t[eid] = float(r.headers.get(envelope.PUBLISHED_AT) or r.time.timestamp())
            sessions.add(r.headers.get(envelope.CORRELATION_ID, ""))
    recorded = [r for r in await reader(live, subject) if r.headers.get(envelope.CORRELATION_ID) in sessions]
    fresh = {r.headers.get(envelope.EVENT_ID, ""): r for r in await reader(replayed, subject)}
    pairs = []
    for rec in recorded:
        key = rec.headers.get(envelope.EVENT_ID, "")
        new = fresh.pop(key, None)
        pairs.append(
            Pair(
                key,
                rec.body,
                new.body if new else None,
                _diff(rec.body, new.body) if new else ["<missing in replay>"],
                _latency(rec, live_t),
                _latency(new, replay_t) if new else None,
            )
        )
    for key, new in fresh.items():
        pairs.append(Pair(key, None, new.body, ["<only in replay>"], None, _latency(new, replay_t)))
    return pairs


async def drop(js: JetStreamContext, namespace: str) -> list[str]:
    """Delete a replay namespace's streams and lease bucket."""
    from bus.subjects import STREAMS

    gone = []
    for spec in STREAMS:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(spec.stream_name(namespace))
            gone.append(spec.stream_name(namespace))
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_key_value(f"{namespace}_leases".replace("-", "_"))
    return gone
