"""The infrastructure monitor: probes each component of ``infrastructure.yaml`` on its interval.

Each component's loop is a supervised task (``infrastructure:<name>``), so a crash is reported
in ``GET /health`` and the loop restarts. A status change is published as a
:class:`ComponentStatusChanged` domain event; alerting consumes it off the probing path.
The file itself is parsed in :mod:`centralhub.health.infrastructure_file`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from centralhub.core.errors import NotFound
from centralhub.core.time import rfc3339
from centralhub.health.infrastructure_file import (
    InfrastructureFile,
    load_infrastructure_file,
    parse_infrastructure,
)
from centralhub.health.models import (
    HEALTHY,
    UNHEALTHY,
    UNKNOWN,
    ComponentConfig,
    ComponentHealth,
    ComponentStatusChanged,
    HealthCheckResult,
)
from centralhub.health.probes import (
    check_http,
    check_kafka_admin,
    check_nats,
    check_postgres,
    check_redis_ping,
    check_tcp,
)
from centralhub.metrics import collectors as metrics

if TYPE_CHECKING:
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.core.tasks import Supervisor

__all__ = [
    "ComponentConfig",
    "ComponentHealth",
    "InfrastructureFile",
    "InfrastructureMonitor",
    "component_document",
    "load_infrastructure_file",
    "parse_infrastructure",
]

log = logging.getLogger(__name__)


def component_document(h: ComponentHealth, dependents: list[str]) -> dict[str, Any]:
    """One component as the API shows it (times RFC 3339)."""
    c = h.config
    return {
        "name": c.name,
        "type": c.type,
        "status": h.status,
        "response_time_ms": None if h.response_time_ms is None else round(h.response_time_ms, 2),
        "error": h.error,
        "last_check": rfc3339(h.last_check),
        "critical": c.critical,
        "dependents": dependents,
        "dependencies": c.dependencies,
        "description": c.description,
        "method": c.method,
        "target": c.target(),
        "interval_seconds": c.interval,
        "consecutive_failures": h.failures,
        "status_since": rfc3339(h.since),
    }


class InfrastructureMonitor:
    """Probes each component on its own interval; ``status()`` is the aggregated view."""

    def __init__(
        self,
        components: dict[str, ComponentConfig] | None = None,
        *,
        events: DomainEvents,
        supervisor: Supervisor,
        dependents: Callable[[str], list[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.health = {name: ComponentHealth(cfg, since=clock()) for name, cfg in (components or {}).items()}
        self.events = events
        self.supervisor = supervisor
        self.clock = clock
        self._dependents = dependents or (lambda name: [])
        self._client: httpx.AsyncClient | None = None
        self._task_names: list[str] = []

    async def start(self) -> None:
        if not self.health:
            return
        self._client = httpx.AsyncClient(trust_env=False)
        for name, h in self.health.items():
            task = f"infrastructure:{name}"
            self.supervisor.start(task, partial(self._loop, h))
            self._task_names.append(task)

    async def stop(self) -> None:
        """Cancel the probe loops: a status change is only an event, so nothing is cut short."""
        for task in self._task_names:
            await self.supervisor.stop(task)
        self._task_names = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ reads
    def overall(self) -> str:
        """``unhealthy`` if a critical component is down, ``degraded`` if any other is not
        healthy (or not yet checked), else ``healthy``."""
        if any(h.status == UNHEALTHY and h.config.critical for h in self.health.values()):
            return "unhealthy"
        if any(h.status != HEALTHY for h in self.health.values()):
            return "degraded"
        return "healthy"

    def status(self) -> dict[str, Any]:
        """``GET /api/v1/infrastructure/status``."""
        components = {
            name: component_document(h, self._dependents(name)) for name, h in sorted(self.health.items())
        }
        return {
            "status": self.overall() if self.health else "healthy",
            "total": len(components),
            "healthy": sum(1 for h in self.health.values() if h.status == HEALTHY),
            "unhealthy": sum(1 for h in self.health.values() if h.status == UNHEALTHY),
            "unknown": sum(1 for h in self.health.values() if h.status == UNKNOWN),
            "components": components,
        }

    def component(self, name: str) -> dict[str, Any]:
        return component_document(self._health(name), self._dependents(name))

    def _health(self, name: str) -> ComponentHealth:
        h = self.health.get(name)
        if h is None:
            raise NotFound(f"infrastructure component {name!r} is not configured")
        return h

    async def health_summary(self) -> dict[str, str]:
        """For ``Hub.extra_health``: ``{"infrastructure": overall}``, nothing when unconfigured."""
        if not self.health:
            return {}
        return {"infrastructure": self.overall()}

    # ------------------------------------------------------------------ probing
    async def check_now(self, name: str) -> dict[str, Any]:
        """Probe one component immediately (also updates its status)."""
        h = self._health(name)
        self.record(h, await self.probe(h.config))
        return component_document(h, self._dependents(name))

    async def probe(self, c: ComponentConfig) -> HealthCheckResult:
        if c.method == "tcp":
            return await check_tcp(c.host, c.port, timeout=c.timeout)
        if c.method == "http":
            if self._client is None:
                async with httpx.AsyncClient(trust_env=False) as client:
                    return await check_http(client, c.target(), timeout=c.timeout)
            return await check_http(self._client, c.target(), timeout=c.timeout)
        assert c.url is not None
        if c.method == "postgres":
            return await check_postgres(c.url, timeout=c.timeout)
        if c.method == "redis_ping":
            return await check_redis_ping(c.url, timeout=c.timeout)
        if c.method == "nats":
            return await check_nats(c.url, timeout=c.timeout)
        return await check_kafka_admin(c.url, timeout=c.timeout)

    async def _loop(self, h: ComponentHealth) -> None:
        """Probe forever; an unexpected error ends the loop and the supervisor restarts it."""
        while True:
            self.record(h, await self.probe(h.config))
            await asyncio.sleep(h.config.interval)

    def record(self, h: ComponentHealth, result: HealthCheckResult) -> None:
        """Apply one probe result; a status change is emitted as :class:`ComponentStatusChanged`."""
        if result.response_time_ms is not None:
            metrics.CHECK_LATENCY.labels(check_type=h.config.method).observe(result.response_time_ms / 1000)
        h.response_time_ms = result.response_time_ms
        h.error = result.error
        h.last_check = result.checked_at
        old = h.status
        if result.healthy:
            h.failures = 0
            new = HEALTHY
        else:
            h.failures += 1
            new = UNHEALTHY if h.failures >= h.config.failures_before_unhealthy else old
        if new == old:
            return
        h.status = new
        h.since = self.clock()
        level = logging.WARNING if new == UNHEALTHY else logging.INFO
        log.log(level, "infrastructure %s: %s -> %s %s", h.config.name, old, new, result.error or "")
        self.events.emit(ComponentStatusChanged(h.config, old, new, error=result.error, at=h.since))
