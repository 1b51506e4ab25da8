"""An in-process broker for tests and examples: partitioned subjects kept in
memory, one consumer position per (worker kind, subject, partition), handled
in order through the same Processor as production (decode, dedupe, retries,
dead letters, derived ids, outputs stored before the input counts as handled).

Everything lives in one process and is gone when it ends; all transports of a
process share one store, so a test can run the edge's hub, workers and a
publisher side by side. One replica per worker kind and namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from typing_extensions import override

from switchboard.schemas import Event

from .. import envelope
from ..config import BusSettings
from ..processor import Incoming, Processor, PublishFailed, until_published
from ..subjects import partition_of, stream_for, subject_of
from ..transport import Lag, Recorded, Slice, SubjectReport, Tap, Transport, refuse_live
from ..worker import Worker


@dataclass
class _Namespace:
    log: dict[tuple[str, int], list[Recorded]] = field(default_factory=dict)
    seq: int = 0
    ids: dict[str, float] = field(default_factory=dict)  # event id -> stored at (dedupe window)
    positions: dict[tuple[str, str, int], int] = field(
        default_factory=dict
    )  # (kind, subject, p) -> next index
    serving: dict[str, list[str]] = field(default_factory=dict)  # kind -> the subjects it reads
    taps: list[tuple[set[str] | None, Tap]] = field(default_factory=list)
    changed: asyncio.Condition | None = None
    loop: asyncio.AbstractEventLoop | None = None


class _Store:
    def __init__(self) -> None:
        self.namespaces: dict[str, _Namespace] = {}

    def ns(self, name: str) -> _Namespace:
        space = self.namespaces.setdefault(name, _Namespace())
        loop = asyncio.get_running_loop()
        if space.loop is not loop:  # asyncio primitives belong to one loop (a test runs its own)
            space.changed, space.loop = asyncio.Condition(), loop
        return space


STORE = _Store()


class MemoryTransport(Transport):
    """The in-process transport (``broker=memory``): see the module's doc."""

    name = "memory"
    local_server = "nothing: in this process"

    @property
    @override
    def address(self) -> str:
        return "memory (this process)"

    @staticmethod
    @override
    def ensure_server(settings: BusSettings, data_dir: str) -> subprocess.Popen[bytes] | None:
        return None

    @override
    def _closed(self) -> None:
        self._open = False

    @override
    async def start(self) -> None:
        STORE.ns(self.settings.namespace)
        self._open = True

    @override
    async def close(self) -> None:
        self._open = False

    @property
    @override
    def connected(self) -> bool:
        return self._open

    @override
    def publisher(self, producer: str) -> Callable[[Event], Awaitable[None]]:
        async def publish(event: Event) -> None:
            await self._store(self.settings.namespace, event, producer)

        return publish

    async def _store(self, namespace: str, event: Event, producer: str) -> None:
        subject = subject_of(event)
        stream_for(subject)  # an unknown subject is refused, as the streams refuse it
        data, hdrs = envelope.encode(event), envelope.headers(event, producer)
        await self._append(
            namespace, subject, partition_of(event.correlation_id, self.settings.partitions), hdrs, data
        )

    async def publish_raw(
        self, subject: str, partition: int, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Store bytes as they are (garbage included): what a broken client could publish."""
        await self._append(self.settings.namespace, subject, partition, headers or {}, data)

    async def _append(
        self, namespace: str, subject: str, partition: int, hdrs: dict[str, str], data: bytes
    ) -> None:
        space = STORE.ns(namespace)
        now = time.monotonic()
        event_id = hdrs.get(envelope.EVENT_ID, "")
        window = self.settings.dedupe_window_s
        if event_id and now - space.ids.get(event_id, -window - 1) <= window:
            return  # the broker's dedupe: a re-published output is stored once
        space.ids[event_id] = now
        space.seq += 1
        rec = Recorded(subject, space.seq, datetime.now(UTC), dict(hdrs), data, partition)
        space.log.setdefault((subject, partition), []).append(rec)
        for subjects, tap in list(space.taps):
            if subjects is None or subject in subjects:
                tap(subject, rec.headers, data)
        assert space.changed is not None
        async with space.changed:
            space.changed.notify_all()

    @contextlib.asynccontextmanager
    @override
    async def tail(
        self, subjects: list[str] | None, tap: Tap, *, from_start: bool = False
    ) -> AsyncIterator[None]:
        space = STORE.ns(self.settings.namespace)
        wanted = None if subjects is None else set(subjects)
        if from_start:
            stored = [r for (s, _), recs in space.log.items() if wanted is None or s in wanted for r in recs]
            for rec in sorted(stored, key=lambda r: r.seq):
                tap(rec.subject, rec.headers, rec.data)
        entry = (wanted, tap)
        space.taps.append(entry)
        try:
            yield
        finally:
            space.taps.remove(entry)

    @override
    async def serve(self, worker: Worker, stop: asyncio.Event) -> None:
        space = STORE.ns(self.settings.namespace)
        if worker.name in space.serving:
            raise RuntimeError(f"the memory transport runs one replica of {worker.name!r} per namespace")
        space.serving[worker.name] = worker.subjects
        processor = Processor(worker, self.settings, self._history)
        publish = self.publisher(worker.producer)
        loops = [
            asyncio.create_task(self._partition(processor, publish, subject, p, stop))
            for subject in worker.subjects
            for p in range(self.settings.partitions)
        ]
        try:
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            space.serving.pop(worker.name, None)

    async def drained(self, wait_s: float = 120.0) -> None:
        """Wait until every worker served here has handled everything on its
        subjects, the outputs of outputs included: the chain has come to rest."""
        space = STORE.ns(self.settings.namespace)

        def rest() -> bool:
            return all(
                space.positions.get((name, subject, p), 0) >= len(space.log.get((subject, p), []))
                for name, subjects in space.serving.items()
                for subject in subjects
                for p in range(self.settings.partitions)
            )

        deadline = time.monotonic() + wait_s
        while not rest():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the workers did not come to rest in {wait_s:.0f} s")
            await asyncio.sleep(0.01)

    async def _partition(
        self,
        processor: Processor,
        publish: Callable[[Event], Awaitable[None]],
        subject: str,
        partition: int,
        stop: asyncio.Event,
    ) -> None:
        space = STORE.ns(self.settings.namespace)
        assert space.changed is not None
        key = (processor.worker.name, subject, partition)
        while not stop.is_set():
            log = space.log.get((subject, partition), [])
            at = space.positions.get(key, 0)
            if at >= len(log):
                async with space.changed:
                    await space.changed.wait_for(
                        lambda: len(space.log.get((subject, partition), [])) > space.positions.get(key, 0)
                    )
                continue
            rec = log[at]
            incoming = Incoming(subject, rec.data, rec.headers, 1, partition, rec.seq)
            await until_published(
                functools.partial(processor.process, incoming, publish),
                functools.partial(processor.seen.discard, rec.headers.get(envelope.EVENT_ID, "")),
                (PublishFailed,),
                processor.worker.name,
            )
            processor.batch_done()
            space.positions[key] = at + 1

    async def _history(
        self, subject: str, partition: int, before: int, correlation_id: str, since: datetime
    ) -> list[Event]:
        out = []
        for rec in STORE.ns(self.settings.namespace).log.get((subject, partition), []):
            if rec.seq >= before:
                break
            if rec.time >= since and envelope.read(rec.headers).correlation_id == correlation_id:
                with contextlib.suppress(envelope.DecodeError):
                    out.append(envelope.decode(subject, rec.data, rec.headers))
        return out

    @override
    async def read(self, namespace: str, subject: str, sl: Slice | None = None) -> list[Recorded]:
        sl = sl or Slice([subject])
        recs = [r for (s, _), rs in STORE.ns(namespace).log.items() if s == subject for r in rs]
        out = []
        for rec in sorted(recs, key=lambda r: r.seq):
            if (sl.start_seq is not None and rec.seq < sl.start_seq) or (
                sl.end_seq is not None and rec.seq > sl.end_seq
            ):
                continue
            if (sl.since and rec.time < sl.since) or (sl.until and rec.time > sl.until):
                continue
            if sl.correlation_ids and envelope.read(rec.headers).correlation_id not in sl.correlation_ids:
                continue
            out.append(rec)
        return out

    @override
    async def copy(self, target_namespace: str, sl: Slice) -> int:
        refuse_live(self.settings, target_namespace)
        count = 0
        for subject in sl.subjects:
            for rec in await self.read(self.settings.namespace, subject, sl):
                hdrs = {**rec.headers, envelope.REPLAY_OF: f"{self.settings.namespace}:{rec.seq}"}
                corr = envelope.read(hdrs).correlation_id
                await self._append(
                    target_namespace, subject, partition_of(corr, self.settings.partitions), hdrs, rec.data
                )
                count += 1
        return count

    @override
    async def drop(self, namespace: str) -> list[str]:
        return [namespace] if STORE.namespaces.pop(namespace, None) is not None else []

    @override
    async def report(self, readers: dict[str, list[str]]) -> list[SubjectReport]:
        space = STORE.ns(self.settings.namespace)
        out: dict[str, SubjectReport] = {}
        for (subject, partition), recs in space.log.items():
            rep = out.setdefault(subject, SubjectReport(subject, 0, self.settings.partitions))
            rep.messages += len(recs)
            rep.bytes += sum(len(r.data) for r in recs)
            for kind in readers.get(subject, []):
                rep.lags.append(
                    Lag(kind, partition, len(recs) - space.positions.get((kind, subject, partition), 0))
                )
        return [out[s] for s in sorted(out)]
