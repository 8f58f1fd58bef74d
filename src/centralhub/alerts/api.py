"""Alert history, acknowledgement and silences over HTTP."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import ErrorRead
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorRead},
    404: {"model": ErrorRead},
    422: {"model": ErrorRead},
}


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, max_length=255, description="who acknowledged (free text)")


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(..., min_length=1, max_length=255, description="service/component name or glob")
    duration_seconds: float = Field(..., gt=0, le=30 * 86400)
    reason: str | None = Field(None, max_length=1000)


def _since(value: str | None) -> float | None:
    """``since`` as epoch seconds or ISO-8601."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError):
            raise InvalidInput(
                f"since must be epoch seconds or an ISO-8601 time (got {value[:60]!r})"
            ) from None
    # a time the database and datetime can hold: 1970 .. 9000
    if not math.isfinite(seconds) or not 0 <= seconds <= 221_845_392_000:
        raise InvalidInput(f"since must be a time between 1970 and 9000 (got {value[:60]!r})")
    return seconds


# ---------------------------------------------------------------------- alerts
@router.get("/api/v1/alerts", tags=["alerts"], responses=ERRORS, summary="Alert history, newest first")
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
    return {"count": len(alerts), "alerts": alerts}


@router.post(
    "/api/v1/alerts/{alert_id}/acknowledge", tags=["alerts"], responses=ERRORS, summary="Acknowledge an alert"
)
async def acknowledge_alert(
    alert_id: str, hub: HubDep, body: AcknowledgeBody | None = None
) -> dict[str, Any]:
    return await hub.alerts.acknowledge(alert_id, by=body.by if body else None)


@router.get("/api/v1/alerts/silences", tags=["alerts"], summary="Active silences")
async def list_silences(hub: HubDep) -> dict[str, Any]:
    return {"silences": hub.alerts.silences()}


@router.post(
    "/api/v1/alerts/silences",
    tags=["alerts"],
    status_code=201,
    responses=ERRORS,
    summary="Silence alerts for a target (glob) for a while",
)
async def create_silence(body: SilenceCreate, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return await hub.alerts.silence(body.target, body.duration_seconds, tenant_id=tenant, reason=body.reason)


@router.delete(
    "/api/v1/alerts/silences/{silence_id}",
    tags=["alerts"],
    status_code=204,
    responses=ERRORS,
    summary="End a silence early",
)
async def delete_silence(silence_id: str, hub: HubDep) -> None:
    await hub.alerts.remove_silence(silence_id)
