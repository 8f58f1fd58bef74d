"""Response shapes of the metrics routes, so ``/openapi.json`` documents each body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RouteFigures(BaseModel):
    count: int = Field(description="requests answered on this route")
    by_status: dict[str, int] = Field(description="requests by HTTP status")
    mean_ms: float | None = Field(None, description="mean handling time in milliseconds")


class HttpFigures(BaseModel):
    requests_total: int
    routes: dict[str, RouteFigures] = Field(description='by "METHOD /route/template"')


class BusFigures(BaseModel):
    name: str = Field(description="memory or nats")
    connected: bool
    publish_failures: int


class MetricsSummary(BaseModel):
    """``GET /api/v1/metrics``: the Prometheus figures as one JSON document."""

    # figures added by a capability later still reach the caller
    model_config = ConfigDict(extra="allow")

    services: int
    instances: int
    instances_by_status: dict[str, int]
    bus: BusFigures
    http: HttpFigures
    config_changes: int
    alerts_sent: int
    health_checks: int
    deployments: dict[str, int] | None = Field(None, description="deployments by state, when enabled")


class TargetGroup(BaseModel):
    """One Prometheus ``http_sd_configs`` target group."""

    targets: list[str] = Field(description="host:port of each instance")
    labels: dict[str, str]
