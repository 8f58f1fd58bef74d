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

Replicas: alerts, silences and acknowledgements live in the database, and every read the API
and the dashboard make goes there, so each replica answers the same and a restart loses nothing.
The replica that stores a status change raises its alert; peers that learn the change through
the bus only update their view (``InstanceStatusSynced``). Two replicas raising the same
alert at once (each probing an infrastructure component, each reaper expiring one instance)
meet in the database (:mod:`centralhub.alerts.sharing`): one stores and sends it, the other
counts it. Stored changes are announced on ``alerts.<tenant>.changed`` so peers refresh their
silences and recent alerts. The rate limit counts the alerts every replica sent (stored ones).

The dedup, rate-limit and "currently down" maps are bounded caches (:data:`TRACKED_TARGETS`
entries each, least recently used evicted first), so a storm over many distinct targets costs
bounded memory; an evicted target merely starts a fresh window (the stored open alert still
dedups). Delivery runs in a supervised background task with a per-channel timeout, so a stuck
channel delays only its own alert.
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

from centralhub.alerts import repository, sharing
from centralhub.alerts.channels import AlertChannel, build_channels, send_to_channels
from centralhub.alerts.models import Alert, AlertRule, Silence, default_severity
from centralhub.alerts.reads import AlertReads
from centralhub.alerts.settings import parse_alerts_config
from centralhub.alerts.silences import SilenceBook
from centralhub.auth.tenancy import in_reach
from centralhub.core import wire
from centralhub.core.errors import NotFound
from centralhub.core.time import to_datetime, to_epoch
from centralhub.health.models import HEALTHY, UNHEALTHY, ComponentStatusChanged
from centralhub.registry.models import SELECTABLE, InstanceStatus, InstanceStatusChanged, InstanceStatusSynced

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from centralhub.audit.service import AuditLog
    from centralhub.core.events import EventBus
    from centralhub.core.events.base import Subscription
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.core.tasks import Supervisor
    from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

#: upper bound of entries in each in-memory tracking map (dedup, rate limit, currently down)
TRACKED_TARGETS = 10_000
#: alerts kept in memory for :meth:`AlertManager.history` (the dashboard feed)
RECENT_ALERTS = 1000
DELIVERY_TASK = "alert-delivery"

DedupKey = sharing.DedupKey
TargetKey = tuple[str | None, str, str | None]


class AlertManager(AlertReads):
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
        bus: EventBus | None = None,
    ) -> None:
        self.audit = audit
        #: where replicas announce stored changes; followers refresh their view, never deliver
        self.bus = bus
        self.replica_id = registry.replica_id if registry is not None else uuid.uuid4().hex[:12]
        self._sub: Subscription | None = None
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
        if self.bus is not None:
            self._sub = await self.bus.subscribe(wire.ALERTS_ALL_SUBJECTS, self._on_peer_change)
        self.supervisor.start(DELIVERY_TASK, self._deliver_loop)

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Handle the events and deliver the alerts queued so far (bounded), then close channels."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_seconds):
                await self.events.drain()
                await self._queue.join()
        await self.supervisor.stop(DELIVERY_TASK)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        for channel in self.channels:
            with contextlib.suppress(Exception):
                await channel.close()

    # ------------------------------------------------------------------ sources
    async def on_instance_status(self, event: InstanceStatusChanged) -> None:
        """An instance going critical, or passing again after that."""
        inst, old, new = event.instance, event.old, event.new
        key: TargetKey = (inst.tenant_id, inst.service_name, inst.id)
        if not event.local:
            # the replica that stored the change raises (and sends) the alert; here the view only
            if new == InstanceStatus.CRITICAL:
                self._down[key] = True
            elif new == InstanceStatus.PASSING:
                self._down.pop(key, None)
            return
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
        elif new == InstanceStatus.PASSING and await self._was_down(key, "service"):
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
        elif event.new == HEALTHY and await self._was_down(key, "infrastructure"):
            await self.raise_alert(
                kind="infrastructure",
                target=c.name,
                event="recovery",
                critical=c.critical,
                message=f"{c.type} {c.target()} is healthy again",
                details={"type": c.type, "critical_component": c.critical},
            )

    async def _was_down(self, key: TargetKey, kind: str) -> bool:
        """Whether the target's last alert said it went down: this replica's memory, else the
        stored history (the change may have been seen by another replica, or before a restart)."""
        if self._down.pop(key, False):
            return True
        tenant, target, instance = key
        try:
            async with self.engine.connect() as conn:
                last = await repository.latest_event(
                    conn, kind=kind, tenant_id=tenant, target=target, instance_id=instance
                )
        except Exception as exc:
            log.warning("alert history not readable: %s", exc)
            return False
        return last == "down"

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
                await sharing.bump(self.engine, previous, dedup_key, now=now)
                return previous
            stored_now = to_epoch(to_datetime(now))  # what every replica reads back
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
                created_at=stored_now,
                last_seen_at=stored_now,
            )
            alert.silenced = self.silence_book.covers(alert, now)
            if not alert.silenced:
                within = self._within_rate_limit((tenant_id, target), now)
                sent = await sharing.sent_since(self.engine, tenant_id, target, since=now - self.rate_window)
                alert.suppressed = not within or sent >= self.rate_max
            held = await sharing.store_or_join(
                self.engine, alert, dedup_key, now=now, window=self.dedup_window
            )
            if held is not None:  # another replica raised it first: it sends, this one records
                self._open[dedup_key] = held
                return held
            self._open[dedup_key] = alert
            self._recent.appendleft(alert)
        await self._announce(alert.tenant_id, {"kind": "raised", "alert_id": alert.id})
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

    async def _announce(self, tenant: str | None, payload: dict[str, Any]) -> None:
        """Tell peer replicas about a stored change (after the commit); a lost message costs
        only their in-memory view, every read that matters goes to the database."""
        if self.bus is None:
            return
        try:
            await self.bus.publish(wire.alerts_subject(tenant), {**payload, "origin": self.replica_id})
        except Exception as exc:
            log.warning("alert change not published: %s", exc)

    async def _on_peer_change(self, subject: str, payload: dict[str, Any]) -> None:
        """A peer stored a change: follow it (never deliver: the peer did)."""
        if payload.get("origin") == self.replica_id:
            return
        kind = payload.get("kind")
        if kind == "silence":
            await self.silence_book.refresh()
            return
        alert_id = str(payload.get("alert_id") or "")
        async with self.engine.connect() as conn:
            stored = await repository.get(conn, alert_id=alert_id)
        if stored is None:
            return
        if kind == "raised" and all(a.id != stored.id for a in self._recent):
            self._recent.appendleft(stored)
        for cached in (*self._recent, *self._open.values()):
            if cached.id == stored.id:
                cached.acknowledged, cached.acknowledged_at = stored.acknowledged, stored.acknowledged_at
                cached.acknowledged_by, cached.count = stored.acknowledged_by, stored.count

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

        await send_to_channels(self.channels, alert, timeout=self.delivery_timeout)
        try:
            async with self.engine.begin() as conn:
                await repository.set_deliveries(conn, alert=alert)
        except Exception as exc:
            log.error("deliveries of alert %s not stored: %s", alert.id, exc)

    async def wait_delivered(self, timeout: float = 10.0) -> None:
        """Until every event emitted so far is handled and its alerts delivered (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            await self.events.drain()
            await self._queue.join()

    # ------------------------------------------------------------------ actions
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
            alert.acknowledged_at = to_epoch(to_datetime(self.clock()))  # as stored, to the microsecond
            alert.acknowledged_by = by
            await repository.set_acknowledged(conn, alert=alert)
            if self.audit is not None:
                await self.audit.record(
                    "alert.ack", f"alerts/{alert_id}", tenant=alert.tenant_id, details={"by": by}, conn=conn
                )
        for cached in (*self._recent, *self._open.values()):
            if cached.id == alert_id:
                cached.acknowledged, cached.acknowledged_at = True, alert.acknowledged_at
                cached.acknowledged_by = by
        await self._announce(alert.tenant_id, {"kind": "acknowledged", "alert_id": alert_id})
        return alert

    async def silence(
        self, target: str, duration_seconds: float, *, tenant_id: str | None = None, reason: str | None = None
    ) -> Silence:
        """Record but do not send alerts of ``tenant_id`` whose target matches ``target`` (a glob)
        for a while. ``tenant_id`` ``None`` silences global (infrastructure) alerts, which needs
        ``ops`` without a tenant limit (403 otherwise)."""
        silence = await self.silence_book.create(target, duration_seconds, tenant_id=tenant_id, reason=reason)
        await self._announce(tenant_id, {"kind": "silence", "silence_id": silence.id})
        return silence

    def silences(self, tenant_id: str | None = None) -> list[Silence]:
        """Active silences known to this replica that the caller reaches (of ``tenant_id``, and
        the global ones without a tenant limit), soonest ending first."""
        return self.silence_book.listing(tenant_id)

    async def remove_silence(self, silence_id: str, *, tenant_id: str | None = None) -> None:
        """End a silence early; another tenant's silence (or a global one for a tenant-limited
        caller) is not found."""
        ended = await self.silence_book.remove(silence_id, tenant_id=tenant_id)
        await self._announce(ended.tenant_id, {"kind": "silence", "silence_id": silence_id})

    async def list_silences(self, tenant_id: str | None = None) -> list[Silence]:
        """Like :meth:`silences`, read from the database: the same answer on every replica right
        after a silence was set or ended through another one."""
        await self.silence_book.refresh()
        return self.silence_book.listing(tenant_id)
