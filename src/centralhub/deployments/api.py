"""Rolling deployments: ``/api/v1/deployments`` (thin: validate, call the coordinator, shape)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import ErrorRead
from centralhub.deployments.models import DeploymentState
from centralhub.deployments.schemas import DeploymentCreate, DeploymentList, DeploymentRead
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["deployments"])
BAD_REQUEST: dict[int | str, dict[str, Any]] = {400: {"model": ErrorRead}, 422: {"model": ErrorRead}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**BAD_REQUEST, 404: {"model": ErrorRead}}
CONFLICT: dict[int | str, dict[str, Any]] = {**NOT_FOUND, 409: {"model": ErrorRead}}


@router.post(
    "/api/v1/deployments",
    status_code=202,
    response_model=DeploymentRead,
    responses=CONFLICT,
    summary="Start a rolling deployment of a service to a new version",
)
async def create_deployment(hub: HubDep, tenant: TenantDep, body: DeploymentCreate) -> DeploymentRead:
    dep = await hub.deployments.create(
        tenant,
        service=body.service,
        version=body.version,
        strategy=body.strategy,
        batch_size=body.batch_size,
        deadline_seconds=body.deadline_seconds,
        drain_seconds=body.drain_seconds,
    )
    return DeploymentRead.model_validate(hub.deployments.describe(dep))


@router.get(
    "/api/v1/deployments",
    response_model=DeploymentList,
    responses=BAD_REQUEST,
    summary="Deployments of this tenant, newest first",
)
async def list_deployments(
    hub: HubDep,
    tenant: TenantDep,
    service: str | None = None,
    state: Annotated[str | None, Query(description="pending|running|succeeded|failed|cancelled")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeploymentList:
    if state is not None and state not in {s.value for s in DeploymentState}:
        raise InvalidInput(
            f"state must be one of {', '.join(s.value for s in DeploymentState)} (got {state!r})"
        )
    deps = await hub.deployments.get_all(tenant, service=service, state=state, limit=limit)
    return DeploymentList(
        tenant_id=tenant,
        count=len(deps),
        deployments=[DeploymentRead.model_validate(hub.deployments.describe(d)) for d in deps],
    )


@router.get(
    "/api/v1/deployments/{deployment_id}",
    response_model=DeploymentRead,
    responses=NOT_FOUND,
    summary="One deployment's progress",
)
async def get_deployment(hub: HubDep, tenant: TenantDep, deployment_id: str) -> DeploymentRead:
    dep = await hub.deployments.get(tenant, deployment_id)
    return DeploymentRead.model_validate(hub.deployments.describe(dep))


@router.post(
    "/api/v1/deployments/{deployment_id}/cancel",
    response_model=DeploymentRead,
    responses=CONFLICT,
    summary="Stop an active deployment on any replica (drained instances are put back)",
)
async def cancel_deployment(hub: HubDep, tenant: TenantDep, deployment_id: str) -> DeploymentRead:
    dep = await hub.deployments.cancel(tenant, deployment_id)
    return DeploymentRead.model_validate(hub.deployments.describe(dep))
