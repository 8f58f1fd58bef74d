"""Wire shapes of alerts and silences: the HTTP answers and the webhook body.

Times are RFC 3339 UTC with milliseconds (``2026-12-01T21:22:42.123Z``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from centralhub.alerts.models import Alert, Silence
from centralhub.core.schemas import Text
from centralhub.core.time import rfc3339


class AlertRead(BaseModel):
    id: str
    kind: str = Field(description="service | infrastructure")
    target: str = Field(description="service or component name")
    event: str = Field(description="down | recovery")
    severity: str = Field(description="info | warning | critical")
    message: str
    tenant_id: str | None = None
    instance_id: str | None = None
    dependents: list[str] = Field(description="services affected through the dependency graph")
    details: dict[str, Any]
    created_at: str
    last_seen_at: str
    count: int = Field(description="how many times this alert was raised within the dedup window")
    acknowledged: bool
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None
    silenced: bool
    suppressed: bool = Field(description="over the rate limit: recorded, not sent")
    deliveries: dict[str, str] = Field(description='channel -> "sent" | "failed: ..." | "skipped (severity)"')


class AlertList(BaseModel):
    count: int
    alerts: list[AlertRead]


class SilenceRead(BaseModel):
    id: str
    target: str
    until: str
    created_at: str
    tenant_id: str | None = Field(None, description="the tenant whose alerts it silences; null: global ones")
    reason: str | None = None


class SilenceList(BaseModel):
    silences: list[SilenceRead]


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Text | None = Field(None, max_length=255, description="who acknowledged (free text)")


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Text = Field(..., min_length=1, max_length=255, description="service/component name or glob")
    duration_seconds: float = Field(..., gt=0, le=30 * 86400)
    reason: Text | None = Field(None, max_length=1000)
    global_: bool = Field(
        False,
        alias="global",
        description="silence the global infrastructure alerts instead of the tenant's "
        "(needs scope ops without a tenant limit)",
    )


def alert_document(a: Alert) -> dict[str, Any]:
    """An alert as JSON-ready data (API answers, webhook body, dashboard feed)."""
    return {
        "id": a.id,
        "kind": a.kind,
        "target": a.target,
        "event": a.event,
        "severity": a.severity,
        "message": a.message,
        "tenant_id": a.tenant_id,
        "instance_id": a.instance_id,
        "dependents": list(a.dependents),
        "details": dict(a.details),
        "created_at": rfc3339(a.created_at),
        "last_seen_at": rfc3339(a.last_seen_at),
        "count": a.count,
        "acknowledged": a.acknowledged,
        "acknowledged_at": rfc3339(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "silenced": a.silenced,
        "suppressed": a.suppressed,
        "deliveries": dict(a.deliveries),
    }


def silence_document(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "target": s.target,
        "until": rfc3339(s.until),
        "created_at": rfc3339(s.created_at),
        "tenant_id": s.tenant_id,
        "reason": s.reason,
    }
