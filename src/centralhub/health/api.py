"""Service health, infrastructure status and circuit state over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from centralhub.core.schemas import ErrorRead
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorRead},
    404: {"model": ErrorRead},
    422: {"model": ErrorRead},
}


class CircuitReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: bool
    error: str | None = Field(None, max_length=2000)


# ---------------------------------------------------------------------- service health
@router.get("/api/v1/health/services", tags=["health"], summary="Every service's health (seed shape)")
async def services_health(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return hub.health_checker.services_summary(tenant)


@router.get(
    "/api/v1/services/{name}/health",
    tags=["health"],
    responses=ERRORS,
    summary="One service's instances with their check and last result",
)
async def service_health(name: str, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return hub.health_checker.service_health(tenant, name)


# ---------------------------------------------------------------------- infrastructure
@router.get(
    "/api/v1/infrastructure/status", tags=["infrastructure"], summary="Every infrastructure component"
)
async def infrastructure_status(hub: HubDep) -> dict[str, Any]:
    return hub.infrastructure.status()


@router.get(
    "/api/v1/infrastructure/{name}",
    tags=["infrastructure"],
    responses=ERRORS,
    summary="One component (``?refresh=true`` probes it now)",
)
async def infrastructure_component(name: str, hub: HubDep, refresh: bool = False) -> dict[str, Any]:
    if refresh:
        return await hub.infrastructure.check_now(name)
    return hub.infrastructure.component(name)


# ---------------------------------------------------------------------- circuits
@router.get("/api/v1/circuits", tags=["circuits"], summary="Every circuit of the tenant")
async def list_circuits(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return {"circuits": hub.circuits.all(tenant)}


@router.get("/api/v1/circuits/{service}", tags=["circuits"], responses=ERRORS, summary="A service's circuit")
async def get_circuit(service: str, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return hub.circuits.get(tenant, service)


@router.post(
    "/api/v1/circuits/{service}/report",
    tags=["circuits"],
    responses=ERRORS,
    summary="Report the outcome of one call to the service",
)
async def report_circuit(service: str, body: CircuitReport, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return hub.circuits.report(tenant, service, success=body.success, error=body.error)
