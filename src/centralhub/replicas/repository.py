"""Persistence of replica membership (table ``hub_replicas``); functions never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.tables import hub_replicas as t
from centralhub.core.time import to_datetime, to_epoch
from centralhub.replicas.models import Replica

__all__ = ["delete_expired", "get_all", "insert_replica", "remove", "renew"]


def _from_row(row: Any) -> Replica:
    m = row._mapping
    return Replica(
        replica_id=m["replica_id"],
        hostname=m["hostname"],
        pid=m["pid"],
        started_at=to_epoch(m["started_at"]),
        last_seen=to_epoch(m["last_seen"]),
        lease_expires_at=to_epoch(m["lease_expires_at"]),
    )


async def insert_replica(conn: AsyncConnection, replica: Replica) -> None:
    await conn.execute(
        insert(t).values(
            replica_id=replica.replica_id,
            hostname=replica.hostname,
            pid=replica.pid,
            started_at=to_datetime(replica.started_at),
            last_seen=to_datetime(replica.last_seen),
            lease_expires_at=to_datetime(replica.lease_expires_at),
        )
    )


async def renew(conn: AsyncConnection, replica_id: str, *, now: float, expires_at: float) -> bool:
    """Extend a lease; ``False`` when the row is gone (a peer removed it as expired)."""
    result = await conn.execute(
        update(t)
        .where(t.c.replica_id == replica_id)
        .values(last_seen=to_datetime(now), lease_expires_at=to_datetime(expires_at))
    )
    return bool(result.rowcount)


async def remove(conn: AsyncConnection, replica_id: str) -> bool:
    result = await conn.execute(delete(t).where(t.c.replica_id == replica_id))
    return bool(result.rowcount)


async def delete_expired(conn: AsyncConnection, *, before: float) -> int:
    """Forget replicas whose lease lapsed before ``before`` (long dead: kept a while for operators)."""
    result = await conn.execute(delete(t).where(t.c.lease_expires_at < to_datetime(before)))
    return int(result.rowcount or 0)


async def get_all(conn: AsyncConnection) -> list[Replica]:
    rows = (await conn.execute(select(t).order_by(t.c.started_at, t.c.replica_id))).all()
    return [_from_row(r) for r in rows]
