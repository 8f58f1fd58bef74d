"""Admin API: ``GET /api/v1/admin/backup`` and ``POST /api/v1/admin/restore``.

Both need ``admin`` (the rule for any path not listed in :mod:`centralhub.auth.rules`) and a
credential without a tenant limit, because a backup holds every tenant. The restore body is
the backup document itself, parsed here so a body that is not JSON gets a 400 naming the problem.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from centralhub.auth.context import current_principal
from centralhub.auth.errors import Forbidden
from centralhub.backup.schemas import RestoreResult
from centralhub.backup.service import BackupService
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import error_responses
from centralhub.server.deps import HubDep

router = APIRouter(tags=["admin"])
BACKUP_PATH = "/api/v1/admin/backup"
RESTORE_PATH = "/api/v1/admin/restore"
#: a restore carries the whole hub, far more than the body limit other writes have
MAX_RESTORE_BYTES = 512 * 1024 * 1024
JSON = "application/json"


def _every_tenant(action: str) -> None:
    tenant = current_principal.get().tenant
    if tenant is not None:
        raise Forbidden(f"{action} covers every tenant: it needs a credential without a tenant limit")


@router.get(
    BACKUP_PATH,
    response_model=dict[str, Any],
    responses=error_responses(401, 403, 503),
    summary="The whole stored state as one versioned JSON document (API keys hashed)",
)
async def backup(hub: HubDep) -> Response:
    _every_tenant("a backup")
    document = await BackupService(hub).export()
    return Response(orjson.dumps(document), media_type=JSON)


@router.post(
    RESTORE_PATH,
    response_model=RestoreResult,
    responses=error_responses(400, 401, 403, 409, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"type": "object", "description": "A backup document"}}},
        }
    },
    summary="Restore a backup into an empty hub (or replace its data), all or nothing",
)
async def restore(
    request: Request,
    hub: HubDep,
    replace: Annotated[
        bool, Query(description="Replace the data this hub holds instead of refusing (409)")
    ] = False,
) -> Response:
    _every_tenant("a restore")
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("body: a backup document is required")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body: not valid JSON: {exc}") from None
    result = await BackupService(hub).restore(document, replace=replace)
    return Response(orjson.dumps(result.model_dump()), media_type=JSON)
