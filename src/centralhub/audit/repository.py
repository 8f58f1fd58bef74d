"""SQL for the audit trail (table ``audit_log``).

Functions take the caller's connection and never begin or commit, so an entry can be written in
the same transaction as the change it describes and commits (or rolls back) with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.audit.models import AuditEntry
from centralhub.core.tables import audit_log as t
from centralhub.core.time import to_datetime, to_epoch


def _from_row(row: Any) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        id=m["id"],
        at=to_epoch(m["at"]),
        actor=m["actor"],
        action=m["action"],
        resource=m["resource"],
        address=m["address"],
        tenant_id=m["tenant_id"],
        before=m["before"],
        after=m["after"],
        details=m["details"],
    )


def _matches(column: Any, value: str) -> Any:
    """Exact match, or a prefix match when the value ends with ``*`` (``config.*``)."""
    if value.endswith("*"):
        return column.startswith(value[:-1], autoescape=True)
    return column == value


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": to_datetime(entry.at),
        "actor": entry.actor,
        "address": entry.address,
        "tenant_id": entry.tenant_id,
        "action": entry.action,
        "resource": entry.resource,
        "before": entry.before,
        "after": entry.after,
        "details": entry.details,
    }


async def create(conn: AsyncConnection, *, entry: AuditEntry) -> None:
    await conn.execute(insert(t).values(**_row(entry)))


async def create_many(conn: AsyncConnection, entries: list[AuditEntry]) -> None:
    """Several entries in one statement (changes committed together, e.g. batched writes)."""
    if entries:
        await conn.execute(insert(t), [_row(e) for e in entries])


async def get_all(
    conn: AsyncConnection,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    since: float | None = None,
    tenant: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries matching every filter given, newest first."""
    stmt = select(t)
    if actor is not None:
        stmt = stmt.where(_matches(t.c.actor, actor))
    if action is not None:
        stmt = stmt.where(_matches(t.c.action, action))
    if resource is not None:
        stmt = stmt.where(_matches(t.c.resource, resource))
    if since is not None:
        stmt = stmt.where(t.c.at >= to_datetime(since))
    if tenant is not None:
        stmt = stmt.where(t.c.tenant_id == tenant)
    stmt = stmt.order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
    return [_from_row(r) for r in (await conn.execute(stmt)).all()]


async def delete_older_than(conn: AsyncConnection, *, before: float) -> int:
    """Remove entries recorded before ``before`` (epoch seconds); returns how many."""
    result = await conn.execute(delete(t).where(t.c.at < to_datetime(before)))
    return int(result.rowcount or 0)
