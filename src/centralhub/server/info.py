"""Hub information and the platform's ``/health`` document."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from centralhub.core.schemas import ErrorRead
from centralhub.core.time import rfc3339
from centralhub.server.deps import HubDep

router = APIRouter(tags=["health"])


class InfoRead(BaseModel):
    """``GET /``: what this hub is and where to go next."""

    name: str
    service: str
    version: str
    status: str
    started_at: str = Field(description="when this hub process started (RFC 3339, UTC)")
    uptime_seconds: float
    storage: str = Field(description="sqlite or postgresql")
    event_bus: str = Field(description="memory or nats")
    links: dict[str, str]


class HealthRead(BaseModel):
    """``GET /health``: database and each configured server, plus the supervised tasks."""

    # checks added by a capability later still reach the caller
    model_config = ConfigDict(extra="allow")

    status: str = Field(description="healthy, degraded or unhealthy (answered with 503)")
    version: str
    timestamp: int = Field(description="when the document was made, in epoch milliseconds")
    checks: dict[str, Any] = Field(description='each server by name, and "tasks": each background task')
    registered_services: int


@router.get(
    "/",
    summary="Hub name, version, uptime and links",
    response_model=InfoRead,
    responses={500: {"model": ErrorRead, "description": "Internal error"}},
)
async def info(hub: HubDep) -> dict[str, Any]:
    return {
        "name": "Central Hub",
        "service": "central-hub",
        "version": hub.version,
        "status": "running",
        "started_at": rfc3339(hub.started_at),
        "uptime_seconds": round(time.time() - hub.started_at, 3),
        "storage": "sqlite" if hub.settings.is_sqlite else "postgresql",
        "event_bus": hub.bus.name,
        "links": {
            "health": "/health",
            "docs": "/docs",
            "openapi": "/openapi.json",
            "services": "/api/v1/services",
            "discovery": "/discovery/services",
            "config": "/api/v1/config/{service}",
            "metrics": "/metrics",
            "dashboard": "/dashboard",
        },
    }


@router.get(
    "/health",
    summary="Hub health with each configured server's status",
    response_model=HealthRead,
    responses={
        503: {"model": HealthRead, "description": "Unhealthy: the database or a critical server is down"},
        500: {"model": ErrorRead, "description": "Internal error"},
    },
)
async def health(hub: HubDep, response: Response) -> dict[str, Any]:
    doc = await hub.check_health()
    if doc["status"] == "unhealthy":
        response.status_code = 503
    return doc
