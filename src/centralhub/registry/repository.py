"""Persistence of registry instances (table ``service_registry``).

Every function takes the caller's connection and never commits: the service decides what one
transaction holds (``async with engine.begin() as conn``), so a caller can make several writes,
its own and these, atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.tables import service_instances as t
from centralhub.core.time import to_datetime, to_epoch
from centralhub.registry.models import Instance, InstanceStatus

__all__ = [
    "delete",
    "delete_many",
    "get",
    "get_all",
    "set_contract_validated",
    "set_status",
    "touch_many",
    "upsert",
    "upsert_many",
]

_ENDPOINT_COLUMNS = [t.c.tenant_id, t.c.service_name, t.c.host, t.c.port]
_TOUCH = update(t).where(t.c.id == bindparam("b_id")).values(last_seen=bindparam("b_seen"))


def _row_values(inst: Instance) -> dict[str, Any]:
    return {
        "id": inst.id,
        "tenant_id": inst.tenant_id,
        "service_name": inst.service_name,
        "host": inst.host,
        "port": inst.port,
        "protocol": inst.protocol,
        "health_endpoint": inst.health_endpoint,
        "version": inst.version,
        "metadata": inst.metadata,
        "tags": inst.tags,
        "status": inst.status.value,
        "registered_at": to_datetime(inst.registered_at),
        "last_seen": to_datetime(inst.last_seen),
        "transport_preferences": inst.transport_preferences,
        "contract_validated": inst.contract_validated,
        "weight": inst.weight,
        "ttl_seconds": inst.ttl_seconds,
        "dependencies": inst.dependencies,
        "check_spec": inst.check,
    }


def _from_row(row: Any) -> Instance:
    m = row._mapping
    return Instance(
        id=m["id"],
        tenant_id=m["tenant_id"],
        service_name=m["service_name"],
        host=m["host"],
        port=m["port"],
        protocol=m["protocol"],
        health_endpoint=m["health_endpoint"],
        version=m["version"],
        metadata=m["metadata"] or {},
        tags=list(m["tags"] or []),
        status=InstanceStatus(m["status"]),
        registered_at=to_epoch(m["registered_at"]),
        last_seen=to_epoch(m["last_seen"]),
        transport_preferences=list(m["transport_preferences"] or []),
        contract_validated=bool(m["contract_validated"]),
        weight=m["weight"],
        ttl_seconds=m["ttl_seconds"],
        dependencies=list(m["dependencies"] or []),
        check=m["check_spec"],
    )


async def upsert(conn: AsyncConnection, inst: Instance) -> Instance:
    """Store ``inst``; an existing row with the same (tenant, name, host, port) keeps its id and
    registration time, which are written back into ``inst``. Returns ``inst``.

    One ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement (SQLite ≥ 3.35 and PostgreSQL
    alike), so concurrent registrations of one endpoint cannot race."""
    values = _row_values(inst)
    changing = {k: v for k, v in values.items() if k not in ("id", "registered_at")}
    insert_fn = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert_fn(t)
        .values(**values)
        .on_conflict_do_update(index_elements=_ENDPOINT_COLUMNS, set_=changing)
        .returning(t.c.id, t.c.registered_at)
    )
    row = (await conn.execute(stmt)).one()
    inst.id = row.id
    inst.registered_at = to_epoch(row.registered_at)
    return inst


#: rows per multi-row statement: 19 parameters a row stays within both databases' parameter limits
UPSERT_CHUNK = 1000


async def upsert_many(conn: AsyncConnection, insts: list[Instance]) -> list[Instance]:
    """:func:`upsert` for many instances in one statement per :data:`UPSERT_CHUNK` rows.

    No two of ``insts`` may share an endpoint (tenant, name, host, port): PostgreSQL refuses a
    statement that would update one row twice. Returns ``insts`` with stored ids and times."""
    insert_fn = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    by_key = {(i.tenant_id, i.service_name, i.host, i.port): i for i in insts}
    for start in range(0, len(insts), UPSERT_CHUNK):
        chunk = insts[start : start + UPSERT_CHUNK]
        rows = insert_fn(t).values([_row_values(i) for i in chunk])
        changing = {c.name: rows.excluded[c.name] for c in t.columns if c.name not in ("id", "registered_at")}
        stmt = rows.on_conflict_do_update(index_elements=_ENDPOINT_COLUMNS, set_=changing).returning(
            t.c.id, t.c.registered_at, *_ENDPOINT_COLUMNS
        )
        for row in (await conn.execute(stmt)).all():
            inst = by_key[(row.tenant_id, row.service_name, row.host, row.port)]
            inst.id = row.id
            inst.registered_at = to_epoch(row.registered_at)
    return insts


async def get(conn: AsyncConnection, instance_id: str) -> Instance | None:
    row = (await conn.execute(select(t).where(t.c.id == instance_id))).first()
    return None if row is None else _from_row(row)


async def get_many(conn: AsyncConnection, instance_ids: Iterable[str]) -> list[Instance]:
    """The stored instances among ``instance_ids`` (unknown ids are skipped)."""
    ids = list(instance_ids)
    if not ids:
        return []
    return [_from_row(r) for r in (await conn.execute(select(t).where(t.c.id.in_(ids)))).all()]


async def get_all(conn: AsyncConnection) -> list[Instance]:
    return [_from_row(r) for r in (await conn.execute(select(t))).all()]


async def delete(conn: AsyncConnection, instance_id: str) -> bool:
    """Whether a row was deleted."""
    result = await conn.execute(sql_delete(t).where(t.c.id == instance_id))
    return bool(result.rowcount)


async def delete_many(conn: AsyncConnection, instance_ids: Iterable[str]) -> int:
    ids = list(instance_ids)
    if not ids:
        return 0
    result = await conn.execute(sql_delete(t).where(t.c.id.in_(ids)))
    return int(result.rowcount or 0)


async def touch_many(conn: AsyncConnection, seen: dict[str, float]) -> None:
    """Write coalesced heartbeats (``instance id -> last seen``): one statement, many rows."""
    if seen:
        await conn.execute(_TOUCH, [{"b_id": i, "b_seen": to_datetime(ts)} for i, ts in seen.items()])


async def set_status(conn: AsyncConnection, instance_id: str, status: InstanceStatus) -> bool:
    """Whether the stored status changed: ``False`` when the row already had ``status`` (another
    replica stored the same change first) or is gone. Concurrent writers of one change see one
    ``True`` between them, which is what lets exactly one announce it."""
    result = await conn.execute(
        update(t).where((t.c.id == instance_id) & (t.c.status != status.value)).values(status=status.value)
    )
    return bool(result.rowcount)


async def set_contract_validated(conn: AsyncConnection, *, tenant: str, service: str, value: bool) -> None:
    """Flag every stored instance of ``service`` as having (or no longer having) a contract."""
    await conn.execute(
        update(t)
        .where((t.c.tenant_id == tenant) & (t.c.service_name == service))
        .values(contract_validated=value)
    )
