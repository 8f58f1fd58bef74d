"""Persistence of configuration versions and schemas (tables ``config_versions``, ``config_schemas``).

Versions are append-only. A write reads the current revision and inserts ``revision + 1`` in
one transaction; the unique (tenant, service, revision) constraint makes two concurrent writers
collide instead of both succeeding, so optimistic concurrency holds on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralhub.config.models import ConfigVersion
from centralhub.core.tables import config_schemas as s
from centralhub.core.tables import config_versions as t
from centralhub.core.time import to_datetime, to_epoch

#: ``build(current, schema) -> new version`` runs inside the write transaction
VersionBuilder = Callable[[ConfigVersion | None, dict[str, Any] | None], ConfigVersion | None]


class RevisionTaken(Exception):
    """Another writer stored the same revision first (the caller decides: retry or 409)."""


def _from_row(row: Any) -> ConfigVersion:
    m = row._mapping
    return ConfigVersion(
        tenant_id=m["tenant_id"],
        service_name=m["service_name"],
        revision=m["revision"],
        version=m["version"],
        config=m["config"],
        author=m["author"],
        created_at=to_epoch(m["created_at"]),
        message=m["message"],
        source=m["source"],
    )


def _key(tenant: str, service: str) -> Any:
    return and_(t.c.tenant_id == tenant, t.c.service_name == service)


class ConfigRepository:
    """Each public method is one transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _latest(self, conn: AsyncConnection, tenant: str, service: str) -> ConfigVersion | None:
        row = (
            await conn.execute(select(t).where(_key(tenant, service)).order_by(t.c.revision.desc()).limit(1))
        ).first()
        return None if row is None else _from_row(row)

    async def latest(self, tenant: str, service: str) -> ConfigVersion | None:
        async with self.engine.connect() as conn:
            return await self._latest(conn, tenant, service)

    async def latest_revision(self, tenant: str, service: str) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(select(func.max(t.c.revision)).where(_key(tenant, service)))
        return int(value or 0)

    async def latest_revisions(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Newest revision of each (tenant, service) in one query; absent keys are left out."""
        keys = list(keys)
        if not keys:
            return {}
        cond = or_(*(_key(tenant, service) for tenant, service in keys))
        stmt = (
            select(t.c.tenant_id, t.c.service_name, func.max(t.c.revision))
            .where(cond)
            .group_by(t.c.tenant_id, t.c.service_name)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def get(
        self, tenant: str, service: str, *, version: str | None = None, revision: int | None = None
    ) -> ConfigVersion | None:
        stmt = select(t).where(_key(tenant, service))
        if revision is not None:
            stmt = stmt.where(t.c.revision == revision)
        if version is not None:
            # a rollback can make a version string appear once only, but be safe: newest wins
            stmt = stmt.where(t.c.version == version)
        stmt = stmt.order_by(t.c.revision.desc()).limit(1)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _from_row(row)

    async def history(
        self, tenant: str, service: str, *, limit: int = 100, before: int | None = None
    ) -> list[ConfigVersion]:
        """Versions newest first; ``before`` pages on (revisions lower than it)."""
        stmt = select(t).where(_key(tenant, service))
        if before is not None:
            stmt = stmt.where(t.c.revision < before)
        stmt = stmt.order_by(t.c.revision.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_from_row(r) for r in rows]

    async def services(self, tenant: str) -> list[str]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.c.service_name)
                    .where(t.c.tenant_id == tenant)
                    .distinct()
                    .order_by(t.c.service_name)
                )
            ).all()
        return [r[0] for r in rows]

    async def append(self, tenant: str, service: str, build: VersionBuilder) -> ConfigVersion | None:
        """Store what ``build`` returns as the next revision; ``None`` from ``build`` stores nothing.

        Raises ``RevisionTaken`` when a concurrent writer committed the same revision first."""
        try:
            async with self.engine.begin() as conn:
                current = await self._latest(conn, tenant, service)
                schema_row = (
                    await conn.execute(
                        select(s.c.json_schema).where(
                            (s.c.tenant_id == tenant) & (s.c.service_name == service)
                        )
                    )
                ).first()
                new = build(current, None if schema_row is None else schema_row[0])
                if new is None:
                    return None
                await conn.execute(
                    insert(t).values(
                        tenant_id=new.tenant_id,
                        service_name=new.service_name,
                        revision=new.revision,
                        version=new.version,
                        config=new.config,
                        author=new.author,
                        message=new.message,
                        source=new.source,
                        created_at=to_datetime(new.created_at),
                    )
                )
                return new
        except IntegrityError as exc:
            raise RevisionTaken(str(exc)) from None

    async def get_schema(self, tenant: str, service: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(s.c.json_schema).where((s.c.tenant_id == tenant) & (s.c.service_name == service))
                )
            ).first()
        return None if row is None else dict(row[0])

    async def put_schema(
        self, tenant: str, service: str, schema: dict[str, Any], *, author: str, at: float
    ) -> None:
        key = (s.c.tenant_id == tenant) & (s.c.service_name == service)
        for _attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    exists = (await conn.execute(select(s.c.tenant_id).where(key))).first()
                    values = {"json_schema": schema, "updated_at": to_datetime(at), "updated_by": author}
                    if exists is None:
                        await conn.execute(insert(s).values(tenant_id=tenant, service_name=service, **values))
                    else:
                        await conn.execute(s.update().where(key).values(**values))
                    return
            except IntegrityError:
                continue  # a concurrent first write won: update it instead
        raise RevisionTaken("schema written concurrently")
