"""Response shape of ``GET /api/v1/dashboard/data``, so ``/openapi.json`` documents it.

Parts owned by optional capabilities are typed loosely (``Any``): the dashboard passes their
documents through, as ``null`` when the capability is off or ``{"error": ...}`` when it fails.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DashboardInstance(BaseModel):
    instance_id: str
    url: str
    status: str
    version: str | None
    load: float | None
    last_seen: str = Field(description="last heartbeat (RFC 3339, UTC)")


class DashboardService(BaseModel):
    tenant_id: str
    name: str
    status: str
    instances: list[DashboardInstance]
    dependencies: list[str]


class GraphNode(BaseModel):
    name: str
    kind: str
    status: str


class GraphEdge(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str


class DashboardGraph(BaseModel):
    source: str = Field(description="dependency_graph, or registry when the graph is unavailable")
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    layers: list[list[str]] = Field(description="left to right: a node sits right of what it depends on")
    cycle: list[str] | None


class DashboardHub(BaseModel):
    version: str
    uptime_seconds: float
    storage: str
    event_bus: str
    health: Any = Field(description="the /health document, its timestamp in RFC 3339")


class DashboardData(BaseModel):
    """Everything the dashboard page shows, in one document; every time is RFC 3339 UTC."""

    model_config = ConfigDict(extra="allow")

    generated_at: str
    tenant: str | None = Field(description="the tenant shown; null: every tenant (admin, ?tenant=all)")
    may_choose_tenant: bool = Field(
        False, description="whether the caller may pick another tenant with ?tenant= (admin, or auth off)"
    )
    hub: DashboardHub
    caller: dict[str, Any] = Field(
        default_factory=dict, description="name, scopes and tenant limit of the caller (what the page may do)"
    )
    tenants: list[str] | None = Field(None, description="tenants an admin may pick; null for others")
    figures: dict[str, Any]
    services: list[DashboardService]
    graph: DashboardGraph
    infrastructure: Any
    alerts: Any
    config: Any
    drift: Any = Field(None, description="instances running an older configuration revision (or failing)")
    rollouts: Any = Field(None, description="configuration rollouts: the active ones, then the latest ended")
    deployments: Any
