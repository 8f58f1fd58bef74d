"""SQL for configuration versions and schemas (tables ``config_versions``, ``config_schemas``).

Every function takes the caller's connection and never begins or commits: ``ConfigService``
opens one transaction per operation, so a version and what it depends on are read and written
together or not at all. Versions are append-only; the unique (tenant, service, revision)
constraint makes two concurrent writers of the same revision collide (``RevisionTaken``)
instead of both succeeding, so optimistic concurrency holds on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.config.models import ConfigVersion
from centralhub.core.tables import config_schemas as s
from centralhub.core.tables import config_versions as t
from centralhub.core.time import to_datetime, to_epoch

Key = tuple[str, str]


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


def _schema_key(tenant: str, service: str) -> Any:
    return and_(s.c.tenant_id == tenant, s.c.service_name == service)


# ---------------------------------------------------------------- versions
async def lock_service(conn: AsyncConnection, *, tenant: str, service: str) -> None:
    """Wait for other replicas' writers of this service, until this transaction ends.

    PostgreSQL only (a transaction-scoped advisory lock); on SQLite ``BEGIN IMMEDIATE``
    already lets one writer in at a time. Without it, replicas writing one service at once
    keep colliding on the next revision and retrying."""
    if conn.dialect.name == "postgresql":
        key = func.hashtextextended(f"config-write:{tenant}/{service}", 0)
        await conn.execute(select(func.pg_advisory_xact_lock(key)))


async def get_latest(conn: AsyncConnection, *, tenant: str, service: str) -> ConfigVersion | None:
    """The current (newest) version, or ``None`` when the service has none."""
    stmt = select(t).where(_key(tenant, service)).order_by(t.c.revision.desc()).limit(1)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _from_row(row)


async def get_all_latest(conn: AsyncConnection) -> list[ConfigVersion]:
    """The current version of every (tenant, service)."""
    newest = (
        select(t.c.tenant_id, t.c.service_name, func.max(t.c.revision).label("revision"))
        .group_by(t.c.tenant_id, t.c.service_name)
        .subquery()
    )
    stmt = select(t).join(
        newest,
        and_(
            t.c.tenant_id == newest.c.tenant_id,
            t.c.service_name == newest.c.service_name,
            t.c.revision == newest.c.revision,
        ),
    )
    return [_from_row(r) for r in (await conn.execute(stmt)).all()]


async def get_latest_revision(conn: AsyncConnection, *, tenant: str, service: str) -> int:
    """The newest revision number; 0 when nothing is stored."""
    value = await conn.scalar(select(func.max(t.c.revision)).where(_key(tenant, service)))
    return int(value or 0)


async def get_latest_revisions(conn: AsyncConnection, *, keys: Iterable[Key]) -> dict[Key, int]:
    """Newest revision of each (tenant, service) in one query; absent keys are left out."""
    keys = list(keys)
    if not keys:
        return {}
    stmt = (
        select(t.c.tenant_id, t.c.service_name, func.max(t.c.revision))
        .where(or_(*(_key(tenant, service) for tenant, service in keys)))
        .group_by(t.c.tenant_id, t.c.service_name)
    )
    rows = (await conn.execute(stmt)).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def get_all_latest_revisions(conn: AsyncConnection) -> dict[Key, int]:
    """Newest revision of every (tenant, service) in one query (the replicas' revision check)."""
    stmt = select(t.c.tenant_id, t.c.service_name, func.max(t.c.revision)).group_by(
        t.c.tenant_id, t.c.service_name
    )
    return {(r[0], r[1]): int(r[2]) for r in (await conn.execute(stmt)).all()}


async def lock_and_get_schema(conn: AsyncConnection, *, tenant: str, service: str) -> dict[str, Any] | None:
    """:func:`lock_service` and :func:`get_schema` in one round trip (PostgreSQL: one statement,
    the advisory lock taken before the scalar subquery is read, both in the write's transaction)."""
    if conn.dialect.name != "postgresql":
        return await get_schema(conn, tenant=tenant, service=service)
    key = func.hashtextextended(f"config-write:{tenant}/{service}", 0)
    schema = select(s.c.json_schema).where(_schema_key(tenant, service)).scalar_subquery()
    row = (await conn.execute(select(func.pg_advisory_xact_lock(key), schema))).first()
    return None if row is None or row[1] is None else dict(row[1])


async def get(
    conn: AsyncConnection,
    *,
    tenant: str,
    service: str,
    version: str | None = None,
    revision: int | None = None,
) -> ConfigVersion | None:
    """One version by revision number or version string (the newest match wins)."""
    stmt = select(t).where(_key(tenant, service))
    if revision is not None:
        stmt = stmt.where(t.c.revision == revision)
    if version is not None:
        stmt = stmt.where(t.c.version == version)
    row = (await conn.execute(stmt.order_by(t.c.revision.desc()).limit(1))).first()
    return None if row is None else _from_row(row)


async def get_history(
    conn: AsyncConnection, *, tenant: str, service: str, limit: int = 100, before: int | None = None
) -> list[ConfigVersion]:
    """Versions newest first; ``before`` pages on (revisions lower than it)."""
    stmt = select(t).where(_key(tenant, service))
    if before is not None:
        stmt = stmt.where(t.c.revision < before)
    rows = (await conn.execute(stmt.order_by(t.c.revision.desc()).limit(limit))).all()
    return [_from_row(r) for r in rows]


async def get_service_names(conn: AsyncConnection, *, tenant: str) -> list[str]:
    """Every service of ``tenant`` with at least one stored version, sorted."""
    stmt = select(t.c.service_name).where(t.c.tenant_id == tenant).distinct().order_by(t.c.service_name)
    return [r[0] for r in (await conn.execute(stmt)).all()]


def _row(version: ConfigVersion) -> dict[str, Any]:
    return {
        "tenant_id": version.tenant_id,
        "service_name": version.service_name,
        "revision": version.revision,
        "version": version.version,
        "config": version.config,
        "author": version.author,
        "message": version.message,
        "source": version.source,
        "created_at": to_datetime(version.created_at),
    }


async def create(conn: AsyncConnection, *, version: ConfigVersion) -> ConfigVersion:
    """Insert ``version``; ``RevisionTaken`` when its revision is already stored.

    On PostgreSQL the failed insert aborts the caller's transaction, which must then be left."""
    await create_many(conn, [version])
    return version


async def create_many(conn: AsyncConnection, versions: list[ConfigVersion]) -> None:
    """Insert consecutive versions in one statement (a batch of queued writes);
    ``RevisionTaken`` when any of their revisions is already stored."""
    try:
        if len(versions) == 1:
            await conn.execute(insert(t).values(**_row(versions[0])))
        elif versions:
            await conn.execute(insert(t), [_row(v) for v in versions])
    except IntegrityError as exc:
        raise RevisionTaken(str(exc.orig)) from None


# ---------------------------------------------------------------- schemas
async def get_schema(conn: AsyncConnection, *, tenant: str, service: str) -> dict[str, Any] | None:
    """The registered JSON Schema, or ``None``."""
    row = (await conn.execute(select(s.c.json_schema).where(_schema_key(tenant, service)))).first()
    return None if row is None else dict(row[0])


async def set_schema(
    conn: AsyncConnection, *, tenant: str, service: str, schema: dict[str, Any], author: str, at: float
) -> None:
    """Insert or replace the schema; ``IntegrityError`` when a concurrent first write won."""
    key = _schema_key(tenant, service)
    values = {"json_schema": schema, "updated_at": to_datetime(at), "updated_by": author}
    exists = (await conn.execute(select(s.c.tenant_id).where(key))).first()
    if exists is None:
        await conn.execute(insert(s).values(tenant_id=tenant, service_name=service, **values))
    else:
        await conn.execute(s.update().where(key).values(**values))
