"""DatabasePoolManager: asyncpg pools built from settings, with health checks and statistics.

Configs follow the platform's shape, one entry per named database::

    {"postgresql": {"connection": {"host": ..., "port": 5432, "database": ..., "user": ...,
                                   "password": ..., "min_size": 1, "max_size": 10}}}

or simply ``{"postgresql": {"dsn": "postgresql://..."}}``. ``postgresql+asyncpg://`` URLs (the
SQLAlchemy spelling) are accepted and normalised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import asyncpg

from centralhub.market.exceptions import DatabaseConnectionError

__all__ = ["DatabasePoolManager", "close_pool_manager", "get_pool_manager", "normalize_pg_url"]

_PG_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://", "postgres+asyncpg://")


def normalize_pg_url(url: str) -> str:
    """Return an asyncpg DSN; raises ValueError naming the URL when it is not PostgreSQL."""
    if not isinstance(url, str) or not url.startswith(_PG_SCHEMES):
        raise ValueError(f"database URL must start with postgresql:// or postgresql+asyncpg://, got {url!r}")
    return url.replace("+asyncpg", "", 1)


class DatabasePoolManager:
    """Owns one asyncpg pool per configured database name."""

    def __init__(self, configs: Mapping[str, Mapping[str, Any]], *, connect_timeout: float = 10.0) -> None:
        if not configs:
            raise ValueError("DatabasePoolManager needs at least one database config")
        self.configs = {name: dict(cfg) for name, cfg in configs.items()}
        self.connect_timeout = connect_timeout
        self._pools: dict[str, asyncpg.Pool] = {}
        self._created_at: dict[str, float] = {}

    @classmethod
    def from_url(
        cls, url: str, *, name: str = "postgresql", min_size: int = 1, max_size: int = 10
    ) -> DatabasePoolManager:
        return cls({name: {"dsn": url, "min_size": min_size, "max_size": max_size}})

    async def initialize(self) -> None:
        """Create every pool; raises DatabaseConnectionError naming the database that failed."""
        for name, cfg in self.configs.items():
            if name not in self._pools:
                self._pools[name] = await self._create_pool(name, cfg)
                self._created_at[name] = time.time()

    async def _create_pool(self, name: str, cfg: Mapping[str, Any]) -> asyncpg.Pool:
        conn_cfg = dict(cfg.get("connection", {}))
        min_size = int(conn_cfg.pop("min_size", cfg.get("min_size", 1)))
        max_size = int(conn_cfg.pop("max_size", cfg.get("max_size", 10)))
        kwargs: dict[str, Any] = {}
        if dsn := cfg.get("dsn") or cfg.get("url"):
            kwargs["dsn"] = normalize_pg_url(dsn)
        for key in ("host", "port", "database", "user", "password"):
            if key in conn_cfg:
                kwargs[key] = conn_cfg[key]
        try:
            pool = await asyncio.wait_for(
                asyncpg.create_pool(
                    min_size=min_size,
                    max_size=max_size,
                    timeout=self.connect_timeout,
                    **kwargs,
                ),
                self.connect_timeout + 5,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            where = kwargs.get("dsn") or f"{kwargs.get('host')}:{kwargs.get('port')}"
            raise DatabaseConnectionError(
                f"cannot open pool {name!r} to {_redact(str(where))}: {exc}"
            ) from exc
        assert pool is not None
        return pool

    def get_pool(self, name: str = "postgresql") -> asyncpg.Pool:
        try:
            return self._pools[name]
        except KeyError:
            raise DatabaseConnectionError(
                f"no pool named {name!r} (known: {sorted(self._pools)}); was initialize() awaited?"
            ) from None

    async def health_check(self, timeout: float = 5.0) -> dict[str, dict[str, Any]]:
        """``{name: {"healthy": bool, "latency_ms": float, "error": str | None}}``."""
        report: dict[str, dict[str, Any]] = {}
        for name, pool in self._pools.items():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout), pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
                report[name] = {
                    "healthy": True,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "error": None,
                }
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                report[name] = {"healthy": False, "latency_ms": None, "error": str(exc)}
        return report

    def get_stats(self) -> dict[str, dict[str, Any]]:
        """Per pool: size, idle, in use, configured bounds and age in seconds."""
        return {
            name: {
                "size": pool.get_size(),
                "idle": pool.get_idle_size(),
                "in_use": pool.get_size() - pool.get_idle_size(),
                "min_size": pool.get_min_size(),
                "max_size": pool.get_max_size(),
                "age_s": round(time.time() - self._created_at[name], 1),
            }
            for name, pool in self._pools.items()
        }

    async def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            await pool.close()


def _redact(dsn: str) -> str:
    # postgresql://user:secret@host → postgresql://user:***@host
    head, sep, tail = dsn.partition("@")
    if sep and ":" in head.split("//", 1)[-1]:
        scheme_user, _, _ = head.rpartition(":")
        return f"{scheme_user}:***@{tail}"
    return dsn


_manager: DatabasePoolManager | None = None
_manager_lock = asyncio.Lock()


async def get_pool_manager(
    configs: Mapping[str, Mapping[str, Any]] | None = None,
) -> DatabasePoolManager:
    """Process-wide manager (a singleton, as services expect): created and initialised on first call."""
    global _manager
    async with _manager_lock:
        if _manager is None:
            if configs is None:
                raise ValueError("get_pool_manager() needs configs on its first call")
            manager = DatabasePoolManager(configs)
            await manager.initialize()
            _manager = manager
        return _manager


async def close_pool_manager() -> None:
    global _manager
    async with _manager_lock:
        if _manager is not None:
            await _manager.close()
            _manager = None
