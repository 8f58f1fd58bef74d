"""Hub information and the seed's ``/health`` document."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response

from centralhub.server.deps import HubDep

router = APIRouter(tags=["health"])


@router.get("/", summary="Hub name, version, uptime and links")
async def info(hub: HubDep) -> dict[str, Any]:
    return {
        "name": "Central Hub",
        "service": "central-hub",
        "version": hub.version,
        "status": "running",
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


@router.get("/health", summary="Hub health with each configured server's status")
async def health(hub: HubDep, response: Response) -> dict[str, Any]:
    doc = await hub.check_health()
    if doc["status"] == "unhealthy":
        response.status_code = 503
    return doc
