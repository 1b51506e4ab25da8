"""Streams, subjects, message counts and consumer lag of a namespace (NATS)."""

from __future__ import annotations

from dataclasses import dataclass, field

import nats.js.errors
from nats.js import JetStreamContext

from bus.config import BusSettings
from bus.subjects import STREAMS


@dataclass
class ConsumerLag:
    name: str
    filter: str
    pending: int  # not yet delivered
    ack_pending: int  # delivered, not yet acked
    redelivered: int


@dataclass
class StreamReport:
    name: str
    subjects: list[str]
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    per_subject: dict[str, int] = field(default_factory=dict)
    consumers: list[ConsumerLag] = field(default_factory=list)


async def report(js: JetStreamContext, settings: BusSettings) -> list[StreamReport]:
    out = []
    for spec in STREAMS:
        name = spec.stream_name(settings.namespace)
        try:
            info = await js.stream_info(name, subjects_filter=">")
        except nats.js.errors.NotFoundError:
            continue
        st = info.state
        rep = StreamReport(
            name=name,
            subjects=list(info.config.subjects or []),
            messages=st.messages,
            bytes=st.bytes,
            first_seq=st.first_seq,
            last_seq=st.last_seq,
            per_subject=dict(sorted((st.subjects or {}).items())),
        )
        for c in await js.consumers_info(name):
            rep.consumers.append(
                ConsumerLag(
                    name=c.name,
                    filter=c.config.filter_subject or "",
                    pending=c.num_pending or 0,
                    ack_pending=c.num_ack_pending or 0,
                    redelivered=c.num_redelivered or 0,
                )
            )
        out.append(rep)
    return out
