"""Reads of the alert history: the stored one every replica shares, and this replica's recent ones.

:class:`~centralhub.alerts.service.AlertManager` inherits them and owns the state they read.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from centralhub.alerts import repository
from centralhub.alerts.models import SEVERITIES, Alert
from centralhub.alerts.schemas import alert_document
from centralhub.auth.context import current_principal
from centralhub.auth.tenancy import in_reach
from centralhub.core.errors import InvalidInput


class AlertReads:
    """Alert listings for the API and the dashboard, within the caller's tenant reach."""

    engine: AsyncEngine
    _recent: deque[Alert]

    def history(
        self,
        limit: int = 100,
        *,
        tenant_id: str | None = None,
        severity: str | None = None,
        target: str | None = None,
        acknowledged: bool | None = None,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        """This replica's recent alerts (up to :data:`RECENT_ALERTS`) as JSON documents, newest
        first; no I/O, for dashboards. The API reads the stored history with :meth:`search`.
        ``tenant_id``: that tenant's alerts (and the global ones when the caller reaches them);
        the caller's tenant limit applies either way."""
        out = []
        for a in self._recent:
            if not in_reach(a.tenant_id, tenant_id):
                continue
            if severity is not None and a.severity != severity:
                continue
            if target is not None and a.target != target:
                continue
            if acknowledged is not None and a.acknowledged != acknowledged:
                continue
            if since is not None and a.created_at < since:
                continue
            out.append(alert_document(a))
            if len(out) >= limit:
                break
        return out

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
        """The stored history, newest first (every replica's alerts, across restarts).

        ``tenant_id``: that tenant's alerts, plus the global ones for a caller without a tenant
        limit; ``None``: every alert the caller reaches."""
        limited = current_principal.get().tenant
        if limited is not None and tenant_id not in (None, limited):
            return []
        if severity is not None and severity not in SEVERITIES:
            raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)} (got {severity!r})")
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000 (got {limit})")
        async with self.engine.connect() as conn:
            return await repository.get_all(
                conn,
                tenant_id=tenant_id if limited is None else limited,
                include_global=limited is None,
                severity=severity,
                target=target,
                acknowledged=acknowledged,
                since=since,
                limit=limit,
            )

    async def recent(self, limit: int = 20, *, tenant_id: str | None = None) -> list[dict[str, Any]]:
        """The newest stored alerts as JSON documents (the dashboard feed): every replica's,
        across restarts, within the caller's reach."""
        return [alert_document(a) for a in await self.search(tenant_id=tenant_id, limit=limit)]
