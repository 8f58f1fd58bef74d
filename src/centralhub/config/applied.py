"""Who runs which configuration: what each instance reports applying, and drift.

The SDK reports, after each new revision, the revision it applied and whether applying it
succeeded (a callback that raised is a failure, with its error text). An instance is **drifted**
when it still runs an older revision, or failed to apply the current one, ``drift_seconds`` after
that became true: a write that reached every instance but one, or a value one instance cannot
take, is then visible per instance, in ``/metrics`` and as an alert. Reports are stored in the
hub's database, so every replica answers the same; a loop on each replica refreshes the figures
and raises the alerts (the alert dedup shares them between replicas).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.database import Database
from centralhub.core.errors import NotFound
from centralhub.core.tables import config_applied as table
from centralhub.core.time import rfc3339, to_datetime, to_epoch

__all__ = ["Applied", "ConfigDrift"]

log = logging.getLogger(__name__)
DRIFT_TASK = "config-drift"
MAX_ERROR = 1000


@dataclass(frozen=True, slots=True)
class Applied:
    instance_id: str
    revision: int
    ok: bool
    error: str | None
    reported_at: float


async def _store(conn: AsyncConnection, tenant: str, service: str, report: Applied) -> None:
    where = (
        table.c.tenant_id == tenant,
        table.c.service_name == service,
        table.c.instance_id == report.instance_id,
    )
    await conn.execute(delete(table).where(*where))
    await conn.execute(
        insert(table).values(
            tenant_id=tenant,
            service_name=service,
            instance_id=report.instance_id,
            revision=report.revision,
            ok=report.ok,
            error=report.error,
            reported_at=to_datetime(report.reported_at),
        )
    )


async def _reports(conn: AsyncConnection, tenant: str | None = None) -> dict[tuple[str, str], list[Applied]]:
    query = select(table)
    if tenant is not None:
        query = query.where(table.c.tenant_id == tenant)
    found: dict[tuple[str, str], list[Applied]] = {}
    for row in (await conn.execute(query)).mappings():
        found.setdefault((row["tenant_id"], row["service_name"]), []).append(
            Applied(
                row["instance_id"],
                int(row["revision"]),
                bool(row["ok"]),
                row["error"],
                to_epoch(row["reported_at"]),
            )
        )
    return found


class ConfigDrift:
    """Reports in, the per-instance view and drift figures out."""

    def __init__(
        self,
        database: Database,
        registry: Any,
        config_service: Any,
        alerts: Any,
        supervisor: Any,
        *,
        drift_seconds: float,
        interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.registry = registry
        self.config_service = config_service
        self.alerts = alerts
        self.supervisor = supervisor
        self.drift_seconds = drift_seconds
        self.interval = interval
        self.clock = clock
        #: drifted instances per (tenant, service), as of the last pass
        self.drifted: dict[tuple[str, str], int] = {}
        #: drifts already alerted: (tenant, service, instance, revision, ok); a drift is alerted
        #: when it starts, not on every pass (each alert is a database write)
        self._alerted: set[tuple[str, str, str, int, bool]] = set()

    async def start(self) -> None:
        self.supervisor.start(DRIFT_TASK, self._run)

    async def stop(self) -> None:
        await self.supervisor.stop(DRIFT_TASK)

    # ---------------------------------------------------------------- reports
    async def report(
        self, tenant: str, service: str, instance_id: str, *, revision: int, ok: bool, error: str | None
    ) -> None:
        """Store what ``instance_id`` applied; ``NotFound`` for an instance not registered."""
        if self.registry.held(tenant, service, instance_id) is None:
            await self.registry.load_unheld(tenant, service, instance_id)  # raises NotFound
        applied = Applied(instance_id, revision, ok, (error or None) and error[:MAX_ERROR], self.clock())
        async with self.database.engine.begin() as conn:
            await _store(conn, tenant, service, applied)

    # ---------------------------------------------------------------- the view
    async def view(self, tenant: str, service: str) -> dict[str, Any]:
        """``GET /api/v1/config/{service}/instances``."""
        current = await self._current(tenant, service)
        async with self.database.engine.connect() as conn:
            reports = {r.instance_id: r for r in (await _reports(conn, tenant)).get((tenant, service), [])}
        instances = sorted(self.registry.instances(tenant, service), key=lambda i: (i.registered_at, i.id))
        if not instances and current is None:
            raise NotFound(f"service {service!r} has no instance and no configuration")
        now = self.clock()
        rows = [self._row(inst, reports.get(inst.id), current, now) for inst in instances]
        return {
            "service": service,
            "tenant_id": tenant,
            "current": None
            if current is None
            else {
                "version": current.version,
                "revision": current.revision,
                "updated_at": rfc3339(current.created_at),
            },
            "drift_seconds": self.drift_seconds,
            "drifted": sum(1 for r in rows if r["drifted"]),
            "instances": rows,
        }

    async def _current(self, tenant: str, service: str) -> Any:
        try:
            return await self.config_service.current_version(tenant, service, view=True)
        except NotFound:
            return None

    def _row(self, inst: Any, report: Applied | None, current: Any, now: float) -> dict[str, Any]:
        drifted, behind = self._drift(report, current, now)
        return {
            "instance_id": inst.id,
            "url": inst.url,
            "status": inst.status.value,
            "applied_revision": report.revision if report else None,
            "reported_at": rfc3339(report.reported_at) if report else None,
            "outcome": "unknown" if report is None else ("applied" if report.ok else "failed"),
            "error": report.error if report else None,
            "behind": behind,
            "drifted": drifted,
        }

    def _drift(self, report: Applied | None, current: Any, now: float) -> tuple[bool, bool]:
        """(drifted, behind): behind = not running the current revision well; drifted = behind
        for longer than ``drift_seconds``. An instance that never reported is neither: it may
        not use the SDK at all."""
        if report is None or current is None:
            return False, False
        if report.revision < current.revision:
            return now - current.created_at > self.drift_seconds, True
        if not report.ok:
            return now - report.reported_at > self.drift_seconds, True
        return False, False

    # ---------------------------------------------------------------- the loop
    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next pass tries again; the figures keep their last value
                log.warning("configuration drift check failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def check(self) -> dict[tuple[str, str], int]:
        """One pass: count drifted instances per service and raise an alert for each."""
        async with self.database.engine.connect() as conn:
            reports = await _reports(conn)
        now = self.clock()
        counts: dict[tuple[str, str], int] = {}
        still: set[tuple[str, str, str, int, bool]] = set()
        for (tenant, service), rows in reports.items():
            registered = {i.id: i for i in self.registry.instances(tenant, service)}
            current = await self._current(tenant, service)
            drifted = 0
            for report in rows:
                inst = registered.get(report.instance_id)
                if inst is None:
                    continue  # deregistered: its report no longer counts
                if self._drift(report, current, now)[0]:
                    drifted += 1
                    key = (tenant, service, report.instance_id, report.revision, report.ok)
                    still.add(key)
                    if key not in self._alerted:
                        await self._alert(tenant, service, report, current)
            counts[(tenant, service)] = drifted
        self.drifted = counts
        self._alerted = still
        return counts

    async def _alert(self, tenant: str, service: str, report: Applied, current: Any) -> None:
        if self.alerts is None:
            return
        why = (
            f"runs revision {report.revision}, the current one is {current.revision}"
            if report.revision < current.revision
            else f"failed to apply revision {report.revision}: {report.error or 'no reason given'}"
        )
        await self.alerts.raise_alert(
            kind="config",
            target=service,
            event="drift",
            message=f"instance {report.instance_id} of {service} {why}",
            tenant_id=tenant,
            instance_id=report.instance_id,
            details={
                "applied_revision": report.revision,
                "current_revision": current.revision,
                "ok": report.ok,
            },
        )
