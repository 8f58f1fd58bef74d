"""SQL for rolling deployments (table ``deployments``).

A deployment is one row; its batches live in ``detail``, so a step (a batch's new state and
the deployment's) is one UPDATE. The row also names the replica running it (``owner``) and
until when that claim holds (``lease_expires_at``): every write of a step, and every renewal,
is conditional on still being the owner, and adoption is one conditional UPDATE, so exactly one
replica wins an orphaned deployment. Functions take the caller's connection and never commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.tables import deployments as t
from centralhub.core.time import to_datetime, to_epoch
from centralhub.deployments.models import ACTIVE, Deployment

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
            "drain_seconds": dep.drain_seconds,
            "batches": record["batches"],
            "baseline_ids": record["baseline_ids"],
        },
        "created_at": to_datetime(dep.created_at),
        "started_at": to_datetime(dep.started_at),
        "finished_at": to_datetime(dep.finished_at),
        "retire_at": to_datetime(dep.retire_at),
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
            "drain_seconds": detail.get("drain_seconds", 0.0),
            "owner": m["owner"],
            "lease_expires_at": to_epoch(m["lease_expires_at"]),
            "cancel_requested_at": to_epoch(m["cancel_requested_at"]),
            "retire_at": to_epoch(m["retire_at"]),
        }
    )


_ACTIVE_STATES = sorted(s.value for s in ACTIVE)


def _needs_owner() -> ColumnElement[bool]:
    return or_(t.c.state.in_(_ACTIVE_STATES), t.c.retire_at.is_not(None))


def _lease_expired(now: float) -> ColumnElement[bool]:
    return or_(t.c.lease_expires_at.is_(None), t.c.lease_expires_at < to_datetime(now))


async def create(conn: AsyncConnection, dep: Deployment) -> None:
    """Insert a new deployment with its owner and lease; an active one of the same service
    makes the unique index refuse it (``IntegrityError``)."""
    await conn.execute(
        insert(t).values(**_values(dep), owner=dep.owner, lease_expires_at=to_datetime(dep.lease_expires_at))
    )


async def update(conn: AsyncConnection, dep: Deployment, *, owner: str) -> bool:
    """Rewrite the deployment's row (its state and every batch's) if ``owner`` still owns it;
    False when another replica adopted it meanwhile."""
    values = _values(dep)
    values.pop("id")
    result = await conn.execute(sql_update(t).where(t.c.id == dep.id, t.c.owner == owner).values(**values))
    return bool(result.rowcount)


async def get_active(conn: AsyncConnection, *, tenant: str, service: str) -> Deployment | None:
    """The service's pending or running deployment, if any."""
    query = select(t).where(
        t.c.tenant_id == tenant, t.c.service_name == service, t.c.state.in_(_ACTIVE_STATES)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else _from_row(row)


async def renew(conn: AsyncConnection, *, deployment_id: str, owner: str, until: float) -> bool:
    """Extend ``owner``'s lease; False when it is no longer the owner."""
    result = await conn.execute(
        sql_update(t)
        .where(t.c.id == deployment_id, t.c.owner == owner)
        .values(lease_expires_at=to_datetime(until))
    )
    return bool(result.rowcount)


async def cancel_requests(conn: AsyncConnection, ids: list[str]) -> dict[str, float]:
    """Of ``ids``, those a cancel was asked for, with when."""
    if not ids:
        return {}
    query = select(t.c.id, t.c.cancel_requested_at).where(
        t.c.id.in_(ids), t.c.cancel_requested_at.is_not(None)
    )
    return {row.id: to_epoch(row.cancel_requested_at) for row in (await conn.execute(query)).all()}


async def orphaned(conn: AsyncConnection, *, now: float, limit: int = 20) -> list[str]:
    """Deployments that need an owner and whose lease ran out (the owner died or left)."""
    query = select(t.c.id).where(_needs_owner(), _lease_expired(now)).order_by(t.c.created_at).limit(limit)
    return [row.id for row in (await conn.execute(query)).all()]


async def adopt(conn: AsyncConnection, *, deployment_id: str, owner: str, now: float, until: float) -> bool:
    """Take over an orphaned deployment; True for exactly one of the replicas that try."""
    result = await conn.execute(
        sql_update(t)
        .where(and_(t.c.id == deployment_id, _needs_owner(), _lease_expired(now)))
        .values(owner=owner, lease_expires_at=to_datetime(until))
    )
    return bool(result.rowcount)


async def release(conn: AsyncConnection, *, deployment_id: str, owner: str) -> None:
    """Give the deployment up at once (a replica leaving), so another one adopts it now."""
    await conn.execute(
        sql_update(t)
        .where(t.c.id == deployment_id, t.c.owner == owner)
        .values(owner=None, lease_expires_at=None)
    )


async def request_cancel(conn: AsyncConnection, *, deployment_id: str, now: float) -> bool:
    """Mark an active deployment to be cancelled by whoever runs it; False when it is not active."""
    result = await conn.execute(
        sql_update(t)
        .where(t.c.id == deployment_id, t.c.state.in_(_ACTIVE_STATES))
        .values(cancel_requested_at=to_datetime(now))
    )
    return bool(result.rowcount)


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
