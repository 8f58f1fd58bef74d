"""SQL for API keys (table ``api_keys``).

Every function takes the caller's connection and never commits; :class:`KeyService` decides
what one transaction holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.auth.models import ApiKey
from centralhub.core.tables import api_keys as t
from centralhub.core.time import to_datetime, to_epoch


def _from_row(row: Any) -> ApiKey:
    m = row._mapping
    services = m["services"]
    return ApiKey(
        name=m["name"],
        prefix=m["prefix"],
        key_hash=m["key_hash"],
        scopes=frozenset(m["scopes"] or ()),
        tenant=m["tenant_id"],
        services=None if services is None else frozenset(services),
        created_at=to_epoch(m["created_at"]),
        expires_at=to_epoch(m["expires_at"]),
        revoked_at=to_epoch(m["revoked_at"]),
        rate_limit_per_minute=m["rate_limit_per_minute"],
        created_by=m["created_by"],
    )


async def insert(conn: AsyncConnection, key: ApiKey) -> None:
    await conn.execute(
        t.insert().values(
            name=key.name,
            prefix=key.prefix,
            key_hash=key.key_hash,
            scopes=sorted(key.scopes),
            tenant_id=key.tenant,
            services=None if key.services is None else sorted(key.services),
            rate_limit_per_minute=key.rate_limit_per_minute,
            created_by=key.created_by,
            created_at=to_datetime(key.created_at),
            expires_at=to_datetime(key.expires_at),
            revoked_at=to_datetime(key.revoked_at),
        )
    )


async def get(conn: AsyncConnection, name: str) -> ApiKey | None:
    row = (await conn.execute(select(t).where(t.c.name == name))).first()
    return None if row is None else _from_row(row)


async def by_hash(conn: AsyncConnection, key_hash: str) -> ApiKey | None:
    row = (await conn.execute(select(t).where(t.c.key_hash == key_hash))).first()
    return None if row is None else _from_row(row)


async def list_all(conn: AsyncConnection) -> list[ApiKey]:
    rows = (await conn.execute(select(t).order_by(t.c.name))).all()
    return [_from_row(r) for r in rows]


async def mark_revoked(conn: AsyncConnection, name: str, at: float) -> bool:
    """Set ``revoked_at`` (the first revocation time is kept); False when no key has that name."""
    result = await conn.execute(
        update(t).where((t.c.name == name) & t.c.revoked_at.is_(None)).values(revoked_at=to_datetime(at))
    )
    if result.rowcount:
        return True
    return await get(conn, name) is not None


async def by_prefix(conn: AsyncConnection, prefix: str) -> list[ApiKey]:
    """Keys whose public prefix is ``prefix`` (almost always one: it holds 32 random bits)."""
    rows = (await conn.execute(select(t).where(t.c.prefix == prefix))).all()
    return [_from_row(r) for r in rows]
