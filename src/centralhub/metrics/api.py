"""``/metrics`` (Prometheus text), ``/api/v1/metrics`` (JSON) and Prometheus HTTP service discovery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from centralhub.auth.tenancy import view_tenant
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import ErrorRead
from centralhub.metrics import collectors as metrics
from centralhub.metrics.schemas import MetricsSummary, TargetGroup
from centralhub.registry.models import STATUS_ALIASES, Instance
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["metrics"])
BAD_QUERY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorRead, "description": "A query parameter is invalid (tenant, status)"},
    403: {"model": ErrorRead, "description": "Another tenant asked for without scope admin"},
    422: {"model": ErrorRead, "description": "A query parameter has the wrong type"},
}


@router.get(
    "/metrics",
    summary="Prometheus exposition of the hub's own metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
async def prometheus_metrics(hub: HubDep) -> Response:
    return Response(metrics.exposition(hub), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/v1/metrics",
    summary="System figures as JSON",
    response_model=MetricsSummary,
    # the document as collected: no null placeholders for figures a route has not produced yet
    response_model_exclude_unset=True,
)
async def metrics_summary(hub: HubDep) -> dict[str, Any]:
    return metrics.summary(hub)


def sd_groups(instances: list[Instance]) -> list[dict[str, Any]]:
    """Prometheus ``http_sd_configs`` target groups: one per (tenant, service, version, status).

    An instance's ``metadata.metrics_path`` becomes ``__metrics_path__`` so a service that
    serves metrics elsewhere than ``/metrics`` needs no relabelling.
    """
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for inst in sorted(instances, key=lambda i: (i.tenant_id, i.service_name, i.host, i.port)):
        version = inst.version or ""
        metrics_path = inst.metadata.get("metrics_path") if isinstance(inst.metadata, dict) else None
        scheme = "https" if inst.protocol == "https" else "http"
        key = (inst.tenant_id, inst.service_name, version, inst.status.value, str(metrics_path or ""), scheme)
        group = groups.get(key)
        if group is None:
            labels = {
                "__meta_centralhub_service": inst.service_name,
                "__meta_centralhub_tenant": inst.tenant_id,
                "__meta_centralhub_version": version,
                "__meta_centralhub_status": inst.status.value,
                "__meta_centralhub_protocol": inst.protocol,
                "__scheme__": scheme,
                "service": inst.service_name,
                "tenant": inst.tenant_id,
                "version": version,
                "status": inst.status.value,
            }
            if isinstance(metrics_path, str) and metrics_path.startswith("/"):
                labels["__metrics_path__"] = metrics_path
            group = groups[key] = {"targets": [], "labels": labels}
        host = f"[{inst.host}]" if ":" in inst.host else inst.host
        group["targets"].append(f"{host}:{inst.port}")
    return list(groups.values())


@router.get(
    "/api/v1/sd/prometheus",
    summary="Targets of the caller's tenant for Prometheus http_sd_configs (admin: ?tenant=NAME or all)",
    response_model=list[TargetGroup],
    responses=BAD_QUERY,
)
async def prometheus_sd(
    hub: HubDep,
    caller: TenantDep,
    tenant: Annotated[
        str | None, Query(description="another tenant, or all (scope admin without a tenant limit)")
    ] = None,
    service: str | None = None,
    status: str | None = Query(None, description="only instances in this status (healthy, draining...)"),
) -> list[dict[str, Any]]:
    """Only the caller's tenant (its credential's, or ``X-Tenant-ID``) unless an admin picks."""
    chosen = view_tenant(tenant, caller)
    wanted = None
    if status is not None:
        wanted = STATUS_ALIASES.get(status.lower())
        if wanted is None:
            raise InvalidInput(f"status must be one of {', '.join(sorted(STATUS_ALIASES))} (got {status!r})")
    instances = [
        i
        for i in hub.registry.all_instances(chosen)
        if (service is None or i.service_name == service) and (wanted is None or i.status == wanted)
    ]
    return sd_groups(instances)
