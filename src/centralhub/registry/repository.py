"""Persistence of registry instances (table ``service_registry``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralhub.core.tables import service_instances as t
from centralhub.core.time import to_datetime, to_epoch
from centralhub.registry.models import Instance, InstanceStatus

_ENDPOINT_COLUMNS = [t.c.tenant_id, t.c.service_name, t.c.host, t.c.port]


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


class InstanceRepository:
    """Each method is one committed transaction: the registry acknowledges only what is stored."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert(self, inst: Instance) -> Instance:
        """Store ``inst``; an existing row with the same (tenant, name, host, port) keeps its id
        and registration time. Returns what was stored.

        One ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement (SQLite ≥ 3.35 and
        PostgreSQL alike), so concurrent registrations of one endpoint cannot race."""
        values = _row_values(inst)
        changing = {k: v for k, v in values.items() if k not in ("id", "registered_at")}
        dialect = self.engine.dialect.name
        insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            insert_fn(t)
            .values(**values)
            .on_conflict_do_update(index_elements=_ENDPOINT_COLUMNS, set_=changing)
            .returning(t.c.id, t.c.registered_at)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(stmt)).one()
        inst.id = row.id
        inst.registered_at = to_epoch(row.registered_at)
        return inst

    async def get(self, instance_id: str) -> Instance | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id == instance_id))).first()
        return None if row is None else _from_row(row)

    async def delete(self, instance_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t).where(t.c.id == instance_id))
        return bool(result.rowcount)

    async def delete_many(self, instance_ids: Iterable[str]) -> int:
        ids = list(instance_ids)
        if not ids:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t).where(t.c.id.in_(ids)))
        return int(result.rowcount or 0)

    async def all(self) -> list[Instance]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t))).all()
        return [_from_row(r) for r in rows]

    async def touch_many(self, seen: dict[str, float]) -> None:
        """Write coalesced heartbeats: one statement, many rows."""
        if not seen:
            return
        stmt = update(t).where(t.c.id == bindparam("b_id")).values(last_seen=bindparam("b_seen"))
        params = [{"b_id": i, "b_seen": to_datetime(ts)} for i, ts in seen.items()]
        async with self.engine.begin() as conn:
            await conn.execute(stmt, params)

    async def set_status(self, instance_id: str, status: InstanceStatus) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.id == instance_id).values(status=status.value))

    async def set_contract_validated(self, tenant: str, service: str, value: bool) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t)
                .where((t.c.tenant_id == tenant) & (t.c.service_name == service))
                .values(contract_validated=value)
            )


async def set_contract_validated(conn: AsyncConnection, *, tenant: str, service: str, value: bool) -> None:
    """Flag every stored instance of a service as having (or no longer having) a contract."""
    await conn.execute(
        update(t)
        .where((t.c.tenant_id == tenant) & (t.c.service_name == service))
        .values(contract_validated=value)
    )
