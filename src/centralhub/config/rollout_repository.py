"""Storage of configuration rollouts (table ``config_rollouts``).

State changes are conditional updates (``WHERE state = <what the caller saw>``), so when two
replicas, or a person and the owner's gate, act on one rollout at once exactly one of them wins
and the other learns it lost. The partial unique index keeps one active rollout per service.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.config.rollout_models import ACTIVE, Rollout, RolloutState
from centralhub.core.tables import config_rollouts as t
from centralhub.core.time import to_datetime, to_epoch

_ACTIVE_STATES = [s.value for s in ACTIVE]


def _row(r: Rollout) -> dict[str, Any]:
    return {
        "id": r.id,
        "tenant_id": r.tenant_id,
        "service_name": r.service,
        "state": r.state.value,
        "reason": r.reason,
        "base_revision": r.base_revision,
        "revision": r.revision,
        "version": r.version,
        "config": r.config,
        "author": r.author,
        "message": r.message,
        "detail": r.detail(),
        "created_at": to_datetime(r.created_at),
        "bake_until": to_datetime(r.bake_until),
        "finished_at": to_datetime(r.finished_at),
        "promoted_revision": r.promoted_revision,
        "owner": r.owner,
        "lease_expires_at": to_datetime(r.lease_expires_at),
    }


def _rollout(row: Any) -> Rollout:
    detail = row["detail"] or {}
    return Rollout(
        id=row["id"],
        tenant_id=row["tenant_id"],
        service=row["service_name"],
        state=RolloutState(row["state"]),
        base_revision=int(row["base_revision"]),
        revision=int(row["revision"]),
        version=row["version"],
        config=row["config"],
        author=row["author"],
        created_at=to_epoch(row["created_at"]),
        bake_until=to_epoch(row["bake_until"]),
        canary=list(detail.get("canary") or []),
        selector=dict(detail.get("selector") or {}),
        bake_seconds=float(detail.get("bake_seconds") or 0),
        check_seconds=float(detail.get("check_seconds") or 5),
        auto_rollback=bool(detail.get("auto_rollback", True)),
        held_reason=detail.get("held_reason"),
        message=row["message"],
        reason=row["reason"],
        finished_at=to_epoch(row["finished_at"]),
        promoted_revision=row["promoted_revision"],
        owner=row["owner"],
        lease_expires_at=to_epoch(row["lease_expires_at"]),
    )


async def create(conn: AsyncConnection, rollout: Rollout) -> None:
    """Insert; an active rollout of the same service makes the unique index refuse it."""
    await conn.execute(insert(t).values(**_row(rollout)))


async def get(conn: AsyncConnection, rollout_id: str) -> Rollout | None:
    row = (await conn.execute(select(t).where(t.c.id == rollout_id))).mappings().first()
    return None if row is None else _rollout(row)


async def latest(conn: AsyncConnection, tenant: str, service: str) -> Rollout | None:
    query = (
        select(t)
        .where(t.c.tenant_id == tenant, t.c.service_name == service)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _rollout(row)


async def history(conn: AsyncConnection, tenant: str, service: str, limit: int) -> list[Rollout]:
    query = (
        select(t)
        .where(t.c.tenant_id == tenant, t.c.service_name == service)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
        .limit(limit)
    )
    return [_rollout(row) for row in (await conn.execute(query)).mappings()]


async def active(conn: AsyncConnection, tenant: str | None = None) -> list[Rollout]:
    query = select(t).where(t.c.state.in_(_ACTIVE_STATES))
    if tenant is not None:
        query = query.where(t.c.tenant_id == tenant)
    return [_rollout(row) for row in (await conn.execute(query)).mappings()]


async def recent(conn: AsyncConnection, tenant: str, limit: int) -> list[Rollout]:
    query = select(t).where(t.c.tenant_id == tenant).order_by(t.c.created_at.desc()).limit(limit)
    return [_rollout(row) for row in (await conn.execute(query)).mappings()]


async def move(
    conn: AsyncConnection, rollout: Rollout, *, expected: RolloutState, owner: str | None = None
) -> bool:
    """Store ``rollout`` (its new state and fields) if it is still in ``expected``, and, with
    ``owner``, still owned by it; False when someone else moved it first."""
    where = [t.c.id == rollout.id, t.c.state == expected.value]
    if owner is not None:
        where.append(t.c.owner == owner)
    values = _row(rollout)
    del values["id"]
    result = await conn.execute(sql_update(t).where(*where).values(**values))
    return bool(result.rowcount)


async def renew(conn: AsyncConnection, rollout_id: str, *, owner: str, until: float) -> bool:
    result = await conn.execute(
        sql_update(t)
        .where(t.c.id == rollout_id, t.c.owner == owner, t.c.state.in_(_ACTIVE_STATES))
        .values(lease_expires_at=to_datetime(until))
    )
    return bool(result.rowcount)


async def adopt(conn: AsyncConnection, rollout_id: str, *, owner: str, now: float, until: float) -> bool:
    """Take over an active rollout whose owner stopped renewing; True for exactly one taker."""
    expired = or_(t.c.lease_expires_at.is_(None), t.c.lease_expires_at < to_datetime(now))
    result = await conn.execute(
        sql_update(t)
        .where(and_(t.c.id == rollout_id, t.c.state.in_(_ACTIVE_STATES), expired))
        .values(owner=owner, lease_expires_at=to_datetime(until))
    )
    return bool(result.rowcount)


async def take_over(conn: AsyncConnection, rollout_id: str, *, owner: str, until: float) -> bool:
    """Claim an active rollout whatever its lease (a single hub on its own database file,
    restarted: the previous owner was this hub)."""
    result = await conn.execute(
        sql_update(t)
        .where(t.c.id == rollout_id, t.c.state.in_(_ACTIVE_STATES))
        .values(owner=owner, lease_expires_at=to_datetime(until))
    )
    return bool(result.rowcount)


async def release(conn: AsyncConnection, rollout_id: str, *, owner: str) -> None:
    await conn.execute(
        sql_update(t)
        .where(t.c.id == rollout_id, t.c.owner == owner)
        .values(owner=None, lease_expires_at=None)
    )
