"""Two-level cache: an in-process L1 (cachetools TTL+LRU) in front of a shared Redis L2.

Reads go L1 → L2 → miss; an L2 hit is copied into L1. Writes go to both levels. Redis is
an optimisation, never a dependency: every L2 failure is logged and counted, and the cache
keeps answering from L1 (after a failure L2 is skipped for ``l2_retry_after`` seconds so an
unreachable server does not add a connect timeout to every call).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from typing import Any

import orjson
import redis.asyncio as aioredis
from cachetools import TTLCache
from redis.exceptions import RedisError

__all__ = ["CacheStats", "L1Cache", "L2Cache", "MultiLevelCache"]

logger = logging.getLogger(__name__)

_MISSING: Any = object()
# Errors that mean "L2 is unavailable or returned garbage" rather than a caller bug.
_L2_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    OSError,
    TimeoutError,
    orjson.JSONDecodeError,
)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"cache key must be a non-empty str, got {key!r}")
    return key


def _check_ttl(name: str, ttl: float | None) -> None:
    if ttl is not None and (isinstance(ttl, bool) or not ttl > 0):
        raise ValueError(f"{name} must be a positive number of seconds, got {ttl!r}")


class L1Cache:
    """In-process cache bounded by size (LRU eviction) and age (TTL), on ``cachetools.TTLCache``.

    ``ttl`` is the lifetime of every entry; a per-key ``ttl`` passed to :meth:`set` can only
    shorten it (L1 is a short-lived front for L2, never the longer-lived copy).
    """

    def __init__(
        self,
        max_size: int = 1000,
        ttl: float = 60,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be a positive int, got {max_size!r}")
        _check_ttl("ttl", ttl)
        self.max_size = max_size
        self.ttl = ttl
        self._timer = timer
        # Each entry is (value, expires_at); expires_at enforces shorter per-key TTLs.
        self._cache: TTLCache[str, tuple[Any, float]] = TTLCache(max_size, ttl, timer=timer)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the live value for ``key`` (refreshing its LRU position) or ``default``."""
        entry = self._cache.get(key, _MISSING)
        if entry is _MISSING:
            return default
        value, expires_at = entry
        if self._timer() >= expires_at:
            self._cache.pop(key, None)
            return default
        return value

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value``; evicts the least recently used entry when full."""
        _check_ttl("ttl", ttl)
        lifetime = self.ttl if ttl is None else min(ttl, self.ttl)
        self._cache[key] = (value, self._timer() + lifetime)

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was present."""
        return self._cache.pop(key, _MISSING) is not _MISSING

    def clear(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        self._cache.expire()
        return len(self._cache)


class L2Cache:
    """Redis (or DragonflyDB) cache: values stored as JSON (orjson) under ``namespace:key``.

    Raises the client's errors; :class:`MultiLevelCache` is the layer that tolerates them.
    """

    def __init__(self, redis_client: Any, namespace: str = "data_cache", default_ttl: float = 3600) -> None:
        if redis_client is None:
            raise ValueError("L2Cache needs a redis.asyncio client, got None")
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty str, got {namespace!r}")
        _check_ttl("default_ttl", default_ttl)
        self.redis_client = redis_client
        self.namespace = namespace
        self.default_ttl = default_ttl

    def full_key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    async def get(self, key: str, default: Any = None) -> Any:
        raw = await self.redis_client.get(self.full_key(key))
        return default if raw is None else orjson.loads(raw)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self.set_raw(key, encode_value(key, value), ttl)

    async def set_raw(self, key: str, payload: bytes, ttl: float | None = None) -> None:
        """Store an already-encoded payload; ``ttl`` in seconds (sub-second precision kept)."""
        _check_ttl("ttl", ttl)
        lifetime = self.default_ttl if ttl is None else ttl
        await self.redis_client.set(self.full_key(key), payload, px=max(1, int(lifetime * 1000)))

    async def delete(self, key: str) -> bool:
        return bool(await self.redis_client.delete(self.full_key(key)))


def encode_value(key: str, value: Any) -> bytes:
    """JSON-encode ``value`` for L2, with an error naming the key when it is not JSON-able."""
    try:
        return orjson.dumps(value)
    except TypeError as exc:
        raise TypeError(
            f"cache value for key {key!r} is not JSON-serialisable ({type(value).__name__}): {exc}"
        ) from exc


class CacheStats(dict[str, Any]):
    """A cache's figures: a plain dict that may also be awaited.

    ``get_stats()`` was a coroutine once; code written then (``await cache.get_stats()``) keeps
    working while new code calls it plainly.
    """

    def __await__(self) -> Generator[Any, None, CacheStats]:
        yield from ()
        return self


class MultiLevelCache:
    """L1 + L2 cache with hit statistics; L2 outages degrade to L1-only, never raise.

    Simple init: ``MultiLevelCache(redis_client, l1_max_size=1000, l1_ttl=60)``.
    Advanced init: ``MultiLevelCache(redis_client, l1_cache=L1Cache(...), l2_cache=L2Cache(...))``.
    Or ``MultiLevelCache(redis_url="redis://...")`` to own the client (closed by :meth:`close`).
    With no client, URL or ``l2_cache`` the cache runs on L1 alone.
    """

    def __init__(
        self,
        redis_client: Any = None,
        l1_max_size: int = 1000,
        l1_ttl: float = 60,
        *,
        l2_ttl: float = 3600,
        namespace: str = "data_cache",
        l1_cache: L1Cache | None = None,
        l2_cache: L2Cache | None = None,
        redis_url: str | None = None,
        l2_retry_after: float = 5.0,
    ) -> None:
        if redis_client is not None and redis_url is not None:
            raise ValueError("pass either redis_client or redis_url, not both")
        self._owns_client = False
        if redis_url is not None:
            if not isinstance(redis_url, str) or not redis_url.startswith(
                ("redis://", "rediss://", "unix://")
            ):
                raise ValueError(f"redis_url must be a redis://, rediss:// or unix:// URL: {redis_url!r}")
            redis_client = aioredis.from_url(redis_url, socket_connect_timeout=1.0, socket_timeout=2.0)
            self._owns_client = True
        self.redis_client = redis_client
        self.l1_cache = l1_cache if l1_cache is not None else L1Cache(l1_max_size, l1_ttl)
        if l2_cache is None and redis_client is not None:
            l2_cache = L2Cache(redis_client, namespace=namespace, default_ttl=l2_ttl)
        self.l2_cache = l2_cache
        self.l2_retry_after = l2_retry_after
        self._l2_down_until = 0.0
        self._l1_hits = 0
        self._l2_hits = 0
        self._misses = 0
        self._l2_errors = 0

    @property
    def l2_available(self) -> bool:
        """False while L2 is absent or in its post-failure cool-down."""
        return self.l2_cache is not None and time.monotonic() >= self._l2_down_until

    def _l2_failed(self, op: str, key: str, exc: BaseException) -> None:
        self._l2_errors += 1
        was_up = time.monotonic() >= self._l2_down_until
        self._l2_down_until = time.monotonic() + self.l2_retry_after
        log = logger.warning if was_up else logger.debug
        log("L2 cache %s(%r) failed, serving from L1: %s", op, key, exc)

    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value for ``key`` from L1, else L2 (copied into L1), else ``default``."""
        _check_key(key)
        value = self.l1_cache.get(key, _MISSING)
        if value is not _MISSING:
            self._l1_hits += 1
            return value
        if self.l2_cache is not None and self.l2_available:
            try:
                value = await self.l2_cache.get(key, _MISSING)
            except _L2_ERRORS as exc:
                self._l2_failed("get", key, exc)
            else:
                if value is not _MISSING:
                    self._l2_hits += 1
                    self.l1_cache.set(key, value)
                    return value
        self._misses += 1
        return default

    async def set(
        self, key: str, value: Any, l1_ttl: float | None = None, l2_ttl: float | None = None
    ) -> None:
        """Write ``value`` to both levels; raises TypeError if it is not JSON-serialisable."""
        _check_key(key)
        _check_ttl("l1_ttl", l1_ttl)
        _check_ttl("l2_ttl", l2_ttl)
        payload = encode_value(key, value) if self.l2_cache is not None else b""
        self.l1_cache.set(key, value, l1_ttl)
        if self.l2_cache is not None and self.l2_available:
            try:
                await self.l2_cache.set_raw(key, payload, l2_ttl)
            except _L2_ERRORS as exc:
                self._l2_failed("set", key, exc)

    async def delete(self, key: str) -> bool:
        """Remove ``key`` from both levels; True if either level held it."""
        _check_key(key)
        found = self.l1_cache.delete(key)
        if self.l2_cache is not None and self.l2_available:
            try:
                found = await self.l2_cache.delete(key) or found
            except _L2_ERRORS as exc:
                self._l2_failed("delete", key, exc)
        return found

    def get_stats(self) -> CacheStats:
        """Hit/miss counters and rates (percentages of all ``get`` calls, 2 decimals).

        Counters live in memory, so this is a plain call; ``await cache.get_stats()`` also works
        (see :class:`CacheStats`)."""
        total = self._l1_hits + self._l2_hits + self._misses

        def pct(n: int) -> float:
            return round(n * 100.0 / total, 2) if total else 0.0

        return CacheStats(
            l1_size=len(self.l1_cache),
            l1_max_size=self.l1_cache.max_size,
            l1_hits=self._l1_hits,
            l1_hit_rate_pct=pct(self._l1_hits),
            l2_hits=self._l2_hits,
            l2_hit_rate_pct=pct(self._l2_hits),
            total_misses=self._misses,
            overall_hit_rate_pct=pct(self._l1_hits + self._l2_hits),
            total_requests=total,
            l2_errors=self._l2_errors,
            l2_available=self.l2_available,
        )

    async def close(self) -> None:
        """Close the Redis client if this cache created it from ``redis_url``."""
        if self._owns_client and self.redis_client is not None:
            await self.redis_client.aclose()
