"""The edge's limits: per-client rate limits (in Redis when configured, so
several edges share them), the HTTP body limit, and a deadline for a request
to arrive whole (a client that drips its headers is cut off)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self._now = now
        self.stamp = now()

    def take(self, n: float = 1.0) -> bool:
        now = self._now()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


class Limiter:
    """Token buckets per client, kept in this process."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, TokenBucket] = {}

    async def take(self, client: str) -> bool:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst)
        return bucket.take()

    async def close(self) -> None:
        pass


# One bucket per client in a Redis hash; Redis's clock, so edges on several hosts agree.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local s = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(s[1]) or burst
local stamp = tonumber(s[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return ok
"""


class RedisLimiter(Limiter):
    """The same buckets in Redis, shared by every edge that uses it. While Redis
    is unreachable each edge limits on its own (logged), rather than refusing all."""

    def __init__(self, url: str, rate: float, burst: int, namespace: str) -> None:
        import redis.asyncio as aioredis

        super().__init__(rate, burst)
        self._redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(_TAKE)
        self._prefix = f"sb:{namespace}:edge:rate:"
        self._down = False

    async def take(self, client: str) -> bool:
        try:
            ok = await self._script(keys=[self._prefix + client], args=[self.rate, self.burst])
        except Exception as exc:  # noqa: BLE001 - any Redis failure: limit locally
            if not self._down:
                log.warning("rate limits: Redis unreachable (%s); limiting per edge until it is back", exc)
                self._down = True
            return await super().take(client)
        if self._down:
            log.warning("rate limits: Redis is back")
            self._down = False
        return bool(ok)

    async def close(self) -> None:
        await self._redis.aclose()


class TimelyHttp(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline: a request (headers and body) must
    arrive within ``request_timeout_s`` of the connection opening or of the
    previous response, or the connection is closed: a client that drips its
    bytes holds nothing for long."""

    request_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the WebSocket has its own idle limit
        super().handle_websocket_upgrade()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline: asyncio.TimerHandle | None = self.loop.call_later(
            self.request_timeout_s, self._too_slow
        )

    def _disarm(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def timely_http(request_timeout_s: float) -> type[TimelyHttp]:
    return type("TimelyHttp", (TimelyHttp,), {"request_timeout_s": request_timeout_s})


class BodyLimit:
    """ASGI middleware: a request body past ``max_bytes`` gets 413 before it is read whole."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._refuse(send)
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body over {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
