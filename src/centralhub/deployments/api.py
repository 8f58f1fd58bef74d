"""Rolling deployments: ``/api/v1/deployments`` (thin: validate, call the coordinator, shape)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import NAME_PATTERN, ErrorRead
from centralhub.deployments.service import DeploymentState
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["deployments"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorRead},
    404: {"model": ErrorRead},
    409: {"model": ErrorRead},
    422: {"model": ErrorRead},
}


class DeploymentCreate(BaseModel):
    """The seed's ``coordinate_deployment`` body plus the batch deadline."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "service": "trading-engine",
                "version": "v2.1.0",
                "strategy": "rolling",
                "batch_size": 2,
            }
        },
    )

    service: str = Field(..., min_length=1, max_length=128, pattern=NAME_PATTERN)
    version: str = Field(..., min_length=1, max_length=64)
    strategy: str = Field("rolling", pattern=r"^rolling$", description="only 'rolling' for now")
    batch_size: int = Field(1, ge=1, le=1000)
    deadline_seconds: float = Field(300.0, gt=0, le=86400, description="per batch")


@router.post(
    "/api/v1/deployments",
    status_code=202,
    responses=ERRORS,
    summary="Start a rolling deployment of a service to a new version",
)
async def create_deployment(hub: HubDep, tenant: TenantDep, body: DeploymentCreate) -> dict[str, Any]:
    dep = await hub.deployments.create(
        tenant,
        service=body.service,
        version=body.version,
        strategy=body.strategy,
        batch_size=body.batch_size,
        deadline_seconds=body.deadline_seconds,
    )
    return hub.deployments.describe(dep)


@router.get("/api/v1/deployments", responses=ERRORS, summary="Deployments of this tenant, newest first")
async def list_deployments(
    hub: HubDep,
    tenant: TenantDep,
    service: str | None = None,
    state: Annotated[str | None, Query(description="pending|running|succeeded|failed|cancelled")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    if state is not None and state not in {s.value for s in DeploymentState}:
        raise InvalidInput(
            f"state must be one of {', '.join(s.value for s in DeploymentState)} (got {state!r})"
        )
    deps = await hub.deployments.get_all(tenant, service=service, state=state, limit=limit)
    return {
        "tenant_id": tenant,
        "count": len(deps),
        "deployments": [hub.deployments.describe(d) for d in deps],
    }


@router.get("/api/v1/deployments/{deployment_id}", responses=ERRORS, summary="One deployment's progress")
async def get_deployment(hub: HubDep, tenant: TenantDep, deployment_id: str) -> dict[str, Any]:
    return hub.deployments.describe(await hub.deployments.get(tenant, deployment_id))


@router.post(
    "/api/v1/deployments/{deployment_id}/cancel",
    responses=ERRORS,
    summary="Stop a running deployment (drained instances stay drained)",
)
async def cancel_deployment(hub: HubDep, tenant: TenantDep, deployment_id: str) -> dict[str, Any]:
    return hub.deployments.describe(await hub.deployments.cancel(tenant, deployment_id))
