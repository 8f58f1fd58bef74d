"""What the registry answers with: API shapes of instances and services, and endpoint selection.

Plain functions over :mod:`centralhub.registry.models`, shared by the FastAPI routes and the
hot routes so both send the same bytes. Times are RFC 3339 here (``Instance.to_dict`` keeps
epoch seconds: that is the format hub replicas exchange on the bus).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from centralhub.core import wire
from centralhub.core.time import rfc3339
from centralhub.registry.models import SELECTABLE, Instance, InstanceStatus


def instance_answer(inst: Instance) -> dict[str, Any]:
    """One instance as every registry route shows it."""
    return {
        "instance_id": inst.id,
        "service_name": inst.service_name,
        "tenant_id": inst.tenant_id,
        "host": inst.host,
        "port": inst.port,
        "protocol": inst.protocol,
        "url": inst.url,
        "health_endpoint": inst.health_endpoint,
        "version": inst.version,
        "metadata": inst.metadata,
        "tags": inst.tags,
        "status": inst.status.value,
        "weight": inst.weight,
        "load": inst.load,
        "ttl_seconds": inst.ttl_seconds,
        "registered_at": rfc3339(inst.registered_at),
        "last_seen": rfc3339(inst.last_seen),
        "critical_since": rfc3339(inst.critical_since),
        "transport_preferences": inst.transport_preferences,
        "contract_validated": inst.contract_validated,
        "dependencies": inst.dependencies,
        "check": inst.check,
    }


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
        "instance": instance_answer(inst),
    }


def endpoint_answer(inst: Instance) -> dict[str, Any]:
    """The instance chosen by ``GET /api/v1/services/{name}/endpoint``."""
    return {
        "instance_id": inst.id,
        "service_name": inst.service_name,
        "host": inst.host,
        "port": inst.port,
        "url": inst.url,
        "weight": inst.weight,
        "load": inst.load,
        "protocol": inst.protocol,
        "status": inst.status.value,
        "version": inst.version,
    }


def heartbeat_answer(inst: Instance) -> dict[str, Any]:
    return {"status": inst.status.value, "instance_id": inst.id, "ttl_seconds": inst.ttl_seconds}


def service_status(instances: Iterable[Instance]) -> str:
    """``healthy`` when every instance passes, ``critical`` when none can serve."""
    statuses = [i.status for i in instances]
    if not statuses:
        return "critical"
    if all(s == InstanceStatus.PASSING for s in statuses):
        return "healthy"
    if any(s in SELECTABLE for s in statuses):
        return "degraded"
    return "critical"


def service_answer(
    name: str, tenant: str, group: Sequence[Instance], shown: Iterable[Instance]
) -> dict[str, Any]:
    """A service with the instances ``shown`` (all of ``group``, or those a filter kept)."""
    return {
        "name": name,
        "tenant_id": tenant,
        "status": service_status(group),
        "instance_count": len(group),
        "healthy_count": sum(1 for i in group if i.status == InstanceStatus.PASSING),
        "instances": [instance_answer(i) for i in sorted(shown, key=lambda i: i.registered_at)],
    }


def figures(instances: Iterable[Instance]) -> dict[str, Any]:
    """How many services and instances (by status) ``instances`` make."""
    by_status = {s.value: 0 for s in InstanceStatus}
    services = set()
    for inst in instances:
        by_status[inst.status.value] += 1
        services.add((inst.tenant_id, inst.service_name))
    return {"services": len(services), "instances": sum(by_status.values()), "instances_by_status": by_status}


def candidates(group: Iterable[Instance]) -> list[Instance]:
    """Instances discovery may hand out, passing ones preferred over warning, by instance id."""
    selectable = [i for i in group if i.status in SELECTABLE]
    passing = [i for i in selectable if i.status == InstanceStatus.PASSING]
    return sorted(passing or selectable, key=lambda i: i.id)


_LOAD = attrgetter("load")
_WEIGHT = attrgetter("weight")


def choose(pool: Sequence[Instance], strategy: str, turn: int) -> Instance:
    """One of ``pool`` by ``strategy`` (the rule the SDK applies to its cached view too)."""
    return wire.choose(pool, strategy, turn=turn, load=_LOAD, weight=_WEIGHT)
