"""TimescaleDB / PostgreSQL on asyncpg: a pool, SQL, transactions, and schemas applied once.

Applied schema items are recorded (name and checksum) in ``centralhub_schema_migrations`` under
an advisory lock, so services starting together do not race and a second run skips what is
already there; a changed item runs again (its SQL is expected to be idempotent: ``IF NOT
EXISTS``, ``ADD COLUMN IF NOT EXISTS``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from centralhub.market.pools import normalize_pg_url
from centralhub.sdk.database.base import Backend, StoreUnavailable
from centralhub.sdk.database.schema_items import items_of

__all__ = ["PostgresBackend"]

MIGRATIONS = "centralhub_schema_migrations"
_LOCK_KEY = 0x6364627363686D61  # any constant shared by every migrating process


class PostgresBackend(Backend):
    schema_form = "sql"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        c, opts = self.config, self.config.options
        kwargs: dict[str, Any] = {
            "min_size": int(opts.get("min_size", 1)),
            "max_size": int(opts.get("max_size", opts.get("max_connections", 10))),
            "timeout": float(opts.get("connect_timeout", 10)),
        }
        if c.url:
            kwargs["dsn"] = normalize_pg_url(c.url)
        else:
            kwargs |= {
                "host": c.host,
                "port": c.port,
                "database": c.database,
                "user": c.user,
                "password": c.password,
            }
        try:
            self.pool = await asyncpg.create_pool(**kwargs)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise StoreUnavailable(f"{self.name} at {c.where}: {exc}") from exc
        self.connected = True

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        self.connected = False
        if pool is not None:
            await pool.close()

    def _pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        return self.pool

    async def ping(self) -> dict[str, Any]:
        version = await self._pool().fetchval("SHOW server_version")
        return {"version": version}

    async def execute(self, query: str, *args: Any) -> str:
        return str(await self._pool().execute(query, *args))

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._pool().fetch(query, *args)]

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._pool().fetchval(query, *args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in a transaction: committed when the block ends, rolled back on error."""
        async with self._pool().acquire() as conn, conn.transaction():
            yield conn

    async def apply_schema(self, items: list[Any]) -> list[dict[str, Any]]:
        done: list[dict[str, Any]] = []
        async with self._pool().acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS} (store text NOT NULL, name text NOT NULL, "
                "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (store, name))"
            )
            for item in items_of(items):
                before = await conn.fetchval(
                    f"SELECT checksum FROM {MIGRATIONS} WHERE store = $1 AND name = $2", self.name, item.name
                )
                if before == item.checksum:
                    done.append({"name": item.name, "action": "unchanged"})
                    continue
                await conn.execute(item.body)
                await conn.execute(
                    f"INSERT INTO {MIGRATIONS} (store, name, checksum) VALUES ($1, $2, $3) ON CONFLICT "
                    "(store, name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()",
                    self.name,
                    item.name,
                    item.checksum,
                )
                done.append({"name": item.name, "action": "created" if before is None else "upgraded"})
        return done
