"""The cache manager's backends: in memory (cachetools), Redis/DragonflyDB (the SDK's store
backend), Memcached (aiomcache). Each stores bytes under a full key with a TTL in seconds.

Memcached cannot list its keys, so a namespace there carries a generation number kept in
Memcached itself: removing by pattern, or flushing, moves the namespace to the next generation
and every key of the older one is never read again (it expires on its own). A generation is
remembered in this process for a second, so another process's flush is seen within one.
"""

from __future__ import annotations

import abc
import fnmatch
import hashlib
import time
from typing import Any

from cachetools import TLRUCache

from centralhub.sdk.database.config import StoreConfig
from centralhub.sdk.database.dragonfly import DragonflyBackend

__all__ = ["CacheBackend", "MemcachedCache", "MemoryCache", "RedisCache"]


class CacheBackend(abc.ABC):
    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # every key comes as (prefix, key): the prefix is the service and namespace
    @abc.abstractmethod
    async def get(self, prefix: str, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def set(self, prefix: str, key: str, value: bytes, ttl: float | None) -> None: ...

    @abc.abstractmethod
    async def delete(self, prefix: str, key: str) -> bool: ...

    @abc.abstractmethod
    async def delete_pattern(self, prefix: str, pattern: str) -> int:
        """Remove the keys under ``prefix`` whose rest matches ``pattern`` (glob); how many
        (``-1``: the backend dropped the whole prefix, it cannot count)."""


class MemoryCache(CacheBackend):
    """LRU with a TTL per key, in this process."""

    def __init__(self, max_size: int = 10_000) -> None:
        self._data: TLRUCache[str, tuple[bytes, float]] = TLRUCache(
            maxsize=max_size, ttu=lambda _k, v, _now: v[1], timer=time.monotonic
        )

    async def get(self, prefix: str, key: str) -> bytes | None:
        found = self._data.get(prefix + key)
        return None if found is None else found[0]

    async def set(self, prefix: str, key: str, value: bytes, ttl: float | None) -> None:
        expires = time.monotonic() + ttl if ttl else float("inf")
        self._data[prefix + key] = (value, expires)

    async def delete(self, prefix: str, key: str) -> bool:
        return self._data.pop(prefix + key, None) is not None

    async def delete_pattern(self, prefix: str, pattern: str) -> int:
        doomed = [
            k
            for k in list(self._data.keys())
            if k.startswith(prefix) and fnmatch.fnmatchcase(k[len(prefix) :], pattern)
        ]
        for key in doomed:
            self._data.pop(key, None)
        return len(doomed)


class RedisCache(CacheBackend):
    """Redis or DragonflyDB, through the SDK's store backend."""

    def __init__(self, config: StoreConfig) -> None:
        self.store = DragonflyBackend(config)

    async def connect(self) -> None:
        await self.store.connect()

    async def close(self) -> None:
        await self.store.close()

    async def get(self, prefix: str, key: str) -> bytes | None:
        return await self.store.get(prefix + key)

    async def set(self, prefix: str, key: str, value: bytes, ttl: float | None) -> None:
        await self.store.set(prefix + key, value, ttl)

    async def delete(self, prefix: str, key: str) -> bool:
        return await self.store.delete(prefix + key) > 0

    async def delete_pattern(self, prefix: str, pattern: str) -> int:
        escaped = "".join("\\" + c if c in "[]\\" else c for c in prefix)
        return await self.store.delete_pattern(escaped + pattern)


class MemcachedCache(CacheBackend):
    def __init__(self, host: str, port: int, *, pool_size: int = 4) -> None:
        self.host, self.port, self.pool_size = host, port, pool_size
        self.client: Any = None
        self._generations: dict[str, tuple[int, float]] = {}

    async def connect(self) -> None:
        import aiomcache

        self.client = aiomcache.Client(self.host, self.port, pool_size=self.pool_size)
        await self.client.version()  # reachable now, not at the first get

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    @staticmethod
    def _wire(key: str) -> bytes:
        """Memcached keys: at most 250 bytes, no spaces or control characters."""
        raw = key.encode()
        if len(raw) > 200 or any(b <= 32 or b == 127 for b in raw):
            return b"h:" + hashlib.sha256(raw).hexdigest().encode()
        return raw

    async def _generation(self, prefix: str) -> int:
        held = self._generations.get(prefix)
        if held is not None and time.monotonic() - held[1] < 1.0:
            return held[0]
        raw = await self.client.get(self._wire(prefix + "__generation"))
        generation = int(raw) if raw else 0
        self._generations[prefix] = (generation, time.monotonic())
        return generation

    async def _key(self, prefix: str, key: str) -> bytes:
        return self._wire(f"{prefix}g{await self._generation(prefix)}:{key}")

    async def get(self, prefix: str, key: str) -> bytes | None:
        value = await self.client.get(await self._key(prefix, key))
        return None if value is None else bytes(value)

    async def set(self, prefix: str, key: str, value: bytes, ttl: float | None) -> None:
        # memcached reads an expiry above 30 days as a date: keep whole seconds, at least one
        seconds = max(1, round(ttl)) if ttl else 0
        await self.client.set(await self._key(prefix, key), value, exptime=seconds)

    async def delete(self, prefix: str, key: str) -> bool:
        return bool(await self.client.delete(await self._key(prefix, key)))

    async def delete_pattern(self, prefix: str, pattern: str) -> int:
        marker = self._wire(prefix + "__generation")
        import aiomcache

        try:
            await self.client.incr(marker, 1)
        except aiomcache.ClientException:  # not there yet: start at 1, unless another process just did
            if not await self.client.add(marker, b"1"):
                await self.client.incr(marker, 1)
        self._generations.pop(prefix, None)
        return -1
