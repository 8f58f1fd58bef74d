"""Consul's HTTP API (the subset common clients use) on the hub's port.

Agent, catalog and health endpoints read and write the hub's registry; ``/v1/kv`` is
:mod:`centralhub.consul.kv`. Tenants are Consul namespaces (``?ns=``); ``X-Consul-Token`` and
``?token=`` carry a hub credential (see the auth middleware). Reads that Consul lets block do
so here too (``?index=`` and ``?wait=``, :mod:`centralhub.consul.indexes`).
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from centralhub.auth.context import current_principal
from centralhub.auth.errors import Forbidden
from centralhub.consul import catalog
from centralhub.consul.indexes import ChangeIndexes, parse_index, parse_wait
from centralhub.consul.kv import check_key
from centralhub.core.errors import InvalidInput, NotFound
from centralhub.hub import Hub
from centralhub.registry.models import Instance, InstanceStatus
from centralhub.server.deps import HubDep, TenantDep, tenant_of

router = APIRouter(tags=["consul"])

IndexQ = Annotated[str | None, Query(description="blocking query: wait for a change after this index")]
WaitQ = Annotated[str | None, Query(description="longest a blocking query waits (10s, 5m; at most 10m)")]
NsQ = Annotated[str | None, Query(description="Consul namespace: the hub tenant")]
#: what a Consul client reports as the server's version: the API level this subset follows
CONSUL_VERSION = "1.17.0"


def answer(body: Any, index: int, *, raw: bytes | None = None, status: int = 200) -> Response:
    headers = {
        "X-Consul-Index": str(max(index, 1)),
        # there is no leader election among hubs: every replica answers from the shared database
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
        "X-Consul-Effective-Consistency": "leader",
    }
    if raw is not None:
        return Response(raw, status_code=status, headers=headers, media_type="application/octet-stream")
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def namespace(ns: str | None, tenant: str) -> str:
    """``?ns=`` as the tenant; a credential bound to a tenant may name only its own."""
    if ns is None or ns == "":
        return tenant
    chosen = tenant_of(ns)
    limit = current_principal.get().tenant
    if limit is not None and chosen != limit:
        raise Forbidden(f"this credential is bound to tenant {limit!r}; namespace {chosen!r} is not allowed")
    return chosen


def _indexes(hub: Hub) -> ChangeIndexes:
    return hub.consul_indexes


def _svc(tenant: str, name: str) -> tuple[str, ...]:
    return ("svc", tenant, name)


def _by_consul_id(hub: Hub, tenant: str, sid: str) -> Instance | None:
    return hub.consul_lookup.find(tenant, "service", sid, catalog.consul_id)


def _by_check_id(hub: Hub, tenant: str, check_id: str) -> Instance:
    inst = hub.consul_lookup.find(tenant, "check", check_id, catalog.check_id_of)
    if inst is not None:
        return inst
    raise NotFound(f'Unknown check ID "{check_id}"')


def _may_write(service: str) -> None:
    principal = current_principal.get()
    if not principal.may_act_for(service):
        raise Forbidden(f"{principal.name!r} may not act for service {service[:128]!r}")


# ------------------------------------------------------------------------- agent
@router.get("/v1/agent/self", summary="Consul: the agent answering (the hub replica)")
async def agent_self(hub: HubDep, request: Request) -> Response:
    name = socket.gethostname()
    return answer(
        {
            "Config": {
                "Datacenter": catalog.DATACENTER,
                "PrimaryDatacenter": catalog.DATACENTER,
                "NodeName": name,
                "NodeID": catalog.node(name, 1)["ID"],
                "Server": True,
                "Revision": "centralhub",
                "Version": CONSUL_VERSION,
            },
            "Member": {
                "Name": name,
                "Addr": request.url.hostname or "127.0.0.1",
                "Port": request.url.port or hub.settings.port,
                "Tags": {"role": "consul", "dc": catalog.DATACENTER, "build": f"{CONSUL_VERSION}:centralhub"},
                "Status": 1,
            },
            "Meta": {"centralhub_version": hub.version},
        },
        _indexes(hub).get(("self",)),
    )


@router.get("/v1/agent/services", summary="Consul: services of the namespace, by service ID")
async def agent_services(hub: HubDep, tenant: TenantDep, ns: NsQ = None) -> Response:
    tenant = namespace(ns, tenant)
    found = {
        catalog.consul_id(i): catalog.agent_service(i, tenant) for i in hub.registry.all_instances(tenant)
    }
    return answer(found, _indexes(hub).get(("tenant", tenant)))


@router.get("/v1/agent/service/{service_id}", summary="Consul: one service by its ID")
async def agent_service(hub: HubDep, tenant: TenantDep, service_id: str, ns: NsQ = None) -> Response:
    tenant = namespace(ns, tenant)
    inst = _by_consul_id(hub, tenant, service_id)
    if inst is None:
        raise NotFound(f"unknown service ID: {service_id}")
    return answer(catalog.agent_service(inst, tenant), _indexes(hub).get(_svc(tenant, inst.service_name)))


@router.get("/v1/agent/checks", summary="Consul: the service checks of the namespace, by check ID")
async def agent_checks(hub: HubDep, tenant: TenantDep, ns: NsQ = None) -> Response:
    tenant = namespace(ns, tenant)
    index = _indexes(hub).get(("tenant", tenant))
    checks: dict[str, Any] = {}
    for inst in hub.registry.all_instances(tenant):
        for check in catalog.health_checks(inst, tenant, index)[1:]:
            checks[check["CheckID"]] = check
    return answer(checks, index)


@router.put("/v1/agent/service/register", summary="Consul: register a service (hub registration)")
async def agent_register(hub: HubDep, tenant: TenantDep, request: Request, ns: NsQ = None) -> Response:
    tenant = namespace(ns, tenant)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a service definition (a JSON object)")
    address = request.client.host if request.client else "127.0.0.1"
    reg, sid = catalog.registration(body, default_address=address)
    _may_write(reg.name)
    earlier = _by_consul_id(hub, tenant, sid)
    if earlier is not None and (earlier.service_name, earlier.host, earlier.port) != (
        reg.name,
        reg.host,
        reg.port,
    ):
        # the same service ID moved: Consul replaces the definition, so the old instance goes
        _may_write(earlier.service_name)
        await hub.registry.deregister(tenant, earlier.service_name, earlier.id)
    await hub.registry.register(tenant, reg)
    return answer(None, _indexes(hub).get(_svc(tenant, reg.name)), raw=b"")


@router.put("/v1/agent/service/deregister/{service_id}", summary="Consul: deregister a service by its ID")
async def agent_deregister(hub: HubDep, tenant: TenantDep, service_id: str, ns: NsQ = None) -> Response:
    tenant = namespace(ns, tenant)
    inst = _by_consul_id(hub, tenant, service_id)
    if inst is None:
        raise NotFound(f'Unknown service ID "{service_id}"')
    _may_write(inst.service_name)
    await hub.registry.deregister(tenant, inst.service_name, inst.id)
    return answer(None, _indexes(hub).get(_svc(tenant, inst.service_name)), raw=b"")


_CHECK_STATUS = {
    "pass": InstanceStatus.PASSING,
    "passing": InstanceStatus.PASSING,
    "warn": InstanceStatus.WARNING,
    "warning": InstanceStatus.WARNING,
    "fail": InstanceStatus.CRITICAL,
    "critical": InstanceStatus.CRITICAL,
}


async def _update_ttl_check(hub: Hub, tenant: str, check_id: str, status: InstanceStatus) -> Response:
    inst = _by_check_id(hub, tenant, check_id)
    _may_write(inst.service_name)
    if (inst.check or {}).get("type", "ttl") != "ttl":
        raise InvalidInput(f'check "{check_id}" is not a TTL check: the hub runs it and sets its status')
    if inst.status == InstanceStatus.DRAINING:
        raise InvalidInput(f'service of check "{check_id}" is draining; undrain it first')
    # any update renews the TTL, as in Consul; then the status it reports
    await hub.registry.heartbeat(tenant, inst.service_name, inst.id)
    await hub.registry.set_status(inst, status)
    return answer(None, _indexes(hub).get(_svc(tenant, inst.service_name)), raw=b"")


@router.put(
    "/v1/agent/check/{verb}/{check_id:path}",
    summary="Consul: report a TTL check (pass, warn, fail; update with a Status body)",
)
async def agent_check(
    hub: HubDep, tenant: TenantDep, verb: str, check_id: str, request: Request, ns: NsQ = None
) -> Response:
    tenant = namespace(ns, tenant)
    if verb == "update":
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"request body is not valid JSON: {exc}") from None
        word = str(body.get("Status", "")).lower() if isinstance(body, dict) else ""
        status = _CHECK_STATUS.get(word)
        if status is None:
            raise InvalidInput("Status must be passing, warning or critical")
    elif verb in ("pass", "warn", "fail"):
        status = _CHECK_STATUS[verb]
    else:
        raise NotFound(f"unknown check operation {verb!r}: use pass, warn, fail or update")
    return await _update_ttl_check(hub, tenant, check_id, status)


# ------------------------------------------------------------------------- catalog and health
@router.get("/v1/catalog/datacenters", summary="Consul: datacenters (one)")
async def catalog_datacenters(hub: HubDep) -> Response:
    return answer([catalog.DATACENTER], _indexes(hub).get(("self",)))


@router.get("/v1/catalog/services", summary="Consul: service names of the namespace with their tags")
async def catalog_services(
    hub: HubDep, tenant: TenantDep, ns: NsQ = None, index: IndexQ = None, wait: WaitQ = None
) -> Response:
    tenant = namespace(ns, tenant)
    indexes = _indexes(hub)

    async def current() -> tuple[int, dict[str, list[str]]]:
        found: dict[str, set[str]] = {}
        for inst in hub.registry.all_instances(tenant):
            found.setdefault(inst.service_name, set()).update(inst.tags)
        return indexes.get(("tenant", tenant)), {k: sorted(v) for k, v in sorted(found.items())}

    at, body = await indexes.block(("tenant", tenant), parse_index(index), parse_wait(wait), current)
    return answer(body, at)


@router.get("/v1/catalog/nodes", summary="Consul: nodes (the hosts instances run on)")
async def catalog_nodes(
    hub: HubDep, tenant: TenantDep, ns: NsQ = None, index: IndexQ = None, wait: WaitQ = None
) -> Response:
    tenant = namespace(ns, tenant)
    indexes = _indexes(hub)

    async def current() -> tuple[int, list[dict[str, Any]]]:
        at = indexes.get(("tenant", tenant))
        hosts = sorted({i.host for i in hub.registry.all_instances(tenant)})
        return at, [catalog.node(h, at) for h in hosts]

    at, body = await indexes.block(("tenant", tenant), parse_index(index), parse_wait(wait), current)
    return answer(body, at)


TagQ = Annotated[list[str] | None, Query(description="only instances with every tag given")]


async def _service_answer(
    hub: Hub,
    tenant: str,
    name: str,
    *,
    tags: list[str],
    index: str | None,
    wait: str | None,
    entry: Callable[[Instance, str, int], dict[str, Any]],
    only_passing: bool = False,
) -> Response:
    """One service's instances as ``entry`` draws them, held while ``index`` is current."""
    indexes = _indexes(hub)
    key = _svc(tenant, name)

    async def current() -> tuple[int, list[dict[str, Any]]]:
        at = indexes.get(key)
        insts = sorted(
            (
                i
                for i in hub.registry.instances(tenant, name)
                if all(t in i.tags for t in tags) and (not only_passing or catalog.passing(i))
            ),
            key=lambda i: (i.host, i.port, i.id),
        )
        return at, [entry(i, tenant, at) for i in insts]

    at, body = await indexes.block(key, parse_index(index), parse_wait(wait), current)
    return answer(body, at)


@router.get("/v1/catalog/service/{name}", summary="Consul: instances of a service")
async def catalog_service(
    hub: HubDep,
    tenant: TenantDep,
    name: str,
    ns: NsQ = None,
    tag: TagQ = None,
    index: IndexQ = None,
    wait: WaitQ = None,
) -> Response:
    return await _service_answer(
        hub, namespace(ns, tenant), name, tags=tag or [], index=index, wait=wait, entry=catalog.catalog_entry
    )


@router.get("/v1/health/service/{name}", summary="Consul: instances of a service with their checks")
async def health_service(
    hub: HubDep,
    tenant: TenantDep,
    name: str,
    ns: NsQ = None,
    passing: Annotated[str | None, Query(description="only instances whose checks all pass")] = None,
    tag: TagQ = None,
    index: IndexQ = None,
    wait: WaitQ = None,
) -> Response:
    return await _service_answer(
        hub,
        namespace(ns, tenant),
        name,
        tags=tag or [],
        index=index,
        wait=wait,
        entry=catalog.health_entry,
        # Consul takes a bare ?passing, ?passing=1 or ?passing=true
        only_passing=passing is not None and passing.lower() not in ("0", "false"),
    )


@router.get("/v1/status/leader", summary="Consul: the leader's address (the hub answering)")
async def status_leader(hub: HubDep, request: Request) -> Response:
    return answer(
        f"{request.url.hostname}:{request.url.port or hub.settings.port}", _indexes(hub).get(("self",))
    )


@router.get("/v1/status/peers", summary="Consul: the servers (the hub answering)")
async def status_peers(hub: HubDep, request: Request) -> Response:
    return answer(
        [f"{request.url.hostname}:{request.url.port or hub.settings.port}"], _indexes(hub).get(("self",))
    )


# ------------------------------------------------------------------------- key/value
def _entry_body(entry: Any, tenant: str) -> dict[str, Any]:
    return {
        "LockIndex": 0,
        "Key": entry.key,
        "Flags": entry.flags,
        "Value": None if entry.value is None else base64.b64encode(entry.value).decode(),
        "CreateIndex": entry.create_index,
        "ModifyIndex": entry.modify_index,
        "Namespace": tenant,
    }


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() not in ("0", "false")


@router.get("/v1/kv/{key:path}", summary="Consul: read a key, or the keys under a prefix")
async def kv_get(
    hub: HubDep,
    tenant: TenantDep,
    key: str,
    ns: NsQ = None,
    recurse: str | None = None,
    keys: str | None = None,
    raw: str | None = None,
    separator: str | None = None,
    index: IndexQ = None,
    wait: WaitQ = None,
) -> Response:
    tenant = namespace(ns, tenant)
    is_recurse, keys_only = _flag(recurse), _flag(keys)
    check_key(key, allow_empty=is_recurse or keys_only)
    store = hub.consul_kv

    async def current() -> tuple[int, Any]:
        return await store.read(tenant, key, recurse=is_recurse, keys_only=keys_only, separator=separator)

    at, found = await hub.consul_indexes.block(("kv", tenant), parse_index(index), parse_wait(wait), current)
    if keys_only:
        return answer(found.keys, at, status=200 if found.keys else 404)
    if not found.entries:
        return answer(None, at, raw=b"", status=404)
    if _flag(raw) and not is_recurse:
        return answer(None, at, raw=found.entries[0].value or b"")
    return answer([_entry_body(e, tenant) for e in found.entries], at)


@router.put("/v1/kv/{key:path}", summary="Consul: write a key (cas for check-and-set)")
async def kv_put(
    hub: HubDep,
    tenant: TenantDep,
    key: str,
    request: Request,
    ns: NsQ = None,
    cas: str | None = None,
    flags: str | None = None,
    acquire: str | None = None,
    release: str | None = None,
) -> Response:
    tenant = namespace(ns, tenant)
    if acquire is not None or release is not None:
        raise InvalidInput("sessions and locks (acquire, release) are not supported by this hub")
    value = await request.body()
    done = await hub.consul_kv.put(
        tenant, key, value, flags=parse_index(flags, "flags") or 0, cas=parse_index(cas, "cas")
    )
    return answer(done, hub.consul_indexes.get(("kv", tenant)))


@router.delete("/v1/kv/{key:path}", summary="Consul: delete a key, or every key under a prefix")
async def kv_delete(
    hub: HubDep,
    tenant: TenantDep,
    key: str,
    ns: NsQ = None,
    recurse: str | None = None,
    cas: str | None = None,
) -> Response:
    tenant = namespace(ns, tenant)
    done = await hub.consul_kv.delete(tenant, key, recurse=_flag(recurse), cas=parse_index(cas, "cas"))
    return answer(done, hub.consul_indexes.get(("kv", tenant)))
