"""Configuration API: ``/api/v1/config/...`` plus the short ``/config/...`` aliases existing services call.

Thin: parse the request, call ``hub.config_service``, shape the answer with ``schemas.py``. A write's
body is the configuration document itself, parsed here (not by FastAPI) so a body that is not a
JSON object gets a 400 naming the problem; ``openapi_extra`` documents it. Fixed paths
(``history``, ``reload``) are declared before ``/{service}`` so they are not taken for a name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from centralhub.auth.context import current_principal
from centralhub.config.documents import check_document, check_service_name, parse_revision
from centralhub.config.models import ConfigVersion
from centralhub.config.rollout_answers import Answer, answer_body, check_instance_id
from centralhub.config.schemas import (
    DOCUMENT_BODY,
    PATCH_BODY,
    ChangeRead,
    ConfigDiffRead,
    ConfigHistoryEntry,
    ConfigHistoryRead,
    ConfigListRead,
    ConfigRead,
    ConfigRolledBack,
    ConfigWritten,
    ReloadResult,
    ReloadStatus,
    RollbackRequest,
    SchemaSet,
    ValidationRead,
    VersionRef,
    issues_read,
)
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import error_responses
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["config"])
PREFIX = "/api/v1/config"
JSON = "application/json"


#: every route can meet a malformed header or parameter (422) or an unreachable database (503)
READ_ERRORS = error_responses(400, 404, 422, 503)
WRITE_ERRORS = error_responses(400, 404, 409, 413, 422, 503)

IfMatch = Annotated[str | None, Header(alias="If-Match", description="Expected current revision")]
Actor = Annotated[str | None, Header(alias="X-Actor", description="Who makes the change")]
MessageQ = Annotated[str | None, Query(description="Change message for the audit trail")]
MessageH = Annotated[str | None, Header(alias="X-Change-Message")]
InstanceH = Annotated[
    str | None,
    Header(alias="X-Instance-ID", description="The asking instance (canaries get their candidate)"),
]
InstanceQ = Annotated[str | None, Query(description="The asking instance, as X-Instance-ID")]
Write = Callable[..., Awaitable[ConfigVersion]]


def _send(model: BaseModel, *, headers: dict[str, str] | None = None, **dump: Any) -> Response:
    """Serialize with orjson (64-bit integers, deep documents) after the model checked the shape."""
    return Response(orjson.dumps(model.model_dump(by_alias=True, **dump)), media_type=JSON, headers=headers)


def _etag(revision: int) -> dict[str, str]:
    return {"ETag": f'"{revision}"'}


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
    """The authenticated caller when auth is on; without auth, ``X-Actor`` (a label only)."""
    principal = current_principal.get()
    if principal.kind != "anonymous":
        return principal.name
    return actor or "anonymous"


def _read(version: ConfigVersion) -> Response:
    return _send(ConfigRead.of(version), headers=_etag(version.revision))


def _written(version: ConfigVersion, broadcast: bool, restored: ConfigVersion | None = None) -> Response:
    fields: dict[str, Any] = {
        "message": "Config updated and broadcasted"
        if broadcast
        else "Config updated; broadcast unavailable, watchers catch up through /watch",
        "service_name": version.service_name,
        "version": version.version,
        "revision": version.revision,
        "broadcast": broadcast,
    }
    if restored is None:
        return _send(ConfigWritten(**fields), headers=_etag(version.revision))
    target = VersionRef(version=restored.version, revision=restored.revision)
    return _send(ConfigRolledBack(**fields, rolled_back_to=target), headers=_etag(version.revision))


# ---------------------------------------------------------------- fixed paths first
@router.get(
    PREFIX,
    response_model=ConfigListRead,
    responses=READ_ERRORS,
    summary="Services with a stored configuration",
)
async def list_configs(hub: HubDep, tenant: TenantDep) -> Response:
    services = await hub.config_service.services(tenant)
    return _send(ConfigListRead(tenant_id=tenant, count=len(services), services=services))


@router.get(
    PREFIX + "/history/{service}",
    response_model=ConfigHistoryRead,
    responses=READ_ERRORS,
    summary="Versions of a service's configuration, newest first",
)
async def history(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Only revisions below this")] = None,
) -> Response:
    versions = await hub.config_service.history(tenant, service, limit=limit, before=before)
    entries = [ConfigHistoryEntry.of(v) for v in versions]
    return _send(ConfigHistoryRead(service_name=service, count=len(entries), history=entries))


@router.post(
    PREFIX + "/reload",
    response_model=ReloadResult,
    responses=READ_ERRORS,
    summary="Re-read the hot-reload directory",
)
@router.post("/config/reload", include_in_schema=False)
async def reload(hub: HubDep) -> Response:
    result = await hub.config_service.hot_reload.reload()
    await hub.audit.record("config.reload", "config/reload", details=result)
    return _send(ReloadResult.model_validate(result))


@router.get(
    PREFIX + "/reload/status",
    response_model=ReloadStatus,
    responses=READ_ERRORS,
    summary="Hot-reload watcher state and rejected files",
)
async def reload_status(hub: HubDep) -> Response:
    return _send(ReloadStatus.model_validate(hub.config_service.hot_reload.status()))


# ---------------------------------------------------------------- one service
@router.get(
    PREFIX + "/{service}",
    response_model=ConfigRead,
    responses=READ_ERRORS,
    summary="Current configuration of a service",
)
@router.get("/config/{service}", include_in_schema=False)
async def get_config(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    instance_h: InstanceH = None,
    instance_id: InstanceQ = None,
) -> Response:
    who = check_instance_id(instance_id or instance_h)
    rollouts = hub.config_rollouts
    if rollouts.assigned(tenant, service, who) is not None:
        return _answer(await rollouts.answer(tenant, service, who))
    return _read(await hub.config_service.get(tenant, service))


def _answer(answer: Answer) -> Response:
    """A per-instance answer: the canary's candidate carries ``rollout_id``."""
    return Response(orjson.dumps(answer_body(answer)), media_type=JSON, headers=_etag(answer[0].revision))


async def _change(
    write: Write,
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


@router.post(
    PREFIX + "/{service}",
    response_model=ConfigWritten,
    responses=WRITE_ERRORS,
    openapi_extra=DOCUMENT_BODY,
    summary="Store a whole new configuration document and broadcast it",
)
@router.put(
    PREFIX + "/{service}",
    response_model=ConfigWritten,
    responses=WRITE_ERRORS,
    openapi_extra=DOCUMENT_BODY,
    summary="The same as POST (PUT /api/v1/config/_global sets the global configuration)",
)
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


@router.patch(
    PREFIX + "/{service}",
    response_model=ConfigWritten,
    responses=WRITE_ERRORS,
    openapi_extra=PATCH_BODY,
    summary="Change part of a configuration (JSON merge patch, RFC 7396)",
)
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


@router.get(
    PREFIX + "/{service}/versions/{version}",
    response_model=ConfigRead,
    responses=READ_ERRORS,
    summary="One stored version (version or revision)",
)
async def get_version(service: str, version: str, hub: HubDep, tenant: TenantDep) -> Response:
    return _read(await hub.config_service.get_version(tenant, service, version))


@router.get(
    PREFIX + "/{service}/diff",
    response_model=ConfigDiffRead,
    responses=READ_ERRORS,
    summary="Changes between two versions",
)
async def diff_versions(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    from_: Annotated[str, Query(alias="from", description="version or revision")],
    to: Annotated[str | None, Query(description="version or revision; default current")] = None,
) -> Response:
    d = await hub.config_service.diff(tenant, service, from_, to)
    body = ConfigDiffRead(
        service_name=d.service_name,
        from_=VersionRef(version=d.old.version, revision=d.old.revision),
        to=VersionRef(version=d.new.version, revision=d.new.revision),
        changes=[ChangeRead.model_validate(c.to_dict()) for c in d.changes],
    )
    # an addition has no "old" and a removal no "new": only what was set is sent
    return _send(body, exclude_unset=True)


@router.post(
    PREFIX + "/{service}/rollback",
    response_model=ConfigRolledBack,
    responses=WRITE_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RollbackRequest.model_json_schema()}},
        }
    },
    summary="Make an old version current again (as a new version)",
)
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
    return _written(new, svc.publish_failures == before, restored=target)


@router.put(
    PREFIX + "/{service}/schema",
    response_model=SchemaSet,
    responses=WRITE_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": "A JSON Schema"}}},
        }
    },
    summary="Register the JSON Schema changes must satisfy",
)
async def put_schema(
    service: str, request: Request, hub: HubDep, tenant: TenantDep, actor: Actor = None
) -> Response:
    issues = await hub.config_service.set_schema(
        tenant, service, await _body(request), author=_author(request, actor)
    )
    return _send(
        SchemaSet(service_name=service, current_version_valid=not issues, errors=issues_read(issues))
    )


@router.get(
    PREFIX + "/{service}/schema",
    response_model=dict[str, Any],
    responses=READ_ERRORS,
    summary="The registered JSON Schema",
)
async def get_schema(service: str, hub: HubDep, tenant: TenantDep) -> Response:
    schema = await hub.config_service.get_schema(tenant, service)
    return Response(orjson.dumps(schema), media_type=JSON)


@router.post(
    PREFIX + "/{service}/validate",
    response_model=ValidationRead,
    responses=error_responses(400, 413, 422, 503),
    openapi_extra=DOCUMENT_BODY,
    summary="Check a document against the schema without storing",
)
@router.post("/config/{service}/validate", include_in_schema=False)
async def validate(service: str, request: Request, hub: HubDep, tenant: TenantDep) -> Response:
    issues = await hub.config_service.validate(tenant, service, await _body(request))
    return _send(ValidationRead(valid=not issues, errors=issues_read(issues)))


@router.get(
    PREFIX + "/{service}/watch",
    response_model=ConfigRead,
    responses={**READ_ERRORS, 304: {"description": "No newer revision within the timeout (no body)"}},
    summary="Blocking query: answer when the revision passes N",
)
async def watch(
    service: str,
    hub: HubDep,
    tenant: TenantDep,
    revision: Annotated[
        int, Query(ge=0, le=2**62, description="Answer once the stored revision is above this")
    ] = 0,
    timeout: Annotated[float, Query(ge=0, le=300, description="Seconds to hold; then 304")] = 30.0,
    instance_h: InstanceH = None,
    instance_id: InstanceQ = None,
    rollout: Annotated[
        str | None, Query(max_length=64, description="The rollout whose candidate the instance runs")
    ] = None,
    global_revision: Annotated[
        int | None,
        Query(
            ge=0, le=2**62, description="Also answer once the global configuration's revision is above this"
        ),
    ] = None,
) -> Response:
    who = check_instance_id(instance_id or instance_h)
    if who is not None:
        check_service_name(service)
        if not 0 <= timeout <= 300:
            raise InvalidInput(f"timeout: must be 0-300 seconds (got {timeout})")
        answer = await hub.config_rollouts.watch(
            tenant,
            service,
            who,
            revision=revision,
            have=rollout or None,
            timeout=timeout,
            global_revision=global_revision,
        )
        return Response(status_code=304, headers=_etag(revision)) if answer is None else _answer(answer)
    version = await hub.config_service.watch(
        tenant, service, revision=revision, timeout=timeout, global_revision=global_revision
    )
    if version is None:
        return Response(status_code=304, headers=_etag(revision))
    return _read(version)


# ---------------------------------------------------------------- who runs what
class AppliedReport(BaseModel):
    """What an instance applied (sent by the SDK after each new revision)."""

    model_config = ConfigDict(extra="forbid")

    revision: int = Field(..., ge=0, le=2**62)
    ok: bool = True
    error: str | None = Field(None, max_length=4000, description="why applying failed (truncated to 1000)")


class AppliedRecorded(BaseModel):
    instance_id: str
    revision: int
    ok: bool


@router.post(
    PREFIX + "/{service}/instances/{instance_id}/applied",
    response_model=AppliedRecorded,
    responses=error_responses(400, 404, 422),
    summary="An instance reports the configuration revision it applied, and whether that worked",
)
async def report_applied(
    service: str, instance_id: str, body: AppliedReport, hub: HubDep, tenant: TenantDep
) -> AppliedRecorded:
    await hub.config_drift.report(
        tenant, service, instance_id, revision=body.revision, ok=body.ok, error=body.error
    )
    return AppliedRecorded(instance_id=instance_id, revision=body.revision, ok=body.ok)


@router.get(
    PREFIX + "/{service}/instances",
    responses=error_responses(400, 404, 422),
    summary="Each instance's applied revision, when, the outcome, and whether it has drifted",
)
async def applied_view(service: str, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return await hub.config_drift.view(tenant, service)
