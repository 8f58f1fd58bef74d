"""Service health, infrastructure status and circuit state over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from centralhub.core.schemas import error_responses
from centralhub.health.schemas import (
    CircuitList,
    CircuitRead,
    CircuitReport,
    ComponentRead,
    InfrastructureStatusRead,
    ServiceHealthRead,
    ServiceSummaryRead,
)
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter()


# ---------------------------------------------------------------------- service health
@router.get(
    "/api/v1/health/services",
    tags=["health"],
    response_model=dict[str, ServiceSummaryRead],
    responses=error_responses(400, 422),
    summary="Every service's health (platform shape)",
)
async def services_health(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return hub.health_checker.services_summary(tenant)


@router.get(
    "/api/v1/services/{name}/health",
    tags=["health"],
    response_model=ServiceHealthRead,
    responses=error_responses(400, 404, 422),
    summary="One service's instances with their check and last result",
)
async def service_health(name: str, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return hub.health_checker.service_health(tenant, name)


# ---------------------------------------------------------------------- infrastructure
@router.get(
    "/api/v1/infrastructure/status",
    tags=["infrastructure"],
    response_model=InfrastructureStatusRead,
    summary="Every infrastructure component",
)
async def infrastructure_status(hub: HubDep) -> dict[str, Any]:
    return hub.infrastructure.status()


@router.get(
    "/api/v1/infrastructure/{name}",
    tags=["infrastructure"],
    response_model=ComponentRead,
    responses=error_responses(404, 422),
    summary="One component (``?refresh=true`` probes it now)",
)
async def infrastructure_component(name: str, hub: HubDep, refresh: bool = False) -> dict[str, Any]:
    if refresh:
        return await hub.infrastructure.check_now(name)
    return hub.infrastructure.component(name)


# ---------------------------------------------------------------------- circuits
@router.get(
    "/api/v1/circuits",
    tags=["circuits"],
    response_model=CircuitList,
    responses=error_responses(400, 422),
    summary="Every circuit of the tenant",
)
async def list_circuits(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return {"circuits": await hub.circuits.fetch_all(tenant)}


@router.get(
    "/api/v1/circuits/{service}",
    tags=["circuits"],
    response_model=CircuitRead,
    responses=error_responses(400, 404, 422),
    summary="A service's circuit",
)
async def get_circuit(service: str, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return await hub.circuits.fetch(tenant, service)


@router.post(
    "/api/v1/circuits/{service}/report",
    tags=["circuits"],
    response_model=CircuitRead,
    responses=error_responses(400, 404, 422),
    summary="Report the outcome of one call to the service",
)
async def report_circuit(service: str, body: CircuitReport, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return await hub.circuits.report(tenant, service, success=body.success, error=body.error)
