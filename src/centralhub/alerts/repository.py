"""Persistence of alert history and silences (tables ``alerts`` and ``alert_silences``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from centralhub.alerts.service import Alert, Silence
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
        "acknowledged_at": to_datetime(a.acknowledged_at) if a.acknowledged_at else None,
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


class AlertRepository:
    """Alert rows; every method is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, alert: Alert) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(t).values(**_values(alert)))

    async def update(self, alert: Alert) -> None:
        values = _values(alert)
        values.pop("id")
        async with self.engine.begin() as conn:
            await conn.execute(update(t).where(t.c.id == alert.id).values(**values))

    async def get(self, alert_id: str) -> Alert | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.id == alert_id))).first()
        return _alert(row) if row else None

    async def search(
        self,
        *,
        tenant_id: str | None = None,
        severity: str | None = None,
        target: str | None = None,
        acknowledged: bool | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """Newest first; ``tenant_id`` shows that tenant's alerts plus tenant-less (infrastructure) ones."""
        q = select(t).order_by(t.c.created_at.desc(), t.c.id).limit(limit)
        if tenant_id is not None:
            q = q.where(or_(t.c.tenant_id == tenant_id, t.c.tenant_id.is_(None)))
        if severity is not None:
            q = q.where(t.c.severity == severity)
        if target is not None:
            q = q.where(t.c.target == target)
        if acknowledged is not None:
            q = q.where(t.c.acknowledged == acknowledged)
        if since is not None:
            q = q.where(t.c.created_at >= to_datetime(since))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_alert(r) for r in rows]

    # ------------------------------------------------------------------ silences
    async def add_silence(self, silence: Silence) -> None:
        async with self.engine.begin() as conn:
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

    async def active_silences(self, now: float) -> list[Silence]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(s).where(s.c.until > to_datetime(now)))).all()
        return [
            Silence(
                id=r.id,
                tenant_id=r.tenant_id,
                target=r.target,
                reason=r.reason,
                created_at=to_epoch(r.created_at) or 0.0,
                until=to_epoch(r.until) or 0.0,
            )
            for r in rows
        ]

    async def delete_silence(self, silence_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(s).where(s.c.id == silence_id))
        return bool(result.rowcount)
