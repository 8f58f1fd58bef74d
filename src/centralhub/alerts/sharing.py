"""One alert across hub replicas: the database decides which replica stores and sends it.

Replicas may raise the same alert at the same moment (each probes an infrastructure component,
each reaper sees one TTL run out). The open alert of each dedup key is a row keyed by the key's
hash: the replica whose insert wins stores and sends the alert, the other counts one more
occurrence of it and sends nothing. A failing database never stops alerting: the alert is then
sent unstored.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from centralhub.alerts import repository
from centralhub.alerts.models import Alert

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

#: (kind, tenant, target, instance, event)
DedupKey = tuple[str, str | None, str, str | None, str]


def open_key(key: DedupKey) -> str:
    """The stored form of a dedup key: fixed length, whatever the target name."""
    return hashlib.sha256(repr(key).encode()).hexdigest()


async def store_or_join(
    engine: AsyncEngine, alert: Alert, key: DedupKey, *, now: float, window: float
) -> Alert | None:
    """Store ``alert`` (``None``) unless another replica stored the same one within ``window``
    seconds; then that one is counted once more and returned."""
    try:
        async with engine.begin() as conn:
            held_id = await repository.claim_open_key(
                conn, open_key=open_key(key), alert_id=alert.id, now=now, window=window
            )
            if held_id is None:
                await repository.create(conn, alert=alert)
                return None
            await repository.bump(conn, alert_id=held_id, now=now)
            return await repository.get(conn, alert_id=held_id)
    except Exception as exc:  # keep alerting even when the database is the thing that is down
        log.error("alert %s not stored: %s", alert.id, exc)
        return None


async def sent_since(engine: AsyncEngine, tenant_id: str | None, target: str, *, since: float) -> int:
    """Alerts of ``target`` sent (neither silenced nor suppressed) by any replica since
    ``since``: the rate limit holds for the whole hub, not per replica. ``0`` when the database
    cannot say (the replica's own count still applies)."""
    try:
        async with engine.connect() as conn:
            return await repository.count_sent(conn, tenant_id=tenant_id, target=target, since=since)
    except Exception as exc:
        log.warning("alert rate not readable: %s", exc)
        return 0


async def bump(engine: AsyncEngine, alert: Alert, key: DedupKey, *, now: float) -> None:
    """One more occurrence of ``alert`` within its window (which then runs from ``now``)."""
    try:
        async with engine.begin() as conn:
            await repository.bump(conn, alert_id=alert.id, now=now)
            await repository.touch_open_key(conn, open_key=open_key(key), alert_id=alert.id, now=now)
    except Exception as exc:
        log.error("alert %s not stored: %s", alert.id, exc)
