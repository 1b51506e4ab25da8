"""Which subjects chain into which, read from the workers themselves.

Each registered worker kind declares its handlers (what it reads) and its
``emits`` (what it writes); the pipelines, the lag report's consumer groups,
replay's recorded inputs and the AsyncAPI document all come from there, so
they cannot drift from the code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Hop:
    """One worker kind: the subjects it reads and those it may write."""

    worker: str
    pipeline: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@functools.cache
def hops() -> tuple[Hop, ...]:
    """Every registered worker kind, in the registry's order."""
    from switchboard.workers import REGISTRY, load, pipeline_of

    out = []
    for name in REGISTRY:
        worker = load(name)
        out.append(Hop(name, pipeline_of(name), tuple(sorted(worker.subjects)), tuple(worker.outputs)))
    return tuple(out)


def pipelines() -> dict[str, tuple[Hop, ...]]:
    """The worker kinds of each pipeline (voice, analyst, music, jobs)."""
    out: dict[str, list[Hop]] = {}
    for hop in hops():
        out.setdefault(hop.pipeline, []).append(hop)
    return {name: tuple(h) for name, h in out.items()}


def entry_subjects() -> dict[str, tuple[str, ...]]:
    """Per pipeline, the subjects a replay re-publishes: what its workers read
    that comes from outside the pipeline (no worker of it writes it) or that a
    client may publish (typed chat on ``voice.transcript``, barge-in on
    ``voice.cancel``). Replayed copies keep their ids, so outputs the replay
    derives again are dropped as duplicates downstream."""
    from switchboard.edge.clients import CLIENT_TYPES

    out = {}
    for name, group in pipelines().items():
        reads = {s for h in group for s in h.inputs}
        writes = {s for h in group for s in h.outputs}
        out[name] = tuple(sorted(s for s in reads if s not in writes or s in CLIENT_TYPES))
    return out


def readers(subject: str) -> list[str]:
    """The worker kinds (consumer groups) that read ``subject``."""
    return [h.worker for h in hops() if subject in h.inputs]


def serving_kinds(subject: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What answers a client's event on ``subject``: the worker kinds of every
    pipeline that reads it, and of those the ones that read it first."""
    groups = pipelines()
    wanted = {h.pipeline for h in hops() if subject in h.inputs}
    kinds = tuple(sorted(h.worker for name in wanted for h in groups[name]))
    return kinds, tuple(readers(subject))
