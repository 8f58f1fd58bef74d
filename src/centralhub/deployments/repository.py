"""SQL for rolling deployments (table ``deployments``).

A deployment is one row; its batches live in ``detail``, so a step (a batch's new state and
the deployment's) is one UPDATE. Functions take the caller's connection and never commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.tables import deployments as t
from centralhub.core.time import to_datetime, to_epoch
from centralhub.deployments.models import Deployment

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


async def create(conn: AsyncConnection, dep: Deployment) -> None:
    await conn.execute(insert(t).values(**_values(dep)))


async def update(conn: AsyncConnection, dep: Deployment) -> None:
    """Rewrite the deployment's row: its state and every batch's."""
    values = _values(dep)
    values.pop("id")
    await conn.execute(sql_update(t).where(t.c.id == dep.id).values(**values))


async def get(conn: AsyncConnection, *, deployment_id: str) -> Deployment | None:
    row = (await conn.execute(select(t).where(t.c.id == deployment_id))).first()
    return None if row is None else _from_row(row)


async def get_all(
    conn: AsyncConnection,
    *,
    tenant: str,
    service: str | None = None,
    state: str | None = None,
    limit: int = 50,
) -> list[Deployment]:
    """The tenant's deployments, newest first."""
    query = select(t).where(t.c.tenant_id == tenant)
    if service is not None:
        query = query.where(t.c.service_name == service)
    if state is not None:
        query = query.where(t.c.state == state)
    query = query.order_by(t.c.created_at.desc(), t.c.id).limit(limit)
    return [_from_row(r) for r in (await conn.execute(query)).all()]
