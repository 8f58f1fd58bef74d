"""TTL expiry: the registry's reaper, looking only at instances whose deadline has come, and
the revival of an expired instance by its next heartbeat.

:class:`~centralhub.registry.service.InstanceRegistry` inherits it and owns the state
declared here; the queue of deadlines is kept current by its view upkeep (every instance put
into the view is scheduled, every one dropped is discarded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from centralhub.core import wire
from centralhub.core.database import Database, is_storage_failure
from centralhub.core.time import Clock
from centralhub.registry import repository
from centralhub.registry.expiry import ExpiryQueue
from centralhub.registry.models import Instance, InstanceStatus

log = logging.getLogger(__name__)


#: metadata key of an instance's own removal grace, in seconds
DEREGISTER_AFTER_KEY = "deregister_critical_after_seconds"


class TtlReaper:
    """Marks instances past their TTL critical and removes them after the grace."""

    database: Database
    clock: Clock
    grace: float
    reaper_interval: float
    storage_outage_at: float | None
    _by_id: dict[str, Instance]
    _expiry: ExpiryQueue
    set_status: Callable[[Instance, InstanceStatus], Awaitable[bool]]
    _drop: Callable[[str], Instance | None]
    _publish: Callable[[str, dict[str, Any]], Awaitable[None]]
    _publish_status: Callable[[Instance], Awaitable[None]]
    _changed: Callable[[str, str], None]
    _status_changed: Callable[..., None]
    _status_synced: Callable[[Instance, InstanceStatus], None]

    def note_storage_outage(self) -> None:
        """The database was found unreachable now: heartbeats sent meanwhile (to this replica
        or, unannounced, to another) may not have been stored or shared, so no TTL counts as
        expired before a full TTL has passed since. A hub-side outage never makes a healthy
        instance critical."""
        self.storage_outage_at = self.clock()

    async def _reaper(self) -> None:
        # any other failing pass ends the task: the supervisor logs it, reports it, restarts it
        paused = False
        while True:
            await asyncio.sleep(self.reaper_interval)
            try:
                await self.expire()
            except Exception as exc:
                if not is_storage_failure(exc):
                    raise
                self.note_storage_outage()
                if not paused:
                    log.warning("TTL expiry paused while the database is unreachable: %s", exc)
                paused = True
                continue
            if paused:
                log.info("TTL expiry resumed: the database answers again")
                paused = False

    async def expire(self) -> None:
        """Mark instances past their TTL critical; remove those critical past the grace.

        Only instances whose deadline has come are looked at (see :mod:`.expiry`)."""
        now = self.clock()
        due = self._expiry.pop_due(now)
        for k, instance_id in enumerate(due):
            try:
                await self._expire_one(instance_id, now)
            except BaseException:
                # the ones not looked at are due again on the next pass
                self._expiry.schedule_many((i, now) for i in due[k:])
                raise

    async def _expire_one(self, instance_id: str, now: float) -> None:
        inst = self._by_id.get(instance_id)
        if inst is None:
            return
        if not self._uses_ttl(inst):
            # an actively checked instance is removed only when it asked to be (its own grace)
            # and has been critical that long; a registration that changes its check to a TTL
            # schedules it again
            if self._has_own_grace(inst) and inst.status == InstanceStatus.CRITICAL:
                await self._remove_if_critical_too_long(inst, now)
            return
        deadline = max(inst.last_seen, self.storage_outage_at or 0.0) + inst.ttl_seconds
        if now <= deadline:
            self._expiry.schedule(inst.id, deadline)  # heartbeats came meanwhile
            return
        if inst.status != InstanceStatus.CRITICAL:
            await self.set_status(inst, InstanceStatus.CRITICAL)
        await self._remove_if_critical_too_long(inst, now)

    async def _remove_if_critical_too_long(self, inst: Instance, now: float) -> None:
        """Remove ``inst`` once it has been critical for its grace; else look again then."""
        since = inst.critical_since
        if since is not None and now - since > self._grace_of(inst):
            log.info("removing %s/%s: critical for %.0f s", inst.service_name, inst.id, now - since)
            async with self.database.engine.begin() as conn:
                removed = await repository.delete(conn, inst.id)
            self._drop(inst.id)
            if removed:  # otherwise another replica's reaper removed it and announces that
                await self._publish(
                    wire.registry_subject(inst.tenant_id, "removed"),
                    {"instance_id": inst.id, "service_name": inst.service_name},
                )
            return
        # critical: look again when its grace ends (every pass while the grace has no start)
        self._expiry.schedule(inst.id, now if since is None else since + self._grace_of(inst))

    def _has_own_grace(self, inst: Instance) -> bool:
        return isinstance(inst.metadata, dict) and DEREGISTER_AFTER_KEY in inst.metadata

    def _critical_now(self, inst: Instance) -> None:
        """After this replica stored a change to critical: an instance with its own grace is
        looked at again when that grace ends, whatever turned it critical."""
        if self._has_own_grace(inst) and inst.critical_since is not None:
            self._expiry.schedule(inst.id, inst.critical_since + self._grace_of(inst))

    def _grace_of(self, inst: Instance) -> float:
        """How long ``inst`` stays critical before removal: its own
        ``metadata.deregister_critical_after_seconds`` (what Consul clients call
        DeregisterCriticalServiceAfter), else the hub's setting."""
        own = inst.metadata.get(DEREGISTER_AFTER_KEY) if isinstance(inst.metadata, dict) else None
        if isinstance(own, int | float) and not isinstance(own, bool) and own >= 0:
            return float(own)
        return self.grace

    # ---------------------------------------------------------------- revival
    def _uses_ttl(self, inst: Instance) -> bool:
        return bool((inst.check or {}).get("type", "ttl") == "ttl")

    def _revivable(self, inst: Instance) -> bool:
        """A heartbeat heals a TTL expiry, never a failing health check or a drain."""
        return (
            inst.status == InstanceStatus.CRITICAL
            and inst.critical_since is not None
            and self._uses_ttl(inst)
        )

    def _revive(self, inst: Instance) -> bool:
        if not self._revivable(inst):
            return False
        inst.status = InstanceStatus.PASSING
        inst.critical_since = None
        self._changed(inst.tenant_id, inst.service_name)
        return True

    async def store_revival(self, inst: Instance) -> None:
        """Store that a heartbeat brought ``inst`` back from a TTL expiry, and announce it when
        this write made the change."""
        async with self.database.engine.begin() as conn:
            stored = await repository.set_status(conn, inst.id, InstanceStatus.PASSING)
        if self._revive(inst):
            if not stored:
                self._status_synced(inst, InstanceStatus.CRITICAL)
                return
            await self._publish_status(inst)
            self._status_changed(inst, InstanceStatus.CRITICAL)
