"""The service registry: database-backed, answered from an in-memory view.

Writes commit to the database first, then reach every replica's view as events on the bus,
so reads never touch the database and several hub replicas on one database stay coherent.
Heartbeats are group-committed: each one is acknowledged only after the batch holding it is
stored, yet the database sees one statement per batch rather than one per heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from centralhub.core.errors import NotFound, Unavailable
from centralhub.core.events.base import EventBus
from centralhub.metrics import collectors as metrics
from centralhub.registry.models import (
    SELECTABLE,
    Instance,
    InstanceStatus,
    Registration,
)
from centralhub.registry.repository import InstanceRepository

log = logging.getLogger(__name__)

STRATEGIES = ("round_robin", "random", "least_load", "weighted")
StatusListener = Callable[[Instance, InstanceStatus, InstanceStatus], Awaitable[None]]
ServiceKey = tuple[str, str]


class InstanceRegistry:
    """Registers, expires and selects service instances for every tenant."""

    def __init__(
        self,
        repo: InstanceRepository,
        bus: EventBus,
        *,
        replica_id: str | None = None,
        deregister_grace_seconds: float = 60.0,
        heartbeat_flush_seconds: float = 0.005,
        reaper_interval_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.bus = bus
        self.replica_id = replica_id or uuid.uuid4().hex[:12]
        self.grace = deregister_grace_seconds
        self.flush_interval = heartbeat_flush_seconds
        self.reaper_interval = reaper_interval_seconds
        self.clock = clock
        self._by_id: dict[str, Instance] = {}
        self._services: dict[ServiceKey, dict[str, Instance]] = {}
        self._rr: dict[ServiceKey, int] = {}
        #: serialized service bodies with the monotonic time they were built
        self._body_cache: dict[ServiceKey, tuple[bytes, float]] = {}
        self._dirty: dict[str, float] = {}
        #: heartbeats waiting for the batch that stores them (one future each, so a caller
        #: that goes away cancels only its own wait)
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[StatusListener] = []
        self._change_listeners: list[Callable[[str, str], None]] = []
        self._sub: Any = None
        #: ``(tenant, service) -> bool``: whether a contract is on file (set by the contracts component)
        self.contract_check: Callable[[str, str], bool] = lambda _tenant, _service: False
        self.heartbeat_batches = 0
        self.heartbeats = 0

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Load the stored registry and start the heartbeat writer and the TTL reaper."""
        now = self.clock()
        for inst in await self.repo.all():
            # the hub being down is not the instance's fault: its TTL restarts now
            inst.last_seen = max(inst.last_seen, now)
            if inst.status == InstanceStatus.CRITICAL:
                # the removal grace (and revival by heartbeat) start again from now
                inst.critical_since = now
            self._put(inst)
        self._sub = await self.bus.subscribe("registry.>", self._on_event)
        self._tasks = [
            asyncio.create_task(self._heartbeat_writer(), name="registry-heartbeats"),
            asyncio.create_task(self._reaper(), name="registry-reaper"),
        ]

    async def stop(self) -> None:
        """Store pending heartbeats, then stop background work."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._flush_heartbeats()
        if self._sub is not None:
            await self._sub.unsubscribe()

    def add_status_listener(self, listener: StatusListener) -> None:
        """``listener(instance, old, new)`` runs after each status change (alerts, metrics)."""
        self._listeners.append(listener)

    def add_change_listener(self, listener: Callable[[str, str], None]) -> None:
        """``listener(tenant, service)`` runs after any change of a service's instances."""
        self._change_listeners.append(listener)

    # ---------------------------------------------------------------- view upkeep
    def _put(self, inst: Instance) -> None:
        old = self._by_id.get(inst.id)
        if old is not None and (old.tenant_id, old.service_name) != (
            inst.tenant_id,
            inst.service_name,
        ):
            self._drop(old.id)
        self._by_id[inst.id] = inst
        self._services.setdefault((inst.tenant_id, inst.service_name), {})[inst.id] = inst
        self._changed(inst.tenant_id, inst.service_name)

    def _drop(self, instance_id: str) -> Instance | None:
        inst = self._by_id.pop(instance_id, None)
        if inst is None:
            return None
        key = (inst.tenant_id, inst.service_name)
        group = self._services.get(key)
        if group is not None:
            group.pop(instance_id, None)
            if not group:
                del self._services[key]
                self._rr.pop(key, None)
        self._changed(*key)
        return inst

    def _changed(self, tenant: str, service: str) -> None:
        self._body_cache.pop((tenant, service), None)
        for listener in self._change_listeners:
            listener(tenant, service)

    async def _publish(self, subject: str, payload: dict[str, Any]) -> None:
        payload["origin"] = self.replica_id
        try:
            await self.bus.publish(subject, payload)
        except Exception as exc:  # the database holds the change; peers catch up on restart
            metrics.BUS_PUBLISH_FAILURES.labels(subject_root=subject.split(".", 1)[0]).inc()
            log.warning("event %s not published: %s", subject, exc)

    async def _on_event(self, subject: str, payload: dict[str, Any]) -> None:
        if payload.get("origin") == self.replica_id:
            return
        kind = subject.rsplit(".", 1)[-1]
        if kind == "upserted":
            self._put(Instance.from_dict(payload["instance"]))
        elif kind == "removed":
            self._drop(payload["instance_id"])
        elif kind == "status":
            inst = self._by_id.get(payload["instance_id"])
            if inst is not None:
                old = inst.status
                inst.status = InstanceStatus(payload["status"])
                inst.critical_since = payload.get("critical_since")
                self._changed(inst.tenant_id, inst.service_name)
                await self._notify(inst, old)
        elif kind == "heartbeats":
            for instance_id, ts in payload.get("seen", {}).items():
                inst = self._by_id.get(instance_id)
                if inst is not None and ts > inst.last_seen:
                    inst.last_seen = ts
                    self._revive(inst)

    async def _notify(self, inst: Instance, old: InstanceStatus) -> None:
        if old == inst.status:
            return
        for listener in self._listeners:
            try:
                await listener(inst, old, inst.status)
            except Exception:
                log.exception("status listener failed")

    # ---------------------------------------------------------------- writes
    async def register(self, tenant: str, reg: Registration) -> tuple[Instance, bool]:
        """Store a registration; the same (tenant, name, host, port) keeps its instance id.

        Returns the instance and whether it was new."""
        now = self.clock()
        inst = Instance(
            id=uuid.uuid4().hex,
            tenant_id=tenant,
            service_name=reg.name,
            host=reg.host,
            port=reg.port,
            protocol=reg.protocol,
            health_endpoint=reg.health_endpoint,
            version=reg.version,
            metadata=reg.metadata,
            tags=reg.tags,
            status=InstanceStatus.PASSING,
            registered_at=now,
            last_seen=now,
            transport_preferences=reg.transport_preferences,
            contract_validated=self.contract_check(tenant, reg.name),
            weight=reg.weight,
            ttl_seconds=reg.ttl_seconds,
            dependencies=reg.dependencies,
            check=reg.check,
        )
        new_id = inst.id
        stored = await self.repo.upsert(inst)
        previous = self._by_id.get(stored.id)
        if previous is not None:
            stored.contract_validated = previous.contract_validated
            stored.load = previous.load
        self._put(stored)
        await self._publish(f"registry.{tenant}.upserted", {"instance": stored.to_dict()})
        if previous is not None and previous.status != stored.status:
            await self._notify(stored, previous.status)
        return stored, stored.id == new_id

    async def deregister(self, tenant: str, service: str, instance_id: str) -> None:
        inst = self._lookup(tenant, service, instance_id)
        if inst is None:
            stored = await self.repo.get(instance_id)
            if stored is None or (stored.tenant_id, stored.service_name) != (tenant, service):
                raise NotFound(f"instance {instance_id!r} of service {service!r} is not registered")
        await self.repo.delete(instance_id)
        self._dirty.pop(instance_id, None)
        self._drop(instance_id)
        await self._publish(
            f"registry.{tenant}.removed", {"instance_id": instance_id, "service_name": service}
        )

    async def heartbeat(
        self, tenant: str, service: str, instance_id: str, *, load: float | None = None
    ) -> Instance:
        """Record that the instance is alive; returns once the heartbeat is stored."""
        inst = await self._touch(tenant, service, instance_id, load)
        await self._stored()
        return inst

    async def heartbeat_many(
        self, tenant: str, beats: list[tuple[str, str, float | None]]
    ) -> list[Instance | None]:
        """Heartbeats for many instances at once (``(service, instance_id, load)`` each);
        ``None`` for an unknown instance. Returns once all are stored."""
        done: list[Instance | None] = []
        for service, instance_id, load in beats:
            try:
                done.append(await self._touch(tenant, service, instance_id, load))
            except NotFound:
                done.append(None)
        await self._stored()
        return done

    async def _touch(self, tenant: str, service: str, instance_id: str, load: float | None) -> Instance:
        inst = self._lookup(tenant, service, instance_id)
        if inst is None:
            inst = await self._load_missing(tenant, service, instance_id)
        now = self.clock()
        inst.last_seen = now
        if load is not None:
            inst.load = load
        self._dirty[instance_id] = now
        self.heartbeats += 1
        if inst.status == InstanceStatus.CRITICAL:
            await self._revive_and_publish(inst)
        return inst

    async def _stored(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    async def set_contract_validated(self, tenant: str, service: str, value: bool) -> None:
        """Flag every instance of a service as having (or no longer having) a contract on file."""
        await self.repo.set_contract_validated(tenant, service, value)
        for inst in self.instances(tenant, service):
            if inst.contract_validated != value:
                inst.contract_validated = value
                await self._publish(f"registry.{tenant}.upserted", {"instance": inst.to_dict()})
        self._changed(tenant, service)

    async def set_status(self, inst: Instance, status: InstanceStatus) -> None:
        """Change an instance's status (health checks, deployments) and tell everyone."""
        if inst.status == status:
            return
        old = inst.status
        inst.status = status
        if status != InstanceStatus.CRITICAL:
            inst.critical_since = None
        elif inst.critical_since is None:
            inst.critical_since = self.clock()
        await self.repo.set_status(inst.id, status)
        self._changed(inst.tenant_id, inst.service_name)
        await self._publish(
            f"registry.{inst.tenant_id}.status",
            {"instance_id": inst.id, "status": status.value, "critical_since": inst.critical_since},
        )
        await self._notify(inst, old)

    def _lookup(self, tenant: str, service: str, instance_id: str) -> Instance | None:
        inst = self._by_id.get(instance_id)
        if inst is None or inst.tenant_id != tenant or inst.service_name != service:
            return None
        return inst

    async def _load_missing(self, tenant: str, service: str, instance_id: str) -> Instance:
        # registered through another replica whose event has not arrived yet
        stored = await self.repo.get(instance_id)
        if stored is None or stored.tenant_id != tenant or stored.service_name != service:
            raise NotFound(f"instance {instance_id!r} of service {service!r} is not registered")
        self._put(stored)
        return stored

    def _uses_ttl(self, inst: Instance) -> bool:
        check_type = (inst.check or {}).get("type", "ttl")
        return bool(check_type == "ttl")

    def _revive(self, inst: Instance) -> bool:
        if (
            inst.status == InstanceStatus.CRITICAL
            and inst.critical_since is not None
            and self._uses_ttl(inst)
        ):
            inst.status = InstanceStatus.PASSING
            inst.critical_since = None
            self._changed(inst.tenant_id, inst.service_name)
            return True
        return False

    async def _revive_and_publish(self, inst: Instance) -> None:
        if self._revive(inst):
            await self.repo.set_status(inst.id, inst.status)
            await self._publish(
                f"registry.{inst.tenant_id}.status",
                {"instance_id": inst.id, "status": inst.status.value, "critical_since": None},
            )
            await self._notify(inst, InstanceStatus.CRITICAL)

    # ---------------------------------------------------------------- background work
    async def _heartbeat_writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush_heartbeats()
            await asyncio.sleep(self.flush_interval)

    async def _flush_heartbeats(self) -> None:
        batch, self._dirty = self._dirty, {}
        waiters, self._waiters = self._waiters, []
        error: Exception | None = None
        if batch:
            try:
                await self.repo.touch_many(batch)
            except Exception as exc:
                log.error("heartbeat batch of %d not stored: %s", len(batch), exc)
                error = Unavailable(f"heartbeat not stored: {exc}")
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        if batch and error is None:
            self.heartbeat_batches += 1
            await self._publish("registry.all.heartbeats", {"seen": batch})

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(self.reaper_interval)
            try:
                await self.expire()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("TTL reaper pass failed")

    async def expire(self) -> None:
        """Mark instances past their TTL critical; remove those critical past the grace."""
        now = self.clock()
        for inst in list(self._by_id.values()):
            if not self._uses_ttl(inst):
                continue
            if now - inst.last_seen <= inst.ttl_seconds:
                continue
            if inst.status != InstanceStatus.CRITICAL:
                await self.set_status(inst, InstanceStatus.CRITICAL)
            elif inst.critical_since is not None and now - inst.critical_since > self.grace:
                log.info("removing %s/%s after expiry", inst.service_name, inst.id)
                await self.repo.delete(inst.id)
                self._drop(inst.id)
                await self._publish(
                    f"registry.{inst.tenant_id}.removed",
                    {"instance_id": inst.id, "service_name": inst.service_name},
                )

    # ---------------------------------------------------------------- reads
    def instances(self, tenant: str, service: str) -> list[Instance]:
        return list(self._services.get((tenant, service), {}).values())

    def service_names(self, tenant: str) -> list[str]:
        return sorted(name for (t, name) in self._services if t == tenant)

    def all_instances(self, tenant: str | None = None) -> list[Instance]:
        return [i for i in self._by_id.values() if tenant is None or i.tenant_id == tenant]

    def get_instance(self, tenant: str, service: str, instance_id: str) -> Instance:
        inst = self._lookup(tenant, service, instance_id)
        if inst is None:
            raise NotFound(f"instance {instance_id!r} of service {service!r} is not registered")
        return inst

    def service_view(self, tenant: str, service: str, status: InstanceStatus | None = None) -> dict[str, Any]:
        group = self._services.get((tenant, service))
        if not group:
            raise NotFound(f"service {service!r} is not registered")
        instances = [i for i in group.values() if status is None or i.status == status]
        return _service_dict(service, tenant, list(group.values()), instances)

    def service_body(self, tenant: str, service: str) -> bytes:
        """The JSON body of ``GET /api/v1/services/{name}``, serialized once per change.

        Heartbeats do not invalidate it (that would make the cache useless under load), so
        ``last_seen`` and ``load`` in this body may lag by up to a second; status changes,
        registrations and removals show at once."""
        key = (tenant, service)
        cached = self._body_cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[1] < 1.0:
            return cached[0]
        body = orjson.dumps(self.service_view(tenant, service))
        self._body_cache[key] = (body, now)
        return body

    def list_view(self, tenant: str, status: InstanceStatus | None = None) -> dict[str, Any]:
        services = []
        for name in self.service_names(tenant):
            group = list(self._services[(tenant, name)].values())
            chosen = [i for i in group if status is None or i.status == status]
            if status is not None and not chosen:
                continue
            services.append(_service_dict(name, tenant, group, chosen))
        return {"tenant_id": tenant, "count": len(services), "services": services}

    def select_endpoint(self, tenant: str, service: str, strategy: str = "round_robin") -> Instance:
        """Pick one selectable instance; ``Unavailable`` when none is healthy."""
        group = self._services.get((tenant, service))
        if not group:
            raise NotFound(f"service {service!r} is not registered")
        candidates = [i for i in group.values() if i.status in SELECTABLE]
        if not candidates:
            raise Unavailable(f"service {service!r} has {len(group)} instance(s) but none is healthy")
        # prefer passing over warning when both exist
        passing = [i for i in candidates if i.status == InstanceStatus.PASSING]
        if passing:
            candidates = passing
        candidates.sort(key=lambda i: i.id)
        key = (tenant, service)
        if strategy == "round_robin":
            n = self._rr.get(key, 0)
            self._rr[key] = n + 1
            return candidates[n % len(candidates)]
        if strategy == "random":
            return random.choice(candidates)
        if strategy == "weighted":
            return random.choices(candidates, weights=[max(i.weight, 0) or 1 for i in candidates])[0]
        if strategy == "least_load":
            least = min(i.load for i in candidates)
            tied = [i for i in candidates if i.load == least]
            n = self._rr.get(key, 0)
            self._rr[key] = n + 1
            return tied[n % len(tied)]
        raise ValueError(strategy)

    def figures(self, tenant: str | None = None) -> dict[str, Any]:
        by_status = {s.value: 0 for s in InstanceStatus}
        services = set()
        for inst in self._by_id.values():
            if tenant is None or inst.tenant_id == tenant:
                by_status[inst.status.value] += 1
                services.add((inst.tenant_id, inst.service_name))
        return {
            "services": len(services),
            "instances": sum(by_status.values()),
            "instances_by_status": by_status,
        }


def service_status(instances: list[Instance]) -> str:
    """``healthy`` when every instance passes, ``critical`` when none can serve."""
    if not instances:
        return "critical"
    passing = sum(1 for i in instances if i.status == InstanceStatus.PASSING)
    if passing == len(instances):
        return "healthy"
    if any(i.status in SELECTABLE for i in instances):
        return "degraded"
    return "critical"


def _service_dict(name: str, tenant: str, group: list[Instance], shown: list[Instance]) -> dict[str, Any]:
    shown = sorted(shown, key=lambda i: i.registered_at)
    return {
        "name": name,
        "tenant_id": tenant,
        "status": service_status(group),
        "instance_count": len(group),
        "healthy_count": sum(1 for i in group if i.status == InstanceStatus.PASSING),
        "instances": [i.to_dict() for i in shown],
    }
