"""Registry records as plain dataclasses; validation happened at the edge already."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class InstanceStatus(enum.StrEnum):
    """Consul-style check states, plus ``draining`` for instances taken out by a deployment."""

    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"
    DRAINING = "draining"


#: words users type for a status filter, mapped to the stored status
STATUS_ALIASES: dict[str, InstanceStatus] = {
    "healthy": InstanceStatus.PASSING,
    "passing": InstanceStatus.PASSING,
    "up": InstanceStatus.PASSING,
    "warning": InstanceStatus.WARNING,
    "degraded": InstanceStatus.WARNING,
    "critical": InstanceStatus.CRITICAL,
    "unhealthy": InstanceStatus.CRITICAL,
    "down": InstanceStatus.CRITICAL,
    "draining": InstanceStatus.DRAINING,
}

#: statuses an instance may be handed out by discovery in
SELECTABLE = frozenset({InstanceStatus.PASSING, InstanceStatus.WARNING})


@dataclass(slots=True)
class Registration:
    """What a service asks to be registered as."""

    name: str
    host: str
    port: int
    protocol: str = "http"
    health_endpoint: str | None = None
    version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    weight: int = 1
    ttl_seconds: int = 30
    transport_preferences: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    check: dict[str, Any] | None = None


@dataclass(slots=True)
class Instance:
    """One registered instance as the registry holds it. Times are epoch seconds."""

    id: str
    tenant_id: str
    service_name: str
    host: str
    port: int
    protocol: str
    health_endpoint: str | None
    version: str | None
    metadata: dict[str, Any]
    tags: list[str]
    status: InstanceStatus
    registered_at: float
    last_seen: float
    transport_preferences: list[str]
    contract_validated: bool
    weight: int
    ttl_seconds: int
    dependencies: list[str]
    check: dict[str, Any] | None = None
    load: float = 0.0
    #: when status turned critical through TTL expiry (for the removal grace), not stored
    critical_since: float | None = None

    @property
    def url(self) -> str:
        scheme = self.protocol if self.protocol in ("http", "https") else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        """The shape hub replicas exchange on the bus (times in epoch seconds); API answers are
        built by ``registry.views.instance_answer`` instead."""
        return {
            "instance_id": self.id,
            "service_name": self.service_name,
            "tenant_id": self.tenant_id,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "url": self.url,
            "health_endpoint": self.health_endpoint,
            "version": self.version,
            "metadata": self.metadata,
            "tags": self.tags,
            "status": self.status.value,
            "weight": self.weight,
            "load": self.load,
            "ttl_seconds": self.ttl_seconds,
            "registered_at": self.registered_at,
            "last_seen": self.last_seen,
            "transport_preferences": self.transport_preferences,
            "contract_validated": self.contract_validated,
            "dependencies": self.dependencies,
            "check": self.check,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Instance:
        return cls(
            id=d["instance_id"],
            tenant_id=d["tenant_id"],
            service_name=d["service_name"],
            host=d["host"],
            port=int(d["port"]),
            protocol=d["protocol"],
            health_endpoint=d.get("health_endpoint"),
            version=d.get("version"),
            metadata=d.get("metadata") or {},
            tags=list(d.get("tags") or []),
            status=InstanceStatus(d["status"]),
            registered_at=float(d["registered_at"]),
            last_seen=float(d["last_seen"]),
            transport_preferences=list(d.get("transport_preferences") or []),
            contract_validated=bool(d.get("contract_validated", False)),
            weight=int(d.get("weight", 1)),
            ttl_seconds=int(d.get("ttl_seconds", 30)),
            dependencies=list(d.get("dependencies") or []),
            check=d.get("check"),
            load=float(d.get("load", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class InstanceStatusChanged:
    """Emitted after an instance's status change is stored (or learned from a peer replica)."""

    instance: Instance
    old: InstanceStatus
    new: InstanceStatus
    #: ``False`` when learned from a peer replica: that replica already raised its alerts and
    #: moved its circuit, so followers only update their view
    local: bool = True


@dataclass(frozen=True, slots=True)
class InstanceStatusSynced:
    """Emitted when this replica's view takes a status change another replica stored (and
    announced as :class:`InstanceStatusChanged` there). Per-replica state such as circuits
    follows it; alerts are raised once, by the replica whose write made the change."""

    instance: Instance
    old: InstanceStatus
    new: InstanceStatus
