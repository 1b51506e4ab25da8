"""What a JetStream namespace holds: read a recorded slice, copy it into
another namespace (replay), drop a namespace, report subjects and lag."""

from __future__ import annotations

import contextlib
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from .. import envelope
from ..config import BusSettings
from ..subjects import STREAMS, address, parse_address, partition_of, slug, stream_for
from ..transport import Lag, Recorded, Slice, SubjectReport, refuse_live
from .jetstream import provision


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
                if sl.correlation_ids and envelope.read(hdrs).correlation_id not in sl.correlation_ids:
                    continue
                out.append(Recorded(parse_address(namespace, m.subject)[0], seq, ts, hdrs, m.data))
            if done or (msgs and msgs[-1].metadata.sequence.stream >= last):
                break
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()
    return out


async def copy(js: JetStreamContext, source: BusSettings, target_namespace: str, sl: Slice) -> int:
    """Copy the slice's messages into ``target_namespace``; returns how many were published."""
    refuse_live(source, target_namespace)
    target = source.model_copy(update={"namespace": target_namespace})
    await provision(js, target)
    count = 0
    for subject in sl.subjects:
        for rec in await read(js, source.namespace, subject, sl):
            hdrs = dict(rec.headers)
            hdrs[envelope.REPLAY_OF] = f"{source.namespace}:{rec.seq}"
            key = envelope.read(hdrs).correlation_id
            subj = address(target_namespace, subject, partition_of(key, target.partitions))
            await js.publish(subj, rec.data, headers=hdrs)
            count += 1
    return count


async def drop(js: JetStreamContext, namespace: str) -> list[str]:
    """Delete a replay namespace's streams and lease bucket."""
    gone = []
    for spec in STREAMS:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(spec.stream_name(namespace))
            gone.append(spec.stream_name(namespace))
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_key_value(f"{namespace}_leases".replace("-", "_"))
    return gone


async def report(js: JetStreamContext, namespace: str) -> list[SubjectReport]:
    """Per subject: messages held (all partitions) and each worker's durable consumers' lag."""
    out: dict[str, SubjectReport] = {}
    for spec in STREAMS:
        name = spec.stream_name(namespace)
        try:
            info = await js.stream_info(name, subjects_filter=">")
        except nats.js.errors.NotFoundError:
            continue
        per_message = info.state.bytes / info.state.messages if info.state.messages else 0.0
        for full, count in (info.state.subjects or {}).items():
            subject, partition = parse_address(namespace, full)
            rep = out.setdefault(subject, SubjectReport(subject, 0, 0))
            rep.messages += count
            rep.bytes += round(count * per_message)
            rep.partitions = max(rep.partitions, (partition or 0) + 1)
        for c in await js.consumers_info(name):
            durable, filt = c.config.durable_name or "", c.config.filter_subject or ""
            if not durable or not filt:
                continue  # a reader's throwaway consumer
            subject, partition = parse_address(namespace, filt)
            worker = durable.split("_", 1)[0]
            if durable != f"{worker}_{slug(subject)}_p{partition}":
                continue
            rep = out.setdefault(subject, SubjectReport(subject, 0, 0))
            rep.lags.append(
                Lag(
                    worker, partition or 0, c.num_pending or 0, c.num_ack_pending or 0, c.num_redelivered or 0
                )
            )
    return [out[s] for s in sorted(out)]
