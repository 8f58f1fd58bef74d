"""Per-service circuit state: ``CLOSED``, ``OPEN``, ``HALF_OPEN``.

Two inputs move it:

* **client reports** (``report(success, error)``): ``failure_threshold`` consecutive failures
  open a closed circuit; after ``recovery_timeout`` an open circuit turns ``HALF_OPEN`` (on the
  next read); there ``success_threshold`` successes close it and one failure re-opens it.
* **health results** (:class:`InstanceStatusChanged` domain events): when no instance of the
  service is healthy any more the circuit opens at once; when an instance becomes passing
  again an open circuit turns ``HALF_OPEN`` so clients may try.

State is kept per hub replica in memory: clients report to whichever replica they reach and
health results reach every replica through the registry's events. The circuit map is bounded
(:data:`MAX_CIRCUITS`, least recently used evicted): a forgotten circuit starts ``CLOSED``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache

from centralhub.core.errors import NotFound
from centralhub.core.time import rfc3339
from centralhub.registry.models import SELECTABLE, InstanceStatus, InstanceStatusChanged, InstanceStatusSynced

if TYPE_CHECKING:
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.registry.service import InstanceRegistry

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


class CircuitRegistry:
    """All circuits of all tenants; created on first use."""

    def __init__(
        self,
        registry: InstanceRegistry,
        *,
        events: DomainEvents,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        success_threshold: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.success_threshold = success_threshold
        self.clock = clock
        self._circuits: LRUCache[tuple[str, str], Circuit] = LRUCache(MAX_CIRCUITS)
        events.subscribe(InstanceStatusChanged, self._on_status)
        # circuits are per replica: they follow changes stored by other replicas as well
        events.subscribe(InstanceStatusSynced, self._on_status)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    # ------------------------------------------------------------------ transitions
    def _circuit(self, tenant: str, service: str) -> Circuit:
        key = (tenant, service)
        c = self._circuits.get(key)
        if c is None:
            c = self._circuits[key] = Circuit(service=service, tenant_id=tenant, changed_at=self.clock())
        return c

    def _to(self, c: Circuit, state: str, reason: str) -> None:
        if c.state == state:
            return
        c.state = state
        c.reason = reason
        c.changed_at = self.clock()
        c.failures = 0
        c.half_open_successes = 0
        c.opened_at = c.changed_at if state == OPEN else c.opened_at if state == HALF_OPEN else None

    def _settle(self, c: Circuit) -> None:
        if (
            c.state == OPEN
            and c.opened_at is not None
            and self.clock() - c.opened_at >= self.recovery_timeout
        ):
            self._to(c, HALF_OPEN, "recovery timeout passed; trial requests allowed")

    async def _on_status(self, event: InstanceStatusChanged | InstanceStatusSynced) -> None:
        inst, new = event.instance, event.new
        c = self._circuit(inst.tenant_id, inst.service_name)
        self._settle(c)
        healthy = [
            i for i in self.registry.instances(inst.tenant_id, inst.service_name) if i.status in SELECTABLE
        ]
        if not healthy and c.state != OPEN:
            self._to(c, OPEN, "health checks: no healthy instance")
        elif new == InstanceStatus.PASSING and c.state == OPEN:
            self._to(c, HALF_OPEN, f"health checks: instance {inst.id[:12]} is passing again")

    def report(self, tenant: str, service: str, *, success: bool, error: str | None = None) -> dict[str, Any]:
        """A client's outcome of one call to ``service``; returns the circuit afterwards."""
        self._known(tenant, service)
        c = self._circuit(tenant, service)
        self._settle(c)
        now = self.clock()
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
                    self._to(c, OPEN, f"{self.failure_threshold} consecutive failures reported by clients")
        return self.get(tenant, service)

    # ------------------------------------------------------------------ reads
    def _known(self, tenant: str, service: str) -> None:
        if (tenant, service) not in self._circuits and not self.registry.instances(tenant, service):
            raise NotFound(f"service {service!r} is not registered")

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
