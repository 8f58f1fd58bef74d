"""ClickHouse for analytics: a server through clickhouse-connect (HTTP, port 8123), or the
embedded engine chdb (``options={"embedded": "/path/or/empty"}`` or a ``chdb://`` URL) where no
server runs. Both answer the same calls: ``command`` (DDL, inserts in SQL), ``query`` (rows as
dicts) and ``insert`` (rows by column).

Schemas are ``CREATE ... IF NOT EXISTS`` statements, recorded (name and checksum) in
``centralhub_schema_migrations`` (a ReplacingMergeTree): a second run skips what it applied, a
changed item runs again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from centralhub.sdk.database.base import Backend, MissingClient, StoreUnavailable
from centralhub.sdk.database.schema_items import items_of

__all__ = ["ClickHouseBackend"]


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class ClickHouseBackend(Backend):
    schema_form = "sql"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._client: Any = None
        self._session: Any = None
        self._lock = asyncio.Lock()  # chdb's session is not safe from several threads at once

    @property
    def embedded(self) -> bool:
        return "embedded" in self.config.options or (self.config.url or "").startswith("chdb:")

    async def connect(self) -> None:
        c = self.config
        if self.embedded:
            try:
                from chdb import session
            except ImportError as exc:
                raise MissingClient("embedded ClickHouse", "chdb") from exc
            path = c.options.get("embedded") or (c.url or "").removeprefix("chdb://") or ""
            self._session = await asyncio.to_thread(session.Session, path) if path else session.Session()
        else:
            try:
                import clickhouse_connect
            except ImportError as exc:
                raise MissingClient("ClickHouse", "clickhouse-connect") from exc
            kwargs: dict[str, Any] = {"connect_timeout": float(c.options.get("connect_timeout", 10))}
            if c.url:
                kwargs["dsn"] = c.url
            else:
                kwargs |= {
                    "host": c.host,
                    "port": c.port,
                    "username": c.user or "default",
                    "password": c.password or "",
                }
                if c.database:
                    kwargs["database"] = c.database
            try:
                self._client = await clickhouse_connect.get_async_client(**kwargs)
            except Exception as exc:
                raise StoreUnavailable(f"{self.name} at {c.where}: {exc}") from exc
        if self.embedded and c.database:
            await self.command(f"CREATE DATABASE IF NOT EXISTS {c.database}")
        self.connected = True

    async def close(self) -> None:
        client, session = self._client, self._session
        self._client = self._session = None
        self.connected = False
        if client is not None:
            await client.close()
        if session is not None:
            await asyncio.to_thread(session.close)

    async def _embedded(self, sql: str, fmt: str = "JSONEachRow") -> str:
        if self._session is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        async with self._lock:
            result = await asyncio.to_thread(self._session.query, sql, fmt)
        return str(result)

    async def command(self, sql: str) -> None:
        """A statement without rows (DDL, ``INSERT ... VALUES``)."""
        if self.embedded:
            await self._embedded(sql, "CSV")
            return
        if self._client is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        await self._client.command(sql)

    async def query(self, sql: str) -> list[dict[str, Any]]:
        if self.embedded:
            text = await self._embedded(sql)
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if self._client is None:
            raise StoreUnavailable(f"{self.name} is not connected")
        result = await self._client.query(sql)
        return list(result.named_results())

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> int:
        """Insert ``rows`` (each in ``column_names`` order); the number inserted."""
        if not rows:
            return 0
        if self.embedded:
            values = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
            await self.command(f"INSERT INTO {table} ({', '.join(column_names)}) VALUES {values}")
        else:
            if self._client is None:
                raise StoreUnavailable(f"{self.name} is not connected")
            await self._client.insert(table, [list(r) for r in rows], column_names=list(column_names))
        return len(rows)

    async def ping(self) -> dict[str, Any]:
        [row] = await self.query("SELECT version() AS version")
        return {"version": row["version"], "embedded": self.embedded}

    async def apply_schema(self, items: list[Any]) -> list[dict[str, Any]]:
        table = "centralhub_schema_migrations"
        if self.config.database:
            table = f"{self.config.database}.{table}"
        await self.command(
            f"CREATE TABLE IF NOT EXISTS {table} (store String, name String, checksum String, "
            "applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = ReplacingMergeTree(applied_at) "
            "ORDER BY (store, name)"
        )
        rows = await self.query(
            f"SELECT name, argMax(checksum, applied_at) AS checksum FROM {table} "
            f"WHERE store = {_literal(self.name)} GROUP BY name"
        )
        before = {r["name"]: r["checksum"] for r in rows}
        done = []
        for item in items_of(items):
            if before.get(item.name) == item.checksum:
                done.append({"name": item.name, "action": "unchanged"})
                continue
            await self.command(item.body)
            await self.insert(table, [(self.name, item.name, item.checksum)], ("store", "name", "checksum"))
            done.append({"name": item.name, "action": "created" if item.name not in before else "upgraded"})
        return done
