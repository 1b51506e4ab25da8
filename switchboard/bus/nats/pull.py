"""A durable pull consumer read through one inbox and one open pull request.

nats-py's ``fetch`` asks twice per call (a no-wait probe, then a lingering
request) and waits for each message with its own task and timer. Here one
request for a whole batch stays open while the batch before it is handled:
what arrives meanwhile is taken at the next call in one piece, and a call
waits once, for the first message. Like nats-py's own ``fetch``, it reads the
subscription's queue: no task per subscription between the socket and the
caller (a callback subscription wakes one per message).

Each request has its own reply subject under the inbox, so a status that
ends a request (408 at its expiry) is told apart from one that ends an older
request: a request the server leaves unended (seen on a loaded server, with
messages still flowing past its expiry) is replaced a moment after its expiry,
not after seconds, and a late status never ends the request that replaced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api

# past its expiry, a request the server has not ended is replaced (2.0 s here made a
# stalled partition wait 2 s: bench/bus/run.py p99 per hop 340 ms -> 20-60 ms)
_GRACE_S = 0.2
_LOST_IN_A_ROW = 3  # on one live connection: nobody answers (the consumer is gone)
_BACKOFF_S = 0.2  # after a refused request (409), before asking again


class RequestLost(nats.errors.Error):
    """The server never ended a pull request: the connection was lost, or the consumer is gone."""


class Puller:
    """Pulls batches of one durable consumer, in delivery order."""

    def __init__(self, nc: Client, stream: str, durable: str, batch: int, expires_s: float) -> None:
        self.nc = nc
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.batch = batch
        self.expires_s = expires_s
        self.request = json.dumps({"batch": batch, "expires": int(expires_s * 1e9)}).encode()
        self.inbox = nc.new_inbox()
        self.reply = ""  # the open request's reply subject (under the inbox)
        self.asks = 0
        self.ready: list[Msg] = []
        self.owed = 0  # messages the open request may still bring
        self.open_until = 0.0  # monotonic: when the open request is taken as lost
        self.quiet_until = 0.0  # monotonic: no request before this (after a 409)
        self.asked_on = -1  # the connection (its reconnect count) the open request went on
        self.lost = 0  # requests in a row the server never ended, on a live connection
        self.error: nats.js.errors.Error | None = None
        self.woken = False  # ``wake`` was called: the next wait ends at once
        self._sub: Subscription | None = None
        # the subscription's own queue, as nats-py's fetch reads it; None in it: look again
        self._queue: asyncio.Queue[Msg | None] | None = None
        self._timer: asyncio.TimerHandle | None = None  # ends a wait when it must end

    @property
    def open(self) -> bool:
        """Whether a request is open: messages may still come for it."""
        return self.owed > 0 and time.monotonic() < self.open_until

    async def start(self) -> None:
        """Subscribe to the inbox the requests' messages come to (once)."""
        if self._sub is None:
            self._sub = await self.nc.subscribe(f"{self.inbox}.*")
            self._queue = self._sub._pending_queue  # type: ignore[assignment]

    async def stop(self) -> None:
        """Unsubscribe (what an open request still brings is redelivered after ack_wait)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sub is not None:
            self._queue = None
            await self._sub.unsubscribe()
            self._sub = None

    def pulled(self) -> list[Msg]:
        """What has arrived and waits to be fetched (a fetch waiting now is woken to take it)."""
        if self._take():
            self._poke()
        return self.ready

    def _take(self) -> bool:
        """Take what is in the queue; False when it was empty."""
        queue = self._queue
        if queue is None or queue.empty():
            return False
        while not queue.empty():
            self._on(queue.get_nowait())
            queue.task_done()
        return True

    def _on(self, msg: Msg | None) -> None:
        if msg is None:
            return
        self._sub._pending_size -= len(msg.data)  # type: ignore[union-attr]
        status = msg.headers.get(api.Header.STATUS) if msg.headers else None
        self.lost = 0
        if not status:  # a message comes under its stream subject: whichever request brought it
            self.ready.append(msg)
            self.owed -= 1
            return
        if status == api.StatusCode.CONTROL_MESSAGE or msg.subject != self.reply:
            return  # an idle heartbeat, or the end of a request already replaced
        if status in (api.StatusCode.NO_MESSAGES, api.StatusCode.REQUEST_TIMEOUT):
            self.owed = 0
        elif status == api.StatusCode.CONFLICT:  # too many requests waiting, a leader change...
            self.owed = 0
            self.quiet_until = time.monotonic() + _BACKOFF_S
            description = (msg.headers or {}).get(api.Header.DESCRIPTION, "")
            if "deleted" in description.lower():
                self.error = nats.js.errors.NotFoundError(description=description)
        else:
            self.owed = 0
            self.error = nats.js.errors.APIError.from_msg(msg)

    async def _ask(self) -> None:
        self.owed = self.batch
        self.open_until = time.monotonic() + self.expires_s + _GRACE_S
        self.asked_on = self._connection()
        self.asks += 1
        self.reply = f"{self.inbox}.{self.asks}"
        await self.nc.publish(self.next_subject, self.request, self.reply)

    async def fetch(self, wait_s: float, ask: bool = True) -> list[Msg]:
        """What has arrived, waiting up to ``wait_s`` for the first message;
        ``ask``: open a request when none is (else only take what the open one brings)."""
        deadline = time.monotonic() + wait_s
        queue = self._queue
        if queue is None:
            raise RuntimeError("fetch before start")
        self._take()
        while not self.ready:
            self._raise()
            if self.woken:
                self.woken = False
                return []
            now = time.monotonic()
            if not self.open:
                if self.owed > 0:  # never ended: lost with the connection, or nobody answers
                    self.owed = 0
                    self.lost = self.lost + 1 if self.asked_on == self._connection() != -1 else 0
                    if self.lost >= _LOST_IN_A_ROW:
                        self.lost = 0
                        raise RequestLost(f"no answer to pull requests on {self.next_subject}")
                if not ask or now >= deadline:
                    return []
                if now < self.quiet_until:
                    await asyncio.sleep(min(self.quiet_until, deadline) - now)
                    continue
                await self._ask()
            self._wake_by(min(deadline, self.open_until))
            self._on(await queue.get())
            queue.task_done()
            self._take()
            if not self.ready and (self.woken or time.monotonic() >= deadline):
                self.woken = False
                return []
        out, self.ready = self.ready, []
        return out

    def wake(self) -> None:
        """End a ``fetch`` waiting now, or the next one, early: it returns what
        has arrived, perhaps nothing (the caller has something else to do)."""
        self.woken = True
        self._poke()

    def _wake_by(self, when: float) -> None:
        """End a wait at ``when`` (monotonic, the loop's clock) at the latest.
        One timer serves many waits: a wait that ends first leaves it set, and
        it wakes a later wait early, which looks and waits again (a timer per
        wait cost more than the rest of a quiet partition's fetch)."""
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._ring)

    def _ring(self) -> None:
        self._timer = None
        self._poke()

    def _poke(self) -> None:
        """Have a waiting fetch look again."""
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    def _connection(self) -> int:
        """Which connection this is (-1 while there is none): a request does not outlive it."""
        return int(self.nc.stats["reconnects"]) if self.nc.is_connected else -1

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
