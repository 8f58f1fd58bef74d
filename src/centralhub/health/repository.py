"""SQL for circuit state (table ``circuits``).

Every function takes the caller's connection and never commits: the circuit registry writes
one circuit per transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.tables import circuits as t
from centralhub.core.time import to_datetime, to_epoch

if TYPE_CHECKING:
    from centralhub.health.circuits import Circuit


def _values(c: Circuit) -> dict[str, Any]:
    return {
        "state": c.state,
        "failures": c.failures,
        "half_open_successes": c.half_open_successes,
        "opened_at": to_datetime(c.opened_at),
        "last_failure_at": to_datetime(c.last_failure_at),
        "last_error": c.last_error,
        "reason": (c.reason or "")[:500] or None,
        "successes_reported": c.successes_reported,
        "failures_reported": c.failures_reported,
        "changed_at": to_datetime(c.changed_at),
        "version": c.version,
    }


def _circuit(row: Any) -> Circuit:
    from centralhub.health.circuits import Circuit

    m = row._mapping
    return Circuit(
        service=m["service_name"],
        tenant_id=m["tenant_id"],
        state=m["state"],
        failures=m["failures"],
        half_open_successes=m["half_open_successes"],
        opened_at=to_epoch(m["opened_at"]),
        last_failure_at=to_epoch(m["last_failure_at"]),
        last_error=m["last_error"],
        reason=m["reason"],
        successes_reported=m["successes_reported"],
        failures_reported=m["failures_reported"],
        changed_at=to_epoch(m["changed_at"]) or 0.0,
        version=m["version"],
    )


async def get(
    conn: AsyncConnection, *, tenant_id: str, service: str, for_update: bool = False
) -> Circuit | None:
    q = select(t).where(t.c.tenant_id == tenant_id, t.c.service_name == service)
    if for_update:
        q = q.with_for_update()
    row = (await conn.execute(q)).first()
    return _circuit(row) if row else None


async def get_all(
    conn: AsyncConnection, *, tenant_id: str | None = None, limit: int = 10_000
) -> list[Circuit]:
    q = select(t).order_by(t.c.tenant_id, t.c.service_name).limit(limit)
    if tenant_id is not None:
        q = q.where(t.c.tenant_id == tenant_id)
    return [_circuit(r) for r in (await conn.execute(q)).all()]


def _stored(ts: float | None) -> float | None:
    return to_epoch(to_datetime(ts))


async def save(conn: AsyncConnection, *, circuit: Circuit, new: bool) -> None:
    """Insert (``new``) or update one circuit; a racing insert of the same circuit raises
    ``IntegrityError`` and the caller retries as an update.

    The times are first rounded as the database keeps them (microseconds), so the copy this
    replica holds shows the very times a peer reads back."""
    circuit.opened_at = _stored(circuit.opened_at)
    circuit.last_failure_at = _stored(circuit.last_failure_at)
    circuit.changed_at = _stored(circuit.changed_at) or 0.0
    if new:
        await conn.execute(
            insert(t).values(tenant_id=circuit.tenant_id, service_name=circuit.service, **_values(circuit))
        )
    else:
        await conn.execute(
            sql_update(t)
            .where(t.c.tenant_id == circuit.tenant_id, t.c.service_name == circuit.service)
            .values(**_values(circuit))
        )
