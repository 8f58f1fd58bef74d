"""``/metrics`` (Prometheus text), ``/api/v1/metrics`` (JSON) and Prometheus HTTP service discovery."""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from centralhub.auth.tenancy import view_tenant
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import ErrorRead
from centralhub.metrics import collectors as metrics
from centralhub.metrics.schemas import MetricsSummary, TargetGroup
from centralhub.registry.models import SELECTABLE, STATUS_ALIASES, Instance, InstanceStatus
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


#: what a Prometheus label name may hold; other characters of a metadata key become ``_``
_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def sd_groups(instances: list[Instance]) -> list[dict[str, Any]]:
    """Prometheus ``http_sd_configs`` target groups: one per instance.

    Health is only in ``__meta_centralhub_status``, never a target label: a label that changes
    with health would split one target's series in two each time its checks flip. Tags and
    metadata are ``__meta_`` labels for relabelling (tags comma-joined with a comma at each end,
    as Prometheus' Consul discovery does, so ``.*,prod,.*`` matches). An instance's
    ``metadata.metrics_path`` becomes ``__metrics_path__`` so a service that serves metrics
    elsewhere than ``/metrics`` needs no relabelling.
    """
    groups: list[dict[str, Any]] = []
    for inst in sorted(instances, key=lambda i: (i.tenant_id, i.service_name, i.host, i.port)):
        version = inst.version or ""
        metadata = inst.metadata if isinstance(inst.metadata, dict) else {}
        metrics_path = metadata.get("metrics_path")
        labels = {
            "__meta_centralhub_service": inst.service_name,
            "__meta_centralhub_tenant": inst.tenant_id,
            "__meta_centralhub_version": version,
            "__meta_centralhub_status": inst.status.value,
            "__meta_centralhub_protocol": inst.protocol,
            "__meta_centralhub_instance_id": inst.id,
            "__meta_centralhub_tags": f",{','.join(inst.tags)}," if inst.tags else "",
            "__scheme__": "https" if inst.protocol == "https" else "http",
            "service": inst.service_name,
            "tenant": inst.tenant_id,
            "version": version,
        }
        for key, value in metadata.items():
            labels[f"__meta_centralhub_metadata_{_LABEL_UNSAFE.sub('_', str(key))}"] = (
                value if isinstance(value, str) else orjson.dumps(value).decode()
            )
        if isinstance(metrics_path, str) and metrics_path.startswith("/"):
            labels["__metrics_path__"] = metrics_path
        host = f"[{inst.host}]" if ":" in inst.host else inst.host
        groups.append({"targets": [f"{host}:{inst.port}"], "labels": labels})
    return groups


def _statuses(status: str | None) -> frozenset[InstanceStatus] | None:
    """The statuses ``?status=`` asks for (comma-separated, or ``all``); ``None`` means every one."""
    if status is None:
        return SELECTABLE
    wanted: set[InstanceStatus] = set()
    for word in (w.strip().lower() for w in status.split(",")):
        if word == "all":
            return None
        found = STATUS_ALIASES.get(word)
        if found is None:
            raise InvalidInput(
                f"status must be all or a comma-separated list of {', '.join(sorted(STATUS_ALIASES))}"
                f" (got {status!r})"
            )
        wanted.add(found)
    return frozenset(wanted)


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
    status: str | None = Query(
        None,
        description="statuses to include, comma-separated (passing, warning, critical, draining), or "
        "all; default: the instances discovery hands out (passing and warning)",
    ),
) -> list[dict[str, Any]]:
    """Only the caller's tenant (its credential's, or ``X-Tenant-ID``) unless an admin picks.

    Critical and draining instances are left out by default: a target that is down or being taken
    out on purpose would only page someone through ``up == 0``.
    """
    chosen = view_tenant(tenant, caller)
    wanted = _statuses(status)
    instances = [
        i
        for i in hub.registry.all_instances(chosen)
        if (service is None or i.service_name == service) and (wanted is None or i.status in wanted)
    ]
    return sd_groups(instances)
