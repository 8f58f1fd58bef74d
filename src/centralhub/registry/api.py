"""Registry and discovery: ``/api/v1/services`` and the older ``/discovery`` aliases.

The three hot operations (service lookup, endpoint selection, heartbeat) are also mounted as
plain Starlette routes ahead of these (:mod:`centralhub.registry.hot_path`), skipping FastAPI's
per-request dependency and validation machinery. Both call the ``*_response`` functions below,
so they parse, answer and fail identically; the routes here document them in OpenAPI.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
import pydantic_core
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from centralhub.auth.context import require_service
from centralhub.core import wire
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import ErrorRead
from centralhub.registry import pages, views
from centralhub.registry.models import STATUS_ALIASES, InstanceStatus
from centralhub.registry.schemas import (
    BatchHeartbeatBody,
    BatchHeartbeatRead,
    EndpointRead,
    HeartbeatBody,
    HeartbeatRead,
    InstanceRead,
    RegistrationCreate,
    RegistrationRead,
    RegistryFiguresRead,
    ServiceListRead,
    ServiceRead,
)
from centralhub.registry.service import InstanceRegistry
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["registry"])
JSON = "application/json"


def _errors(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI error responses of a route, all with the shared error body. 422 is always among
    them: FastAPI declares it for any route with parameters, and the hub answers it (when it
    does) with this body, not FastAPI's default one."""
    described = {422: "a parameter or the body is invalid", **described}
    return {code: {"model": ErrorRead, "description": text} for code, text in sorted(described.items())}


_TENANT_400 = "X-Tenant-ID is malformed"
_BODY_400 = "X-Tenant-ID is malformed, or the body is not JSON"
_NOT_FOUND = "no such service (or instance of it)"


# ------------------------------------------------------------------ shared with the hot routes
def status_filter(status: str | None) -> InstanceStatus | None:
    """The ``status`` query parameter: an alias like ``healthy``, or all when absent/``all``."""
    if status is None or status == "" or status == "all":
        return None
    try:
        return STATUS_ALIASES[status.lower()]
    except KeyError:
        raise InvalidInput(
            f"status must be one of {', '.join(sorted(STATUS_ALIASES))} (got {status!r})"
        ) from None


def parse_heartbeat(raw: bytes) -> float | None:
    """The load a heartbeat body reports (see :func:`parse_heartbeat_body`)."""
    return parse_heartbeat_body(raw)[0]


def parse_heartbeat_body(raw: bytes) -> tuple[float | None, dict[str, float] | None]:
    """The load and the metrics a heartbeat body reports; an empty or ``null`` body reports none.

    Failures are request validation errors, so the app's one handler answers them: 400
    ``invalid_json`` when the body is not JSON, 422 ``validation_error`` when it has the wrong
    shape."""
    stripped = raw.strip()
    if not stripped or stripped == b"null":
        return None, None
    # what every SDK sends, ``{"load": <number>}``, read without building the model; anything
    # else (and every error) goes through the model, which words the answer
    try:
        doc = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        doc = None
    if type(doc) is dict and len(doc) == 1:
        load = doc.get("load")
        if type(load) is float and load >= 0:
            return load, None
    try:
        body = HeartbeatBody.model_validate_json(stripped)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=raw) from None
    if body.metrics is None:
        return body.load, None
    try:
        return body.load, wire.check_metrics(body.metrics)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def parse_registration(raw: bytes) -> RegistrationCreate:
    """A registration body, refused exactly as FastAPI's body validation refuses it (the same
    JSON decoding errors, then pydantic's on the decoded value; an empty body is a missing one),
    so the hot route and the documented one answer alike. pydantic's parser decodes (integers
    past 64 bits stay integers, as with the standard library, which orjson would make floats);
    only a body it refuses goes through the standard library, whose error FastAPI reports."""
    if not raw.strip():
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing], body=raw)
    try:
        value = pydantic_core.from_json(raw)
    except ValueError:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            error = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([error], body=raw) from None
        except Exception as exc:  # nested past the recursion limit, or not UTF-8
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        # from_attributes, as FastAPI validates a body: the same message for a non-object
        return RegistrationCreate.model_validate(value, from_attributes=True)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=raw) from None


async def register_response(registry: InstanceRegistry, tenant: str, body: RegistrationCreate) -> Response:
    require_service(body.name)
    inst, created = await registry.register(tenant, body.to_domain())
    return Response(orjson.dumps(views.registration_answer(inst, created)), status_code=201, media_type=JSON)


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type=JSON)


def service_response(registry: InstanceRegistry, tenant: str, name: str, status: str | None) -> Response:
    flt = status_filter(status)
    if flt is None:
        return Response(registry.service_body(tenant, name), media_type=JSON)
    return _json(registry.service_view(tenant, name, flt))


def endpoint_response(registry: InstanceRegistry, tenant: str, name: str, strategy: str) -> Response:
    return Response(registry.endpoint_body(tenant, name, strategy), media_type=JSON)


async def heartbeat_response(
    registry: InstanceRegistry, tenant: str, name: str, instance_id: str, raw: bytes
) -> Response:
    load, metrics = parse_heartbeat_body(raw)
    inst = await registry.heartbeat(tenant, name, instance_id, load=load)
    if metrics:
        registry.note_metrics(inst, metrics)
    return _json(views.heartbeat_answer(inst))


# ------------------------------------------------------------------ routes
@router.post(
    "/api/v1/services/register",
    status_code=201,
    response_model=RegistrationRead,
    responses=_errors(
        {400: _BODY_400, 413: "metadata is larger than 64 KiB", 422: "a field is missing or invalid"}
    ),
    summary="Register (or update) a service instance",
)
@router.post("/discovery/register", status_code=201, response_model=RegistrationRead, include_in_schema=False)
async def register_service(hub: HubDep, tenant: TenantDep, body: RegistrationCreate) -> Response:
    return await register_response(hub.registry, tenant, body)


@router.post(
    "/api/v1/services/{name}/instances/{instance_id}/heartbeat",
    response_model=HeartbeatRead,
    responses=_errors(
        {
            400: _BODY_400,
            404: _NOT_FOUND,
            422: "the body is JSON of the wrong shape",
            503: "the heartbeat could not be stored",
        }
    ),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {JSON: {"schema": HeartbeatBody.model_json_schema()}},
        }
    },
    summary="Report an instance alive (optionally with its current load)",
)
async def heartbeat(
    request: Request, hub: HubDep, tenant: TenantDep, name: str, instance_id: str
) -> Response:
    return await heartbeat_response(hub.registry, tenant, name, instance_id, await request.body())


@router.delete(
    "/api/v1/services/{name}/instances/{instance_id}",
    status_code=204,
    responses=_errors({400: _TENANT_400, 404: _NOT_FOUND}),
    summary="Deregister an instance",
)
async def deregister(hub: HubDep, tenant: TenantDep, name: str, instance_id: str) -> Response:
    await hub.registry.deregister(tenant, name, instance_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/services/{name}/instances/{instance_id}/drain",
    response_model=InstanceRead,
    responses=_errors({400: _TENANT_400, 404: _NOT_FOUND}),
    summary="Take an instance out of discovery (draining) without removing it",
)
async def drain(hub: HubDep, tenant: TenantDep, name: str, instance_id: str) -> Response:
    return _json(views.instance_answer(await hub.registry.drain(tenant, name, instance_id)))


@router.post(
    "/api/v1/services/{name}/instances/{instance_id}/undrain",
    response_model=InstanceRead,
    responses=_errors({400: _TENANT_400, 404: _NOT_FOUND}),
    summary="Put a draining instance back into discovery (passing; its checks decide from there)",
)
async def undrain(hub: HubDep, tenant: TenantDep, name: str, instance_id: str) -> Response:
    return _json(views.instance_answer(await hub.registry.undrain(tenant, name, instance_id)))


@router.get(
    "/api/v1/services",
    response_model=ServiceListRead,
    responses=_errors({400: "X-Tenant-ID, status or cursor is malformed", 422: "limit is out of range"}),
    summary="Services with their instances, a page at a time (in name order)",
    description=(
        f"At most `limit` services (default {pages.DEFAULT_LIMIT}, at most {pages.MAX_LIMIT}); "
        "`next_cursor` (also in a `Link: rel=next` header) fetches the next page and is null on the last."
    ),
)
@router.get("/discovery/services", response_model=ServiceListRead, include_in_schema=False)
async def list_services(
    request: Request,
    hub: HubDep,
    tenant: TenantDep,
    status: Annotated[str | None, Query(description="healthy|passing|warning|critical|draining")] = None,
    limit: Annotated[int, Query(ge=1, le=pages.MAX_LIMIT, description="services per page")] = (
        pages.DEFAULT_LIMIT
    ),
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Response:
    after = pages.decode_cursor(cursor)
    page = hub.registry.service_page(tenant, status=status_filter(status), limit=limit, after=after)
    headers = {}
    if page.next_cursor is not None:
        following = request.url.include_query_params(limit=limit, cursor=page.next_cursor)
        headers["Link"] = f'<{following}>; rel="next"'
    if page.shown() > pages.STREAMED_FROM:
        # sent as it is serialized: a big page never sits whole in memory or in one write
        return StreamingResponse(pages.page_chunks(page), media_type=JSON, headers=headers)
    body = b"".join([chunk async for chunk in pages.page_chunks(page)])
    return Response(body, media_type=JSON, headers=headers)


@router.get(
    "/api/v1/services/{name}",
    response_model=ServiceRead,
    responses=_errors({400: "X-Tenant-ID or status is malformed", 404: _NOT_FOUND}),
    summary="One service with its instances",
)
@router.get("/discovery/services/{name}", response_model=ServiceRead, include_in_schema=False)
async def get_service(
    hub: HubDep,
    tenant: TenantDep,
    name: str,
    status: Annotated[str | None, Query(description="healthy|passing|warning|critical|draining")] = None,
) -> Response:
    return service_response(hub.registry, tenant, name, status)


@router.get(
    "/api/v1/services/{name}/endpoint",
    response_model=EndpointRead,
    responses=_errors(
        {400: "X-Tenant-ID or strategy is malformed", 404: _NOT_FOUND, 503: "no instance is healthy"}
    ),
    summary="One healthy instance chosen by a load-balancing strategy",
)
async def select_endpoint(
    hub: HubDep,
    tenant: TenantDep,
    name: str,
    strategy: Annotated[str, Query(description=" | ".join(wire.STRATEGIES))] = "round_robin",
) -> Response:
    return endpoint_response(hub.registry, tenant, name, strategy)


@router.get(
    "/discovery/health",
    response_model=RegistryFiguresRead,
    responses=_errors({400: _TENANT_400}),
    summary="Registry figures",
    tags=["health"],
)
async def discovery_health(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return {"status": "healthy", "tenant_id": tenant, **hub.registry.figures(tenant)}


@router.post(
    "/api/v1/heartbeats",
    response_model=BatchHeartbeatRead,
    responses=_errors(
        {
            400: _BODY_400,
            422: "the body is JSON of the wrong shape",
            503: "the heartbeats could not be stored",
        }
    ),
    summary="Heartbeats for many instances in one request (a process hosting many instances)",
)
async def heartbeat_batch(hub: HubDep, tenant: TenantDep, body: BatchHeartbeatBody) -> dict[str, Any]:
    beats = [(b.service, b.instance_id, b.load) for b in body.heartbeats]
    for service in {b[0] for b in beats}:
        require_service(service)
    results = await hub.registry.heartbeat_many(tenant, beats)
    return {
        "stored": sum(1 for r in results if r is not None),
        "results": [
            {"instance_id": iid, "status": inst.status.value if inst is not None else "unknown"}
            for (_, iid, _), inst in zip(beats, results, strict=True)
        ],
    }
