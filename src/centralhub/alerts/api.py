"""Alert history, acknowledgement and silences over HTTP, within the caller's tenant.

A caller sees and acts on its tenant's alerts and silences; the global infrastructure alerts
(``tenant_id: null``) and their silences only when its credential has no tenant limit (the
anonymous caller when auth is off). Another tenant's alert or silence answers 404; a global
silence (``"global": true``) from a tenant-limited credential answers 403.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from centralhub.alerts.schemas import (
    AcknowledgeBody,
    AlertList,
    AlertRead,
    SilenceCreate,
    SilenceList,
    SilenceRead,
    alert_document,
    silence_document,
)
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import error_responses
from centralhub.core.time import parse_rfc3339
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter()


#: a time the database and ``datetime`` can hold: 1970 .. 9000
_LATEST = 221_845_392_000


def _since(value: str | None) -> float | None:
    """``since`` as epoch seconds or an ISO 8601 / RFC 3339 time."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parse_rfc3339(value)
        except (ValueError, OverflowError):
            raise InvalidInput(
                f"since must be epoch seconds or an ISO-8601 time (got {value[:60]!r})"
            ) from None
    if not math.isfinite(seconds) or not 0 <= seconds <= _LATEST:
        raise InvalidInput(f"since must be a time between 1970 and 9000 (got {value[:60]!r})")
    return seconds


# ---------------------------------------------------------------------- alerts
@router.get(
    "/api/v1/alerts",
    tags=["alerts"],
    response_model=AlertList,
    responses=error_responses(400, 422),
    summary="Alert history of the tenant, newest first (global ones too without a tenant limit)",
)
async def list_alerts(
    hub: HubDep,
    tenant: TenantDep,
    severity: Annotated[str | None, Query(description="info|warning|critical")] = None,
    target: str | None = None,
    acknowledged: bool | None = None,
    since: Annotated[str | None, Query(description="epoch seconds or ISO-8601")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    alerts = await hub.alerts.search(
        tenant_id=tenant,
        severity=severity,
        target=target,
        acknowledged=acknowledged,
        since=_since(since),
        limit=limit,
    )
    return {"count": len(alerts), "alerts": [alert_document(a) for a in alerts]}


@router.post(
    "/api/v1/alerts/{alert_id}/acknowledge",
    tags=["alerts"],
    response_model=AlertRead,
    responses=error_responses(404, 422),
    summary="Acknowledge an alert of the tenant",
)
async def acknowledge_alert(
    alert_id: str, hub: HubDep, tenant: TenantDep, body: AcknowledgeBody | None = None
) -> dict[str, Any]:
    alert = await hub.alerts.acknowledge(alert_id, tenant_id=tenant, by=body.by if body else None)
    return alert_document(alert)


@router.get(
    "/api/v1/alerts/silences",
    tags=["alerts"],
    response_model=SilenceList,
    responses=error_responses(400, 422),
    summary="Active silences of the tenant (global ones too without a tenant limit)",
)
async def list_silences(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return {"silences": [silence_document(s) for s in await hub.alerts.list_silences(tenant)]}


@router.post(
    "/api/v1/alerts/silences",
    tags=["alerts"],
    status_code=201,
    response_model=SilenceRead,
    responses=error_responses(400, 403, 422),
    summary="Silence the tenant's alerts for a target (glob) for a while; global ones with global: true",
)
async def create_silence(body: SilenceCreate, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    silence = await hub.alerts.silence(
        body.target, body.duration_seconds, tenant_id=None if body.global_ else tenant, reason=body.reason
    )
    return silence_document(silence)


@router.delete(
    "/api/v1/alerts/silences/{silence_id}",
    tags=["alerts"],
    status_code=204,
    response_class=Response,
    responses=error_responses(400, 404, 422),
    summary="End a silence of the tenant early",
)
async def delete_silence(silence_id: str, hub: HubDep, tenant: TenantDep) -> None:
    await hub.alerts.remove_silence(silence_id, tenant_id=tenant)
