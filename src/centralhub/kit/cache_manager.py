"""``CacheManager``: a service's cache over one or more backends, with the platform's API.

Backends are added by name (``CacheConfig(backend="memory" | "redis" | "dragonfly" |
"memcached")``) and form levels in the order added: a read asks each in turn and copies a hit
into the levels before it; a write, delete or invalidation reaches all of them. Keys live under
``<service>:<namespace>:`` so services sharing a server never see each other's entries, and a
namespace can be invalidated by pattern or flushed whole. Values are serialized with JSON
(orjson) or MessagePack. A cache is never why a request fails: a backend error is logged,
counted and answered as a miss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from centralhub.kit.cache_backends import CacheBackend, MemcachedCache, MemoryCache, RedisCache
from centralhub.sdk.database.config import StoreConfig

__all__ = ["CacheConfig", "CacheManager"]

log = logging.getLogger(__name__)
SERIALIZERS = ("json", "msgpack")
BACKENDS = ("memory", "redis", "dragonfly", "memcached")
_MISSING: Any = object()


@dataclass
class CacheConfig:
    backend: str = "memory"
    host: str = "127.0.0.1"
    port: int | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0
    url: str | None = field(default=None, repr=False)
    default_ttl: float | None = None
    #: entries kept in memory at most (``memory`` backend)
    max_size: int = 10_000


def _encode(value: Any, how: str) -> bytes:
    if how == "msgpack":
        import msgpack

        return bytes(msgpack.packb(value, use_bin_type=True))
    return orjson.dumps(value)


def _decode(raw: bytes, how: str) -> Any:
    if how == "msgpack":
        import msgpack

        return msgpack.unpackb(raw, raw=False)
    return orjson.loads(raw)


def _backend(config: CacheConfig) -> CacheBackend:
    if config.backend == "memory":
        return MemoryCache(config.max_size)
    if config.backend in ("redis", "dragonfly"):
        settings = {
            "host": config.host,
            "port": config.port or 6379,
            "db": config.db,
            "password": config.password,
        }
        if config.url:
            settings["url"] = config.url
        return RedisCache(StoreConfig.from_mapping("cache", {"kind": "redis", **settings}))
    return MemcachedCache(config.host, config.port or 11211)


class CacheManager:
    def __init__(self, service_name: str, default_ttl: float = 300, *, serializer: str = "json") -> None:
        if serializer not in SERIALIZERS:
            raise ValueError(f"serializer must be one of {', '.join(SERIALIZERS)} (got {serializer!r})")
        self.service_name = service_name
        self.default_ttl = default_ttl
        self.serializer = serializer
        self.backends: dict[str, CacheBackend] = {}
        self._ttls: dict[str, float | None] = {}
        self._stats: dict[str, dict[str, int]] = {}
        #: namespaces this manager wrote to (``flush()`` with no namespace clears these)
        self._namespaces: set[str] = {"default"}

    async def add_backend(self, name: str, config: CacheConfig) -> None:
        if config.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)} (got {config.backend!r})")
        if name in self.backends:
            raise ValueError(f"a cache backend named {name!r} is added already")
        backend = _backend(config)
        await backend.connect()
        self.backends[name] = backend
        self._ttls[name] = config.default_ttl
        self._stats[name] = {"hits": 0, "misses": 0, "sets": 0, "deletes": 0, "errors": 0}

    def _prefix(self, namespace: str | None) -> str:
        ns = namespace or "default"
        if ":" in ns:
            raise ValueError(f"namespace may not contain ':' (got {ns!r})")
        self._namespaces.add(ns)
        return f"{self.service_name}:{ns}:"

    def _levels(self, backend: str | None) -> list[tuple[str, CacheBackend]]:
        if not self.backends:
            raise RuntimeError(f"{self.service_name}: add a cache backend first")
        if backend is None:
            return list(self.backends.items())
        if backend not in self.backends:
            raise KeyError(f"no cache backend named {backend!r} (added: {', '.join(self.backends)})")
        return [(backend, self.backends[backend])]

    def _failed(self, name: str, action: str, exc: Exception) -> None:
        self._stats[name]["errors"] += 1
        log.warning("cache %s: %s failed: %s", name, action, exc)

    async def get(
        self, key: str, default: Any = None, *, namespace: str | None = None, backend: str | None = None
    ) -> Any:
        prefix = self._prefix(namespace)
        missed: list[tuple[str, CacheBackend]] = []
        for name, level in self._levels(backend):
            try:
                raw = await level.get(prefix, key)
            except Exception as exc:
                self._failed(name, "get", exc)
                raw = None
            if raw is None:
                self._stats[name]["misses"] += 1
                missed.append((name, level))
                continue
            self._stats[name]["hits"] += 1
            for upper_name, upper in missed:  # the levels in front get it for next time
                try:
                    await upper.set(prefix, key, raw, self._ttl(upper_name, None))
                except Exception as exc:
                    self._failed(upper_name, "fill", exc)
            return _decode(raw, self.serializer)
        return default

    def _ttl(self, name: str, ttl: float | None) -> float | None:
        if ttl is not None:
            return ttl
        own = self._ttls.get(name)
        return own if own is not None else self.default_ttl

    async def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        *,
        namespace: str | None = None,
        backend: str | None = None,
    ) -> bool:
        """Store ``value`` (``ttl`` seconds; the backend's or the manager's default otherwise);
        False when no backend took it."""
        raw, prefix, stored = _encode(value, self.serializer), self._prefix(namespace), False
        for name, level in self._levels(backend):
            try:
                await level.set(prefix, key, raw, self._ttl(name, ttl))
            except Exception as exc:
                self._failed(name, "set", exc)
                continue
            self._stats[name]["sets"] += 1
            stored = True
        return stored

    async def delete(self, key: str, *, namespace: str | None = None, backend: str | None = None) -> bool:
        prefix, found = self._prefix(namespace), False
        for name, level in self._levels(backend):
            try:
                found = await level.delete(prefix, key) or found
                self._stats[name]["deletes"] += 1
            except Exception as exc:
                self._failed(name, "delete", exc)
        return found

    async def exists(self, key: str, *, namespace: str | None = None) -> bool:
        return await self.get(key, _MISSING, namespace=namespace) is not _MISSING

    async def invalidate_pattern(self, pattern: str, *, namespace: str | None = None) -> int:
        """Remove the keys matching ``pattern`` (``*``, ``?``, ``[...]``) in the namespace; how
        many (as far as the backends can count: Memcached drops the whole namespace)."""
        prefix, removed = self._prefix(namespace), 0
        for name, level in self._levels(None):
            try:
                removed += max(0, await level.delete_pattern(prefix, pattern))
            except Exception as exc:
                self._failed(name, "invalidate", exc)
        return removed

    async def flush(self, namespace: str | None = None) -> None:
        """Remove every key of ``namespace``, or of every namespace this manager used."""
        for ns in [namespace] if namespace else sorted(self._namespaces):
            await self.invalidate_pattern("*", namespace=ns)

    def stats(self) -> dict[str, Any]:
        """Per backend: hits, misses, sets, deletes, errors and the hit rate."""
        out: dict[str, Any] = {}
        for name, counts in self._stats.items():
            looked = counts["hits"] + counts["misses"]
            out[name] = {**counts, "hit_rate": round(counts["hits"] / looked, 4) if looked else 0.0}
        return out

    async def close(self) -> None:
        for backend in self.backends.values():
            await backend.close()
