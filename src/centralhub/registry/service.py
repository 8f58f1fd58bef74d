"""The service registry: database-backed, answered from an in-memory view.

Writes commit to the database first (one transaction per operation), then reach every
replica's view as events on the bus, so reads never touch the database and several hub
replicas on one database stay coherent. Heartbeats are group-committed: each one is
acknowledged only after the batch holding it is stored, yet the database sees one statement
per batch rather than one per heartbeat. Status changes are announced as
:class:`InstanceStatusChanged` domain events, so alerting and circuits never delay the write.

A status is written with a conditional update, so when several replicas make the same change
(each one's TTL reaper finding the same expired instance) only the one whose write changed the
row emits :class:`InstanceStatusChanged` and publishes it; the others, and every replica that
learns the change from the bus, emit :class:`InstanceStatusSynced`. One change, one alert.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from centralhub.audit.service import AuditLog
from centralhub.core import wire
from centralhub.core.database import Database
from centralhub.core.errors import InvalidInput
from centralhub.core.events.base import EventBus
from centralhub.core.events.dispatch import DomainEvents
from centralhub.core.tasks import Supervisor
from centralhub.core.time import Clock
from centralhub.metrics import collectors as metrics
from centralhub.registry import loading, repository, views
from centralhub.registry.draining import Draining
from centralhub.registry.expiry import ExpiryQueue
from centralhub.registry.heartbeats import HeartbeatBatcher
from centralhub.registry.models import (
    Instance,
    InstanceStatus,
    InstanceStatusChanged,
    InstanceStatusSynced,
    Registration,
)
from centralhub.registry.pages import ServiceIndex
from centralhub.registry.reads import RegistryReads, ServiceKey, storable, unknown_instance
from centralhub.registry.reaper import TtlReaper
from centralhub.registry.registrations import Outcome, RegistrationBatcher, new_instance

log = logging.getLogger(__name__)

#: kept importable from here for existing callers; the rule lives in ``core.wire``
STRATEGIES = wire.STRATEGIES
StatusListener = Callable[[Instance, InstanceStatus, InstanceStatus], Awaitable[None]]
HEARTBEAT_TASK = "registry-heartbeats"
REAPER_TASK = "registry-reaper"
REGISTRATION_TASK = "registry-registrations"


class InstanceRegistry(RegistryReads, TtlReaper, Draining):
    """Registers, expires and selects service instances for every tenant (the answers from
    memory, and endpoint selection, are in :class:`~centralhub.registry.reads.RegistryReads`;
    TTL expiry in :class:`~centralhub.registry.reaper.TtlReaper`; draining in
    :class:`~centralhub.registry.draining.Draining`)."""

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        events: DomainEvents,
        supervisor: Supervisor,
        replica_id: str | None = None,
        deregister_grace_seconds: float = 60.0,
        heartbeat_flush_seconds: float = 0.005,
        reaper_interval_seconds: float = 1.0,
        clock: Clock = time.time,
        audit: AuditLog | None = None,
    ) -> None:
        self.database = database
        self.audit = audit
        self.bus = bus
        self.events = events
        self.supervisor = supervisor
        self.replica_id = replica_id or uuid.uuid4().hex[:12]
        self.grace = deregister_grace_seconds
        self.reaper_interval = reaper_interval_seconds
        self.clock = clock
        self._by_id: dict[str, Instance] = {}
        self._services: dict[ServiceKey, dict[str, Instance]] = {}
        self._turns: dict[ServiceKey, int] = {}
        #: serialized service bodies with the monotonic time they were built
        self._body_cache: dict[ServiceKey, tuple[bytes, float]] = {}
        #: what endpoint selection picks from, per service; rebuilt after any change
        self._pools: dict[ServiceKey, list[Instance]] = {}
        #: serialized endpoint answers: instance id -> (instance, load, status, body)
        self._endpoint_bodies: dict[str, tuple[Instance, float, InstanceStatus, bytes]] = {}
        #: services with heartbeats newer than their cached body
        self._beaten: set[ServiceKey] = set()
        self._figures: dict[str | None, dict[str, Any]] = {}
        #: when the TTL reaper next needs to look at each instance
        self._expiry = ExpiryQueue()
        self._beats = HeartbeatBatcher(
            self._store_heartbeats,
            after_store=self._announce_heartbeats,
            flush_interval=heartbeat_flush_seconds,
            on_outage=self.note_storage_outage,
        )
        self._registrations = RegistrationBatcher(
            database,
            after_store=self._registered,
            flush_interval=heartbeat_flush_seconds,
            audit=audit,
            # SQLite has one writer whatever the number of connections
            writers=1 if database.is_sqlite else 4,
        )
        #: when the database was last found unreachable: TTLs count from no earlier than this
        self.storage_outage_at: float | None = None
        self._change_listeners: list[Callable[[str, str], None]] = []
        #: ``listener(tenant, service, instance_id, metrics)`` for each heartbeat that carries metrics
        self.metric_listeners: list[Callable[[str, str, str, dict[str, float]], None]] = []
        #: ``listener(tenant, service, instance_id)`` when an instance leaves this replica's view
        self.removal_listeners: list[Callable[[str, str, str], None]] = []
        self.service_index = ServiceIndex(lambda tenant, name: (tenant, name) in self._services)
        self.add_change_listener(self.service_index.changed)
        self._sub: Any = None
        #: ``(tenant, service) -> bool``: whether a contract is on file (set by the contracts component)
        self.contract_check: Callable[[str, str], bool] = lambda _tenant, _service: False
        #: heartbeats taken since start
        self.heartbeats = 0

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Load the stored registry and start the heartbeat writer and the TTL reaper."""
        now = self.clock()
        with loading.bulk_allocation(lambda: len(self._by_id)):
            async with self.database.engine.connect() as conn:
                async for chunk in loading.stream_all(conn):
                    for inst in chunk:
                        # the hub being down is not the instance's fault: its TTL restarts now
                        inst.last_seen = max(inst.last_seen, now)
                        if inst.status == InstanceStatus.CRITICAL:
                            # the removal grace (and revival by heartbeat) start again from now
                            inst.critical_since = now
                    self._put_many(chunk)
        self._sub = await self.bus.subscribe(wire.REGISTRY_ALL_SUBJECTS, self._on_event)
        self.supervisor.start(HEARTBEAT_TASK, self._beats.run)
        self.supervisor.start(REGISTRATION_TASK, self._registrations.run)
        self.supervisor.start(REAPER_TASK, self._reaper)

    async def stop(self) -> None:
        """Stop background work, then store the heartbeats still pending."""
        await self.supervisor.stop(HEARTBEAT_TASK)
        await self.supervisor.stop(REAPER_TASK)
        await self.supervisor.stop(REGISTRATION_TASK)
        await self._registrations.flush()
        await self._beats.flush()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def reload(self) -> None:
        """Make the view match the database after a bulk change (a restored backup) and tell
        the other replicas; TTLs restart now, as after a start."""
        async with self.database.engine.connect() as conn:
            stored = {inst.id: inst for inst in await repository.get_all(conn)}
        for instance_id in [i for i in self._by_id if i not in stored]:
            self._beats.discard(instance_id)
            gone = self._drop(instance_id)
            if gone is not None:
                await self._publish(
                    wire.registry_subject(gone.tenant_id, "removed"),
                    {"instance_id": instance_id, "service_name": gone.service_name},
                )
        now = self.clock()
        for inst in stored.values():
            inst.last_seen = max(inst.last_seen, now)
            if inst.status == InstanceStatus.CRITICAL:
                inst.critical_since = now
            self._put(inst)
            await self._publish(
                wire.registry_subject(inst.tenant_id, "upserted"), {"instance": inst.to_dict()}
            )

    def add_status_listener(self, listener: StatusListener) -> None:
        """``listener(instance, old, new)`` runs after each status change, off the write path
        (it consumes :class:`InstanceStatusChanged` from the hub's domain events)."""

        async def adapter(event: InstanceStatusChanged) -> None:
            await listener(event.instance, event.old, event.new)

        self.events.subscribe(InstanceStatusChanged, adapter)

    def add_change_listener(self, listener: Callable[[str, str], None]) -> None:
        """``listener(tenant, service)`` runs inline after any change of a service's instances,
        so it must be cheap and must not block."""
        self._change_listeners.append(listener)

    # ---------------------------------------------------------------- view upkeep
    def _put(self, inst: Instance) -> None:
        old = self._by_id.get(inst.id)
        if old is not None and (old.tenant_id, old.service_name) != (inst.tenant_id, inst.service_name):
            self._drop(old.id)
        self._by_id[inst.id] = inst
        self._services.setdefault((inst.tenant_id, inst.service_name), {})[inst.id] = inst
        self._expiry.schedule(inst.id, inst.last_seen + inst.ttl_seconds)
        self._changed(inst.tenant_id, inst.service_name)

    def _put_many(self, loaded: list[Instance]) -> None:
        """:meth:`_put` for a bulk load: caches and listeners hear once per service."""
        keys: set[ServiceKey] = set()
        for inst in loaded:
            if inst.id in self._by_id:
                self._put(inst)
                continue
            self._by_id[inst.id] = inst
            key = (inst.tenant_id, inst.service_name)
            self._services.setdefault(key, {})[inst.id] = inst
            keys.add(key)
        self._expiry.schedule_many((i.id, i.last_seen + i.ttl_seconds) for i in loaded)
        for key in keys:
            self._changed(*key)

    def _drop(self, instance_id: str) -> Instance | None:
        inst = self._by_id.pop(instance_id, None)
        self._endpoint_bodies.pop(instance_id, None)
        self._expiry.discard(instance_id)
        if inst is None:
            return None
        key = (inst.tenant_id, inst.service_name)
        group = self._services.get(key)
        if group is not None:
            group.pop(instance_id, None)
            if not group:
                del self._services[key]
                self._turns.pop(key, None)
        self._changed(*key)
        for listener in self.removal_listeners:
            listener(inst.tenant_id, inst.service_name, inst.id)
        return inst

    def _changed(self, tenant: str, service: str) -> None:
        self._body_cache.pop((tenant, service), None)
        self._pools.pop((tenant, service), None)
        if self._figures:
            self._figures.clear()
        for listener in self._change_listeners:
            listener(tenant, service)

    def _status_changed(self, inst: Instance, old: InstanceStatus, *, local: bool = True) -> None:
        if old != inst.status:
            self.events.emit(InstanceStatusChanged(inst, old, inst.status, local=local))

    def _status_synced(self, inst: Instance, old: InstanceStatus) -> None:
        if old != inst.status:
            self.events.emit(InstanceStatusSynced(inst, old, inst.status))

    async def _publish(self, subject: str, payload: dict[str, Any]) -> None:
        payload["origin"] = self.replica_id
        try:
            await self.bus.publish(subject, payload)
        except Exception as exc:  # the database holds the change; peers catch up on restart
            metrics.BUS_PUBLISH_FAILURES.labels(subject_root=subject.split(".", 1)[0]).inc()
            log.warning("event %s not published: %s", subject, exc)

    async def _publish_status(self, inst: Instance) -> None:
        await self._publish(
            wire.registry_subject(inst.tenant_id, "status"),
            {"instance_id": inst.id, "status": inst.status.value, "critical_since": inst.critical_since},
        )

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
                self._status_synced(inst, old)
        elif subject == wire.REGISTRY_HEARTBEATS_SUBJECT:
            for instance_id, ts in payload.get("seen", {}).items():
                inst = self._by_id.get(instance_id)
                if inst is not None and ts > inst.last_seen:
                    inst.last_seen = ts
                    self._beaten.add((inst.tenant_id, inst.service_name))
                    self._revive(inst)

    # ---------------------------------------------------------------- writes
    async def register(self, tenant: str, reg: Registration) -> tuple[Instance, bool]:
        """Store a registration; the same (tenant, name, host, port) keeps its instance id.

        Returns the instance and whether it was new, once the batch holding it is stored."""
        [outcome] = await self._registrations.submit([self._new_instance(tenant, reg)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def register_many(self, tenant: str, regs: list[Registration]) -> list[Outcome]:
        """Registrations stored together; each item's outcome (or error) in order. All are
        validated first, so an invalid one refuses the lot before anything is stored."""
        insts = [self._new_instance(tenant, reg) for reg in regs]
        return await self._registrations.submit(insts)

    def _new_instance(self, tenant: str, reg: Registration) -> Instance:
        if not wire.is_service_name(reg.name):
            raise InvalidInput(f"{reg.name!r} is not a valid service name")
        validated = self.contract_check(tenant, reg.name)
        return new_instance(tenant, reg, now=self.clock(), contract_validated=validated)

    async def _registered(self, stored: list[Instance]) -> None:
        """After a registration batch committed: the view, then the other replicas."""
        for inst in stored:
            previous = self._by_id.get(inst.id)
            if previous is not None:
                inst.contract_validated = previous.contract_validated
                inst.load = previous.load
            self._put(inst)
            subject = wire.registry_subject(inst.tenant_id, "upserted")
            await self._publish(subject, {"instance": inst.to_dict()})
            if previous is not None:
                self._status_changed(inst, previous.status)

    async def deregister(self, tenant: str, service: str, instance_id: str) -> None:
        if not storable(instance_id):
            raise unknown_instance(service, instance_id)
        async with self.database.engine.begin() as conn:
            known = self._lookup(tenant, service, instance_id)
            if known is None:
                known = await repository.get(conn, instance_id)
                if known is None or (known.tenant_id, known.service_name) != (tenant, service):
                    raise unknown_instance(service, instance_id)
            await repository.delete(conn, instance_id)
            if self.audit is not None:
                await self.audit.record_instance(
                    "instance.deregister", tenant, service, instance_id, before=known.to_dict(), conn=conn
                )
        self._beats.discard(instance_id)
        self._drop(instance_id)
        await self._publish(
            wire.registry_subject(tenant, "removed"), {"instance_id": instance_id, "service_name": service}
        )

    async def heartbeat(
        self, tenant: str, service: str, instance_id: str, *, load: float | None = None
    ) -> Instance:
        """Record that the instance is alive; returns once the heartbeat is stored."""
        inst = await self._touch(tenant, service, instance_id, load)
        await self._beats.stored()
        return inst

    async def heartbeat_many(
        self, tenant: str, beats: list[tuple[str, str, float | None]]
    ) -> list[Instance | None]:
        """Heartbeats for many instances at once (``(service, instance_id, load)`` each);
        ``None`` for an unknown instance. Returns once all are stored."""
        missing = {i for s, i, _ in beats if self._lookup(tenant, s, i) is None}
        if missing:
            # one query for every id this replica does not hold, however many there are
            async with self.database.engine.connect() as conn:
                stored = await repository.get_many(conn, [i for i in missing if storable(i)])
            for found in stored:
                if found.id not in self._by_id:
                    self._put(found)
        done: list[Instance | None] = []
        for service, instance_id, load in beats:
            inst = self._lookup(tenant, service, instance_id)
            done.append(None if inst is None else await self._touch_instance(inst, load))
        await self._beats.stored()
        return done

    async def _touch(self, tenant: str, service: str, instance_id: str, load: float | None) -> Instance:
        inst = self._lookup(tenant, service, instance_id)
        if inst is None:
            inst = await self._load_missing(tenant, service, instance_id)
        return await self._touch_instance(inst, load)

    async def _touch_instance(self, inst: Instance, load: float | None) -> Instance:
        if self.note_heartbeat(inst, load):
            await self.store_revival(inst)
        return inst

    def note_heartbeat(self, inst: Instance, load: float | None) -> bool:
        """Mark a held instance alive now, stored with the next batch (nobody waits for it);
        True when this also revives it from a TTL expiry, which :meth:`store_revival` stores."""
        now = self.clock()
        inst.last_seen = now
        if load is not None:
            inst.load = load
        self._beaten.add((inst.tenant_id, inst.service_name))
        self._beats.add(inst.id, now)
        self.heartbeats += 1
        return inst.status == InstanceStatus.CRITICAL and self._revivable(inst)

    def note_metrics(self, inst: Instance, metrics: dict[str, float]) -> None:
        """Measurements a heartbeat carried, for whoever listens (the alert rules)."""
        for listener in self.metric_listeners:
            listener(inst.tenant_id, inst.service_name, inst.id, metrics)

    def held(self, tenant: str, service: str, instance_id: str) -> Instance | None:
        """The instance when this replica holds it (no database read)."""
        return self._lookup(tenant, service, instance_id)

    async def load_unheld(self, tenant: str, service: str, instance_id: str) -> Instance:
        """The stored instance this replica has not heard of yet; ``NotFound`` when none is."""
        if not storable(instance_id):
            raise unknown_instance(service, instance_id)
        return await self._load_missing(tenant, service, instance_id)

    async def set_contract_validated(self, tenant: str, service: str, value: bool) -> None:
        """Flag every instance of a service as having (or no longer having) a contract on file."""
        async with self.database.engine.begin() as conn:
            await repository.set_contract_validated(conn, tenant=tenant, service=service, value=value)
        await self.contract_validated_changed(tenant, service, value)

    async def contract_validated_changed(self, tenant: str, service: str, value: bool) -> None:
        """Bring the view and peer replicas up to date after a caller's own transaction stored
        the flag with :func:`repository.set_contract_validated`; call it after the commit."""
        for inst in self.instances(tenant, service):
            if inst.contract_validated != value:
                inst.contract_validated = value
                await self._publish(wire.registry_subject(tenant, "upserted"), {"instance": inst.to_dict()})
        self._changed(tenant, service)

    async def set_status(self, inst: Instance, status: InstanceStatus) -> bool:
        """Change an instance's status (health checks, deployments, expiry) and tell everyone.

        Returns whether this call's write made the change; when another replica stored it
        first, the view follows without announcing it a second time."""
        if inst.status == status:
            return False
        async with self.database.engine.begin() as conn:
            stored = await repository.set_status(conn, inst.id, status)
        old = inst.status
        inst.status = status
        if status != InstanceStatus.CRITICAL:
            inst.critical_since = None
        elif inst.critical_since is None:
            inst.critical_since = self.clock()
            self._critical_now(inst)
        self._changed(inst.tenant_id, inst.service_name)
        if not stored:
            self._status_synced(inst, old)
            return False
        await self._publish_status(inst)
        self._status_changed(inst, old)
        return True

    async def _touchable(self, tenant: str, service: str, instance_id: str) -> Instance:
        inst = self._lookup(tenant, service, instance_id)
        return inst if inst is not None else await self._load_missing(tenant, service, instance_id)

    async def get_stored(self, instance_id: str) -> Instance | None:
        """The instance as the database holds it (``None`` when it is not stored)."""
        if not storable(instance_id):
            return None
        async with self.database.engine.connect() as conn:
            return await repository.get(conn, instance_id)

    async def _load_missing(self, tenant: str, service: str, instance_id: str) -> Instance:
        # registered through another replica whose event has not arrived yet
        stored = await self.get_stored(instance_id)
        if stored is None or stored.tenant_id != tenant or stored.service_name != service:
            raise unknown_instance(service, instance_id)
        self._put(stored)
        return stored

    # ---------------------------------------------------------------- background work
    @property
    def heartbeat_batches(self) -> int:
        """Database writes that stored heartbeats since start."""
        return self._beats.batches

    async def _store_heartbeats(self, seen: dict[str, float]) -> None:
        async with self.database.engine.begin() as conn:
            await repository.touch_many(conn, seen)

    async def _announce_heartbeats(self, seen: dict[str, float]) -> None:
        await self._publish(wire.REGISTRY_HEARTBEATS_SUBJECT, {"seen": seen})


#: kept importable from here for existing callers
service_status = views.service_status
