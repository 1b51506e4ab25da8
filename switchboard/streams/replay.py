"""Replay: compare what a replay namespace produced with what was recorded.

``switchboard replay run`` copies a recorded slice of a namespace into an
isolated one (``Transport.copy``): the live system keeps running on its
namespace, and another worker version started with
``SWITCHBOARD_NAMESPACE=<replay>`` processes the slice without touching live
traffic. Event ids are kept, so a worker of the same name derives the same
output ids, and ``compare`` pairs outputs with the recorded ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from switchboard.bus import envelope
from switchboard.bus.transport import Recorded


@dataclass
class Pair:
    """A recorded output and its replayed counterpart (either may be missing), and how they differ."""

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
    sent = envelope.read(rec.headers)
    if sent.causation_id in inputs and sent.published_at is not None:
        return sent.published_at - inputs[sent.causation_id]
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
            sent = envelope.read(r.headers)
            live_t[eid] = sent.published_at or r.time.timestamp()
            sessions.add(sent.correlation_id)
    recorded = [r for r in await reader(live, subject) if envelope.read(r.headers).correlation_id in sessions]
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
