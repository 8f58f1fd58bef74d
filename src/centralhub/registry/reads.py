"""The registry's read side: answers and endpoint selection from the in-memory view.

Reads never touch the database or the bus (that is what keeps discovery fast under load), so
they are kept apart from the write and replication logic of
:class:`~centralhub.registry.service.InstanceRegistry`, which inherits them and owns the state
declared here: the view it keeps current from its own writes and peer replicas' events, and the
caches of serialized answers it invalidates on every change.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from centralhub.core import wire
from centralhub.core.errors import InvalidInput, NotFound, Unavailable
from centralhub.core.schemas import CONTROL_CHARACTERS
from centralhub.registry import views
from centralhub.registry.models import Instance, InstanceStatus
from centralhub.registry.pages import ServiceIndex, ServicePage, choose_page

ServiceKey = tuple[str, str]


def kept(body: bytes) -> bytes:
    """``body`` copied to an object of its own size, for a cache that keeps it.

    A body from ``orjson.dumps`` keeps the serializer's whole write buffer allocated (4 KiB at
    the least): a 200-byte endpoint answer cached for each of 100,000 instances would hold
    400 MB instead of 20 MB."""
    return bytes(memoryview(body))


def storable(instance_id: str) -> bool:
    """Whether an id could name a stored instance: ids from a URL may hold characters no
    stored id has, which PostgreSQL refuses even in a query (SQLite would just find nothing)."""
    return CONTROL_CHARACTERS.search(instance_id) is None


def unknown_instance(service: str, instance_id: str) -> NotFound:
    """The error for an instance id that this tenant's service does not hold."""
    return NotFound(f"instance {instance_id!r} of service {service!r} is not registered")


class RegistryReads:
    """Lookups, API answers (cached as JSON bytes) and endpoint selection over the view."""

    _by_id: dict[str, Instance]
    _services: dict[ServiceKey, dict[str, Instance]]
    _turns: dict[ServiceKey, int]
    #: serialized service bodies with the monotonic time they were built
    _body_cache: dict[ServiceKey, tuple[bytes, float]]
    #: what endpoint selection picks from, per service; rebuilt after any change
    _pools: dict[ServiceKey, list[Instance]]
    #: serialized endpoint answers: instance id -> (instance, load, status, body)
    _endpoint_bodies: dict[str, tuple[Instance, float, InstanceStatus, bytes]]
    #: services with heartbeats newer than their cached body
    _beaten: set[ServiceKey]
    #: :meth:`figures` per tenant (``None``: all), until the next change
    _figures: dict[str | None, dict[str, Any]]
    #: each tenant's service names in order, for listings and their pages
    service_index: ServiceIndex

    def _lookup(self, tenant: str, service: str, instance_id: str) -> Instance | None:
        inst = self._by_id.get(instance_id)
        if inst is None or inst.tenant_id != tenant or inst.service_name != service:
            return None
        return inst

    def instances(self, tenant: str, service: str) -> list[Instance]:
        return list(self._services.get((tenant, service), {}).values())

    def service_names(self, tenant: str) -> list[str]:
        return list(self.service_index.names(tenant))

    def all_instances(self, tenant: str | None = None) -> list[Instance]:
        return [i for i in self._by_id.values() if tenant is None or i.tenant_id == tenant]

    def get_instance(self, tenant: str, service: str, instance_id: str) -> Instance:
        inst = self._lookup(tenant, service, instance_id)
        if inst is None:
            raise unknown_instance(service, instance_id)
        return inst

    def _group(self, tenant: str, service: str) -> dict[str, Instance]:
        group = self._services.get((tenant, service))
        if not group:
            raise NotFound(f"service {service!r} is not registered")
        return group

    def service_view(self, tenant: str, service: str, status: InstanceStatus | None = None) -> dict[str, Any]:
        """The answer of ``GET /api/v1/services/{name}`` (optionally only instances in ``status``)."""
        group = list(self._group(tenant, service).values())
        shown = group if status is None else [i for i in group if i.status == status]
        return views.service_answer(service, tenant, group, shown)

    def service_body(self, tenant: str, service: str) -> bytes:
        """:meth:`service_view` as JSON bytes, serialized again only after a change.

        Heartbeats do not invalidate it (that would make the cache useless under load): a body
        older than a second is rebuilt when a heartbeat came since, so ``last_seen`` and
        ``load`` in it may lag by up to a second; status changes, registrations and removals
        show at once. A service nobody heartbeats keeps its body, however many services there
        are and however rarely each is read."""
        key = (tenant, service)
        cached = self._body_cache.get(key)
        now = time.monotonic()
        if cached is not None and (now - cached[1] < 1.0 or key not in self._beaten):
            return cached[0]
        self._beaten.discard(key)
        body = kept(orjson.dumps(self.service_view(tenant, service)))
        self._body_cache[key] = (body, now)
        return body

    def service_page(
        self, tenant: str, *, status: InstanceStatus | None, limit: int, after: str | None
    ) -> ServicePage:
        """A page of the service listing: up to ``limit`` services named after ``after``, in name
        order, each with its instances (only those in ``status`` when given)."""
        return choose_page(
            self.service_index,
            lambda t, name: self._services.get((t, name)),
            tenant,
            status=status,
            limit=limit,
            after=after,
        )

    def select_endpoint(self, tenant: str, service: str, strategy: str = "round_robin") -> Instance:
        """Pick one selectable instance; ``Unavailable`` when none is healthy."""
        if strategy not in wire.STRATEGIES:
            raise InvalidInput(f"strategy must be one of {', '.join(wire.STRATEGIES)} (got {strategy!r})")
        key = (tenant, service)
        pool = self._pools.get(key)
        if pool is None:
            group = self._group(tenant, service)
            pool = self._pools[key] = views.candidates(group.values())
        if not pool:
            count = len(self._group(tenant, service))
            raise Unavailable(f"service {service!r} has {count} instance(s) but none is healthy")
        turn = self._turns.get(key, 0)
        self._turns[key] = turn + 1
        return views.choose(pool, strategy, turn)

    def endpoint_body(self, tenant: str, service: str, strategy: str = "round_robin") -> bytes:
        """:meth:`select_endpoint`'s choice as the JSON of ``GET …/endpoint``, serialized again
        only when that instance's status or load changed (or it was registered anew)."""
        inst = self.select_endpoint(tenant, service, strategy)
        cached = self._endpoint_bodies.get(inst.id)
        if cached is not None and cached[0] is inst and cached[1] == inst.load and cached[2] is inst.status:
            return cached[3]
        body = kept(orjson.dumps(views.endpoint_answer(inst)))
        self._endpoint_bodies[inst.id] = (inst, inst.load, inst.status, body)
        return body

    def figures(self, tenant: str | None = None) -> dict[str, Any]:
        """Service and instance counts (by status) of one tenant, or of all: counted once per
        change rather than on every ``/health`` and metrics scrape."""
        cached = self._figures.get(tenant)
        if cached is None:
            every = self._by_id.values()
            cached = views.figures(every if tenant is None else (i for i in every if i.tenant_id == tenant))
            self._figures[tenant] = cached
        return {**cached, "instances_by_status": dict(cached["instances_by_status"])}
