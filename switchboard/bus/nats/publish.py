"""Publishing to JetStream without waiting for each ack.

nats-py's ``publish_async`` makes a future, a random token (a system call) and
a semaphore wait per message, and decodes every ack into a dataclass. Here a
message is published with a reply subject on one inbox (a counter per
message), and the stream's acks are counted per asyncio task: ``flush`` waits
until every message the calling task sent is stored, or raises.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api


class PublishRefused(nats.js.errors.Error):
    """The stream did not store a published event (no stream for its subject, a broker error)."""


class _Sent:
    """One task's events sent and not yet confirmed by the stream."""

    __slots__ = ("error", "tokens", "waiter")

    def __init__(self) -> None:
        self.tokens: set[int] = set()
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None


class Pipeline:
    """Publishes to JetStream; ``flush`` waits for the stream's acks of the calling task's messages.

    Tasks share a pipeline (a worker's partition loops, its sessions): one's
    flush neither takes nor skips another's messages.
    """

    def __init__(self, nc: Client, max_unconfirmed: int = 4_000) -> None:
        self.nc = nc
        self.max_unconfirmed = max_unconfirmed
        """messages sent and not yet confirmed, past which ``send`` waits for acks"""
        self._sent: dict[asyncio.Task[Any] | None, _Sent] = {}
        self._tokens: dict[int, _Sent] = {}  # reply token -> the sends it belongs to
        self._counter = itertools.count()
        self._inbox = ""
        self._sub: Subscription | None = None
        self._room = asyncio.Event()  # set while under max_unconfirmed
        self._room.set()

    @property
    def unconfirmed(self) -> int:
        """Messages sent whose ack has not come (nor been given up on)."""
        return len(self._tokens)

    async def send(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Publish a message; ``flush`` waits for its ack."""
        if self._sub is None:
            self._inbox = self.nc.new_inbox() + "."
            self._sub = await self.nc.subscribe(self._inbox + "*", cb=self._on_ack)
        while len(self._tokens) >= self.max_unconfirmed:
            self._room.clear()
            await self._room.wait()
        task = asyncio.current_task()
        sent = self._sent.get(task)
        if sent is None:
            sent = self._sent[task] = _Sent()
        token = next(self._counter)
        sent.tokens.add(token)
        self._tokens[token] = sent
        await self.nc.publish(subject, data, reply=f"{self._inbox}{token}", headers=headers)

    async def _on_ack(self, msg: Msg) -> None:
        try:
            token = int(msg.subject[len(self._inbox) :])
            sent = self._tokens.pop(token)
        except (KeyError, ValueError):
            return  # a late ack of sends given up on
        if len(self._tokens) < self.max_unconfirmed:
            self._room.set()
        sent.tokens.discard(token)
        error = _refusal(msg)
        if error is not None and sent.error is None:
            sent.error = error
        if not sent.tokens and sent.waiter is not None and not sent.waiter.done():
            sent.waiter.set_result(None)

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for the stream's acks of every message this task sent: TimeoutError
        past ``timeout_s``; the stream's error (an APIError, NoStreamResponseError)
        when it refused one. Either way the task's sends are done with."""
        sent = self._sent.pop(asyncio.current_task(), None)
        if sent is None:
            return
        try:
            if sent.tokens:
                sent.waiter = asyncio.get_running_loop().create_future()
                async with asyncio.timeout(timeout_s):
                    await sent.waiter
        finally:
            for token in sent.tokens:  # given up on: a late ack finds nothing
                self._tokens.pop(token, None)
            if len(self._tokens) < self.max_unconfirmed:
                self._room.set()
        if sent.error is not None:
            raise sent.error

    async def close(self) -> None:
        """Stop listening for acks (what is unconfirmed is given up on)."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None


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
