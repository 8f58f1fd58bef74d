"""SchemaMigrator: apply the Python schema dicts to PostgreSQL, idempotently, with versions recorded.

Each schema is applied in its own transaction under a PostgreSQL advisory lock (so two
processes starting at once do not race), and ``(table, version)`` is recorded in a versions
table. A schema whose recorded version equals its ``version`` is skipped; a new version re-runs
the (idempotent) DDL plus ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS`` for every column, which
covers additive changes. ``create_hypertable`` is issued only when the ``timescaledb`` extension
is installed in the database — detected at :meth:`initialize_all_schemas`, never assumed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from centralhub.market.exceptions import QueryExecutionError
from centralhub.market.schemas import (
    generate_full_schema_sql,
    get_timescale_schemas,
    qualified_name,
)

__all__ = ["AppliedSchema", "SchemaMigrator"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x6D61726B6574  # "market": any constant shared by all migrators


@dataclass(frozen=True, slots=True)
class AppliedSchema:
    """Outcome for one schema: ``action`` is "created", "upgraded" or "unchanged"."""

    table: str
    version: str
    action: str


class SchemaMigrator:
    """Creates/upgrades tables from schema dicts on an asyncpg pool (or connection).

    ``table_names`` maps a schema's ``name`` to the table actually used (tests use unique
    names); ``db_schema`` is the PostgreSQL schema, created if missing.
    """

    def __init__(
        self,
        pool: asyncpg.Pool | asyncpg.Connection,
        *,
        db_schema: str = "public",
        table_names: Mapping[str, str] | None = None,
        versions_table: str = "market_schema_versions",
    ) -> None:
        self.pool = pool
        self.db_schema = db_schema
        self.table_names = dict(table_names or {})
        self.versions_table = qualified_name(versions_table, db_schema)
        self.timescale_available: bool | None = None

    async def detect_timescale(self, conn: Any) -> bool:
        """True when the ``timescaledb`` extension is installed in this database."""
        found = await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        return bool(found)

    async def initialize_all_schemas(
        self, schemas: Sequence[Mapping[str, Any]] | None = None
    ) -> list[AppliedSchema]:
        """Apply ``schemas`` (default: all market schemas); returns what happened to each."""
        results: list[AppliedSchema] = []
        async with self._acquire() as conn:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified_name(self.db_schema)}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.versions_table} ("
                " table_name TEXT PRIMARY KEY, version TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            self.timescale_available = await self.detect_timescale(conn)
            for schema in schemas if schemas is not None else get_timescale_schemas():
                results.append(await self._apply(conn, schema))
        return results

    async def applied_versions(self) -> dict[str, str]:
        """``{table: version}`` as recorded in the versions table (empty if never migrated)."""
        async with self._acquire() as conn:
            exists = await conn.fetchval("SELECT to_regclass($1)", self.versions_table)
            if exists is None:
                return {}
            rows = await conn.fetch(f"SELECT table_name, version FROM {self.versions_table}")
        return {r["table_name"]: r["version"] for r in rows}

    async def _apply(self, conn: Any, schema: Mapping[str, Any]) -> AppliedSchema:
        table = self.table_names.get(schema["name"], schema["name"])
        version = str(schema.get("version", "1.0"))
        ddl = generate_full_schema_sql(
            schema,
            table_name=table,
            db_schema=self.db_schema,
            timescale=bool(self.timescale_available),
        )
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
                current = await conn.fetchval(
                    f"SELECT version FROM {self.versions_table} WHERE table_name = $1", table
                )
                if current == version:
                    return AppliedSchema(table, version, "unchanged")
                await conn.execute(ddl)
                if current is not None:
                    target = qualified_name(table, self.db_schema)
                    for col, sql_type in schema["columns"].items():
                        await conn.execute(f"ALTER TABLE {target} ADD COLUMN IF NOT EXISTS {col} {sql_type}")
                await conn.execute(
                    f"INSERT INTO {self.versions_table} (table_name, version) VALUES ($1, $2)"
                    " ON CONFLICT (table_name) DO UPDATE"
                    " SET version = EXCLUDED.version, applied_at = now()",
                    table,
                    version,
                )
        except asyncpg.PostgresError as exc:
            raise QueryExecutionError(
                f"applying schema {schema['name']!r} v{version} to {table!r} failed: {exc}"
            ) from exc
        action = "created" if current is None else "upgraded"
        logger.info("schema %s %s (v%s)", table, action, version)
        return AppliedSchema(table, version, action)

    def _acquire(self) -> Any:
        if isinstance(self.pool, asyncpg.Pool):
            return self.pool.acquire()
        return _Borrowed(self.pool)


class _Borrowed:
    """Async context manager yielding an existing connection without closing it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def __aenter__(self) -> Any:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None
