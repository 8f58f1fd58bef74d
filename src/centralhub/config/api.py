"""Configuration API: ``/api/v1/config/...`` plus the seed's short ``/config/...`` aliases.

Thin: parse the request, call ``hub.config_service``, shape the answer. Fixed paths
(``history``, ``reload``) are declared before ``/{service}`` so they are not taken for a name.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from centralhub.config.models import ConfigVersion, check_document, parse_revision
from centralhub.core.errors import InvalidInput
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["config"])
PREFIX = "/api/v1/config"
JSON = "application/json"

IfMatch = Annotated[str | None, Header(alias="If-Match", description="Expected current revision")]
Actor = Annotated[str | None, Header(alias="X-Actor", description="Who makes the change")]
MessageQ = Annotated[str | None, Query(description="Change message for the audit trail")]
MessageH = Annotated[str | None, Header(alias="X-Change-Message")]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("body: a JSON object is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body: not valid JSON: {exc}") from None
    check_document(body)
    return body


def _if_match(value: str | None) -> int | None:
    if value is None or value.strip() in ("", "*"):
        return None
    revision = parse_revision(value.strip().removeprefix("W/").strip('"'))
    if revision is None:
        raise InvalidInput(f"If-Match: must be a revision number (got {value[:40]!r})")
    return revision


def _author(request: Request, actor: str | None) -> str:
    """The authenticated identity when an auth layer set one, else ``X-Actor``."""
    for attr in ("identity", "principal", "actor"):
        ident = getattr(request.state, attr, None)
        if ident:
            return str(getattr(ident, "name", ident))
    return actor or "anonymous"


def _read(version: ConfigVersion) -> Response:
    return _json(version.to_read(), headers={"ETag": f'"{version.revision}"'})


def _written(version: ConfigVersion, broadcast: bool, **extra: Any) -> Response:
    body = {
        "status": "success",
        "message": "Config updated and broadcasted"
        if broadcast
        else "Config updated; broadcast unavailable, watchers catch up through /watch",
        "service_name": version.service_name,
        "version": version.version,
        "revision": version.revision,
        "broadcast": broadcast,
        **extra,
    }
    return _json(body, headers={"ETag": f'"{version.revision}"'})


# ---------------------------------------------------------------- fixed paths first
@router.get(PREFIX, summary="Services with a stored configuration")
async def list_configs(hub: HubDep, tenant: TenantDep) -> Response:
    services = await hub.config_service.services(tenant)
    return _json({"tenant_id": tenant, "count": len(services), "services": services})


@router.get(PREFIX + "/history/{service}", summary="Versions of a service's configuration, newest first")
async def history(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Only revisions below this")] = None,
) -> Response:
    versions = await hub.config_service.history(tenant, service, limit=limit, before=before)
    return _json(
        {"service_name": service, "count": len(versions), "history": [v.to_history() for v in versions]}
    )


@router.post(PREFIX + "/reload", summary="Re-read the hot-reload directory")
@router.post("/config/reload", include_in_schema=False)
async def reload(hub: HubDep) -> Response:
    return _json(await hub.config_service.hot_reload.reload())


@router.get(PREFIX + "/reload/status", summary="Hot-reload watcher state and rejected files")
async def reload_status(hub: HubDep) -> Response:
    return _json(hub.config_service.hot_reload.status())


# ---------------------------------------------------------------- one service
@router.get(PREFIX + "/{service}", summary="Current configuration of a service")
@router.get("/config/{service}", include_in_schema=False)
async def get_config(service: str, hub: HubDep, tenant: TenantDep) -> Response:
    return _read(await hub.config_service.get(tenant, service))


async def _change(
    write: Any,
    request: Request,
    hub: Any,
    tenant: str,
    service: str,
    if_match: str | None,
    actor: str | None,
    message: str | None,
) -> Response:
    """A whole-document or merge-patch write; reports whether the broadcast went out."""
    before = hub.config_service.publish_failures
    version = await write(
        tenant,
        service,
        await _body(request),
        author=_author(request, actor),
        message=message,
        if_match=_if_match(if_match),
    )
    return _written(version, hub.config_service.publish_failures == before)


@router.post(PREFIX + "/{service}", summary="Store a whole new configuration document and broadcast it")
async def put_config(
    service: str,
    request: Request,
    hub: HubDep,
    tenant: TenantDep,
    if_match: IfMatch = None,
    actor: Actor = None,
    message: MessageQ = None,
    message_h: MessageH = None,
) -> Response:
    return await _change(
        hub.config_service.put, request, hub, tenant, service, if_match, actor, message or message_h
    )


@router.patch(PREFIX + "/{service}", summary="Change part of a configuration (JSON merge patch, RFC 7396)")
async def patch_config(
    service: str,
    request: Request,
    hub: HubDep,
    tenant: TenantDep,
    if_match: IfMatch = None,
    actor: Actor = None,
    message: MessageQ = None,
    message_h: MessageH = None,
) -> Response:
    return await _change(
        hub.config_service.patch, request, hub, tenant, service, if_match, actor, message or message_h
    )


@router.get(PREFIX + "/{service}/versions/{version}", summary="One stored version (version or revision)")
async def get_version(service: str, version: str, hub: HubDep, tenant: TenantDep) -> Response:
    return _read(await hub.config_service.get_version(tenant, service, version))


@router.get(PREFIX + "/{service}/diff", summary="Changes between two versions")
async def diff_versions(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    from_: Annotated[str, Query(alias="from", description="version or revision")],
    to: Annotated[str | None, Query(description="version or revision; default current")] = None,
) -> Response:
    return _json(await hub.config_service.diff(tenant, service, from_, to))


@router.post(PREFIX + "/{service}/rollback", summary="Make an old version current again (as a new version)")
async def rollback(
    service: str,
    request: Request,
    hub: HubDep,
    tenant: TenantDep,
    if_match: IfMatch = None,
    actor: Actor = None,
) -> Response:
    body = await _body(request)
    if not isinstance(body, dict) or not isinstance(body.get("version"), str | int):
        raise InvalidInput('version: required, e.g. {"version": "1.0.0"}')
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise InvalidInput("message: must be a string")
    svc = hub.config_service
    before = svc.publish_failures
    new, target = await svc.rollback(
        tenant,
        service,
        str(body["version"]),
        author=_author(request, actor),
        message=message,
        if_match=_if_match(if_match),
    )
    return _written(
        new,
        svc.publish_failures == before,
        rolled_back_to={"version": target.version, "revision": target.revision},
    )


@router.put(PREFIX + "/{service}/schema", summary="Register the JSON Schema changes must satisfy")
async def put_schema(
    service: str, request: Request, hub: HubDep, tenant: TenantDep, actor: Actor = None
) -> Response:
    return _json(
        await hub.config_service.set_schema(
            tenant, service, await _body(request), author=_author(request, actor)
        )
    )


@router.get(PREFIX + "/{service}/schema", summary="The registered JSON Schema")
async def get_schema(service: str, hub: HubDep, tenant: TenantDep) -> Response:
    return _json(await hub.config_service.get_schema(tenant, service))


@router.post(PREFIX + "/{service}/validate", summary="Check a document against the schema without storing")
@router.post("/config/{service}/validate", include_in_schema=False)
async def validate(service: str, request: Request, hub: HubDep, tenant: TenantDep) -> Response:
    issues = await hub.config_service.validate(tenant, service, await _body(request))
    return _json({"valid": not issues, "errors": [i.to_dict() for i in issues]})


@router.get(PREFIX + "/{service}/watch", summary="Blocking query: answer when the revision passes N")
async def watch(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    revision: Annotated[
        int, Query(ge=0, le=2**62, description="Answer once the stored revision is above this")
    ] = 0,
    timeout: Annotated[float, Query(ge=0, le=300, description="Seconds to hold; then 304")] = 30.0,
) -> Response:
    version = await hub.config_service.watch(tenant, service, revision=revision, timeout=timeout)
    if version is None:
        return Response(status_code=304, headers={"ETag": f'"{revision}"'})
    return _read(version)
