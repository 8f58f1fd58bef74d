"""The registry as Consul's agent, catalog and health endpoints describe it, and Consul's
service definitions as hub registrations.

A Consul node is a machine running an agent; the hub has no agents, so each distinct instance
host is a node (named after the host). A Consul service ID is the client's choice: it is kept in
the instance's metadata (``consul_id``) so deregistration and check updates find the instance,
and the hub's own instance id is the service ID when none was given.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError

from centralhub.core.errors import InvalidInput
from centralhub.registry.models import Instance, InstanceStatus, Registration
from centralhub.registry.reaper import DEREGISTER_AFTER_KEY
from centralhub.registry.schemas import RegistrationCreate

__all__ = [
    "DATACENTER",
    "agent_service",
    "catalog_entry",
    "check_id_of",
    "consul_id",
    "health_entry",
    "node",
    "registration",
]

DATACENTER = "dc1"
#: metadata keys the translation keeps for itself (not shown back as Meta)
ID_KEY = "consul_id"
CHECK_ID_KEY = "consul_check_id"
_HIDDEN = {ID_KEY, CHECK_ID_KEY, DEREGISTER_AFTER_KEY}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(value: Any, field: str) -> float:
    """A Go duration ("10s", "1m30s", "500ms") or a number of seconds, as seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        pos, total = 0, 0.0
        for found in _DURATION.finditer(text):
            if found.start() != pos:
                break
            total += float(found.group(1)) * _UNIT[found.group(2)]
            pos = found.end()
        else:
            if pos == len(text) and pos > 0:
                return total
    raise InvalidInput(f"{field} must be a duration such as 10s or 1m30s (got {str(value)[:40]!r})")


def consul_id(inst: Instance) -> str:
    found = inst.metadata.get(ID_KEY) if isinstance(inst.metadata, dict) else None
    return found if isinstance(found, str) and found else inst.id


def check_id_of(inst: Instance) -> str:
    found = inst.metadata.get(CHECK_ID_KEY) if isinstance(inst.metadata, dict) else None
    return found if isinstance(found, str) and found else f"service:{consul_id(inst)}"


def _meta(inst: Instance) -> dict[str, str]:
    """Consul's Meta is a map of strings: other values are shown as JSON."""
    meta = inst.metadata if isinstance(inst.metadata, dict) else {}
    return {
        str(k): v if isinstance(v, str) else orjson.dumps(v).decode()
        for k, v in meta.items()
        if k not in _HIDDEN
    }


def node(host: str, index: int) -> dict[str, Any]:
    return {
        "ID": str(uuid.uuid5(uuid.NAMESPACE_DNS, host)),
        "Node": host,
        "Address": host,
        "Datacenter": DATACENTER,
        "TaggedAddresses": {"lan": host, "wan": host},
        "Meta": {},
        "CreateIndex": index,
        "ModifyIndex": index,
    }


def agent_service(inst: Instance, tenant: str) -> dict[str, Any]:
    return {
        "ID": consul_id(inst),
        "Service": inst.service_name,
        "Tags": list(inst.tags),
        "Meta": _meta(inst),
        "Port": inst.port,
        "Address": inst.host,
        "Weights": {"Passing": inst.weight, "Warning": 1},
        "EnableTagOverride": False,
        "Datacenter": DATACENTER,
        "Namespace": tenant,
    }


def catalog_entry(inst: Instance, tenant: str, index: int) -> dict[str, Any]:
    n = node(inst.host, index)
    return {
        "ID": n["ID"],
        "Node": n["Node"],
        "Address": n["Address"],
        "Datacenter": DATACENTER,
        "TaggedAddresses": n["TaggedAddresses"],
        "NodeMeta": {},
        "ServiceKind": "",
        "ServiceID": consul_id(inst),
        "ServiceName": inst.service_name,
        "ServiceTags": list(inst.tags),
        "ServiceAddress": inst.host,
        "ServiceWeights": {"Passing": inst.weight, "Warning": 1},
        "ServiceMeta": _meta(inst),
        "ServicePort": inst.port,
        "ServiceEnableTagOverride": False,
        "ServiceProxy": {},
        "ServiceConnect": {},
        "CreateIndex": index,
        "ModifyIndex": index,
        "Namespace": tenant,
    }


def _check(inst: Instance, tenant: str, index: int, **fields: Any) -> dict[str, Any]:
    return {
        "Node": inst.host,
        "CheckID": "",
        "Name": "",
        "Status": "passing",
        "Notes": "",
        "Output": "",
        "ServiceID": consul_id(inst),
        "ServiceName": inst.service_name,
        "ServiceTags": list(inst.tags),
        "Type": "",
        "Namespace": tenant,
        "CreateIndex": index,
        "ModifyIndex": index,
        **fields,
    }


def health_checks(inst: Instance, tenant: str, index: int) -> list[dict[str, Any]]:
    """The node's check (always passing: there is no agent to fail) and the service's check; a
    draining instance is in maintenance mode, as Consul shows an instance taken out on purpose."""
    kind = str((inst.check or {}).get("type", "ttl"))
    status = "critical" if inst.status == InstanceStatus.DRAINING else inst.status.value
    checks = [
        {
            **_check(inst, tenant, index, CheckID="serfHealth", Name="Serf Health Status", Type=""),
            "ServiceID": "",
            "ServiceName": "",
            "ServiceTags": [],
        },
        _check(
            inst,
            tenant,
            index,
            CheckID=check_id_of(inst),
            Name=f"Service '{inst.service_name}' check",
            Status="passing" if inst.status == InstanceStatus.DRAINING else status,
            Output=f"{kind} check: {inst.status.value}",
            Type=kind,
        ),
    ]
    if inst.status == InstanceStatus.DRAINING:
        checks.append(
            _check(
                inst,
                tenant,
                index,
                CheckID=f"_service_maintenance:{consul_id(inst)}",
                Name="Service Maintenance Mode",
                Status="critical",
                Notes="draining: taken out of rotation",
                Type="maintenance",
            )
        )
    return checks


def health_entry(inst: Instance, tenant: str, index: int) -> dict[str, Any]:
    service = {**agent_service(inst, tenant), "CreateIndex": index, "ModifyIndex": index}
    return {"Node": node(inst.host, index), "Service": service, "Checks": health_checks(inst, tenant, index)}


def passing(inst: Instance) -> bool:
    return inst.status == InstanceStatus.PASSING


# -------------------------------------------------------------------- registration
def _field(body: dict[str, Any], name: str) -> Any:
    """Consul's JSON decoding is case-insensitive on field names; so is this."""
    if name in body:
        return body[name]
    lowered = name.lower()
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _checks_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    one = _field(body, "Check")
    if isinstance(one, dict):
        found.append(one)
    many = _field(body, "Checks")
    if isinstance(many, list):
        found += [c for c in many if isinstance(c, dict)]
    elif many is not None:
        raise InvalidInput("Checks must be a list of check definitions")
    return found


def registration(body: dict[str, Any], *, default_address: str) -> tuple[Registration, str]:
    """A hub registration from Consul's service definition; also the Consul service ID."""
    name = _field(body, "Name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("Name is required: the service's name")
    sid = _field(body, "ID") or name
    if not isinstance(sid, str):
        raise InvalidInput("ID must be a string")
    port = _field(body, "Port")
    if port in (None, 0):
        raise InvalidInput("Port is required: the hub hands out address and port to callers")
    tags = _field(body, "Tags") or []
    meta = _field(body, "Meta") or {}
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput("Tags must be a list of strings")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise InvalidInput("Meta must be a map of strings")
    metadata: dict[str, Any] = {**meta, ID_KEY: sid}
    fields: dict[str, Any] = {
        "name": name,
        "host": _field(body, "Address") or default_address,
        "port": port,
        "tags": tags,
        "metadata": metadata,
    }
    weights = _field(body, "Weights")
    if isinstance(weights, dict) and isinstance(weights.get("Passing"), int):
        fields["weight"] = weights["Passing"]
    checks = _checks_of(body)
    if len(checks) > 1:
        # the hub keeps one check per instance: the first active one wins, else the TTL
        checks.sort(key=lambda c: 0 if _field(c, "HTTP") or _field(c, "TCP") else 1)
    if checks:
        _apply_check(checks[0], fields, metadata, sid)
    else:
        # Consul keeps a service without checks passing for as long as it is registered
        fields["ttl_seconds"] = 86400
    try:
        return RegistrationCreate.model_validate(fields).to_domain(), sid
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(f"invalid service definition: {where}: {first.get('msg')}") from None


def _apply_check(check: dict[str, Any], fields: dict[str, Any], metadata: dict[str, Any], sid: str) -> None:
    check_id = _field(check, "CheckID") or _field(check, "ID")
    if isinstance(check_id, str) and check_id:
        metadata[CHECK_ID_KEY] = check_id
    after = _field(check, "DeregisterCriticalServiceAfter")
    if after:
        metadata[DEREGISTER_AFTER_KEY] = duration(after, "DeregisterCriticalServiceAfter")
    interval = _field(check, "Interval")
    timeout = _field(check, "Timeout")
    spec: dict[str, Any] = {}
    if interval:
        spec["interval_seconds"] = max(1.0, duration(interval, "Interval"))
    if timeout:
        spec["timeout_seconds"] = duration(timeout, "Timeout")
        if "interval_seconds" in spec:
            spec["timeout_seconds"] = min(spec["timeout_seconds"], spec["interval_seconds"])
    http = _field(check, "HTTP")
    tcp = _field(check, "TCP")
    ttl = _field(check, "TTL")
    if http:
        parts = urlsplit(str(http))
        if parts.scheme not in ("http", "https"):
            raise InvalidInput(f"HTTP check must be an http(s) URL (got {str(http)[:80]!r})")
        fields["health_endpoint"] = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            fields["protocol"] = "https"
        fields["check"] = {"type": "http", **spec}
    elif tcp:
        fields["check"] = {"type": "tcp", **spec}
    elif ttl:
        fields["ttl_seconds"] = max(1, round(duration(ttl, "TTL")))
        fields["check"] = {"type": "ttl"}
    else:
        raise InvalidInput(f"check of service {sid!r} needs one of HTTP, TCP or TTL")
