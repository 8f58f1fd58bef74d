"""SQL for alert history and silences (tables ``alerts`` and ``alert_silences``).

Every function takes the caller's connection and never commits: the alert manager opens one
transaction per operation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.alerts.models import Alert, Silence
from centralhub.core.tables import alert_open_keys as k
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


async def bump(conn: AsyncConnection, *, alert_id: str, now: float) -> None:
    """One more occurrence of an open alert (the count is added in SQL: replicas may race)."""
    await conn.execute(
        sql_update(t).where(t.c.id == alert_id).values(count=t.c.count + 1, last_seen_at=to_datetime(now))
    )


async def set_deliveries(conn: AsyncConnection, *, alert: Alert) -> None:
    """Only the delivery outcomes, so an acknowledgement made meanwhile is kept."""
    await conn.execute(sql_update(t).where(t.c.id == alert.id).values(deliveries=alert.deliveries))


async def set_acknowledged(conn: AsyncConnection, *, alert: Alert) -> None:
    await conn.execute(
        sql_update(t)
        .where(t.c.id == alert.id)
        .values(
            acknowledged=alert.acknowledged,
            acknowledged_at=to_datetime(alert.acknowledged_at),
            acknowledged_by=alert.acknowledged_by,
        )
    )


async def claim_open_key(
    conn: AsyncConnection, *, open_key: str, alert_id: str, now: float, window: float
) -> str | None:
    """Make ``alert_id`` the open alert of ``open_key`` unless another one was seen within
    ``window`` seconds; returns that other alert's id, or ``None`` when the claim is ours.

    The primary key decides between replicas racing to raise the same alert: the loser's insert
    does nothing (PostgreSQL waits for the winner's commit first)."""
    await conn.execute(
        delete(k).where(k.c.open_key == open_key, k.c.last_seen_at < to_datetime(now - window))
    )
    ins = pg_insert(k) if conn.dialect.name == "postgresql" else sqlite_insert(k)
    values = {"open_key": open_key, "alert_id": alert_id, "last_seen_at": to_datetime(now)}
    result = await conn.execute(ins.values(**values).on_conflict_do_nothing(index_elements=["open_key"]))
    if result.rowcount:
        return None
    held = (await conn.execute(select(k.c.alert_id).where(k.c.open_key == open_key))).scalar_one_or_none()
    if held is None:  # ended between the two statements: take it over
        await conn.execute(insert(k).values(**values))
        return None
    await conn.execute(sql_update(k).where(k.c.open_key == open_key).values(last_seen_at=to_datetime(now)))
    return str(held)


async def touch_open_key(conn: AsyncConnection, *, open_key: str, alert_id: str, now: float) -> None:
    await conn.execute(
        sql_update(k)
        .where(k.c.open_key == open_key, k.c.alert_id == alert_id)
        .values(last_seen_at=to_datetime(now))
    )


async def latest_event(
    conn: AsyncConnection, *, kind: str, tenant_id: str | None, target: str, instance_id: str | None
) -> str | None:
    """The event (``down``/``recovery``) of the newest alert of one target, for a replica that
    did not see it go down itself (restarted, or the status change was handled elsewhere)."""
    q = select(t.c.event).where(t.c.kind == kind, t.c.target == target)
    q = q.where(t.c.tenant_id.is_(None) if tenant_id is None else t.c.tenant_id == tenant_id)
    q = q.where(t.c.instance_id.is_(None) if instance_id is None else t.c.instance_id == instance_id)
    row = (await conn.execute(q.order_by(t.c.created_at.desc()).limit(1))).first()
    return str(row[0]) if row else None


async def count_sent(conn: AsyncConnection, *, tenant_id: str | None, target: str, since: float) -> int:
    q = select(func.count()).select_from(t).where(t.c.target == target, t.c.created_at >= to_datetime(since))
    q = q.where(t.c.tenant_id.is_(None) if tenant_id is None else t.c.tenant_id == tenant_id)
    q = q.where(t.c.silenced.is_(False), t.c.suppressed.is_(False))
    return int((await conn.execute(q)).scalar_one())


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
