"""Per-service circuit state: ``CLOSED``, ``OPEN``, ``HALF_OPEN``.

Two inputs move it:

* **client reports** (``report(success, error)``): ``failure_threshold`` consecutive failures
  open a closed circuit; after ``recovery_timeout`` an open circuit turns ``HALF_OPEN`` (on the
  next read); there ``success_threshold`` successes close it and one failure re-opens it.
* **health results** (:class:`InstanceStatusChanged` domain events): when no instance of the
  service is healthy any more the circuit opens at once; when an instance becomes passing
  again an open circuit turns ``HALF_OPEN`` so clients may try.

State is stored in the database and shared by every replica: clients report to whichever
replica they reach, each change is written in one transaction (row-locked on PostgreSQL, so
reports racing on two replicas both count) and announced on the bus, where the other replicas
update their copy; a read through the API re-reads the row, so every replica answers the same
right after a change, and a restart loses nothing. A status change learned from a peer replica
does not move the circuit again: the replica that stored it did. The in-memory copy is bounded
(:data:`MAX_CIRCUITS`, least recently used evicted) and reloaded from the database on demand.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache
from sqlalchemy.exc import IntegrityError

from centralhub.core import wire
from centralhub.core.errors import NotFound
from centralhub.core.time import rfc3339
from centralhub.health import repository
from centralhub.registry.models import SELECTABLE, InstanceStatus, InstanceStatusChanged

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from centralhub.core.events import EventBus
    from centralhub.core.events.base import Subscription
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "CLOSED", "OPEN", "HALF_OPEN"
#: circuits kept in memory, across tenants
MAX_CIRCUITS = 10_000


@dataclass(slots=True)
class Circuit:
    service: str
    tenant_id: str
    state: str = CLOSED
    failures: int = 0
    half_open_successes: int = 0
    opened_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None
    reason: str | None = None
    successes_reported: int = 0
    failures_reported: int = 0
    changed_at: float = 0.0
    #: bumped by every stored change, so a replica never replaces a newer copy by an older one
    version: int = 0


class CircuitRegistry:
    """All circuits of all tenants; created on first change, stored when ``engine`` is given."""

    def __init__(
        self,
        registry: InstanceRegistry,
        *,
        events: DomainEvents,
        engine: AsyncEngine | None = None,
        bus: EventBus | None = None,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        success_threshold: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self.bus = bus
        self.replica_id = registry.replica_id
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.success_threshold = success_threshold
        self.clock = clock
        self._circuits: LRUCache[tuple[str, str], Circuit] = LRUCache(MAX_CIRCUITS)
        self._sub: Subscription | None = None
        # only the replica whose write stored a status change moves the (shared) circuit; the
        # others learn the new circuit state from the database and its change events
        events.subscribe(InstanceStatusChanged, self._on_status)

    async def start(self) -> None:
        if self.engine is not None:
            try:
                async with self.engine.connect() as conn:
                    for c in await repository.get_all(conn, limit=MAX_CIRCUITS):
                        self._circuits[(c.tenant_id, c.service)] = c
            except Exception as exc:  # reads re-load each circuit anyway
                log.warning("circuits not loaded: %s", exc)
        if self.bus is not None:
            self._sub = await self.bus.subscribe(wire.CIRCUITS_ALL_SUBJECTS, self._on_peer_change)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    # ------------------------------------------------------------------ transitions
    def _circuit(self, tenant: str, service: str) -> Circuit:
        key = (tenant, service)
        c = self._circuits.get(key)
        if c is None:
            c = self._circuits[key] = Circuit(service=service, tenant_id=tenant, changed_at=self.clock())
        return c

    def _to(self, c: Circuit, state: str, reason: str, at: float | None = None) -> None:
        if c.state == state:
            return
        c.state = state
        c.reason = reason
        c.changed_at = self.clock() if at is None else at
        c.failures = 0
        c.half_open_successes = 0
        c.opened_at = c.changed_at if state == OPEN else c.opened_at if state == HALF_OPEN else None

    def _settle(self, c: Circuit) -> None:
        # the change is dated when the timeout ran out, not when it is noticed, so every replica
        # (and every read) shows the same time
        if (
            c.state == OPEN
            and c.opened_at is not None
            and self.clock() - c.opened_at >= self.recovery_timeout
        ):
            at = c.opened_at + self.recovery_timeout
            self._to(c, HALF_OPEN, "recovery timeout passed; trial requests allowed", at=at)

    async def _change(self, tenant: str, service: str, apply: Callable[[Circuit], None]) -> Circuit:
        """Apply one transition to the stored circuit (created when new) and tell the peers."""
        if self.engine is None:
            c = self._circuit(tenant, service)
            self._settle(c)
            apply(c)
            return c
        for attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    stored = await repository.get(conn, tenant_id=tenant, service=service, for_update=True)
                    c = stored or Circuit(service=service, tenant_id=tenant, changed_at=self.clock())
                    before = replace(c)
                    self._settle(c)
                    apply(c)
                    if c == before:  # nothing moved (a health result that changes nothing)
                        return c
                    c.version += 1
                    await repository.save(conn, circuit=c, new=stored is None)
                break
            except IntegrityError:  # another replica created it meanwhile: update theirs
                if attempt == 2:
                    raise
        self._circuits[(tenant, service)] = c
        if self.bus is not None:
            try:
                await self.bus.publish(
                    wire.circuits_subject(tenant),
                    {"origin": self.replica_id, "service": service, "version": c.version},
                )
            except Exception as exc:  # peers re-read the row on their next API read
                log.warning("circuit change not published: %s", exc)
        return c

    async def _on_peer_change(self, subject: str, payload: dict[str, Any]) -> None:
        if payload.get("origin") == self.replica_id or self.engine is None:
            return
        tenant = subject.split(".")[1]
        await self._reload(tenant, str(payload.get("service", "")))

    async def _reload(self, tenant: str, service: str) -> None:
        if self.engine is None:
            return
        async with self.engine.connect() as conn:
            stored = await repository.get(conn, tenant_id=tenant, service=service)
        if stored is None:
            return
        cached = self._circuits.get((tenant, service))
        if cached is None or stored.version >= cached.version:
            self._circuits[(tenant, service)] = stored

    async def _on_status(self, event: InstanceStatusChanged) -> None:
        if not event.local:
            return  # the replica that stored the status change moved the circuit
        inst, new = event.instance, event.new
        healthy = [
            i for i in self.registry.instances(inst.tenant_id, inst.service_name) if i.status in SELECTABLE
        ]

        def apply(c: Circuit) -> None:
            if not healthy and c.state != OPEN:
                self._to(c, OPEN, "health checks: no healthy instance")
            elif new == InstanceStatus.PASSING and c.state == OPEN:
                self._to(c, HALF_OPEN, f"health checks: instance {inst.id[:12]} is passing again")

        await self._change(inst.tenant_id, inst.service_name, apply)

    async def report(
        self, tenant: str, service: str, *, success: bool, error: str | None = None
    ) -> dict[str, Any]:
        """A client's outcome of one call to ``service``; returns the circuit afterwards."""
        await self._reload(tenant, service)
        self._known(tenant, service)
        now = self.clock()

        def apply(c: Circuit) -> None:
            if success:
                c.successes_reported += 1
                if c.state == HALF_OPEN:
                    c.half_open_successes += 1
                    if c.half_open_successes >= self.success_threshold:
                        self._to(c, CLOSED, f"{self.success_threshold} successful trial request(s)")
                elif c.state == CLOSED:
                    c.failures = 0
            else:
                c.failures_reported += 1
                c.last_failure_at = now
                c.last_error = (error or "")[:500] or None
                if c.state == HALF_OPEN:
                    self._to(c, OPEN, "a trial request failed")
                elif c.state == CLOSED:
                    c.failures += 1
                    if c.failures >= self.failure_threshold:
                        self._to(
                            c, OPEN, f"{self.failure_threshold} consecutive failures reported by clients"
                        )

        await self._change(tenant, service, apply)
        return self.get(tenant, service)

    # ------------------------------------------------------------------ reads
    def _known(self, tenant: str, service: str) -> None:
        if (tenant, service) not in self._circuits and not self.registry.instances(tenant, service):
            raise NotFound(f"service {service!r} is not registered")

    async def fetch(self, tenant: str, service: str) -> dict[str, Any]:
        """:meth:`get` after re-reading the stored circuit (another replica may have moved it)."""
        await self._reload(tenant, service)
        return self.get(tenant, service)

    async def fetch_all(self, tenant: str) -> list[dict[str, Any]]:
        """:meth:`all` after re-reading the tenant's stored circuits."""
        if self.engine is not None:
            async with self.engine.connect() as conn:
                stored = await repository.get_all(conn, tenant_id=tenant, limit=MAX_CIRCUITS)
            for c in stored:
                cached = self._circuits.get((tenant, c.service))
                if cached is None or c.version >= cached.version:
                    self._circuits[(tenant, c.service)] = c
            return [self.get(tenant, c.service) for c in stored]
        return self.all(tenant)

    def state(self, tenant: str, service: str) -> str:
        """Just the state word, for callers deciding whether to call ``service``."""
        return str(self.get(tenant, service)["state"])

    def get(self, tenant: str, service: str) -> dict[str, Any]:
        self._known(tenant, service)
        c = self._circuit(tenant, service)
        self._settle(c)
        retry_after = None
        if c.state == OPEN and c.opened_at is not None:
            retry_after = round(max(0.0, self.recovery_timeout - (self.clock() - c.opened_at)), 3)
        return {
            "service": c.service,
            "tenant_id": c.tenant_id,
            "state": c.state,
            "reason": c.reason,
            "consecutive_failures": c.failures,
            "failure_threshold": self.failure_threshold,
            "half_open_successes": c.half_open_successes,
            "success_threshold": self.success_threshold,
            "recovery_timeout_seconds": self.recovery_timeout,
            "retry_after_seconds": retry_after,
            "opened_at": rfc3339(c.opened_at),
            "last_failure_at": rfc3339(c.last_failure_at),
            "last_error": c.last_error,
            "successes_reported": c.successes_reported,
            "failures_reported": c.failures_reported,
            "changed_at": rfc3339(c.changed_at),
        }

    def all(self, tenant: str) -> list[dict[str, Any]]:
        return [self.get(t, s) for (t, s) in sorted(self._circuits) if t == tenant]
