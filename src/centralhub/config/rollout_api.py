"""Canary rollout API: ``/api/v1/config/{service}/rollouts`` and ``.../rollout``.

Thin: the body is parsed here (a JSON object, 400 otherwise) and checked field by field by
:mod:`centralhub.config.rollout_requests`; ``hub.config_rollouts`` does the work.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import JSONResponse, Response

from centralhub.config.api import _author
from centralhub.config.documents import check_service_name
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import error_responses
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["config"])
PREFIX = "/api/v1/config"
Actor = Annotated[str | None, Header(alias="X-Actor", description="Who acts (without auth)")]

ROLLOUT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "config": {"type": "object", "description": "the whole candidate document"},
                        "patch": {"type": "object", "description": "or: a merge patch on the current one"},
                        "rollback_to": {"type": "string", "description": "or: an earlier version (1.2.0)"},
                        "canary": {
                            "type": "object",
                            "description": 'one of {"instances": [ids]}, {"tags": [...]}, {"percent": 10}',
                        },
                        "bake_seconds": {"type": "number", "default": 120},
                        "canary_check_seconds": {"type": "number", "default": 5},
                        "auto_rollback": {"type": "boolean", "default": True},
                        "message": {"type": "string"},
                    },
                    "required": ["canary"],
                },
                "example": {
                    "patch": {"batch_size": 500},
                    "canary": {"percent": 10},
                    "bake_seconds": 120,
                    "auto_rollback": True,
                },
            }
        },
    }
}


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("body: a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body: not valid JSON: {exc}") from None


@router.post(
    PREFIX + "/{service}/rollouts",
    status_code=201,
    responses={
        201: {
            "description": "The rollout, baking: rollout_id, revision, version, state, canary (ids)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **error_responses(400, 404, 409, 422, 503),
    },
    openapi_extra=ROLLOUT_BODY,
    summary="Roll a configuration out to canary instances first; promoted after a clean bake",
)
async def start_rollout(
    service: str, request: Request, hub: HubDep, tenant: TenantDep, actor: Actor = None
) -> Response:
    check_service_name(service)
    rollouts = hub.config_rollouts
    rollout = await rollouts.create(tenant, service, await _json(request), author=_author(request, actor))
    return JSONResponse(await rollouts.view(rollout), status_code=201)


@router.get(
    PREFIX + "/{service}/rollout",
    responses=error_responses(400, 404, 422),
    summary="The latest rollout of a service: state, reason, canaries and what each reports",
)
async def get_rollout(service: str, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    check_service_name(service)
    rollouts = hub.config_rollouts
    return await rollouts.view(await rollouts.latest(tenant, service))


@router.get(
    PREFIX + "/{service}/rollouts",
    responses=error_responses(400, 422),
    summary="The service's rollouts, newest first",
)
async def list_rollouts(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    check_service_name(service)
    rollouts = hub.config_rollouts
    return {
        "service": service,
        "rollouts": [await rollouts.view(r) for r in await rollouts.history(tenant, service, limit)],
    }


@router.post(
    PREFIX + "/{service}/rollout/promote",
    responses=error_responses(400, 404, 409, 422, 503),
    summary="Promote the baking rollout to every instance now",
)
async def promote_rollout(
    service: str, request: Request, hub: HubDep, tenant: TenantDep, actor: Actor = None
) -> dict[str, Any]:
    check_service_name(service)
    rollouts = hub.config_rollouts
    return await rollouts.view(await rollouts.promote(tenant, service, by=_author(request, actor)))


@router.post(
    PREFIX + "/{service}/rollout/abort",
    responses=error_responses(400, 404, 409, 422, 503),
    summary="Abort the baking rollout: the canaries return to the promoted configuration",
)
async def abort_rollout(
    service: str, request: Request, hub: HubDep, tenant: TenantDep, actor: Actor = None
) -> dict[str, Any]:
    check_service_name(service)
    rollouts = hub.config_rollouts
    return await rollouts.view(await rollouts.abort(tenant, service, by=_author(request, actor)))
