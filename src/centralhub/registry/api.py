"""Registry and discovery: ``/api/v1/services`` and the seed's ``/discovery`` paths.

The hot reads (service lookup, endpoint selection) and heartbeats are answered in front of
FastAPI by ``server.hot_paths``: same domain calls, same answers, without the framework's
per-request cost. The routes below document them in OpenAPI and serve the less common shapes
(a ``status`` filter, for instance).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, Field

from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import ErrorRead
from centralhub.registry.models import STATUS_ALIASES, InstanceStatus
from centralhub.registry.schemas import (
    EndpointRead,
    HeartbeatBody,
    RegistrationCreate,
    RegistrationRead,
)
from centralhub.registry.service import STRATEGIES
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["registry"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorRead},
    404: {"model": ErrorRead},
    422: {"model": ErrorRead},
    503: {"model": ErrorRead},
}
JSON = "application/json"


def _status_filter(status: str | None) -> InstanceStatus | None:
    if status is None or status == "" or status == "all":
        return None
    try:
        return STATUS_ALIASES[status.lower()]
    except KeyError:
        raise InvalidInput(
            f"status must be one of {', '.join(sorted(STATUS_ALIASES))} (got {status!r})"
        ) from None


def _strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    return strategy


def endpoint_dict(inst: Any) -> dict[str, Any]:
    return {
        "instance_id": inst.id,
        "service_name": inst.service_name,
        "host": inst.host,
        "port": inst.port,
        "url": inst.url,
        "weight": inst.weight,
        "load": inst.load,
        "protocol": inst.protocol,
        "status": inst.status.value,
        "version": inst.version,
    }


@router.post(
    "/api/v1/services/register",
    status_code=201,
    response_model=RegistrationRead,
    responses=ERRORS,
    summary="Register (or update) a service instance",
)
@router.post("/discovery/register", status_code=201, response_model=RegistrationRead, include_in_schema=False)
async def register_service(hub: HubDep, tenant: TenantDep, body: RegistrationCreate) -> dict[str, Any]:
    inst, created = await hub.registry.register(tenant, body.to_domain())
    return {
        "status": "registered",
        "instance_id": inst.id,
        "service_name": inst.service_name,
        "tenant_id": tenant,
        "created": created,
        "ttl_seconds": inst.ttl_seconds,
        "heartbeat_interval_seconds": round(inst.ttl_seconds / 3, 3),
        "instance": inst.to_dict(),
    }


@router.post(
    "/api/v1/services/{name}/instances/{instance_id}/heartbeat",
    responses=ERRORS,
    summary="Report an instance alive (optionally with its current load)",
)
async def heartbeat(
    hub: HubDep,
    tenant: TenantDep,
    name: str,
    instance_id: str,
    body: Annotated[HeartbeatBody | None, Body()] = None,
) -> dict[str, Any]:
    inst = await hub.registry.heartbeat(
        tenant, name, instance_id, load=body.load if body is not None else None
    )
    return heartbeat_answer(inst)


def heartbeat_answer(inst: Any) -> dict[str, Any]:
    return {"status": inst.status.value, "instance_id": inst.id, "ttl_seconds": inst.ttl_seconds}


@router.delete(
    "/api/v1/services/{name}/instances/{instance_id}",
    status_code=204,
    responses=ERRORS,
    summary="Deregister an instance",
)
async def deregister(hub: HubDep, tenant: TenantDep, name: str, instance_id: str) -> Response:
    await hub.registry.deregister(tenant, name, instance_id)
    return Response(status_code=204)


@router.get("/api/v1/services", responses=ERRORS, summary="Every service with its instances")
@router.get("/discovery/services", include_in_schema=False)
async def list_services(
    hub: HubDep,
    tenant: TenantDep,
    status: Annotated[str | None, Query(description="healthy|passing|warning|critical|draining")] = None,
) -> dict[str, Any]:
    return hub.registry.list_view(tenant, _status_filter(status))


@router.get("/api/v1/services/{name}", responses=ERRORS, summary="One service with its instances")
@router.get("/discovery/services/{name}", include_in_schema=False)
async def get_service(hub: HubDep, tenant: TenantDep, name: str, status: str | None = None) -> Any:
    flt = _status_filter(status)
    if flt is None:
        return Response(hub.registry.service_body(tenant, name), media_type=JSON)
    return hub.registry.service_view(tenant, name, flt)


@router.get(
    "/api/v1/services/{name}/endpoint",
    response_model=EndpointRead,
    responses=ERRORS,
    summary="One healthy instance chosen by a load-balancing strategy",
)
async def select_endpoint(
    hub: HubDep,
    tenant: TenantDep,
    name: str,
    strategy: Annotated[str, Query(description="round_robin|random|least_load|weighted")] = "round_robin",
) -> dict[str, Any]:
    return endpoint_dict(hub.registry.select_endpoint(tenant, name, _strategy(strategy)))


@router.get("/discovery/health", summary="Registry figures", tags=["health"])
async def discovery_health(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    figures = hub.registry.figures(tenant)
    return {"status": "healthy", "tenant_id": tenant, **figures}


class BatchHeartbeat(BaseModel):
    service: str = Field(..., min_length=1, max_length=128)
    instance_id: str = Field(..., min_length=1, max_length=64)
    load: float | None = Field(None, ge=0)


class BatchHeartbeatBody(BaseModel):
    heartbeats: list[BatchHeartbeat] = Field(..., max_length=10_000)


@router.post(
    "/api/v1/heartbeats",
    responses=ERRORS,
    summary="Heartbeats for many instances in one request (a process hosting many instances)",
)
async def heartbeat_batch(hub: HubDep, tenant: TenantDep, body: BatchHeartbeatBody) -> dict[str, Any]:
    beats = [(b.service, b.instance_id, b.load) for b in body.heartbeats]
    results = await hub.registry.heartbeat_many(tenant, beats)
    return {
        "stored": sum(1 for r in results if r is not None),
        "results": [
            {"instance_id": iid, "status": inst.status.value if inst is not None else "unknown"}
            for (_, iid, _), inst in zip(beats, results, strict=True)
        ],
    }
