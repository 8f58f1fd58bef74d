"""Registry instances as Eureka's instance documents (XML and JSON), and back.

Eureka upper-cases application names; the hub keeps the name lower-case, so a Spring service
``PRICING`` is ``pricing`` in the hub's own API and ``PRICING`` here. The instance id a Eureka
client chooses (often ``host:app:port``) is kept in the instance's metadata (``eureka_instance_id``).
Health maps to Eureka's status: passing and warning are ``UP`` (a warning instance still serves),
critical is ``DOWN``, draining is ``OUT_OF_SERVICE``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import orjson

from centralhub.core.errors import InvalidInput
from centralhub.registry.models import Instance, InstanceStatus

__all__ = ["ID_KEY", "app_name", "applications_json", "applications_xml", "eureka_id", "parse_instance"]

ID_KEY = "eureka_instance_id"
_HIDDEN = {ID_KEY}
STATUS = {
    InstanceStatus.PASSING: "UP",
    InstanceStatus.WARNING: "UP",
    InstanceStatus.CRITICAL: "DOWN",
    InstanceStatus.DRAINING: "OUT_OF_SERVICE",
}
#: what a client may report, as the hub's status
REPORTED = {
    "UP": InstanceStatus.PASSING,
    "DOWN": InstanceStatus.CRITICAL,
    "OUT_OF_SERVICE": InstanceStatus.DRAINING,
    "STARTING": InstanceStatus.WARNING,
    "UNKNOWN": InstanceStatus.WARNING,
}
_DATA_CENTER = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"


def app_name(service: str) -> str:
    return service.upper()


def eureka_id(inst: Instance) -> str:
    found = inst.metadata.get(ID_KEY) if isinstance(inst.metadata, dict) else None
    return found if isinstance(found, str) and found else inst.id


def _metadata(inst: Instance) -> dict[str, str]:
    meta = inst.metadata if isinstance(inst.metadata, dict) else {}
    shown = {str(k): v for k, v in meta.items() if k not in _HIDDEN}
    return {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in shown.items()}


def instance_doc(inst: Instance) -> dict[str, Any]:
    """One instance in Eureka's JSON shape (ports as ``{"$": 8080, "@enabled": "true"}``)."""
    secure = inst.protocol == "https"
    base = f"{'https' if secure else 'http'}://{inst.host}:{inst.port}"
    millis = int(inst.last_seen * 1000)
    return {
        "instanceId": eureka_id(inst),
        "hostName": inst.host,
        "app": app_name(inst.service_name),
        "ipAddr": inst.host,
        "status": STATUS[inst.status],
        "overriddenStatus": "UNKNOWN",
        "port": {"$": inst.port, "@enabled": "false" if secure else "true"},
        "securePort": {"$": inst.port if secure else 443, "@enabled": "true" if secure else "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": _DATA_CENTER, "name": "MyOwn"},
        "leaseInfo": {
            "renewalIntervalInSecs": max(1, inst.ttl_seconds // 3),
            "durationInSecs": inst.ttl_seconds,
            "registrationTimestamp": int(inst.registered_at * 1000),
            "lastRenewalTimestamp": millis,
            "evictionTimestamp": 0,
            "serviceUpTimestamp": int(inst.registered_at * 1000),
        },
        "metadata": _metadata(inst) or {"@class": "java.util.Collections$EmptyMap"},
        "homePageUrl": f"{base}/",
        "statusPageUrl": f"{base}{inst.health_endpoint or '/'}",
        "healthCheckUrl": f"{base}{inst.health_endpoint or '/'}",
        "vipAddress": inst.service_name,
        "secureVipAddress": inst.service_name,
        "isCoordinatingDiscoveryServer": "false",
        "lastUpdatedTimestamp": millis,
        "lastDirtyTimestamp": millis,
        "actionType": "ADDED",
    }


def _apps_hashcode(insts: list[Instance]) -> str:
    """Eureka's ``apps__hashcode``: count per status, e.g. ``DOWN_1_UP_3_``."""
    counts: dict[str, int] = {}
    for inst in insts:
        counts[STATUS[inst.status]] = counts.get(STATUS[inst.status], 0) + 1
    return "".join(f"{k}_{v}_" for k, v in sorted(counts.items()))


def _grouped(insts: list[Instance]) -> dict[str, list[Instance]]:
    apps: dict[str, list[Instance]] = {}
    for inst in sorted(insts, key=lambda i: (i.service_name, i.host, i.port)):
        apps.setdefault(inst.service_name, []).append(inst)
    return apps


def application_json(service: str, insts: list[Instance]) -> dict[str, Any]:
    return {"name": app_name(service), "instance": [instance_doc(i) for i in insts]}


def applications_json(insts: list[Instance]) -> dict[str, Any]:
    apps = _grouped(insts)
    return {
        "applications": {
            "versions__delta": "1",
            "apps__hashcode": _apps_hashcode(insts),
            "application": [application_json(name, group) for name, group in apps.items()],
        }
    }


def _instance_xml(parent: ET.Element, doc: dict[str, Any]) -> None:
    node = ET.SubElement(parent, "instance")
    for key, value in doc.items():
        child = ET.SubElement(node, key)
        if key in ("port", "securePort"):
            child.text = str(value["$"])
            child.set("enabled", value["@enabled"])
        elif key == "dataCenterInfo":
            child.set("class", value["@class"])
            ET.SubElement(child, "name").text = value["name"]
        elif isinstance(value, dict):
            for k, v in value.items():
                if k == "@class":
                    child.set("class", str(v))
                else:
                    ET.SubElement(child, k).text = str(v)
        else:
            child.text = str(value)


def application_xml(service: str, insts: list[Instance]) -> bytes:
    root = ET.Element("application")
    ET.SubElement(root, "name").text = app_name(service)
    for inst in insts:
        _instance_xml(root, instance_doc(inst))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def applications_xml(insts: list[Instance]) -> bytes:
    root = ET.Element("applications")
    ET.SubElement(root, "versions__delta").text = "1"
    ET.SubElement(root, "apps__hashcode").text = _apps_hashcode(insts)
    for name, group in _grouped(insts).items():
        app = ET.SubElement(root, "application")
        ET.SubElement(app, "name").text = app_name(name)
        for inst in group:
            _instance_xml(app, instance_doc(inst))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def instance_xml(inst: Instance) -> bytes:
    root = ET.Element("root")
    _instance_xml(root, instance_doc(inst))
    return ET.tostring(root[0], encoding="utf-8", xml_declaration=True)


# -------------------------------------------------------------------- registration
def _from_xml(body: bytes) -> dict[str, Any]:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise InvalidInput("XML with a DOCTYPE or entities is refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise InvalidInput(f"request body is not valid XML: {exc}") from None
    if root.tag != "instance":
        raise InvalidInput(f"expected an <instance> document (got <{root.tag[:40]}>)")
    doc: dict[str, Any] = {}
    for child in root:
        if child.tag in ("port", "securePort"):
            doc[child.tag] = {"$": (child.text or "").strip(), "@enabled": child.get("enabled", "true")}
        elif child.tag in ("metadata", "leaseInfo"):
            doc[child.tag] = {c.tag: (c.text or "") for c in child}
        else:
            doc[child.tag] = (child.text or "").strip()
    return doc


def _from_json(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("instance"), dict):
        raise InvalidInput('expected {"instance": {...}}')
    return dict(doc["instance"])


def _port(value: Any, field: str) -> tuple[int | None, bool]:
    enabled = True
    if isinstance(value, dict):
        enabled = str(value.get("@enabled", "true")).lower() == "true"
        value = value.get("$")
    if value in (None, ""):
        return None, False
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a port number (got {str(value)[:40]!r})") from None
    return port, enabled


def parse_instance(body: bytes, content_type: str) -> dict[str, Any]:
    """A Eureka instance document (XML or JSON) as the fields of a hub registration, plus the
    client's ``status`` and instance id."""
    xml = "xml" in content_type or body.lstrip()[:1] == b"<"
    doc = _from_xml(body) if xml else _from_json(body)
    host = doc.get("ipAddr") or doc.get("hostName")
    if not host or not isinstance(host, str):
        raise InvalidInput("instance needs ipAddr or hostName")
    port, port_on = _port(doc.get("port"), "port")
    secure, secure_on = _port(doc.get("securePort"), "securePort")
    https = secure_on and secure is not None and not port_on
    chosen = secure if https else port
    if chosen is None:
        raise InvalidInput("instance needs a port (or an enabled securePort)")
    lease_doc = doc.get("leaseInfo")
    lease: dict[str, Any] = lease_doc if isinstance(lease_doc, dict) else {}
    try:
        ttl = int(lease.get("durationInSecs") or 90)
    except (TypeError, ValueError):
        raise InvalidInput("leaseInfo.durationInSecs must be a number of seconds") from None
    meta_doc = doc.get("metadata")
    given: dict[str, Any] = meta_doc if isinstance(meta_doc, dict) else {}
    metadata = {str(k): v for k, v in given.items() if not str(k).startswith("@")}
    status = str(doc.get("status") or "UP").upper()
    if status not in REPORTED:
        raise InvalidInput(f"status must be one of {', '.join(REPORTED)} (got {status[:40]!r})")
    health = doc.get("healthCheckUrl")
    fields: dict[str, Any] = {
        "host": host,
        "port": chosen,
        "protocol": "https" if https else "http",
        "ttl_seconds": ttl,
        "metadata": metadata,
        # a Eureka server never probes instances: renewals alone keep them, as here
        "check": {"type": "ttl"},
    }
    if isinstance(health, str) and "://" in health:
        path = "/" + health.split("://", 1)[1].partition("/")[2]
        fields["health_endpoint"] = path
    return {"fields": fields, "status": status, "instance_id": doc.get("instanceId") or None}
