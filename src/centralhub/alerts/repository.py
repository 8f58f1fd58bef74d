"""SQL for alert history and silences (tables ``alerts`` and ``alert_silences``).

Every function takes the caller's connection and never commits: the alert manager opens one
transaction per operation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.alerts.models import Alert, Silence
from centralhub.core.tables import alert_silences as s
from centralhub.core.tables import alerts as t
from centralhub.core.time import to_datetime, to_epoch


def _values(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "tenant_id": a.tenant_id,
        "kind": a.kind,
        "target": a.target,
        "instance_id": a.instance_id,
        "event": a.event,
        "severity": a.severity,
        "message": a.message[:2000],
        "dependents": a.dependents,
        "details": a.details,
        "created_at": to_datetime(a.created_at),
        "last_seen_at": to_datetime(a.last_seen_at),
        "count": a.count,
        "acknowledged": a.acknowledged,
        "acknowledged_at": to_datetime(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "silenced": a.silenced,
        "suppressed": a.suppressed,
        "deliveries": a.deliveries,
    }


def _alert(row: Any) -> Alert:
    m = row._mapping
    return Alert(
        id=m["id"],
        tenant_id=m["tenant_id"],
        kind=m["kind"],
        target=m["target"],
        instance_id=m["instance_id"],
        event=m["event"],
        severity=m["severity"],
        message=m["message"],
        dependents=list(m["dependents"] or []),
        details=dict(m["details"] or {}),
        created_at=to_epoch(m["created_at"]) or 0.0,
        last_seen_at=to_epoch(m["last_seen_at"]) or 0.0,
        count=m["count"],
        acknowledged=bool(m["acknowledged"]),
        acknowledged_at=to_epoch(m["acknowledged_at"]),
        acknowledged_by=m["acknowledged_by"],
        silenced=bool(m["silenced"]),
        suppressed=bool(m["suppressed"]),
        deliveries=dict(m["deliveries"] or {}),
    )


def _silence(row: Any) -> Silence:
    return Silence(
        id=row.id,
        tenant_id=row.tenant_id,
        target=row.target,
        reason=row.reason,
        created_at=to_epoch(row.created_at) or 0.0,
        until=to_epoch(row.until) or 0.0,
    )


async def create(conn: AsyncConnection, *, alert: Alert) -> None:
    await conn.execute(insert(t).values(**_values(alert)))


async def update(conn: AsyncConnection, *, alert: Alert) -> None:
    values = _values(alert)
    values.pop("id")
    await conn.execute(sql_update(t).where(t.c.id == alert.id).values(**values))


async def get(conn: AsyncConnection, *, alert_id: str) -> Alert | None:
    row = (await conn.execute(select(t).where(t.c.id == alert_id))).first()
    return _alert(row) if row else None


async def get_all(
    conn: AsyncConnection,
    *,
    tenant_id: str | None = None,
    include_global: bool = True,
    severity: str | None = None,
    target: str | None = None,
    acknowledged: bool | None = None,
    since: float | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Newest first; ``tenant_id`` shows that tenant's alerts, plus the tenant-less (global
    infrastructure) ones when ``include_global``; no ``tenant_id``: every alert."""
    q = select(t).order_by(t.c.created_at.desc(), t.c.id).limit(limit)
    if tenant_id is not None:
        own = t.c.tenant_id == tenant_id
        q = q.where(or_(own, t.c.tenant_id.is_(None)) if include_global else own)
    if severity is not None:
        q = q.where(t.c.severity == severity)
    if target is not None:
        q = q.where(t.c.target == target)
    if acknowledged is not None:
        q = q.where(t.c.acknowledged == acknowledged)
    if since is not None:
        q = q.where(t.c.created_at >= to_datetime(since))
    return [_alert(r) for r in (await conn.execute(q)).all()]


async def create_silence(conn: AsyncConnection, *, silence: Silence) -> None:
    await conn.execute(
        insert(s).values(
            id=silence.id,
            tenant_id=silence.tenant_id,
            target=silence.target,
            reason=silence.reason,
            created_at=to_datetime(silence.created_at),
            until=to_datetime(silence.until),
        )
    )


async def get_active_silences(conn: AsyncConnection, *, now: float) -> list[Silence]:
    rows = (await conn.execute(select(s).where(s.c.until > to_datetime(now)))).all()
    return [_silence(r) for r in rows]


async def get_silence(conn: AsyncConnection, *, silence_id: str) -> Silence | None:
    row = (await conn.execute(select(s).where(s.c.id == silence_id))).first()
    return _silence(row) if row else None


async def delete_silence(conn: AsyncConnection, *, silence_id: str) -> bool:
    result = await conn.execute(delete(s).where(s.c.id == silence_id))
    return bool(result.rowcount)
