"""``POST /api/v1/services/register/batch``: many registrations in one request.

The items are validated together (a bad one refuses the request, named by its index, before
anything is stored) and then stored in one registration batch. An item the database refuses
is reported in its own result while the others are stored.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Response

from centralhub.auth.context import require_service
from centralhub.core.errors import CentralHubError, StorageUnavailable
from centralhub.core.schemas import ErrorRead
from centralhub.registry import views
from centralhub.registry.models import Instance
from centralhub.registry.schemas import (
    MAX_BATCH_REGISTRATIONS,
    RegistrationBatchCreate,
    RegistrationBatchRead,
)
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["registry"])


def registration_answer(inst: Instance, created: bool) -> dict[str, Any]:
    """What a registration is answered with (alone or as an item of a batch)."""
    return {
        "status": "registered",
        "instance_id": inst.id,
        "service_name": inst.service_name,
        "tenant_id": inst.tenant_id,
        "created": created,
        "ttl_seconds": inst.ttl_seconds,
        "heartbeat_interval_seconds": round(inst.ttl_seconds / 3, 3),
        "instance": views.instance_answer(inst),
    }


def _error(index: int, service: str, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, CentralHubError):
        code, message = exc.code, exc.message
    else:
        code, message = "unavailable", f"registration not stored: {type(exc).__name__}"
    error = {"code": code, "message": message}
    return {"index": index, "status": "error", "service_name": service, "error": error}


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorRead, "description": text}
    for code, text in {
        400: "X-Tenant-ID is malformed, or the body is not JSON",
        403: "the credential may not act for one of the services",
        413: "the body (or an item's metadata) is too large",
        422: f"an item is invalid (named by its index), or there are more than {MAX_BATCH_REGISTRATIONS}",
        503: "the database is unreachable: nothing was stored",
    }.items()
}


@router.post(
    "/api/v1/services/register/batch",
    status_code=201,
    response_model=RegistrationBatchRead,
    responses={200: {"model": RegistrationBatchRead, "description": "some items were not stored"}, **_ERRORS},
    summary="Register (or update) many service instances at once",
    description=(
        "201 when every item was stored, 200 when some were not (each result says which and why). "
        "Items registering the same endpoint (name, host, port) share one instance."
    ),
)
async def register_batch(hub: HubDep, tenant: TenantDep, body: RegistrationBatchCreate) -> Response:
    for service in {item.name for item in body.instances}:
        require_service(service)
    outcomes = await hub.registry.register_many(tenant, [item.to_domain() for item in body.instances])
    failures = [o for o in outcomes if isinstance(o, Exception)]
    if len(failures) == len(outcomes) and all(isinstance(f, StorageUnavailable) for f in failures):
        raise failures[0]  # nothing stored because the database is away: the request failed as a whole
    results = [
        _error(i, item.name, o) if isinstance(o, Exception) else {"index": i, **registration_answer(*o)}
        for i, (item, o) in enumerate(zip(body.instances, outcomes, strict=True))
    ]
    stored = len(outcomes) - len(failures)
    answer = {"tenant_id": tenant, "stored": stored, "failed": len(failures), "results": results}
    return Response(orjson.dumps(answer), status_code=200 if failures else 201, media_type="application/json")
