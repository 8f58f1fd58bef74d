"""Hub information and the platform's ``/health`` document."""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from centralhub.core.schemas import ErrorRead
from centralhub.core.time import rfc3339
from centralhub.server.deps import HubDep

router = APIRouter(tags=["health"])


class NatsInfo(BaseModel):
    """How a client follows this hub's changes: on NATS when ``enabled``, else by ``/watch``."""

    enabled: bool = Field(description="whether this hub publishes its changes on NATS")
    connected: bool = Field(description="whether this replica is connected to NATS right now")
    servers: list[str] = Field(description="the NATS servers the hub was given (credentials removed)")
    subject_prefix: str = Field(description='what every subject starts with, e.g. "centralhub."')
    connected_url: str | None = Field(
        None, description="the NATS server this replica is connected to now (null when not connected)"
    )


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
    cluster: str = Field(description="the cluster name: every NATS subject of this hub starts with it")
    nats: NatsInfo
    replica_id: str = Field(
        description="this hub process's replica id (each `serve --workers` process is a replica; "
        "GET /api/v1/replicas lists them all)"
    )
    pid: int = Field(description="the operating-system process id of the replica that answered")
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
    summary="Hub name, version, uptime, cluster name, NATS use and links",
    response_model=InfoRead,
    responses={500: {"model": ErrorRead, "description": "Internal error"}},
)
@router.get(
    "/api/v1/info",
    summary="Hub name, version, uptime, cluster name, NATS use and links (what SDK clients read)",
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
        "cluster": hub.settings.cluster,
        "nats": {
            "enabled": hub.bus.name == "nats",
            "connected": hub.bus.name == "nats" and hub.bus.connected,
            "servers": [_without_credentials(u) for u in hub.settings.nats_servers],
            "subject_prefix": hub.settings.cluster + ".",
            "connected_url": hub.bus.connected_url,
        },
        "replica_id": hub.replicas.replica_id,
        "pid": os.getpid(),
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


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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
