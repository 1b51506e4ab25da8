"""Runs a worker on NATS JetStream: one durable pull consumer per (subject,
partition), owned by one replica at a time (see leases.py), pulled in batches
(pull.py) and handled in order. Outputs are published (pipelined) and confirmed by the
stream before the batch is acked; a partition's next batch is handled while the
outputs of the batches before it wait for the stream (see _Flow).

FastStream's own pull subscriber handles a fetched batch concurrently, which
would reorder a session's events; this loop keeps FastStream's connection and
in-memory test broker but owns the ordering.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import uuid
from datetime import datetime
from typing import NamedTuple

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from switchboard.schemas import Event

from .. import envelope
from ..config import BATCHES_IN_HAND, BusSettings
from ..flapping import Flapping
from ..metrics import PARTITIONS, READY
from ..processor import Incoming, Processor, PublishFailed, until_published
from ..subjects import address, slug, stream_for
from ..worker import Worker
from .jetstream import JetStreamPublisher, provision
from .leases import Leases
from .publish import Batch
from .pull import Puller

log = logging.getLogger(__name__)


def consumer_name(worker: str, subject: str, partition: int) -> str:
    """The durable consumer of a worker kind on one partition of a subject."""
    return f"{worker}_{slug(subject)}_p{partition}"


class NatsRunner:
    """Serves one worker kind on JetStream: a pull consumer per partition it leases, handled in order through the processor."""

    def __init__(self, nc: Client, worker: Worker, settings: BusSettings, replica: str | None = None) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.worker = worker
        self.settings = settings
        self.replica = replica or uuid.uuid4().hex[:12]
        self.processor = Processor(worker, settings, self.history)
        self.publisher = JetStreamPublisher(nc, settings, worker.producer)
        self.ack_wait_s = worker.ack_wait_s or settings.ack_wait_s
        self._loops: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}
        self._stop = asyncio.Event()
        self._lease_task: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._working: dict[int, list[Msg]] = {}  # id(batch) -> batch: kept alive while handled
        self._pullers: set[Puller] = set()  # what they pulled ahead waits its turn: kept alive too
        slots = [f"{slug(s)}.{p}" for s in worker.subjects for p in range(settings.partitions)]
        self.leases = Leases(
            self.js,
            bucket=f"{settings.namespace}_leases".replace("-", "_"),
            group=worker.name,
            replica=self.replica,
            slots=slots,
            ttl_s=settings.lease_ttl_s,
            refresh_s=settings.lease_refresh_s,
            on_acquire=self._start_slot,
            on_release=self._stop_slot,
        )

    async def history(
        self, subject: str, partition: int, before: int, correlation_id: str, since: datetime
    ) -> list[Event]:
        """A session's events on one partition stored from ``since`` up to
        stream sequence ``before`` (excluded), read with a throwaway consumer."""
        sub = await self.js.pull_subscribe(
            address(self.settings.namespace, subject, partition),
            stream=stream_for(subject).stream_name(self.settings.namespace),
            config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.NONE,
                deliver_policy=api.DeliverPolicy.BY_START_TIME,
                opt_start_time=since,
                inactive_threshold=30.0,
            ),
        )
        out: list[Event] = []
        try:
            while True:
                try:
                    msgs = await sub.fetch(256, timeout=0.5)
                except TimeoutError:
                    return out
                for m in msgs:
                    if m.metadata.sequence.stream >= before:
                        return out
                    if envelope.read(m.headers).correlation_id == correlation_id:
                        with contextlib.suppress(envelope.DecodeError):
                            out.append(envelope.decode(subject, m.data, m.headers))
                if msgs and msgs[-1].metadata.sequence.stream >= before - 1:
                    return out
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def start(self) -> None:
        """Provision the streams, open the leases and begin serving."""
        await provision(self.js, self.settings)
        await self.leases.open()
        await self.leases.tick()
        self._lease_task = asyncio.create_task(self.leases.run(self._stop))
        self._keepalive_task = asyncio.create_task(self._keepalive())
        READY.labels(self.worker.name).set(1)

    async def stop(self) -> None:
        """Finish the batches in hand, release the leases and stop."""
        self._stop.set()
        for stop, _ in self._loops.values():  # all loops finish their batch at once
            stop.set()
        if self._lease_task:
            await self._lease_task
        if self._keepalive_task:
            await self._keepalive_task
        await self.leases.close()
        with contextlib.suppress(nats.errors.Error):
            await self.publisher.pipeline.close()
        READY.labels(self.worker.name).set(0)

    def _slot(self, slot: str) -> tuple[str, int]:
        sub_slug, _, part = slot.rpartition(".")
        subject = next(s for s in self.worker.subjects if slug(s) == sub_slug)
        return subject, int(part)

    async def _ensure_consumer(self, subject: str, partition: int) -> tuple[str, str, api.ConsumerInfo]:
        stream = stream_for(subject).stream_name(self.settings.namespace)
        durable = consumer_name(self.worker.name, subject, partition)
        # room for the batches in a partition's pipeline (see _Flow); sessions side by
        # side: as many sessions at once as a batch holds, no more
        in_hand = 1 if self.worker.sessions_side_by_side else BATCHES_IN_HAND
        config = api.ConsumerConfig(
            durable_name=durable,
            filter_subject=address(self.settings.namespace, subject, partition),
            # One ack for a batch: the owner handles a partition strictly in order,
            # so acking the last message acknowledges everything before it.
            ack_policy=api.AckPolicy.ALL,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            max_deliver=-1,  # we dead-letter after settings.max_deliver; the server must not drop
            max_ack_pending=self.settings.batch * in_hand,
            max_waiting=16,
        )
        try:
            info = await self.js.add_consumer(stream, config)
        except nats.js.errors.BadRequestError as exc:
            raise RuntimeError(
                f"consumer {durable} on {stream} exists with settings that cannot be changed "
                f"in place ({exc.description}); delete it (nats consumer rm {stream} {durable}) "
                "or run in another namespace"
            ) from exc
        return stream, durable, info

    async def _start_slot(self, slot: str) -> None:
        subject, partition = self._slot(slot)
        stream, durable, info = await self._ensure_consumer(subject, partition)
        delay = 0.0 if self.settings.reclaim or not info.num_ack_pending else self.ack_wait_s
        if info.num_ack_pending and self.settings.reclaim:
            # A dead owner fetched these and never acked them: have them redelivered
            # now, before anything after them, instead of after its ack_wait.
            try:
                await self._reclaim(subject, partition, stream, durable, info)
            except (nats.errors.Error, nats.js.errors.Error, OSError):
                log.warning(
                    "could not reclaim a dead owner's messages; waiting for their ack_wait",
                    extra={"worker": self.worker.name, "durable": durable},
                    exc_info=True,
                )
                delay = self.ack_wait_s
        stop = asyncio.Event()
        task = asyncio.create_task(self._loop(subject, partition, stream, durable, stop, delay))
        self._loops[slot] = (stop, task)
        PARTITIONS.labels(self.worker.name).set(len(self._loops))

    async def _reclaim(
        self, subject: str, partition: int, stream: str, durable: str, info: api.ConsumerInfo
    ) -> None:
        """Nak, on the previous owner's behalf, the messages it had in hand: the
        server redelivers them at once, in order and with their delivery count
        raised (a message that keeps killing its owner still ends as poison).
        With ack-all, what it had in hand is everything after the ack floor up
        to the last delivered message; a nak only needs the stream sequence and
        a consumer sequence inside the pending range."""
        if info.delivered is None or not info.num_ack_pending:
            return
        floor = (info.ack_floor.stream_seq if info.ack_floor else None) or 0
        last, consumer_seq = info.delivered.stream_seq or 0, info.delivered.consumer_seq
        sub = await self.js.pull_subscribe(
            address(self.settings.namespace, subject, partition),
            stream=stream,
            config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.NONE,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=floor + 1,
                inactive_threshold=30.0,
            ),
        )
        seqs: list[int] = []
        try:
            while len(seqs) < info.num_ack_pending:
                try:
                    msgs = await sub.fetch(info.num_ack_pending - len(seqs), timeout=1.0)
                except TimeoutError:
                    break
                seqs += [m.metadata.sequence.stream for m in msgs if m.metadata.sequence.stream <= last]
                if not msgs or msgs[-1].metadata.sequence.stream >= last:
                    break
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        for seq in seqs:
            await self.nc.publish(f"$JS.ACK.{stream}.{durable}.1.{seq}.{consumer_seq}.0.0", b"-NAK")
        await self.nc.flush()
        log.info(
            "reclaimed a previous owner's messages",
            extra={"worker": self.worker.name, "durable": durable, "messages": len(seqs)},
        )

    async def _stop_slot(self, slot: str) -> None:
        stop, task = self._loops.pop(slot)
        stop.set()
        await task
        PARTITIONS.labels(self.worker.name).set(len(self._loops))

    async def _loop(
        self, subject: str, partition: int, stream: str, durable: str, stop: asyncio.Event, delay: float
    ) -> None:
        if delay:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        failing = Flapping(
            log,
            f"consuming {durable}",
            transient=(nats.errors.Error, nats.js.errors.Error, OSError),
            base_s=1.0,
            cap_s=10.0,
            worker=self.worker.name,
        )
        # one inbox for the slot's life: what a request still brings after an error
        # arrives in order, never at an inbox gone (an ack-all would sweep it away)
        puller = Puller(self.nc, stream, durable, self.settings.batch, self.settings.fetch_timeout_s)
        again = False
        self._pullers.add(puller)
        try:
            while not stop.is_set():
                try:
                    if again:  # the consumer may be gone (deleted, the stream restored)
                        await self._ensure_consumer(subject, partition)
                    await puller.start()
                    await self._consume(subject, partition, puller, stop)
                    failing.ok()
                except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                    # the partition stays ours: back off, ask again
                    again = True
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), failing.failed(exc))
        finally:
            self._pullers.discard(puller)
            with contextlib.suppress(nats.errors.Error):
                await puller.stop()

    async def _consume(self, subject: str, partition: int, puller: Puller, stop: asyncio.Event) -> None:
        lanes = _Lanes(self, subject, partition, stop) if self.worker.sessions_side_by_side else None
        flow = None if lanes else _Flow(self, subject, partition, puller, stop)
        try:
            # once stopped, only what the open request still brings is handled
            while not stop.is_set() or puller.open:
                try:
                    msgs = await puller.fetch(self.settings.fetch_timeout_s, ask=not stop.is_set())
                except (nats.errors.ConnectionClosedError, nats.js.errors.ServiceUnavailableError):
                    await asyncio.sleep(0.5)
                    continue
                if lanes is not None:
                    if msgs:
                        lanes.add(msgs)
                elif flow is not None:
                    await (flow.add(msgs) if msgs else flow.settle())
        except asyncio.CancelledError:
            if flow:
                flow.drop()
            raise
        finally:
            if lanes:
                await lanes.close()
            if flow:  # never leave batches in hand: a later ack-all would sweep them away
                await flow.drain()

    async def _handle_batch(
        self, subject: str, partition: int, msgs: list[Msg], stop: asyncio.Event, ack: bool = True
    ) -> bool:
        """Handle a batch and ack it once its outputs are stored (``ack``: else the
        caller acks). Outputs that are not confirmed are retried here, in order,
        while the partition is ours: a nak would let the ack of a later batch
        (ack-all) sweep the failed messages away. True once handled."""

        async def attempt() -> None:
            batch = await self._send(subject, partition, msgs)
            await batch.flush()

        self._working[id(msgs)] = msgs
        self.processor.in_flight.inc(len(msgs))
        try:
            done = await until_published(
                attempt,
                functools.partial(self._forget, msgs),
                _UNCONFIRMED,
                self.worker.name,
                self._stop.is_set,
                stop,
            )
            if not done:
                return False  # not acked: redelivered to the partition's next owner after ack_wait
        finally:
            del self._working[id(msgs)]
            self.processor.in_flight.dec(len(msgs))
            self.processor.batch_done()
        if ack:
            await msgs[-1].ack()
        return True

    async def _send(self, subject: str, partition: int, msgs: list[Msg]) -> Batch:
        """Handle a batch; its outputs are sent into the batch returned, not yet confirmed."""
        batch = self.publisher.batch()
        publish = functools.partial(self.publisher.send, batch=batch)
        process = self.processor.process
        try:
            for msg in msgs:
                delivered, seq = _delivery(msg.reply)
                # subject, data, headers, attempt, partition, stream sequence
                await process(
                    Incoming(subject, msg.data, msg.headers or {}, delivered, partition, seq), publish
                )
        except BaseException:
            batch.abandon()
            raise
        return batch

    def _forget(self, msgs: list[Msg]) -> None:
        """Handle these again next time: their outputs were not confirmed."""
        for msg in msgs:
            self.processor.seen.discard((msg.headers or {}).get(envelope.EVENT_ID, ""))

    async def _keepalive(self) -> None:
        """Tell the server that batches still being handled, and what was pulled
        ahead of them, are in progress, so a slow handler (a long LLM answer) and
        the messages waiting behind it are not redelivered meanwhile."""
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.ack_wait_s / 3)
            for msgs in [*self._working.values(), *(p.pulled() for p in self._pullers)]:
                for msg in list(msgs):
                    with contextlib.suppress(nats.errors.Error):
                        await msg.in_progress()


class _Sent(NamedTuple):
    """A batch in a partition's pipeline: handled, its outputs sent."""

    msgs: list[Msg]
    batch: Batch
    done: asyncio.Future[None]  # its outputs' confirmation
    connection: int  # the connection (its reconnect count) they were sent on


class _Flow:
    """A partition's batches in a pipeline: a batch is handled while the outputs
    of the batches before it wait for the stream's acks, and each is acked in
    order once its outputs are stored (one ack-all for those settled together),
    so a partition waits for the stream once per pipeline, not once per batch.
    When a batch's outputs are not confirmed, it and every batch after it are
    forgotten and handled again, in order, before anything new (their outputs
    keep their ids: what was stored already is dropped by the stream's dedupe).
    After a reconnect the pipeline is drained first: what the old connection
    lost is sent again before anything newer is. The consumer's max_ack_pending
    bounds what is in hand."""

    def __init__(
        self, runner: NatsRunner, subject: str, partition: int, puller: Puller, stop: asyncio.Event
    ) -> None:
        self.runner = runner
        self.subject = subject
        self.partition = partition
        self.puller = puller
        self.stop = stop
        self.pending: collections.deque[_Sent] = collections.deque()
        self.held = 0  # messages in the pipeline, not yet acked
        # past this many, the server may soon stop delivering (max_ack_pending): ack at once
        self.room = runner.settings.batch * (BATCHES_IN_HAND - 1)
        self.stuck = False  # outputs were given up on (stopped): nothing after them is acked

    async def add(self, msgs: list[Msg]) -> None:
        """Handle a batch and send its outputs; ack what is confirmed."""
        runner = self.runner
        connection = runner.nc.stats["reconnects"]
        if self.pending and self.pending[-1].connection != connection:
            await self.drain()
        if self.stuck:  # left unacked for the partition's next owner, after the batches before them
            return
        runner._working[id(msgs)] = msgs
        runner.processor.in_flight.inc(len(msgs))
        self.held += len(msgs)
        try:
            batch = await runner._send(self.subject, self.partition, msgs)
        except _UNCONFIRMED as exc:
            self._release(msgs)
            await self._again(self._take_pending() + msgs, exc)
            return
        except BaseException:
            self._release(msgs)
            runner._forget(msgs)
            raise
        finally:
            runner.processor.batch_done()
        done = batch.confirmation()
        done.add_done_callback(self._wake)
        self.pending.append(_Sent(msgs, batch, done, connection))
        await self.settle()

    async def settle(self) -> None:
        """Ack the batches at the head whose outputs are stored; on a failed one, handle it and the rest again."""
        last = None
        pending = self.pending
        while pending and pending[0].done.done():
            head = pending.popleft()
            self._release(head.msgs)
            error = None if head.done.cancelled() else head.done.exception()
            if error is not None:
                if last is not None:
                    await last.ack()
                await self._again(head.msgs + self._take_pending(), error)
                return
            last = head.msgs[-1]
        if last is not None:
            await last.ack()

    async def drain(self) -> None:
        """Wait for every batch in hand to settle; ack what can be."""
        while self.pending:
            await asyncio.wait([self.pending[0].done])
            await self.settle()

    def drop(self) -> None:
        """Give up on the batches in hand (cancelled): not acked, and forgotten,
        so they are handled when they come again."""
        self.runner._forget(self._take_pending())

    def _take_pending(self) -> list[Msg]:
        """The messages of every batch in hand, in order, their outputs given up on."""
        out: list[Msg] = []
        while self.pending:
            sent = self.pending.popleft()
            sent.batch.abandon()
            self._release(sent.msgs)
            out += sent.msgs
        return out

    async def _again(self, msgs: list[Msg], error: BaseException) -> None:
        """``msgs`` were not all confirmed: forget them and handle them again, in
        order, until confirmed (or the partition stops); ``_handle_batch`` acks them."""
        self.runner._forget(msgs)
        log.warning(
            "outputs not confirmed; handling the partition's %d messages in hand again",
            len(msgs),
            extra={"worker": self.runner.worker.name, "error": str(error)[:300]},
        )
        if not await self.runner._handle_batch(self.subject, self.partition, msgs, self.stop):
            self.stuck = True

    def _wake(self, done: asyncio.Future[None]) -> None:
        """The head settled: have the loop see it now if it failed or the pipeline
        is nearly full. Else the ack waits for the loop's next turn (a message, or
        the fetch's timeout): a wake per batch cost more than the rest of a small
        batch's bookkeeping."""
        head = self.pending and self.pending[0].done is done
        if head and (self.held > self.room or done.cancelled() or done.exception() is not None):
            self.puller.wake()

    def _release(self, msgs: list[Msg]) -> None:
        self.held -= len(msgs)
        del self.runner._working[id(msgs)]
        self.runner.processor.in_flight.dec(len(msgs))


class _Lanes:
    """A partition's sessions side by side: one task per session (correlation
    id) handles that session's messages in order; the ack (ack-all) moves up
    to just before the oldest message still in hand, so nothing unhandled is
    ever acked. Handled messages waiting behind an older one are kept alive."""

    def __init__(self, runner: NatsRunner, subject: str, partition: int, stop: asyncio.Event) -> None:
        self.runner, self.subject, self.partition, self.stop = runner, subject, partition, stop
        self.held: list[Msg] = []  # fetched, not yet acked, in delivery order
        self.state: dict[int, bool | None] = {}  # id(msg) -> True handled, False given up, None in hand
        self.tails: dict[str, asyncio.Task[None]] = {}
        runner._working[id(self.held)] = self.held

    def add(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            self.held.append(msg)
            self.state[id(msg)] = None
            key = envelope.read(msg.headers).correlation_id
            before = self.tails.get(key)
            task = asyncio.create_task(self._one(msg, before))
            self.tails[key] = task
            task.add_done_callback(functools.partial(self._forget, key))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self.tails.get(key) is task:  # the session's last message: no lane left behind
            del self.tails[key]

    async def _one(self, msg: Msg, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])
        try:
            ok = await self.runner._handle_batch(self.subject, self.partition, [msg], self.stop, ack=False)
        except Exception:
            log.exception("session lane failed", extra={"worker": self.runner.worker.name})
            ok = False
        self.state[id(msg)] = ok
        await self._advance()

    async def _advance(self) -> None:
        last = None
        while self.held and self.state.get(id(self.held[0])) is True:
            last = self.held.pop(0)
            del self.state[id(last)]
        if last is not None:
            with contextlib.suppress(nats.errors.Error):
                await last.ack()

    async def close(self) -> None:
        """Wait for every session's messages in hand (they see ``stop``), ack what can be."""
        if self.tails:
            await asyncio.wait(list(self.tails.values()))
        await self._advance()
        del self.runner._working[id(self.held)]


_UNCONFIRMED = (TimeoutError, nats.errors.Error, nats.js.errors.Error, ValueError, PublishFailed)
"""What a batch whose outputs were not confirmed raises: it is handled again."""


def _delivery(reply: str) -> tuple[int, int | None]:
    """(delivery count, stream sequence) from a JetStream ack subject.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``, or
    the 12-token form with domain and account hash; cheaper than ``msg.metadata``,
    which also builds timestamps this loop never reads.
    """
    tokens = reply.split(".")
    at = 4 if len(tokens) == 9 else 6
    try:
        return int(tokens[at]), int(tokens[at + 1])
    except (IndexError, ValueError):
        return 1, None
