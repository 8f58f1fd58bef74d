"""Health records as plain dataclasses: probe results, check state, infrastructure components.

A leaf module: wire formatting (RFC 3339 times) happens in the services and ``api``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

HEALTHY, UNHEALTHY, UNKNOWN = "healthy", "unhealthy", "unknown"

#: an instance that changed status this many times ...
FLAP_TRANSITIONS = 4
#: ... within this many check intervals is flapping (held at ``warning``)
FLAP_WINDOW_CHECKS = 10


@dataclass(slots=True)
class HealthCheckResult:
    """One probe's outcome; ``checked_at`` in epoch seconds."""

    healthy: bool
    response_time_ms: float
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    checked_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class CheckState:
    """What the checker remembers about one instance between probes."""

    instance_id: str
    spec: dict[str, Any]
    key: tuple[str, str] = ("", "")
    due: float = 0.0
    failures: int = 0
    successes: int = 0
    checks: int = 0
    last: HealthCheckResult | None = None
    #: whether this replica runs the check (each check runs on one live replica)
    owned: bool = True
    transitions: deque[float] = field(default_factory=lambda: deque(maxlen=FLAP_TRANSITIONS))

    def flapping(self, now: float) -> bool:
        """``FLAP_TRANSITIONS`` status changes within ``FLAP_WINDOW_CHECKS`` intervals of ``now``."""
        window = FLAP_WINDOW_CHECKS * float(self.spec["interval_seconds"])
        return len(self.transitions) == FLAP_TRANSITIONS and now - self.transitions[0] <= window


def redact_url(url: str) -> str:
    """``scheme://user:***@host``: a connection string safe to show."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{rest.split('@', 1)[1]}"
    return url


@dataclass(slots=True)
class ComponentConfig:
    """One monitored infrastructure component, validated."""

    name: str
    type: str
    host: str
    port: int
    method: str
    timeout: float = 5.0
    interval: float = 30.0
    critical: bool = False
    description: str = ""
    dependencies: list[str] = field(default_factory=list)
    endpoint: str | None = None
    url: str | None = None
    failures_before_unhealthy: int = 1
    section: str = "databases"

    def target(self) -> str:
        """What the probe connects to (URL or host:port), for display."""
        if self.method == "http":
            return f"http://{self.host}:{self.port}{self.endpoint or '/'}"
        if self.method in ("postgres", "redis_ping", "nats") and self.url:
            return redact_url(self.url)
        return f"{self.host}:{self.port}"


@dataclass(slots=True)
class ComponentHealth:
    """A component's current health; times in epoch seconds."""

    config: ComponentConfig
    status: str = UNKNOWN
    response_time_ms: float | None = None
    error: str | None = None
    last_check: float | None = None
    failures: int = 0
    since: float = field(default_factory=time.time)


@dataclass(slots=True)
class InfrastructureFile:
    """``infrastructure.yaml`` parsed: components, service dependencies and the ``alerts`` section."""

    components: dict[str, ComponentConfig] = field(default_factory=dict)
    service_dependencies: dict[str, list[str]] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ComponentStatusChanged:
    """Emitted by the infrastructure monitor after a component changed status."""

    component: ComponentConfig
    old: str
    new: str
    error: str | None = None
    at: float = 0.0
