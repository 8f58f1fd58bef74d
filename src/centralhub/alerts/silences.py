"""Silences: time-boxed "record but do not send" rules for alerts, per tenant.

Kept apart from :class:`~centralhub.alerts.service.AlertManager` because silences are plain
stored state with their own tenancy and audit rules, while the manager is about raising and
delivering. Silences may be set through any replica, so the book re-reads the active ones from
the database before an alert is raised (alerts are rare, the query cheap); a failing read keeps
the last known set rather than blocking alerting.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from centralhub.alerts import repository
from centralhub.alerts.models import Alert, Silence
from centralhub.auth.tenancy import Forbidden, in_reach, require_global
from centralhub.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from centralhub.audit.service import AuditLog

log = logging.getLogger(__name__)

#: the longest silence accepted, so a forgotten one cannot mute a target for good
MAX_SILENCE_SECONDS = 30 * 86400


class SilenceBook:
    """The active silences this replica knows, and the audited ways to add and end them."""

    def __init__(
        self, engine: AsyncEngine, *, clock: Callable[[], float], audit: AuditLog | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit
        self.active: dict[str, Silence] = {}

    async def refresh(self) -> None:
        """Re-read the active silences (other replicas may have added or ended some)."""
        try:
            async with self.engine.connect() as conn:
                active = await repository.get_active_silences(conn, now=self.clock())
        except Exception as exc:
            log.warning("silences not refreshed: %s", exc)
            return
        self.active = {s.id: s for s in active}

    def covers(self, alert: Alert, now: float) -> bool:
        """Whether an active silence matches ``alert`` (it is then recorded, not sent)."""
        return any(s.matches(alert) and s.until > now for s in self.active.values())

    async def create(
        self, target: str, duration_seconds: float, *, tenant_id: str | None = None, reason: str | None = None
    ) -> Silence:
        """See :meth:`AlertManager.silence`."""
        if tenant_id is None:
            require_global("silencing global infrastructure alerts")
        elif not in_reach(tenant_id, tenant_id):
            raise Forbidden(f"this credential may not act in tenant {tenant_id!r}")
        if not target:
            raise InvalidInput("target: must not be empty")
        if not 0 < duration_seconds <= MAX_SILENCE_SECONDS:
            raise InvalidInput("duration_seconds: must be greater than 0 and at most 30 days")
        now = self.clock()
        silence = Silence(
            id=uuid.uuid4().hex,
            target=target,
            until=now + duration_seconds,
            created_at=now,
            tenant_id=tenant_id,
            reason=reason,
        )
        async with self.engine.begin() as conn:
            await repository.create_silence(conn, silence=silence)
            if self.audit is not None:
                await self.audit.record(
                    "silence.create",
                    f"silences/{silence.id}",
                    tenant=tenant_id,
                    after=silence_view(silence),
                    conn=conn,
                )
        self.active[silence.id] = silence
        return silence

    def listing(self, tenant_id: str | None = None) -> list[Silence]:
        """See :meth:`AlertManager.silences`; drops the ones that have ended."""
        now = self.clock()
        for sid in [sid for sid, s in self.active.items() if s.until <= now]:
            del self.active[sid]
        mine = [s for s in self.active.values() if in_reach(s.tenant_id, tenant_id)]
        return sorted(mine, key=lambda s: s.until)

    async def remove(self, silence_id: str, *, tenant_id: str | None = None) -> Silence:
        """See :meth:`AlertManager.remove_silence`."""
        async with self.engine.begin() as conn:
            stored = await repository.get_silence(conn, silence_id=silence_id)
            known = stored or self.active.get(silence_id)
            if known is None or not in_reach(known.tenant_id, tenant_id):
                raise NotFound(f"silence {silence_id!r} does not exist")
            await repository.delete_silence(conn, silence_id=silence_id)
        self.active.pop(silence_id, None)
        if self.audit is not None:
            await self.audit.record(
                "silence.delete",
                f"silences/{silence_id}",
                tenant=known.tenant_id,
                before=silence_view(known),
            )
        return known


def silence_view(silence: Silence) -> dict[str, Any]:
    """What the audit trail keeps of a silence."""
    return {
        "target": silence.target,
        "until": silence.until,
        "tenant_id": silence.tenant_id,
        "reason": silence.reason,
    }
