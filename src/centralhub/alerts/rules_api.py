"""Alert rules on measurements: ``/api/v1/alerts/rules`` (``ops``), and the latest samples the
rules look at (``/api/v1/alerts/measurements``)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import error_responses
from centralhub.core.time import rfc3339
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["alerts"])


@router.get(
    "/api/v1/alerts/rules",
    responses=error_responses(400, 422),
    summary="The tenant's alert rules on measurements",
)
async def list_rules(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return {"rules": [r.describe() for r in await hub.metric_rules.rules(tenant)]}


@router.post(
    "/api/v1/alerts/rules",
    status_code=201,
    responses={
        201: {
            "description": "the rule as stored (with its id)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **error_responses(400, 409, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {
                        "name": "slow-orders",
                        "metric": "latency_ms",
                        "service": "order-service",
                        "condition": "above",
                        "threshold": 250,
                        "for_seconds": 30,
                        "per": "instance",
                        "severity": "warning",
                    },
                }
            },
        }
    },
    summary="Add an alert rule: a metric above/below a threshold, or rising faster than a rate",
)
async def create_rule(request: Request, hub: HubDep, tenant: TenantDep) -> Response:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body: not valid JSON: {exc}") from None
    rule = await hub.metric_rules.create(tenant, body)
    return JSONResponse(rule.describe(), status_code=201)


@router.delete(
    "/api/v1/alerts/rules/{rule_id}",
    status_code=204,
    responses=error_responses(400, 404, 422),
    summary="Remove an alert rule",
)
async def delete_rule(rule_id: str, hub: HubDep, tenant: TenantDep) -> Response:
    await hub.metric_rules.remove(tenant, rule_id)
    return Response(status_code=204)


@router.get(
    "/api/v1/alerts/measurements",
    responses=error_responses(400, 422),
    summary="The newest sample of each metric this replica holds",
)
async def measurements(
    hub: HubDep, tenant: TenantDep, service: Annotated[str | None, Query(max_length=128)] = None
) -> dict[str, Any]:
    rows = hub.measurements.latest(tenant, service)
    return {"measurements": [{**r, "at": rfc3339(r["at"])} for r in rows]}
