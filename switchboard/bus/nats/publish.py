"""Publishing to JetStream without waiting for each ack.

nats-py's ``publish_async`` makes a future, a random token (a system call) and
a semaphore wait per message, and decodes every ack into a dataclass. Here a
message is published with a reply subject on one inbox (a counter per
message), and the stream's acks are counted per batch: a batch's ``flush``
waits until every message sent in it is stored, or raises.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api


class PublishRefused(nats.js.errors.Error):
    """The stream did not store a published event (no stream for its subject, a broker error)."""


class Pipeline:
    """Publishes to JetStream through batches: a batch's ``flush`` waits for the
    stream's acks of its own messages. Tasks share a pipeline (a worker's
    partition loops, its sessions), each with batches of its own."""

    def __init__(self, nc: Client, max_unconfirmed: int = 4_000) -> None:
        self.nc = nc
        self.max_unconfirmed = max_unconfirmed
        """messages sent and not yet confirmed, past which ``send`` waits for acks"""
        self.tokens: dict[int, Batch] = {}  # reply token -> the batch it belongs to
        self.counter = itertools.count()
        self.inbox = ""
        self._sub: Subscription | None = None
        self._room = asyncio.Event()  # set while under max_unconfirmed
        self._room.set()
        self.waiting: dict[Batch, float] = {}  # batches being flushed -> when they time out (monotonic)
        self._timer: asyncio.TimerHandle | None = None  # times out the earliest of them

    @property
    def unconfirmed(self) -> int:
        """Messages sent whose ack has not come (nor been given up on)."""
        return len(self.tokens)

    def batch(self) -> Batch:
        """A new, empty batch."""
        return Batch(self)

    async def ready(self) -> None:
        """Listen for acks (once); wait while too many are outstanding."""
        if self._sub is None:
            self.inbox = self.nc.new_inbox() + "."
            self._sub = await self.nc.subscribe(self.inbox + "*", cb=self._on_ack)
        while len(self.tokens) >= self.max_unconfirmed:
            self._room.clear()
            await self._room.wait()

    def forget(self, tokens: set[int]) -> None:
        """Give up on these acks: when they come late, they find nothing."""
        for token in tokens:
            self.tokens.pop(token, None)
        if len(self.tokens) < self.max_unconfirmed:
            self._room.set()

    async def _on_ack(self, msg: Msg) -> None:
        try:
            token = int(msg.subject[len(self.inbox) :])
            batch = self.tokens.pop(token)
        except (KeyError, ValueError):
            return  # a late ack of a batch given up on
        if len(self.tokens) < self.max_unconfirmed:
            self._room.set()
        batch.confirmed(token, _refusal(msg))

    def watch(self, batch: Batch, deadline: float) -> None:
        """Time a flushing batch out at ``deadline`` (monotonic). One timer for the
        pipeline, at the earliest deadline, rather than one per flush."""
        self.waiting[batch] = deadline
        if self._timer is None or self._timer.when() > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_at(deadline, self._time_out)

    def _time_out(self) -> None:
        self._timer = None
        now = time.monotonic()
        for batch, deadline in list(self.waiting.items()):
            if deadline <= now:
                del self.waiting[batch]
                batch.timed_out()
        if self.waiting:
            self._timer = asyncio.get_running_loop().call_at(min(self.waiting.values()), self._time_out)

    async def close(self) -> None:
        """Stop listening for acks (what is unconfirmed is given up on)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None


class Batch:
    """Messages sent together; ``flush`` returns once the stream stored them all."""

    __slots__ = ("error", "pipeline", "tokens", "waiter")

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.tokens: set[int] = set()
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    async def send(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Publish a message; ``flush`` waits for its ack."""
        pipeline = self.pipeline
        if pipeline._sub is None or len(pipeline.tokens) >= pipeline.max_unconfirmed:
            await pipeline.ready()
        token = next(pipeline.counter)
        self.tokens.add(token)
        pipeline.tokens[token] = self
        try:
            await pipeline.nc.publish(subject, data, reply=f"{pipeline.inbox}{token}", headers=headers)
        except BaseException:  # not sent: no ack will come
            self.tokens.discard(token)
            pipeline.forget({token})
            raise

    def confirmed(self, token: int, error: BaseException | None) -> None:
        """The stream's answer to one message: stored, or ``error``."""
        self.tokens.discard(token)
        if error is not None and self.error is None:
            self.error = error
        if not self.tokens and self.waiter is not None and not self.waiter.done():
            self._settle()

    def _settle(self) -> None:
        """Every ack came: the confirmation holds the stream's refusal, if any."""
        self.pipeline.waiting.pop(self, None)
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.error is None:
            waiter.set_result(None)
        else:
            error, self.error = self.error, None
            waiter.set_exception(error)

    def timed_out(self) -> None:
        """Its acks did not all come in time: the confirmation fails with TimeoutError."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError(f"{len(self.tokens)} publishes not confirmed in time"))
        self.abandon()

    def abandon(self) -> None:
        """Give up on the batch (its input is handled again): acks still to come
        find nothing, and a confirmation not yet answered is cancelled."""
        self.pipeline.forget(self.tokens)
        self.tokens = set()
        self.pipeline.waiting.pop(self, None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.cancel()

    def confirmation(self, timeout_s: float = 30.0) -> asyncio.Future[None]:
        """Done once the stream stored every message sent. It fails with
        TimeoutError past ``timeout_s``, or with the stream's error (an APIError,
        NoStreamResponseError) when the stream refused one; nothing is sent into
        the batch after this."""
        self.waiter = asyncio.get_running_loop().create_future()
        if self.tokens:
            self.pipeline.watch(self, time.monotonic() + timeout_s)
        else:
            self._settle()
        return self.waiter

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for the stream's acks of every message sent (see ``confirmation``).
        Either way the batch is done with."""
        try:
            await self.confirmation(timeout_s)
        finally:
            self.abandon()


def _refusal(msg: Msg) -> BaseException | None:
    """The error in a publish's ack (None when the event was stored)."""
    if msg.headers and msg.headers.get(api.Header.STATUS) == api.StatusCode.SERVICE_UNAVAILABLE:
        return nats.js.errors.NoStreamResponseError()
    if b'"error"' not in msg.data:
        return None
    try:
        answer = json.loads(msg.data)
    except ValueError:
        return PublishRefused(f"unreadable ack: {msg.data[:200]!r}")
    if not isinstance(answer, dict) or not isinstance(answer.get("error"), dict):
        return None
    try:
        nats.js.errors.APIError.from_error(answer["error"])  # raises the error's own class
    except (nats.js.errors.APIError, KeyError, TypeError) as exc:
        return exc
    return None
