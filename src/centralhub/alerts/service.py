"""Alerts on status changes of service instances and infrastructure components.

The manager consumes typed domain events (:class:`InstanceStatusChanged` from the registry,
:class:`ComponentStatusChanged` from the infrastructure monitor) after the write that caused
them has committed, so a status change never waits for alerting. An alert is raised when a
target goes down (instance ``critical``, component ``unhealthy``) and when it recovers. Each
alert carries a severity from the rules in ``infrastructure.yaml`` and the targets affected
through the dependency graph. A flapping target cannot storm:

* **deduplication**: the same (target, instance, event) within ``dedup_window_seconds`` bumps
  the earlier alert's ``count`` instead of sending a new one;
* **rate limit**: at most ``rate_limit.max_alerts`` sends per target per
  ``rate_limit.window_seconds``; the rest are recorded with ``suppressed: true``;
* **silences** (:mod:`centralhub.alerts.silences`): matching alerts are recorded with
  ``silenced: true`` and not sent.

Tenants: a service alert carries its instance's tenant, an infrastructure alert none (global).
Reads, acknowledgements and silences follow :mod:`centralhub.auth.tenancy`: a caller reaches its
own tenant's alerts and silences, the global ones only without a tenant limit, and a silence
covers the alerts of its own tenant only (a global silence needs ``ops`` without a tenant limit).

The dedup, rate-limit and "currently down" maps are bounded caches (:data:`TRACKED_TARGETS`
entries each, least recently used evicted first), so a storm over many distinct targets costs
bounded memory; an evicted target merely starts a fresh window. Delivery runs in a supervised
background task with a per-channel timeout, so a stuck channel delays only its own alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache, TTLCache

from centralhub.alerts import repository
from centralhub.alerts.channels import AlertChannel, build_channels
from centralhub.alerts.models import SEVERITIES, Alert, AlertRule, Silence, default_severity, severity_rank
from centralhub.alerts.schemas import alert_document
from centralhub.alerts.settings import parse_alerts_config
from centralhub.alerts.silences import SilenceBook
from centralhub.auth.context import current_principal
from centralhub.auth.tenancy import in_reach
from centralhub.core.errors import InvalidInput, NotFound
from centralhub.health.models import HEALTHY, UNHEALTHY, ComponentStatusChanged
from centralhub.metrics import collectors as metrics
from centralhub.registry.models import SELECTABLE, InstanceStatus, InstanceStatusChanged, InstanceStatusSynced

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from centralhub.audit.service import AuditLog
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.core.tasks import Supervisor
    from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

#: upper bound of entries in each in-memory tracking map (dedup, rate limit, currently down)
TRACKED_TARGETS = 10_000
#: alerts kept in memory for :meth:`AlertManager.history` (the dashboard feed)
RECENT_ALERTS = 1000
DELIVERY_TASK = "alert-delivery"

DedupKey = tuple[str, str | None, str, str | None, str]
TargetKey = tuple[str | None, str, str | None]


class AlertManager:
    """Raises, deduplicates, rate-limits, silences, delivers and records alerts."""

    def __init__(
        self,
        engine: AsyncEngine,
        config: dict[str, Any] | None = None,
        *,
        events: DomainEvents,
        supervisor: Supervisor,
        dependents: Callable[[str, str | None], list[str]] | None = None,
        registry: InstanceRegistry | None = None,
        channels: list[AlertChannel] | None = None,
        clock: Callable[[], float] = time.time,
        max_tracked: int = TRACKED_TARGETS,
        audit: AuditLog | None = None,
    ) -> None:
        self.audit = audit
        settings = parse_alerts_config(config)
        self.engine = engine
        self.events = events
        self.supervisor = supervisor
        self.enabled = settings.enabled
        self.channels: list[AlertChannel] = (
            channels if channels is not None else build_channels(settings.raw())
        )
        self.rules: list[AlertRule] = [r.to_rule() for r in settings.rules]
        self.dedup_window = settings.dedup_window_seconds
        self.rate_max = settings.rate_limit.max_alerts
        self.rate_window = settings.rate_limit.window_seconds
        self.delivery_timeout = settings.delivery_timeout_seconds
        self.clock = clock
        self.registry = registry
        self._dependents = dependents or (lambda target, tenant: [])
        self._recent: deque[Alert] = deque(maxlen=RECENT_ALERTS)
        # an entry lives as long as its window: past it the next alert is a new one anyway
        self._open: TTLCache[DedupKey, Alert] = TTLCache(
            max_tracked, ttl=max(self.dedup_window, 1e-6), timer=clock
        )
        self._sent: TTLCache[tuple[str | None, str], deque[float]] = TTLCache(
            max_tracked, ttl=self.rate_window, timer=clock
        )
        self._down: LRUCache[TargetKey, bool] = LRUCache(max_tracked)
        self.silence_book = SilenceBook(engine, clock=clock, audit=audit)
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=10_000)
        self._lock = asyncio.Lock()
        events.subscribe(InstanceStatusChanged, self.on_instance_status)
        events.subscribe(ComponentStatusChanged, self.on_component_status)
        events.subscribe(InstanceStatusSynced, self.on_instance_status_synced)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.silence_book.refresh()
        self.supervisor.start(DELIVERY_TASK, self._deliver_loop)

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Handle the events and deliver the alerts queued so far (bounded), then close channels."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_seconds):
                await self.events.drain()
                await self._queue.join()
        await self.supervisor.stop(DELIVERY_TASK)
        for channel in self.channels:
            with contextlib.suppress(Exception):
                await channel.close()

    # ------------------------------------------------------------------ sources
    async def on_instance_status(self, event: InstanceStatusChanged) -> None:
        """An instance going critical, or passing again after that."""
        inst, old, new = event.instance, event.old, event.new
        key: TargetKey = (inst.tenant_id, inst.service_name, inst.id)
        if new == InstanceStatus.CRITICAL:
            self._down[key] = True
            left = self._healthy_left(inst.tenant_id, inst.service_name)
            await self.raise_alert(
                kind="service",
                target=inst.service_name,
                event="down",
                tenant_id=inst.tenant_id,
                instance_id=inst.id,
                critical=left == 0,
                message=f"instance {inst.url} is critical (was {old.value}); {left} healthy instance(s) left",
                details={
                    "url": inst.url,
                    "old_status": old.value,
                    "new_status": new.value,
                    "healthy_left": left,
                },
            )
        elif new == InstanceStatus.PASSING and self._down.pop(key, False):
            await self.raise_alert(
                kind="service",
                target=inst.service_name,
                event="recovery",
                tenant_id=inst.tenant_id,
                instance_id=inst.id,
                critical=False,
                message=f"instance {inst.url} is passing again",
                details={"url": inst.url, "old_status": old.value, "new_status": new.value},
            )

    async def on_instance_status_synced(self, event: InstanceStatusSynced) -> None:
        """A change another replica stored and alerted on: only remember what is down, so a
        recovery this replica stores later still raises its alert."""
        inst = event.instance
        key: TargetKey = (inst.tenant_id, inst.service_name, inst.id)
        if event.new == InstanceStatus.CRITICAL:
            self._down[key] = True
        elif event.new == InstanceStatus.PASSING:
            self._down.pop(key, None)

    async def on_component_status(self, event: ComponentStatusChanged) -> None:
        """An infrastructure component going unhealthy, or healthy again after that."""
        c = event.component
        key: TargetKey = (None, c.name, None)
        if event.new == UNHEALTHY:
            self._down[key] = True
            await self.raise_alert(
                kind="infrastructure",
                target=c.name,
                event="down",
                critical=c.critical,
                message=f"{c.type} {c.target()} is unhealthy: {event.error or 'check failed'}",
                details={"type": c.type, "error": event.error, "critical_component": c.critical},
            )
        elif event.new == HEALTHY and self._down.pop(key, False):
            await self.raise_alert(
                kind="infrastructure",
                target=c.name,
                event="recovery",
                critical=c.critical,
                message=f"{c.type} {c.target()} is healthy again",
                details={"type": c.type, "critical_component": c.critical},
            )

    def _healthy_left(self, tenant: str, service: str) -> int:
        if self.registry is None:
            return 0
        return sum(1 for i in self.registry.instances(tenant, service) if i.status in SELECTABLE)

    @property
    def tracked(self) -> dict[str, int]:
        """Sizes of the in-memory tracking maps (each at most ``max_tracked``)."""
        return {"open": len(self._open), "rate_limited": len(self._sent), "down": len(self._down)}

    # ------------------------------------------------------------------ raising
    def severity_for(self, kind: str, target: str, event: str, critical: bool) -> str:
        for rule in self.rules:
            if rule.matches(kind, target, event, critical):
                return rule.severity
        return default_severity(event, critical=critical)

    async def raise_alert(
        self,
        *,
        kind: str,
        target: str,
        event: str,
        message: str,
        tenant_id: str | None = None,
        instance_id: str | None = None,
        critical: bool = False,
        details: dict[str, Any] | None = None,
    ) -> Alert | None:
        """Record (and queue for delivery) one alert; returns it, or ``None`` when alerts are off."""
        if not self.enabled:
            return None
        # silences may have been set through another replica; alerts are rare, the query cheap
        await self.silence_book.refresh()
        async with self._lock:
            now = self.clock()
            dedup_key: DedupKey = (kind, tenant_id, target, instance_id, event)
            previous = self._open.get(dedup_key)
            if previous is not None and now - previous.last_seen_at <= self.dedup_window:
                previous.count += 1
                previous.last_seen_at = now
                self._open[dedup_key] = previous  # the window runs from the latest occurrence
                await self._store(previous, new=False)
                return previous
            alert = Alert(
                id=uuid.uuid4().hex,
                kind=kind,
                target=target,
                event=event,
                severity=self.severity_for(kind, target, event, critical),
                message=message,
                tenant_id=tenant_id,
                instance_id=instance_id,
                dependents=self._safe_dependents(target, tenant_id),
                details=details or {},
                created_at=now,
                last_seen_at=now,
            )
            alert.silenced = self.silence_book.covers(alert, now)
            if not alert.silenced:
                alert.suppressed = not self._within_rate_limit((tenant_id, target), now)
            self._open[dedup_key] = alert
            self._recent.appendleft(alert)
            await self._store(alert, new=True)
        if not (alert.silenced or alert.suppressed):
            try:
                self._queue.put_nowait(alert)
            except asyncio.QueueFull:
                log.error("alert queue full; not delivering %s", alert.summary())
        return alert

    def _within_rate_limit(self, key: tuple[str | None, str], now: float) -> bool:
        sent = self._sent.get(key) or deque()
        while sent and now - sent[0] > self.rate_window:
            sent.popleft()
        allowed = len(sent) < self.rate_max
        if allowed:
            sent.append(now)
        self._sent[key] = sent
        return allowed

    def _safe_dependents(self, target: str, tenant: str | None) -> list[str]:
        try:
            return self._dependents(target, tenant)
        except Exception:
            log.exception("dependents of %s unavailable", target)
            return []

    async def _store(self, alert: Alert, *, new: bool) -> None:
        try:
            async with self.engine.begin() as conn:
                if new:
                    await repository.create(conn, alert=alert)
                else:
                    await repository.update(conn, alert=alert)
        except Exception as exc:  # keep alerting even when the database is the thing that is down
            log.error("alert %s not stored: %s", alert.id, exc)

    # ------------------------------------------------------------------ delivery
    async def _deliver_loop(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self.deliver(alert)
            except Exception:
                log.exception("delivering alert %s failed", alert.id)
            finally:
                self._queue.task_done()

    async def deliver(self, alert: Alert) -> None:
        """Send ``alert`` to every channel at or above its ``min_severity``, concurrently, each
        within ``delivery_timeout_seconds``."""

        async def one(channel: AlertChannel) -> None:
            if severity_rank(alert.severity) < severity_rank(channel.min_severity):
                alert.deliveries[channel.name] = "skipped (severity)"
                return
            try:
                async with asyncio.timeout(self.delivery_timeout):
                    await channel.send(alert)
            except TimeoutError:
                log.warning("alert channel %s timed out", channel.name)
                alert.deliveries[channel.name] = f"failed: timed out after {self.delivery_timeout:g}s"
            except Exception as exc:
                log.warning("alert channel %s failed: %s", channel.name, exc)
                alert.deliveries[channel.name] = f"failed: {exc}"[:300]
            else:
                alert.deliveries[channel.name] = "sent"
                metrics.ALERTS_SENT.labels(
                    channel=channel.name, severity=alert.severity, tenant=alert.tenant_id or ""
                ).inc()

        await asyncio.gather(*(one(c) for c in self.channels))
        await self._store(alert, new=False)

    async def wait_delivered(self, timeout: float = 10.0) -> None:
        """Until every event emitted so far is handled and its alerts delivered (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            await self.events.drain()
            await self._queue.join()

    # ------------------------------------------------------------------ reads and actions
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

    async def acknowledge(
        self, alert_id: str, *, tenant_id: str | None = None, by: str | None = None
    ) -> Alert:
        """Mark an alert seen; another tenant's alert (or a global one for a tenant-limited
        caller) is not found."""
        async with self.engine.begin() as conn:
            alert = await repository.get(conn, alert_id=alert_id)
            if alert is None or not in_reach(alert.tenant_id, tenant_id):
                raise NotFound(f"alert {alert_id!r} does not exist")
            if alert.acknowledged:
                return alert
            alert.acknowledged = True
            alert.acknowledged_at = self.clock()
            alert.acknowledged_by = by
            await repository.update(conn, alert=alert)
            if self.audit is not None:
                await self.audit.record(
                    "alert.ack", f"alerts/{alert_id}", tenant=alert.tenant_id, details={"by": by}, conn=conn
                )
        for cached in (*self._recent, *self._open.values()):
            if cached.id == alert_id:
                cached.acknowledged, cached.acknowledged_at = True, alert.acknowledged_at
                cached.acknowledged_by = by
        return alert

    async def silence(
        self, target: str, duration_seconds: float, *, tenant_id: str | None = None, reason: str | None = None
    ) -> Silence:
        """Record but do not send alerts of ``tenant_id`` whose target matches ``target`` (a glob)
        for a while. ``tenant_id`` ``None`` silences global (infrastructure) alerts, which needs
        ``ops`` without a tenant limit (403 otherwise)."""
        return await self.silence_book.create(target, duration_seconds, tenant_id=tenant_id, reason=reason)

    def silences(self, tenant_id: str | None = None) -> list[Silence]:
        """Active silences known to this replica that the caller reaches (of ``tenant_id``, and
        the global ones without a tenant limit), soonest ending first."""
        return self.silence_book.listing(tenant_id)

    async def remove_silence(self, silence_id: str, *, tenant_id: str | None = None) -> None:
        """End a silence early; another tenant's silence (or a global one for a tenant-limited
        caller) is not found."""
        await self.silence_book.remove(silence_id, tenant_id=tenant_id)
