"""Eureka's REST operations on the hub's port, under ``/eureka`` (and ``/eureka/v2``).

Reads answer XML unless the client asks for JSON (``Accept: application/json``), as Eureka
does; Prometheus' ``eureka_sd_configs`` reads the XML. Registration takes either format.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from centralhub.auth.context import current_principal
from centralhub.auth.errors import Forbidden
from centralhub.core.errors import InvalidInput, NotFound
from centralhub.eureka import documents
from centralhub.hub import Hub
from centralhub.registry.models import Instance, InstanceStatus
from centralhub.registry.schemas import RegistrationCreate
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["eureka"])
PREFIXES = ("/eureka", "/eureka/v2")


def _wants_json(request: Request) -> bool:
    return "json" in request.headers.get("accept", "")


def _answer(request: Request, as_json: Any, as_xml: bytes) -> Response:
    if _wants_json(request):
        return Response(orjson.dumps(as_json), media_type="application/json")
    return Response(as_xml, media_type="application/xml")


def _service(app: str) -> str:
    return app.lower()


def _find(hub: Hub, tenant: str, app: str, instance_id: str) -> Instance:
    for inst in hub.registry.instances(tenant, _service(app)):
        if documents.eureka_id(inst) == instance_id or inst.id == instance_id:
            return inst
    raise NotFound(f"no instance {instance_id!r} of application {app!r}")


def _may_write(service: str) -> None:
    principal = current_principal.get()
    if not principal.may_act_for(service):
        raise Forbidden(f"{principal.name!r} may not act for service {service[:128]!r}")


async def apps(hub: HubDep, tenant: TenantDep, request: Request) -> Response:
    insts = hub.registry.all_instances(tenant)
    return _answer(request, documents.applications_json(insts), documents.applications_xml(insts))


async def app(hub: HubDep, tenant: TenantDep, request: Request, app_id: str) -> Response:
    insts = sorted(hub.registry.instances(tenant, _service(app_id)), key=lambda i: (i.host, i.port))
    if not insts:
        raise NotFound(f"no application {app_id!r}")
    return _answer(
        request,
        {"application": documents.application_json(_service(app_id), insts)},
        documents.application_xml(_service(app_id), insts),
    )


async def instance(
    hub: HubDep, tenant: TenantDep, request: Request, app_id: str, instance_id: str
) -> Response:
    inst = _find(hub, tenant, app_id, instance_id)
    return _answer(request, {"instance": documents.instance_doc(inst)}, documents.instance_xml(inst))


async def register(hub: HubDep, tenant: TenantDep, request: Request, app_id: str) -> Response:
    parsed = documents.parse_instance(await request.body(), request.headers.get("content-type", ""))
    name = _service(app_id)
    _may_write(name)
    fields = parsed["fields"]
    if parsed["instance_id"]:
        fields["metadata"][documents.ID_KEY] = str(parsed["instance_id"])
    try:
        reg = RegistrationCreate.model_validate({"name": name, **fields}).to_domain()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(f"invalid instance: {where}: {first.get('msg')}") from None
    inst, _ = await hub.registry.register(tenant, reg)
    await _report(hub, inst, parsed["status"])
    return Response(status_code=204)


async def _report(hub: Hub, inst: Instance, status: str) -> None:
    wanted = documents.REPORTED[status]
    if wanted == InstanceStatus.DRAINING:
        await hub.registry.drain(inst.tenant_id, inst.service_name, inst.id)
    elif inst.status == InstanceStatus.DRAINING:
        await hub.registry.undrain(inst.tenant_id, inst.service_name, inst.id)
        await hub.registry.set_status(inst, wanted)
    else:
        await hub.registry.set_status(inst, wanted)


async def renew(hub: HubDep, tenant: TenantDep, app_id: str, instance_id: str) -> Response:
    # 404 tells a Eureka client to register again (after a hub restart lost nothing, this only
    # happens once the instance expired and was removed)
    inst = _find(hub, tenant, app_id, instance_id)
    _may_write(inst.service_name)
    await hub.registry.heartbeat(tenant, inst.service_name, inst.id)
    return Response(status_code=200)


async def cancel(hub: HubDep, tenant: TenantDep, app_id: str, instance_id: str) -> Response:
    inst = _find(hub, tenant, app_id, instance_id)
    _may_write(inst.service_name)
    await hub.registry.deregister(tenant, inst.service_name, inst.id)
    return Response(status_code=200)


async def set_status(hub: HubDep, tenant: TenantDep, app_id: str, instance_id: str, value: str) -> Response:
    inst = _find(hub, tenant, app_id, instance_id)
    _may_write(inst.service_name)
    status = value.upper()
    if status not in documents.REPORTED:
        raise InvalidInput(f"value must be one of {', '.join(documents.REPORTED)} (got {value[:40]!r})")
    await _report(hub, inst, status)
    return Response(status_code=200)


async def clear_status(hub: HubDep, tenant: TenantDep, app_id: str, instance_id: str) -> Response:
    inst = _find(hub, tenant, app_id, instance_id)
    _may_write(inst.service_name)
    with contextlib.suppress(NotFound):
        if inst.status == InstanceStatus.DRAINING:
            await hub.registry.undrain(tenant, inst.service_name, inst.id)
    return Response(status_code=200)


#: (method, path under the prefix, endpoint, summary)
_ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/apps", apps, "Eureka: every application of the tenant (XML, or JSON by Accept)"),
    ("GET", "/apps/{app_id}", app, "Eureka: one application's instances"),
    ("POST", "/apps/{app_id}", register, "Eureka: register an instance (XML or JSON)"),
    ("GET", "/apps/{app_id}/{instance_id}", instance, "Eureka: one instance"),
    ("PUT", "/apps/{app_id}/{instance_id}", renew, "Eureka: renew an instance's lease"),
    ("DELETE", "/apps/{app_id}/{instance_id}", cancel, "Eureka: cancel (deregister) an instance"),
    ("PUT", "/apps/{app_id}/{instance_id}/status", set_status, "Eureka: override the status"),
    ("DELETE", "/apps/{app_id}/{instance_id}/status", clear_status, "Eureka: remove the override"),
]
for _prefix in PREFIXES:
    for _method, _path, _endpoint, _summary in _ROUTES:
        router.add_api_route(
            _prefix + _path,
            _endpoint,
            methods=[_method],
            # the v2 prefix is an alias some clients use: documented once
            include_in_schema=_prefix == "/eureka",
            status_code=204 if _endpoint is register else 200,
            summary=_summary,
        )
