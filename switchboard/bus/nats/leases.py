"""Partition ownership for a worker kind's replicas, kept in a NATS KV bucket.

Each replica heartbeats a member key; every replica computes the same
assignment (partitions dealt round robin over the sorted live members) and claims
its slots with an atomic KV create. Keys expire with the bucket's TTL, so the
slots of a replica that died are claimed by the others. A slot is one
(subject, partition) pair; its owner alone fetches from it, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from ..flapping import Flapping

log = logging.getLogger(__name__)

Callback = Callable[[str], Awaitable[None]]


def assign(slots: list[str], members: list[str]) -> dict[str, str]:
    """Deterministic slot -> member assignment, dealt by partition number: one
    replica owns partition p of every subject the worker reads, so a session's
    events of every kind (an answer and its cancel) meet in one process.
    Balanced to within one partition per subject."""
    members = sorted(members)
    if not members:
        return {}

    def partition(slot: str) -> int:
        tail = slot.rpartition(".")[2]
        return int(tail) if tail.isdigit() else zlib.crc32(slot.encode())

    return {slot: members[partition(slot) % len(members)] for slot in slots}


class Leases:
    """Partition leases in a JetStream key-value bucket: each replica holds its share of the slots, renewed every ``refresh_s``; a dead replica's leases expire after ``ttl_s``."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        bucket: str,
        group: str,
        replica: str,
        slots: list[str],
        ttl_s: float,
        refresh_s: float,
        on_acquire: Callback,
        on_release: Callback,
    ) -> None:
        self.js = js
        self.bucket = bucket
        self.group = group
        self.replica = replica
        self.slots = slots
        self.ttl_s = ttl_s
        self.refresh_s = refresh_s
        self.on_acquire = on_acquire
        self.on_release = on_release
        self.held: set[str] = set()
        self.kv: KeyValue | None = None

    async def open(self) -> None:
        """Open (or create) the lease bucket."""
        self.kv = await self.js.create_key_value(bucket=self.bucket, ttl=self.ttl_s, history=1)

    def _member_key(self, replica: str) -> str:
        return f"{self.group}.m.{replica}"

    def _slot_key(self, slot: str) -> str:
        return f"{self.group}.p.{slot}"

    async def members(self) -> list[str]:
        """The replicas alive in this group, sorted."""
        assert self.kv
        prefix = f"{self.group}.m."
        try:
            keys = await self.kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        return sorted(k[len(prefix) :] for k in keys if k.startswith(prefix))

    async def tick(self) -> None:
        """Renew membership and leases; take the free slots this replica's share names, release the others."""
        assert self.kv
        await self.kv.put(self._member_key(self.replica), b"1")
        members = await self.members()
        if self.replica not in members:
            members.append(self.replica)
        mine = {s for s, m in assign(self.slots, members).items() if m == self.replica}
        for slot in sorted(self.held - mine):
            await self.release(slot)
        for slot in sorted(self.held & mine):
            await self.kv.put(self._slot_key(slot), self.replica.encode())
        for slot in sorted(mine - self.held):
            try:
                await self.kv.create(self._slot_key(slot), self.replica.encode())
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # still held by another replica; retry on the next tick
            try:
                await self.on_acquire(slot)
            except Exception:
                with contextlib.suppress(nats.js.errors.Error):
                    await self.kv.delete(self._slot_key(slot))  # let any replica try again
                raise
            self.held.add(slot)

    async def release(self, slot: str) -> None:
        """Stop serving a slot and free its lease."""
        assert self.kv
        await self.on_release(slot)
        self.held.discard(slot)
        with contextlib.suppress(nats.js.errors.Error):
            await self.kv.delete(self._slot_key(slot))

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``refresh_s`` until ``stop`` is set."""
        failing = Flapping(
            log,
            "lease refresh",
            transient=(nats.errors.Error, nats.js.errors.Error, OSError),
            group=self.group,
        )
        while not stop.is_set():
            try:
                await self.tick()
                failing.ok()
            except Exception as exc:  # keep refreshing: a dead refresh loop would orphan the partitions
                failing.failed(exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_s)

    async def close(self) -> None:
        """Release every held slot (a clean shutdown hands them over at once)."""
        for slot in sorted(self.held):
            await self.release(slot)
        if self.kv:
            with contextlib.suppress(nats.js.errors.Error):
                await self.kv.delete(self._member_key(self.replica))
