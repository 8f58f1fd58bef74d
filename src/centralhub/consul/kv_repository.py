"""Rows of ``consul_kv``: each function takes a connection and never commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.tables import consul_kv as kv

__all__ = ["Entry", "create", "get", "latest_index", "list_prefix", "remove", "remove_prefix", "update_value"]


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    value: bytes | None
    flags: int
    create_index: int
    modify_index: int


def _entry(row: Any) -> Entry:
    return Entry(row[0], row[1], int(row[2]), int(row[3]), int(row[4]))


_COLUMNS = (kv.c.key, kv.c.value, kv.c.flags, kv.c.create_index, kv.c.modify_index)


def _under(prefix: str):  # type: ignore[no-untyped-def]
    # substr, not LIKE: a key may hold % and _, which LIKE would read as patterns
    return func.substr(kv.c.key, 1, len(prefix)) == prefix


async def get(conn: AsyncConnection, tenant: str, key: str) -> Entry | None:
    row = (await conn.execute(select(*_COLUMNS).where(kv.c.tenant_id == tenant, kv.c.key == key))).first()
    return None if row is None else _entry(row)


async def list_prefix(conn: AsyncConnection, tenant: str, prefix: str) -> list[Entry]:
    query = select(*_COLUMNS).where(kv.c.tenant_id == tenant)
    if prefix:
        query = query.where(_under(prefix))
    return [_entry(r) for r in (await conn.execute(query.order_by(kv.c.key))).all()]


async def latest_index(conn: AsyncConnection, tenant: str) -> int:
    found = (await conn.execute(select(func.max(kv.c.modify_index)).where(kv.c.tenant_id == tenant))).scalar()
    return int(found or 0)


async def create(conn: AsyncConnection, tenant: str, key: str, value: bytes, flags: int, index: int) -> None:
    await conn.execute(
        insert(kv).values(
            tenant_id=tenant, key=key, value=value, flags=flags, create_index=index, modify_index=index
        )
    )


async def update_value(
    conn: AsyncConnection, tenant: str, key: str, value: bytes, flags: int, index: int, cas: int | None
) -> int | None:
    """Store a new value; the row's new modify index, or ``None`` when no row matched (absent,
    or not at ``cas``). The index only grows, even if ``index`` is behind the stored one."""
    where = [kv.c.tenant_id == tenant, kv.c.key == key]
    if cas is not None:
        where.append(kv.c.modify_index == cas)
    stmt = (
        update(kv)
        .where(*where)
        .values(
            value=value,
            flags=flags,
            modify_index=case((kv.c.modify_index >= index, kv.c.modify_index + 1), else_=index),
        )
        .returning(kv.c.modify_index)
    )
    found = (await conn.execute(stmt)).scalar()
    return None if found is None else int(found)


async def remove(conn: AsyncConnection, tenant: str, key: str, cas: int | None) -> bool:
    where = [kv.c.tenant_id == tenant, kv.c.key == key]
    if cas is not None:
        where.append(kv.c.modify_index == cas)
    return bool((await conn.execute(delete(kv).where(*where))).rowcount)


async def remove_prefix(conn: AsyncConnection, tenant: str, prefix: str) -> int:
    stmt = delete(kv).where(kv.c.tenant_id == tenant)
    if prefix:
        stmt = stmt.where(_under(prefix))
    return int((await conn.execute(stmt)).rowcount)
