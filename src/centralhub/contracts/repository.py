"""SQL for service contracts (table ``service_contracts``): one current row per service.

Every function takes the caller's connection and never commits: the service decides what one
transaction holds (a contract and the instance flags it implies are stored together).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.contracts.models import Contract
from centralhub.core.tables import service_contracts as t
from centralhub.core.time import to_datetime, to_epoch


def _from_row(row: Any) -> Contract:
    m = row._mapping
    return Contract(
        tenant_id=m["tenant_id"],
        service_name=m["service_name"],
        version=m["version"],
        revision=m["revision"],
        schemas=m["schemas"] or {},
        updated_at=to_epoch(m["updated_at"]),
    )


def _key(tenant: str, service: str) -> Any:
    return (t.c.tenant_id == tenant) & (t.c.service_name == service)


async def get(
    conn: AsyncConnection, *, tenant: str, service: str, for_update: bool = False
) -> Contract | None:
    """The service's current contract; ``for_update`` locks the row until the transaction ends
    (PostgreSQL; SQLite's write transaction already excludes other writers)."""
    query = select(t).where(_key(tenant, service))
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _from_row(row)


async def get_all(conn: AsyncConnection, *, tenant: str) -> list[Contract]:
    """Every contract of the tenant, by service name."""
    rows = (await conn.execute(select(t).where(t.c.tenant_id == tenant).order_by(t.c.service_name))).all()
    return [_from_row(r) for r in rows]


async def get_keys(conn: AsyncConnection) -> list[tuple[str, str]]:
    """``(tenant, service)`` of every stored contract."""
    rows = (await conn.execute(select(t.c.tenant_id, t.c.service_name))).all()
    return [(r[0], r[1]) for r in rows]


def _changing(contract: Contract) -> dict[str, Any]:
    return {
        "version": contract.version,
        "revision": contract.revision,
        "schemas": contract.schemas,
        "updated_at": to_datetime(contract.updated_at),
    }


async def create(conn: AsyncConnection, contract: Contract) -> bool:
    """Insert the service's first contract; ``False`` when a concurrent writer stored one first."""
    insert_fn = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert_fn(t)
        .values(tenant_id=contract.tenant_id, service_name=contract.service_name, **_changing(contract))
        .on_conflict_do_nothing(index_elements=[t.c.tenant_id, t.c.service_name])
        .returning(t.c.revision)
    )
    return (await conn.execute(stmt)).first() is not None


async def update(conn: AsyncConnection, contract: Contract) -> bool:
    """Replace the service's contract; ``False`` when it has none."""
    result = await conn.execute(
        sql_update(t).where(_key(contract.tenant_id, contract.service_name)).values(**_changing(contract))
    )
    return bool(result.rowcount)


async def delete(conn: AsyncConnection, *, tenant: str, service: str) -> bool:
    """Drop the service's contract; ``False`` when it had none."""
    result = await conn.execute(sql_delete(t).where(_key(tenant, service)))
    return bool(result.rowcount)
