"""Alert records as plain dataclasses; times are epoch seconds, wire formatting lives in ``schemas``."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "critical")
EVENTS = ("down", "recovery")
KINDS = ("service", "infrastructure")


def severity_rank(severity: str) -> int:
    """Position in :data:`SEVERITIES`; unknown words rank lowest so they never skip a channel."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def default_severity(event: str, *, critical: bool) -> str:
    """Without a matching rule: recoveries are ``info``; a critical component or a service with
    no healthy instance left is ``critical``; anything else going down is ``warning``."""
    if event == "recovery":
        return "info"
    return "critical" if critical else "warning"


@dataclass(slots=True)
class Alert:
    """One alert as stored."""

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


@dataclass(slots=True)
class Silence:
    """Alerts whose target matches ``target`` (a glob) are recorded but not sent until ``until``.

    A silence covers the alerts of its own tenant only: a tenant's silence never covers another
    tenant's alerts nor the global infrastructure ones, and a global silence (``tenant_id``
    ``None``) covers only global alerts.
    """

    id: str
    target: str
    until: float
    created_at: float
    tenant_id: str | None = None
    reason: str | None = None

    def matches(self, alert: Alert) -> bool:
        if self.tenant_id != alert.tenant_id:
            return False
        return fnmatch.fnmatchcase(alert.target, self.target)


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
