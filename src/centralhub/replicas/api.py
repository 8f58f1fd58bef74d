"""Replica membership over HTTP: which hub replicas are alive and share the health checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from centralhub.replicas.schemas import ReplicaList
from centralhub.server.deps import HubDep

router = APIRouter(tags=["replicas"])


@router.get(
    "/api/v1/replicas",
    response_model=ReplicaList,
    summary="The hub replicas on this database, with their leases",
)
async def list_replicas(hub: HubDep) -> dict[str, Any]:
    return hub.replicas.document()
