"""Result cache: identical (question, dataset version, model, language) within
the TTL is answered from here, marked ``cached``. Redis when configured
(shared by every replica), in-process otherwise."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CacheSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_ANALYST_CACHE_", extra="ignore")

    redis_url: str | None = None
    ttl_s: int = Field(default=3600, ge=0)
    """0 turns the cache off."""
    max_entries: int = Field(default=1_000, ge=1)


def cache_key(question: str, dataset: str, version: str, model: str, language: str) -> str:
    normal = " ".join(question.lower().split())
    raw = "\x1f".join((normal, dataset, version, model, language))
    return "sb:analyst:" + hashlib.sha256(raw.encode()).hexdigest()


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes) -> None: ...
    async def drop(self, key: str) -> None: ...


class MemoryCache:
    def __init__(self, ttl_s: int, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return item[1]

    async def put(self, key: str, value: bytes) -> None:
        self._items[key] = (time.monotonic() + self.ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    async def drop(self, key: str) -> None:
        self._items.pop(key, None)


class RedisCache:
    def __init__(self, url: str, ttl_s: int, client: object | None = None) -> None:
        if client is None:
            import redis.asyncio as redis

            client = redis.from_url(url)
        self.client = client
        self.ttl_s = ttl_s

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(key)  # type: ignore[attr-defined,no-any-return]

    async def put(self, key: str, value: bytes) -> None:
        await self.client.set(key, value, ex=self.ttl_s)  # type: ignore[attr-defined]

    async def drop(self, key: str) -> None:
        await self.client.delete(key)  # type: ignore[attr-defined]


def make_cache(settings: CacheSettings | None = None) -> Cache | None:
    settings = settings or CacheSettings()
    if settings.ttl_s == 0:
        return None
    if settings.redis_url:
        return RedisCache(settings.redis_url, settings.ttl_s)
    return MemoryCache(settings.ttl_s, settings.max_entries)
