"""Persistence of rolling deployments (table ``deployments``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from centralhub.core.tables import deployments as t
from centralhub.core.time import to_datetime, to_epoch
from centralhub.deployments.service import Deployment

_MAX_ERROR = 2000


def _values(dep: Deployment) -> dict[str, Any]:
    record = dep.to_record()
    return {
        "id": dep.id,
        "tenant_id": dep.tenant_id,
        "service_name": dep.service,
        "version": dep.version,
        "strategy": dep.strategy,
        "batch_size": dep.batch_size,
        "state": dep.state.value,
        "error": dep.error[:_MAX_ERROR] if dep.error else None,
        "detail": {
            "deadline_seconds": dep.deadline_seconds,
            "batches": record["batches"],
            "baseline_ids": record["baseline_ids"],
        },
        "created_at": to_datetime(dep.created_at),
        "started_at": to_datetime(dep.started_at),
        "finished_at": to_datetime(dep.finished_at),
    }


def _from_row(row: Any) -> Deployment:
    m = row._mapping
    detail = m["detail"] or {}
    return Deployment.from_record(
        {
            "id": m["id"],
            "tenant_id": m["tenant_id"],
            "service": m["service_name"],
            "version": m["version"],
            "strategy": m["strategy"],
            "batch_size": m["batch_size"],
            "deadline_seconds": detail.get("deadline_seconds", 0),
            "state": m["state"],
            "batches": detail.get("batches", []),
            "baseline_ids": detail.get("baseline_ids", []),
            "created_at": to_epoch(m["created_at"]),
            "started_at": to_epoch(m["started_at"]),
            "finished_at": to_epoch(m["finished_at"]),
            "error": m["error"],
        }
    )


class DeploymentRepository:
    """Each method is one committed transaction; a deployment row is rewritten on every step."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, dep: Deployment) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(t).values(**_values(dep)))

    async def save(self, dep: Deployment) -> None:
        values = _values(dep)
        values.pop("id")
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.id == dep.id).values(**values))

    async def get(self, deployment_id: str) -> Deployment | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id == deployment_id))).first()
        return None if row is None else _from_row(row)

    async def get_all(
        self, *, tenant: str, service: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Deployment]:
        """Newest first."""
        query = select(t).where(t.c.tenant_id == tenant)
        if service is not None:
            query = query.where(t.c.service_name == service)
        if state is not None:
            query = query.where(t.c.state == state)
        query = query.order_by(t.c.created_at.desc(), t.c.id).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_from_row(r) for r in rows]
