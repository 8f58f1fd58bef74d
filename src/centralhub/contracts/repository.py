"""Persistence of service contracts (table ``service_contracts``): one current row per service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from centralhub.contracts.service import Contract
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


class ContractRepository:
    """Each method is one committed transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, tenant: str, service: str) -> Contract | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(t).where((t.c.tenant_id == tenant) & (t.c.service_name == service)))
            ).first()
        return None if row is None else _from_row(row)

    async def get_all(self, tenant: str) -> list[Contract]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(t).where(t.c.tenant_id == tenant).order_by(t.c.service_name))
            ).all()
        return [_from_row(r) for r in rows]

    async def keys(self) -> list[tuple[str, str]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.c.tenant_id, t.c.service_name))).all()
        return [(r[0], r[1]) for r in rows]

    async def save(self, contract: Contract) -> None:
        """Insert or replace the service's contract."""
        values = {
            "version": contract.version,
            "revision": contract.revision,
            "schemas": contract.schemas,
            "updated_at": to_datetime(contract.updated_at),
        }
        key = (t.c.tenant_id == contract.tenant_id) & (t.c.service_name == contract.service_name)
        for _attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    result = await conn.execute(update(t).where(key).values(**values))
                    if not result.rowcount:
                        await conn.execute(
                            t.insert().values(
                                tenant_id=contract.tenant_id, service_name=contract.service_name, **values
                            )
                        )
                    return
            except IntegrityError:
                # a concurrent first save inserted the row: retry as an update
                continue
        raise RuntimeError("could not store the contract after concurrent updates")

    async def delete(self, tenant: str, service: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(t).where((t.c.tenant_id == tenant) & (t.c.service_name == service))
            )
        return bool(result.rowcount)
