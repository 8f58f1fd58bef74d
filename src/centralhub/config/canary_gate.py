"""The close look at a rollout's canaries while they bake.

Each look probes every canary's health itself (whatever the instance's normal check interval:
a canary is a sample chosen to be watched closely, so one failed probe counts), and reads what
the hub already knows: the canary's status, its last heartbeat, what it reported applying and
the alerts raised on it since the rollout began. The first bad sign is the reason the rollout
stops; a clean look returns ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from centralhub.config.rollout_models import Rollout
from centralhub.core.database import Database
from centralhub.core.errors import NotFound
from centralhub.core.tables import config_applied
from centralhub.core.time import rfc3339, to_epoch
from centralhub.health.service import effective_check, uses_ttl
from centralhub.registry.models import InstanceStatus

__all__ = ["CanaryGate"]

BAD_STATUSES = (InstanceStatus.WARNING, InstanceStatus.CRITICAL)
BAD_SEVERITIES = ("warning", "critical")


class CanaryGate:
    def __init__(
        self,
        database: Database,
        registry: Any,
        checker: Any,
        alerts: Any,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.registry = registry
        self.checker = checker
        self.alerts = alerts
        self.clock = clock

    async def reports(self, rollout: Rollout) -> dict[str, dict[str, Any]]:
        """What each canary last reported applying."""
        t = config_applied
        query = select(t).where(
            t.c.tenant_id == rollout.tenant_id,
            t.c.service_name == rollout.service,
            t.c.instance_id.in_(rollout.canary),
        )
        async with self.database.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {
            row["instance_id"]: {
                "applied_revision": int(row["revision"]),
                "outcome": "applied" if row["ok"] else "failed",
                "error": row["error"],
                "reported_at": rfc3339(to_epoch(row["reported_at"])),
            }
            for row in rows
        }

    async def look(self, rollout: Rollout, *, final: bool = False) -> str | None:
        """Why the rollout must not go on (``None``: every canary looks well). ``final``: the
        bake is over, so a canary that reports but never applied the candidate counts too."""
        reports = await self.reports(rollout)
        seen: dict[str, dict[str, Any]] = {}
        reason: str | None = None
        for instance_id in rollout.canary:
            found, why = await self._one(rollout, instance_id, reports.get(instance_id), final=final)
            seen[instance_id] = found
            reason = reason or why
        rollout.last_checks = seen
        return reason or await self._alerted(rollout)

    async def _one(
        self, rollout: Rollout, instance_id: str, report: dict[str, Any] | None, *, final: bool
    ) -> tuple[dict[str, Any], str | None]:
        now = self.clock()
        found: dict[str, Any] = {"instance_id": instance_id, **(report or {}), "checked_at": rfc3339(now)}
        try:
            inst = self.registry.get_instance(rollout.tenant_id, rollout.service, instance_id)
        except NotFound:
            found["status"] = "gone"
            return found, f"canary {instance_id} is no longer registered"
        found["status"] = inst.status.value
        if (
            report is not None
            and report["applied_revision"] == rollout.revision
            and report["outcome"] == "failed"
        ):
            return found, (
                f"canary {instance_id} failed to apply revision {rollout.revision}: "
                f"{report['error'] or 'no reason given'}"
            )
        if inst.status in BAD_STATUSES:
            return found, f"canary {instance_id} turned {inst.status.value}"
        if uses_ttl(inst) and now - inst.last_seen > inst.ttl_seconds:
            return (
                found,
                f"canary {instance_id} stopped heartbeating ({now - inst.last_seen:.0f}s since the last)",
            )
        spec = effective_check(inst)
        if spec["type"] != "ttl" and self.checker is not None:
            result = await self.checker.run_check(inst, spec)
            found["probe"] = {"healthy": result.healthy, "error": result.error}
            if not result.healthy:
                return found, f"canary {instance_id} failed its health check: {result.error or 'unhealthy'}"
        if final and report is not None and report["applied_revision"] != rollout.revision:
            return found, (
                f"canary {instance_id} still runs revision {report['applied_revision']}, "
                f"not the candidate {rollout.revision}"
            )
        return found, None

    async def _alerted(self, rollout: Rollout) -> str | None:
        if self.alerts is None:
            return None
        canaries = set(rollout.canary)
        for alert in await self.alerts.search(
            tenant_id=rollout.tenant_id, target=rollout.service, since=rollout.created_at, limit=100
        ):
            if (
                alert.instance_id in canaries
                and alert.severity in BAD_SEVERITIES
                and alert.event != "recovery"
                and not alert.acknowledged
            ):
                return f"alert on canary {alert.instance_id}: {alert.message}"
        return None
