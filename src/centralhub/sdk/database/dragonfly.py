"""DragonflyDB (or Redis: the same protocol) for latest values and caches, on redis.asyncio.

Keys need no schema: :meth:`DragonflyBackend.apply_schema` accepts none and reports none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from centralhub.sdk.database.base import Backend, StoreUnavailable

__all__ = ["DragonflyBackend"]


class DragonflyBackend(Backend):
    schema_form = "none"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.client: aioredis.Redis | None = None

    async def connect(self) -> None:
        c, opts = self.config, self.config.options
        timeout = float(opts.get("socket_timeout", 5))
        if c.url:
            client = aioredis.from_url(c.url, socket_timeout=timeout, socket_connect_timeout=timeout)
        else:
            client = aioredis.Redis(
                host=c.host,
                port=c.port or 6379,
                password=c.password,
                db=int(c.database or 0),
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                max_connections=int(opts.get("max_connections", 50)),
            )
        try:
            await client.ping()
        except (OSError, aioredis.RedisError) as exc:
            await client.aclose()
            raise StoreUnavailable(f"{self.name} at {c.where}: {exc}") from exc
        self.client = client
        self.connected = True

    async def close(self) -> None:
        client, self.client = self.client, None
        self.connected = False
        if client is not None:
            await client.aclose()

    def _client(self) -> aioredis.Redis:
        if self.client is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        return self.client

    async def ping(self) -> dict[str, Any]:
        info = await self._client().info("server")
        return {"version": info.get("redis_version") or info.get("dragonfly_version")}

    async def get(self, key: str) -> bytes | None:
        value = await self._client().get(key)
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        if ttl is not None and ttl > 0:
            await self._client().set(key, value, px=max(1, int(ttl * 1000)))
        else:
            await self._client().set(key, value)

    async def delete(self, *keys: str) -> int:
        return int(await self._client().delete(*keys)) if keys else 0

    async def keys(self, pattern: str) -> AsyncIterator[str]:
        """Keys matching ``pattern`` (SCAN: never blocks the server as KEYS would)."""
        async for key in self._client().scan_iter(match=pattern, count=500):
            yield key.decode() if isinstance(key, bytes) else str(key)

    async def delete_pattern(self, pattern: str) -> int:
        removed, batch = 0, []
        async for key in self.keys(pattern):
            batch.append(key)
            if len(batch) >= 500:
                removed += await self.delete(*batch)
                batch = []
        return removed + await self.delete(*batch)

    async def apply_schema(self, items: list[Any]) -> list[dict[str, Any]]:
        if items:
            raise ValueError(f"{self.name}: a key-value store takes no schema")
        return []
