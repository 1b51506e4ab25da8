"""What happens to one message, whatever the broker.

decode -> dedupe -> handler (bounded in-process retries) -> outputs published
-> ack. A message that cannot be decoded, is too large, keeps killing workers,
or whose handler keeps failing becomes a DeadLetter carrying the original
bytes (cut to fit, with its size and hash), headers and the error; it is
then acked, so it never blocks the partition behind it. A dead letter that
cannot be published raises like any unconfirmed output: the runner keeps the
message and tries again, it never acks it away.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter as _perf_counter
from time import time as _time

from switchboard.schemas import MAX_EVENT_BYTES, DeadLetter, Event
from switchboard.schemas.dead import MAX_ORIGINAL_BYTES, ErrorKind

from . import envelope, tracing
from .config import BusSettings
from .dedupe import SeenIds
from .metrics import EVENTS, HANDLE_SECONDS, IN_FLIGHT, WAIT_SECONDS
from .subjects import subject_of
from .worker import Context, Handler, PermanentError, UndeclaredOutput, Worker

log = logging.getLogger(__name__)

Publish = Callable[[Event], Awaitable[None] | None]
"""Hands one output to the broker: None once it is in hand, else an awaitable to
wait on (an async function is one; a publisher with room in its batch answers at once)."""
# (subject, partition, before stream seq, correlation id, since) -> events
History = Callable[[str, int, int, str, datetime], Awaitable[list[Event]]]


_set = object.__setattr__  # outputs are frozen models, stamped in place


class PublishFailed(Exception):
    """An output was not accepted by the broker: the message is handled again, not acked."""


class Verdict(enum.Enum):
    """What the runner does with a message once processed."""

    ACK = "ack"  # handled (or a duplicate): outputs published
    DEAD = "dead"  # dead letter published: ack it too


@dataclass(slots=True)
class Incoming:
    """A received message as the transports hand it over."""

    subject: str
    data: bytes
    headers: dict[str, str]
    attempt: int = 1
    partition: int | None = None
    seq: int | None = None


class Processor:
    """Decode, dedupe, handle with retries, publish outputs, then ack or dead-letter: one worker kind's message path on every broker."""

    def __init__(self, worker: Worker, settings: BusSettings, history: History | None = None) -> None:
        self.worker = worker
        self.settings = settings
        self.history = history
        self.seen = SeenIds(settings.dedupe_cache)
        self._max_deliver = settings.max_deliver
        self._tries = range(settings.handler_retries + 1)
        self.in_flight = IN_FLIGHT.labels(worker.name)
        self._inputs = {s: _Input(worker, h) for s, h in worker.handlers.items()}

    def batch_done(self) -> None:
        """Count the events handled since the last call and their times, and forget
        the oldest handled ids past the cache's size (runners call it per batch:
        prometheus' counter takes a lock per call)."""
        self.seen.trim()
        for i in self._inputs.values():
            if i.took:
                i.ok.inc(len(i.took))
                i.seconds.observe_all(i.took)
                i.took.clear()
            if i.waited:
                i.waits.observe_all(i.waited)
                i.waited.clear()

    def _input(self, subject: str) -> _Input | None:
        """A subject whose handler was declared after the processor was made."""
        handler = self.worker.handlers.get(subject)
        if handler is None:
            return None
        into = self._inputs[subject] = _Input(self.worker, handler)
        return into

    async def process(self, msg: Incoming, publish: Publish) -> Verdict:
        """Handle one message; its outputs are published before the verdict is returned."""
        into = self._inputs.get(msg.subject) or self._input(msg.subject)
        if into is None:
            return await self._dead(
                msg, publish, "malformed", f"{self.worker.name} has no handler for {msg.subject}"
            )
        if msg.attempt > self._max_deliver:
            return await self._dead(
                msg,
                publish,
                "poison",
                f"delivered {msg.attempt} times without an ack (worker crashed or timed out)",
            )
        sent = envelope.read(msg.headers)
        try:
            event = envelope.decode(msg.subject, msg.data, msg.headers, sent)
        except envelope.DecodeError as exc:
            return await self._dead(msg, publish, exc.kind, str(exc))
        if event.id in self.seen:
            EVENTS.labels(self.worker.name, msg.subject, "duplicate").inc()
            return Verdict.ACK

        earlier = None
        if self.history and msg.partition is not None and msg.seq is not None:
            earlier = functools.partial(_earlier, self.history, msg.subject, msg.partition, msg.seq, event)
        worker = self.worker
        ctx = Context(
            worker.name,
            msg.subject,
            msg.headers,
            msg.attempt,
            msg.partition,
            earlier,
            event.correlation_id,
            worker.job_kind,
        )
        if not tracing.Switch.on:
            return await self._handle(msg, into, event, ctx, publish, sent.published_at)
        name = f"{self.worker.name} {msg.subject}"
        with tracing.span(name, msg.headers, event_id=event.id, correlation_id=event.correlation_id):
            return await self._handle(msg, into, event, ctx, publish, sent.published_at)

    async def _handle(
        self, msg: Incoming, into: _Input, event: Event, ctx: Context, publish: Publish, sent: float | None
    ) -> Verdict:
        """``sent``: when the message was published (unix seconds; None when it does not say)."""
        waited = None if sent is None else _time() - sent
        handler = into.handler
        for attempt in self._tries:
            start = _perf_counter()
            try:
                if handler.streaming:
                    index = 0
                    async for out in handler.fn(event, ctx):  # type: ignore[union-attr]
                        if (waiting := self._emit(publish, handler, event, index, out)) is not None:
                            await waiting
                        index += 1
                else:
                    result = await handler.fn(event, ctx)  # type: ignore[misc]
                    if isinstance(result, Event):
                        if (waiting := self._emit(publish, handler, event, 0, result)) is not None:
                            await waiting
                    elif result is not None:
                        for index, out in enumerate(result):
                            if (waiting := self._emit(publish, handler, event, index, out)) is not None:
                                await waiting
            except PermanentError as exc:
                return await self._dead(msg, publish, "handler", _describe(exc), event)
            except PublishFailed:
                raise  # the runner tries the message again; never a dead letter for it
            except Exception as exc:  # a handler bug must not kill the loop
                log.warning(
                    "handler failed",
                    extra={"worker": self.worker.name, "subject": msg.subject, "attempt": attempt + 1},
                    exc_info=True,
                )
                if attempt == self._tries[-1]:
                    return await self._dead(msg, publish, "handler", _describe(exc), event)
                await asyncio.sleep(self.settings.retry_backoff_s * 2**attempt)
            else:
                into.took.append(_perf_counter() - start)
                if waited is not None:
                    into.waited.append(waited)
                self.seen.add(event.id)
                return Verdict.ACK
        raise AssertionError("unreachable")

    def _emit(
        self, publish: Publish, handler: Handler, event: Event, index: int, out: Event
    ) -> Awaitable[None] | None:
        """Check the ``index``-th output of ``event``, give it ids derived from the
        input's and hand it to ``publish``: None once the publisher has it, else
        an awaitable to wait on (PublishFailed when the broker refuses it)."""
        if not isinstance(out, self.worker.emits):
            if not isinstance(out, Event):
                raise TypeError(f"{handler.fn.__name__} produced {type(out).__name__}, not an Event")
            declared = ", ".join(t.__name__ for t in self.worker.emits) or "nothing"
            raise UndeclaredOutput(
                f"{self.worker.name} produced {type(out).__name__} ({subject_of(out)}), which it does not"
                f" declare in emits (declared: {declared})"
            )
        if out is event:  # a pass-through of the input: never alter the input itself
            out = out.model_copy()
        # Outputs are handed over to the bus: stamp them in place (a copy per output
        # costs more than the rest of the hop's bookkeeping).
        _set(out, "id", envelope.derived_id(event.id, self.worker.name, index))
        _set(out, "causation_id", event.id)
        return _put(publish, out)

    async def _dead(
        self, msg: Incoming, publish: Publish, kind: ErrorKind, error: str, event: Event | None = None
    ) -> Verdict:
        EVENTS.labels(self.worker.name, msg.subject, f"dead_{kind}").inc()
        log.warning("dead letter", extra={"worker": self.worker.name, "subject": msg.subject, "kind": kind})
        cause = event.id if event else msg.headers.get(envelope.EVENT_ID) or f"seq{msg.seq}"
        correlation = event.correlation_id if event else envelope.read(msg.headers).correlation_id
        fields = {
            "id": envelope.derived_id(cause, self.worker.name, -1),
            "correlation_id": correlation if _valid_id(correlation) else "unknown",
            "causation_id": cause if _valid_id(cause) else None,
            "worker": self.worker.name,
            "subject": msg.subject[:1000],
            "error_kind": kind,
            "attempts": msg.attempt,
            "stream_seq": msg.seq,
        }
        # the whole original when it fits; else as much as fits, with its size and hash
        for keep, header_chars, error_chars in ((MAX_ORIGINAL_BYTES, 1000, 20_000), (16_000, 200, 2_000)):
            truncated = len(msg.data) > keep
            letter = DeadLetter(
                **fields,
                error=error[:error_chars],
                original_headers={k[:200]: v[:header_chars] for k, v in list(msg.headers.items())[:64]},
                original=msg.data[:keep],
                original_truncated=truncated,
                original_bytes=len(msg.data) if truncated else None,
                original_sha256=hashlib.sha256(msg.data).hexdigest() if truncated else None,
            )
            if len(envelope.encode_unchecked(letter)) <= MAX_EVENT_BYTES:
                break
        if (waiting := _put(publish, letter)) is not None:
            await waiting
        return Verdict.DEAD


class _Input:
    """One input subject of a worker: its handler and metrics."""

    __slots__ = ("handler", "ok", "seconds", "took", "waited", "waits")

    def __init__(self, worker: Worker, handler: Handler) -> None:
        self.handler = handler
        self.ok = EVENTS.labels(worker.name, handler.subject, "ok")
        self.seconds = HANDLE_SECONDS.labels(worker.name, handler.subject)
        self.waits = WAIT_SECONDS.labels(worker.name, handler.subject)
        self.took: list[float] = []  # handler seconds of the events not yet counted
        self.waited: list[float] = []  # seconds from publication not yet in waits


async def _earlier(
    history: History, subject: str, partition: int, seq: int, event: Event, seconds: float
) -> list[Event]:
    """``Context.earlier`` of a message (a partial of this): counted back from the
    event, not from now (a takeover may come late)."""
    return await history(
        subject, partition, seq, event.correlation_id, event.created_at - timedelta(seconds=seconds)
    )


def _put(publish: Publish, out: Event) -> Awaitable[None] | None:
    """``publish(out)``, its failures (now or when awaited) as PublishFailed."""
    try:
        waiting = publish(out)
    except Exception as exc:  # the broker's fault, not the handler's
        raise PublishFailed(_describe(exc)) from exc
    return None if waiting is None else _confirmed(waiting)


async def _confirmed(waiting: Awaitable[None]) -> None:
    """Wait until the broker has an output (PublishFailed when it refuses it)."""
    try:
        await waiting
    except Exception as exc:  # the broker's fault, not the handler's
        raise PublishFailed(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def _valid_id(value: str | None) -> bool:
    return value is not None and _ID.fullmatch(value) is not None


async def until_published(
    attempt: Callable[[], Awaitable[object]],
    forget: Callable[[], None],
    errors: tuple[type[BaseException], ...],
    worker: str,
    stopped: Callable[[], bool] = lambda: False,
    stop: asyncio.Event | None = None,
) -> bool:
    """Run ``attempt`` (handle messages, publish their outputs) until the broker
    confirms the outputs; between tries ``forget`` the messages' ids so they are
    handled again. False: stopped first, the messages stay unacked for the next
    owner. Never acked past: a later ack would sweep them away. Cancelled or
    failing otherwise, the messages are forgotten too: remembered unpublished,
    they would be dropped as duplicates when they come back."""
    failures = 0
    while True:
        try:
            await attempt()
            return True
        except errors as exc:
            failures += 1
            forget()
            if failures == 1 or failures % 20 == 0:
                log.error(
                    "publishing outputs failed; retrying",
                    extra={"worker": worker, "failures": failures, "error": str(exc)[:300]},
                )
            pause = min(30.0, 0.5 * 2 ** min(failures, 6))
            if stop is None:
                await asyncio.sleep(pause)
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
            if stopped() or (stop is not None and stop.is_set()):
                return False
        except BaseException:  # cancelled (the partition moved mid-batch) or a bug: handled next time
            forget()
            raise
