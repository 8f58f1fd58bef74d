"""Alerts on status changes of service instances and infrastructure components.

An alert is raised when a target goes down (instance ``critical``, component ``unhealthy``)
and when it recovers (back to ``passing`` / ``healthy`` after having been down). Each alert
carries a severity from the rules in ``infrastructure.yaml`` and the targets affected through
the dependency graph. A flapping target cannot storm:

* **deduplication** — the same (target, instance, event) within ``dedup_window_seconds`` bumps
  the earlier alert's ``count`` instead of sending a new one;
* **rate limit** — at most ``rate_limit.max_alerts`` sends per target per
  ``rate_limit.window_seconds``; the rest are recorded with ``suppressed: true``;
* **silences** — ``silence(target_glob, duration)``: matching alerts are recorded with
  ``silenced: true`` and not sent.

Delivery runs on a background queue so a slow webhook never holds up the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from centralhub.alerts.channels import SEVERITIES, AlertChannel, build_channels, severity_rank
from centralhub.core.errors import InvalidInput, NotFound
from centralhub.metrics import collectors as metrics
from centralhub.registry.models import SELECTABLE, Instance, InstanceStatus

if TYPE_CHECKING:
    from centralhub.alerts.repository import AlertRepository
    from centralhub.health.infrastructure import ComponentHealth
    from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

EVENTS = ("down", "recovery")


@dataclass(slots=True)
class Alert:
    """One alert as stored; times are epoch seconds."""

    id: str
    kind: str  # "service" | "infrastructure"
    target: str  # service or component name
    event: str  # "down" | "recovery"
    severity: str  # "info" | "warning" | "critical"
    message: str
    tenant_id: str | None = None
    instance_id: str | None = None
    dependents: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    last_seen_at: float = 0.0
    count: int = 1
    acknowledged: bool = False
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    silenced: bool = False
    suppressed: bool = False
    #: channel name -> "sent" | "failed: ..." | "skipped (severity)"
    deliveries: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        who = self.target + (f"/{self.instance_id[:12]}" if self.instance_id else "")
        affected = f" (affects {', '.join(self.dependents)})" if self.dependents else ""
        return f"{self.kind} {who} {self.event}: {self.message}{affected}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Silence:
    id: str
    target: str
    until: float
    created_at: float
    tenant_id: str | None = None
    reason: str | None = None

    def matches(self, alert: Alert) -> bool:
        if self.tenant_id is not None and alert.tenant_id not in (None, self.tenant_id):
            return False
        return fnmatch.fnmatchcase(alert.target, self.target)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_severity(kind: str, event: str, *, critical: bool) -> str:
    """Without a matching rule: recoveries are ``info``; a critical component or a service with
    no healthy instance left is ``critical``; anything else going down is ``warning``."""
    if event == "recovery":
        return "info"
    return "critical" if critical else "warning"


@dataclass(slots=True)
class AlertRule:
    """``{target: glob, kind, event, critical: bool, severity}``; the first matching rule wins."""

    severity: str
    target: str = "*"
    kind: str | None = None
    event: str | None = None
    critical: bool | None = None

    def matches(self, kind: str, target: str, event: str, critical: bool) -> bool:
        return (
            fnmatch.fnmatchcase(target, self.target)
            and (self.kind is None or self.kind == kind)
            and (self.event is None or self.event == event)
            and (self.critical is None or self.critical == critical)
        )


def parse_rules(raw: Any) -> list[AlertRule]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput("alerts.rules: must be a list of {target, kind, event, critical, severity}")
    rules = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or r.get("severity") not in SEVERITIES:
            raise InvalidInput(f"alerts.rules[{i}].severity: must be one of {', '.join(SEVERITIES)}")
        if r.get("event") is not None and r["event"] not in EVENTS:
            raise InvalidInput(f"alerts.rules[{i}].event: must be one of {', '.join(EVENTS)}")
        if r.get("kind") is not None and r["kind"] not in ("service", "infrastructure"):
            raise InvalidInput(f"alerts.rules[{i}].kind: must be service or infrastructure")
        rules.append(
            AlertRule(
                severity=r["severity"],
                target=str(r.get("target", "*")),
                kind=r.get("kind"),
                event=r.get("event"),
                critical=r.get("critical"),
            )
        )
    return rules


class AlertManager:
    """Raises, deduplicates, rate-limits, silences, delivers and records alerts."""

    def __init__(
        self,
        repo: AlertRepository,
        config: dict[str, Any] | None = None,
        *,
        dependents: Callable[[str, str | None], list[str]] | None = None,
        registry: InstanceRegistry | None = None,
        channels: list[AlertChannel] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        config = dict(config or {})
        self.repo = repo
        self.enabled = bool(config.get("enabled", True))
        self.channels: list[AlertChannel] = channels if channels is not None else build_channels(config)
        self.rules = parse_rules(config.get("rules"))
        self.dedup_window = float(config.get("dedup_window_seconds", 300))
        limit = config.get("rate_limit") or {}
        self.rate_max = int(limit.get("max_alerts", 10))
        self.rate_window = float(limit.get("window_seconds", 600))
        self.clock = clock
        self.registry = registry
        self._dependents = dependents or (lambda target, tenant: [])
        self._recent: deque[Alert] = deque(maxlen=1000)
        self._open: dict[tuple[Any, ...], Alert] = {}
        self._sent: dict[tuple[str | None, str], deque[float]] = {}
        self._down: set[tuple[str | None, str, str | None]] = set()
        self._silences: dict[str, Silence] = {}
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=10_000)
        self._worker: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        if registry is not None:
            registry.add_status_listener(self.on_instance_status)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        for silence in await self.repo.active_silences(self.clock()):
            self._silences[silence.id] = silence
        self._worker = asyncio.create_task(self._deliver_loop(), name="alert-delivery")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Deliver what is queued (bounded by ``drain_seconds``), then close the channels."""
        if self._worker is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_seconds):
                    await self._queue.join()
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for channel in self.channels:
            with contextlib.suppress(Exception):
                await channel.close()

    # ------------------------------------------------------------------ sources
    async def on_instance_status(self, inst: Instance, old: InstanceStatus, new: InstanceStatus) -> None:
        """Registry status listener: an instance going critical, or passing again after that."""
        key = (inst.tenant_id, inst.service_name, inst.id)
        if new == InstanceStatus.CRITICAL:
            self._down.add(key)
            left = self._healthy_left(inst)
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
        elif new == InstanceStatus.PASSING and key in self._down:
            self._down.discard(key)
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

    async def on_component_status(self, health: ComponentHealth, old: str) -> None:
        """Infrastructure monitor listener."""
        c = health.config
        key = (None, c.name, None)
        if health.status == "unhealthy":
            self._down.add(key)
            await self.raise_alert(
                kind="infrastructure",
                target=c.name,
                event="down",
                critical=c.critical,
                message=f"{c.type} {c.target()} is unhealthy: {health.error or 'check failed'}",
                details={"type": c.type, "error": health.error, "critical_component": c.critical},
            )
        elif health.status == "healthy" and key in self._down:
            self._down.discard(key)
            await self.raise_alert(
                kind="infrastructure",
                target=c.name,
                event="recovery",
                critical=c.critical,
                message=f"{c.type} {c.target()} is healthy again",
                details={"type": c.type, "critical_component": c.critical},
            )

    def _healthy_left(self, inst: Instance) -> int:
        if self.registry is None:
            return 0
        return sum(
            1 for i in self.registry.instances(inst.tenant_id, inst.service_name) if i.status in SELECTABLE
        )

    # ------------------------------------------------------------------ raising
    def severity_for(self, kind: str, target: str, event: str, critical: bool) -> str:
        for rule in self.rules:
            if rule.matches(kind, target, event, critical):
                return rule.severity
        return default_severity(kind, event, critical=critical)

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
        await self._refresh_silences()
        async with self._lock:
            now = self.clock()
            dedup_key = (kind, tenant_id, target, instance_id, event)
            previous = self._open.get(dedup_key)
            if previous is not None and now - previous.last_seen_at <= self.dedup_window:
                previous.count += 1
                previous.last_seen_at = now
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
            alert.silenced = any(s.matches(alert) and s.until > now for s in self._silences.values())
            if not alert.silenced:
                sent = self._sent.setdefault((tenant_id, target), deque())
                while sent and now - sent[0] > self.rate_window:
                    sent.popleft()
                if len(sent) >= self.rate_max:
                    alert.suppressed = True
                else:
                    sent.append(now)
            self._open[dedup_key] = alert
            self._recent.appendleft(alert)
            await self._store(alert, new=True)
        if not (alert.silenced or alert.suppressed):
            try:
                self._queue.put_nowait(alert)
            except asyncio.QueueFull:
                log.error("alert queue full; not delivering %s", alert.summary())
        return alert

    async def _refresh_silences(self) -> None:
        # silences may have been set through another replica; alerts are rare, the query is cheap
        try:
            active = await self.repo.active_silences(self.clock())
        except Exception as exc:
            log.warning("silences not refreshed: %s", exc)
            return
        self._silences = {s.id: s for s in active}

    def _safe_dependents(self, target: str, tenant: str | None) -> list[str]:
        try:
            return self._dependents(target, tenant)
        except Exception:
            log.exception("dependents of %s unavailable", target)
            return []

    async def _store(self, alert: Alert, *, new: bool) -> None:
        try:
            if new:
                await self.repo.create(alert)
            else:
                await self.repo.update(alert)
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
        """Send ``alert`` to every channel at or above its ``min_severity``, concurrently."""

        async def one(channel: AlertChannel) -> None:
            if severity_rank(alert.severity) < severity_rank(channel.min_severity):
                alert.deliveries[channel.name] = "skipped (severity)"
                return
            try:
                await channel.send(alert)
                alert.deliveries[channel.name] = "sent"
                metrics.ALERTS_SENT.labels(channel=channel.name, severity=alert.severity).inc()
            except Exception as exc:
                log.warning("alert channel %s failed: %s", channel.name, exc)
                alert.deliveries[channel.name] = f"failed: {exc}"[:300]

        await asyncio.gather(*(one(c) for c in self.channels))
        await self._store(alert, new=False)

    async def wait_delivered(self, timeout: float = 10.0) -> None:
        """Until everything queued so far is delivered (tests, shutdown)."""
        await asyncio.wait_for(self._queue.join(), timeout)

    # ------------------------------------------------------------------ reads and actions
    def history(
        self,
        limit: int = 100,
        *,
        severity: str | None = None,
        target: str | None = None,
        acknowledged: bool | None = None,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        """This replica's recent alerts (up to 1,000 kept in memory), newest first. Synchronous, for
        dashboards; the API reads the stored history with :meth:`search`."""
        out = []
        for a in self._recent:
            if severity is not None and a.severity != severity:
                continue
            if target is not None and a.target != target:
                continue
            if acknowledged is not None and a.acknowledged != acknowledged:
                continue
            if since is not None and a.created_at < since:
                continue
            out.append(a.to_dict())
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
    ) -> list[dict[str, Any]]:
        """The stored history, newest first (every replica's alerts, across restarts)."""
        if severity is not None and severity not in SEVERITIES:
            raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)} (got {severity!r})")
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000 (got {limit})")
        rows = await self.repo.search(
            tenant_id=tenant_id,
            severity=severity,
            target=target,
            acknowledged=acknowledged,
            since=since,
            limit=limit,
        )
        return [a.to_dict() for a in rows]

    async def acknowledge(self, alert_id: str, *, by: str | None = None) -> dict[str, Any]:
        alert = await self.repo.get(alert_id)
        if alert is None:
            raise NotFound(f"alert {alert_id!r} does not exist")
        if not alert.acknowledged:
            alert.acknowledged = True
            alert.acknowledged_at = self.clock()
            alert.acknowledged_by = by
            await self.repo.update(alert)
            for cached in (*self._recent, *self._open.values()):
                if cached.id == alert_id:
                    cached.acknowledged, cached.acknowledged_at = True, alert.acknowledged_at
                    cached.acknowledged_by = by
        return alert.to_dict()

    async def silence(
        self, target: str, duration_seconds: float, *, tenant_id: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Record but do not send alerts whose target matches ``target`` (a glob) for a while."""
        if not target:
            raise InvalidInput("target: must not be empty")
        if not 0 < duration_seconds <= 30 * 86400:
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
        await self.repo.add_silence(silence)
        self._silences[silence.id] = silence
        return silence.to_dict()

    def silences(self) -> list[dict[str, Any]]:
        now = self.clock()
        for sid in [sid for sid, s in self._silences.items() if s.until <= now]:
            del self._silences[sid]
        return [s.to_dict() for s in sorted(self._silences.values(), key=lambda s: s.until)]

    async def remove_silence(self, silence_id: str) -> None:
        removed = await self.repo.delete_silence(silence_id)
        if self._silences.pop(silence_id, None) is None and not removed:
            raise NotFound(f"silence {silence_id!r} does not exist")
