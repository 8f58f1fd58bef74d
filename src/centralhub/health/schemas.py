"""Wire shapes of service health, infrastructure status and circuits (times RFC 3339)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CheckResultRead(BaseModel):
    healthy: bool
    response_time_ms: float
    error: str | None = None
    metadata: dict[str, Any]
    checked_at: str


class InstanceHealthRead(BaseModel):
    instance_id: str
    url: str
    health_endpoint: str | None = None
    status: str = Field(description="passing | warning | critical | draining")
    check: dict[str, Any] = Field(description="the check the hub runs (type http, tcp or ttl)")
    ttl_expiry: bool = Field(description="whether missed heartbeats also make it critical")
    last_seen: str
    checked_by: str | None = Field(
        None,
        description="the hub replica that runs the active check (counters and last result are its own)",
    )
    consecutive_failures: int
    consecutive_successes: int
    checks: int
    flapping: bool
    last_result: CheckResultRead | None = None


class ServiceHealthRead(BaseModel):
    service: str
    tenant_id: str
    status: str
    instances: list[InstanceHealthRead]


class ServiceSummaryRead(BaseModel):
    status: str
    latency: float | None = Field(None, description="mean of the instances' last probes, ms")
    last_check: str | None = Field(None, description="the newest probe or heartbeat")
    instances: int
    healthy_instances: int


class ComponentRead(BaseModel):
    name: str
    type: str
    status: str = Field(description="healthy | unhealthy | unknown")
    response_time_ms: float | None = None
    error: str | None = None
    last_check: str | None = None
    critical: bool
    dependents: list[str]
    dependencies: list[str]
    description: str
    method: str
    target: str
    interval_seconds: float
    consecutive_failures: int
    status_since: str


class InfrastructureStatusRead(BaseModel):
    status: str = Field(description="healthy | degraded | unhealthy")
    total: int
    healthy: int
    unhealthy: int
    unknown: int
    components: dict[str, ComponentRead]


class CircuitRead(BaseModel):
    service: str
    tenant_id: str
    state: str = Field(description="CLOSED | OPEN | HALF_OPEN")
    reason: str | None = None
    consecutive_failures: int
    failure_threshold: int
    half_open_successes: int
    success_threshold: int
    recovery_timeout_seconds: float
    retry_after_seconds: float | None = None
    opened_at: str | None = None
    last_failure_at: str | None = None
    last_error: str | None = None
    successes_reported: int
    failures_reported: int
    changed_at: str


class CircuitList(BaseModel):
    circuits: list[CircuitRead]


class CircuitReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: bool
    error: str | None = Field(None, max_length=2000)
