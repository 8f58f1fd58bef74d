"""Persistence of registry instances (table ``service_registry``).

Every function takes the caller's connection and never commits: the service decides what one
transaction holds (``async with engine.begin() as conn``), so a caller can make several writes,
its own and these, atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, DateTime, Integer, bindparam, select, text, update
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
_TOUCH_ARRAYS = text(
    f"UPDATE {t.name} AS r SET last_seen = v.seen "
    "FROM unnest(CAST(:ids AS text[]), CAST(:seen AS timestamptz[])) AS v(id, seen) WHERE r.id = v.id"
)


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


def _upsert_many_statement(dialect: str) -> Any:
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = insert_fn(t)
    changing = {c.name: rows.excluded[c.name] for c in t.columns if c.name not in ("id", "registered_at")}
    return rows.on_conflict_do_update(index_elements=_ENDPOINT_COLUMNS, set_=changing).returning(
        t.c.id, t.c.registered_at, sort_by_parameter_order=True
    )


#: built once: SQLAlchemy then compiles it once, whatever the number of rows
_SQLITE_UPSERT_MANY = _upsert_many_statement("sqlite")


def _pg_array_type(column: Any) -> str:
    if isinstance(column.type, JSON):
        return "json[]"
    if isinstance(column.type, DateTime):
        return "timestamptz[]"
    if isinstance(column.type, Boolean):
        return "boolean[]"
    if isinstance(column.type, Integer):
        return "integer[]"
    return "text[]"


def _pg_upsert_many_sql() -> str:
    """One ``INSERT … SELECT FROM unnest(arrays) … ON CONFLICT … RETURNING``: a fixed text
    whatever the number of rows, so PostgreSQL and asyncpg prepare it once per connection and
    each row costs an array element rather than 19 bound parameters."""
    names = [c.name for c in t.columns]
    arrays = ", ".join(f"${n}::{_pg_array_type(c)}" for n, c in enumerate(t.columns, start=1))
    changing = ", ".join(f'"{n}" = excluded."{n}"' for n in names if n not in ("id", "registered_at"))
    endpoint = ", ".join(c.name for c in _ENDPOINT_COLUMNS)
    columns = ", ".join(f'"{n}"' for n in names)
    return (
        f"INSERT INTO {t.name} ({columns}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({endpoint}) DO UPDATE SET {changing} RETURNING id, registered_at, {endpoint}"
    )


_PG_UPSERT_MANY = _pg_upsert_many_sql()
_JSON_COLUMNS = frozenset(c.name for c in t.columns if isinstance(c.type, JSON))


async def upsert_many(conn: AsyncConnection, insts: list[Instance]) -> list[Instance]:
    """:func:`upsert` for many instances in one statement.

    No two of ``insts`` may share an endpoint (tenant, name, host, port): PostgreSQL refuses a
    statement that would update one row twice. Returns ``insts`` with stored ids and times."""
    if not insts:
        return insts
    rows = [_row_values(i) for i in insts]
    if conn.dialect.name == "postgresql":
        columns = []
        for c in t.columns:
            values = [r[c.name] for r in rows]
            if c.name in _JSON_COLUMNS:
                values = [None if v is None else orjson.dumps(v).decode() for v in values]
            columns.append(values)
        result = await conn.exec_driver_sql(_PG_UPSERT_MANY, tuple(columns))
        # matched by endpoint: RETURNING's order is not promised to follow the arrays'
        by_endpoint = {(i.tenant_id, i.service_name, i.host, i.port): i for i in insts}
        for row in result.all():
            inst = by_endpoint[(row.tenant_id, row.service_name, row.host, row.port)]
            inst.id = row.id
            inst.registered_at = to_epoch(row.registered_at)
        return insts
    else:
        # SQLAlchemy sends these as one multi-row statement (a statement per 1,000 rows)
        result = await conn.execute(_SQLITE_UPSERT_MANY, rows)
    for inst, row in zip(insts, result.all(), strict=True):
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
    if not seen:
        return
    if conn.dialect.name == "postgresql":
        # two arrays in one statement: one round trip and one parameter set whatever the batch
        # size, where executemany would bind (and the driver encode) every row on its own
        await conn.execute(
            _TOUCH_ARRAYS, {"ids": list(seen), "seen": [to_datetime(ts) for ts in seen.values()]}
        )
        return
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
