"""Active health checks of registered instances (HTTP, TCP) feeding the registry's status.

Which check an instance gets:

* ``check: {type: http|tcp, ...}`` given → that active check only (no TTL expiry, the
  registry's rule).
* ``check`` absent and a ``health_endpoint`` given → an active HTTP check with the default
  spec **and** TTL expiry: the instance must answer its health endpoint *and* keep
  heartbeating. Its status is the worse of the two.
* ``check: {type: ttl}`` or neither → heartbeats only; nothing is probed.

Results move the status through ``registry.set_status`` with damping: the first failure of a
passing instance makes it ``warning``; ``failures_before_critical`` consecutive failures make
it ``critical``; from there ``successes_before_passing`` consecutive successes make it
``passing`` again (``warning`` in between). An instance that changed status
``FLAP_TRANSITIONS`` times within ``FLAP_WINDOW_CHECKS`` intervals is held at ``warning`` instead
of ``passing`` until it calms down. ``draining`` (set by deployments) is never overridden.

Scheduling: one loop (the supervised task ``health-checker``) keeps a heap of due times; each
instance starts at a random offset within its interval (jitter) and then runs at a fixed rate,
so 1,000 instances spread evenly; a semaphore bounds concurrent probes.

Several hub replicas share the checks: each instance's check runs on exactly one live replica,
chosen by rendezvous hashing over the live set (:mod:`centralhub.replicas`). Every replica keeps
the whole schedule and skips the slots it does not own, so when a replica dies or leaves, the
new owners probe its instances within a fraction of an interval of learning so. Probe requests
name their replica (``User-Agent`` and ``X-CentralHub-Replica``). Only the replica whose write
changed a status announces the change (the registry's conditional update), so one change
raises one alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from centralhub import __version__
from centralhub.core.errors import NotFound
from centralhub.core.time import rfc3339
from centralhub.health.models import FLAP_TRANSITIONS, FLAP_WINDOW_CHECKS, CheckState, HealthCheckResult
from centralhub.health.probes import check_http, check_tcp
from centralhub.metrics import collectors as metrics
from centralhub.registry.models import Instance, InstanceStatus
from centralhub.registry.service import InstanceRegistry, service_status

if TYPE_CHECKING:
    from centralhub.core.tasks import Supervisor
    from centralhub.replicas.service import ReplicaMembership

__all__ = [
    "DEFAULT_SPEC",
    "FLAP_TRANSITIONS",
    "FLAP_WINDOW_CHECKS",
    "CheckState",
    "HealthChecker",
    "effective_check",
    "next_status",
    "result_document",
    "state_document",
    "uses_ttl",
]

log = logging.getLogger(__name__)

DEFAULT_SPEC: dict[str, Any] = {
    "type": "http",
    "interval_seconds": 10.0,
    "timeout_seconds": 2.0,
    "failures_before_critical": 3,
    "successes_before_passing": 2,
}
CHECKER_TASK = "health-checker"
#: the header naming the hub replica that sent a probe
REPLICA_HEADER = "X-CentralHub-Replica"
#: a check taken over from another replica is probed within this share of its interval
TAKEOVER_SPREAD = 0.25


def check_key(tenant: str, service: str, instance_id: str) -> str:
    """What the replicas hash to decide which of them runs an instance's check."""
    return f"{tenant}/{service}/{instance_id}"


def effective_check(inst: Instance) -> dict[str, Any]:
    """The check the hub runs for ``inst`` (see the module docstring); ``type`` may be ``ttl``."""
    if inst.check:
        return {**DEFAULT_SPEC, **inst.check}
    if inst.health_endpoint:
        return dict(DEFAULT_SPEC)
    return {**DEFAULT_SPEC, "type": "ttl"}


def uses_ttl(inst: Instance) -> bool:
    """Mirrors ``InstanceRegistry._uses_ttl``: TTL expiry applies unless an active check is set."""
    return (inst.check or {}).get("type", "ttl") == "ttl"


def result_document(r: HealthCheckResult) -> dict[str, Any]:
    """A probe result as the API shows it."""
    return {
        "healthy": r.healthy,
        "response_time_ms": round(r.response_time_ms, 2),
        "error": r.error,
        "metadata": r.metadata,
        "checked_at": rfc3339(r.checked_at),
    }


def state_document(state: CheckState, now: float) -> dict[str, Any]:
    """What the checker knows about one instance, as the API shows it."""
    return {
        "consecutive_failures": state.failures,
        "consecutive_successes": state.successes,
        "checks": state.checks,
        "flapping": state.flapping(now),
        "last_result": result_document(state.last) if state.last else None,
    }


def next_status(current: InstanceStatus, state: CheckState, healthy: bool, *, now: float) -> InstanceStatus:
    """The damped status after one probe (``state`` counters already updated)."""
    if healthy:
        if state.successes >= int(state.spec["successes_before_passing"]):
            return InstanceStatus.WARNING if state.flapping(now) else InstanceStatus.PASSING
        return InstanceStatus.WARNING if current == InstanceStatus.CRITICAL else current
    if state.failures >= int(state.spec["failures_before_critical"]):
        return InstanceStatus.CRITICAL
    return InstanceStatus.WARNING if current == InstanceStatus.PASSING else current


class HealthChecker:
    """Runs every instance's active check on schedule; ``stop`` cancels in-flight probes."""

    def __init__(
        self,
        registry: InstanceRegistry,
        *,
        supervisor: Supervisor,
        max_concurrency: int = 200,
        clock: Callable[[], float] = time.time,
        membership: ReplicaMembership | None = None,
    ) -> None:
        #: ``listener(instance, result)`` after each probe (the alert rules keep the latency)
        self.result_listeners: list[Callable[[Instance, HealthCheckResult], None]] = []
        self.registry = registry
        self.supervisor = supervisor
        #: which checks this replica runs; ``None`` runs them all (a lone hub)
        self.membership = membership
        self._reassigned = False
        self.max_concurrency = max_concurrency
        self.clock = clock
        self._states: dict[str, CheckState] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._by_service: dict[tuple[str, str], set[str]] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._full_sync = True
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(max_concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        #: schedule lag (start - due, seconds) of recent probes, for the benchmark and /metrics
        self.lag: deque[float] = deque(maxlen=5000)
        self.probes = 0
        registry.add_change_listener(self._on_change)
        if membership is not None:
            membership.add_listener(self._on_membership)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=0),
            follow_redirects=False,
            trust_env=False,
            headers={
                "User-Agent": f"centralhub-health/{__version__} (replica {self.registry.replica_id})",
                REPLICA_HEADER: self.registry.replica_id,
            },
        )
        self.supervisor.start(CHECKER_TASK, self._run)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop scheduling, let in-flight probes finish (bounded), then close the HTTP client.

        Probes are not cancelled straight away: one may be inside ``registry.set_status``
        writing to the database, and a cancelled database call can leave a pooled connection
        that the engine's shutdown then waits for."""
        await self.supervisor.stop(CHECKER_TASK)
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------ reads
    def result(self, instance_id: str) -> CheckState | None:
        return self._states.get(instance_id)

    def instance_health(self, inst: Instance) -> dict[str, Any]:
        """One instance's check spec, status and last probe."""
        spec = effective_check(inst)
        state = self._states.get(inst.id)
        doc: dict[str, Any] = {
            "instance_id": inst.id,
            "url": inst.url,
            "health_endpoint": inst.health_endpoint,
            "status": inst.status.value,
            "check": spec,
            "ttl_expiry": uses_ttl(inst),
            "last_seen": rfc3339(inst.last_seen),
            "checked_by": self.checked_by(inst) if spec["type"] != "ttl" else None,
        }
        doc.update(state_document(state or CheckState(inst.id, spec), self.clock()))
        return doc

    def service_health(self, tenant: str, service: str) -> dict[str, Any]:
        """``GET /api/v1/services/{name}/health``: the service status and every instance's check."""
        instances = self.registry.instances(tenant, service)
        if not instances:
            raise NotFound(f"service {service!r} is not registered")
        instances.sort(key=lambda i: i.registered_at)
        return {
            "service": service,
            "tenant_id": tenant,
            "status": service_status(instances),
            "instances": [self.instance_health(i) for i in instances],
        }

    def services_summary(self, tenant: str) -> dict[str, Any]:
        """The shape existing dashboards read: ``{name: {status, latency, last_check}}``.

        Latency in ms, the mean of the instances' last probes; ``last_check`` RFC 3339, the newest
        probe or heartbeat."""
        out: dict[str, Any] = {}
        for name in self.registry.service_names(tenant):
            instances = self.registry.instances(tenant, name)
            latencies: list[float] = []
            last = 0.0
            for inst in instances:
                state = self._states.get(inst.id)
                if state and state.last:
                    latencies.append(state.last.response_time_ms)
                    last = max(last, state.last.checked_at)
                else:
                    last = max(last, inst.last_seen)
            out[name] = {
                "status": service_status(instances),
                "latency": round(sum(latencies) / len(latencies), 2) if latencies else None,
                "last_check": rfc3339(last) if last else None,
                "instances": len(instances),
                "healthy_instances": sum(1 for i in instances if i.status == InstanceStatus.PASSING),
            }
        return out

    def checked_by(self, inst: Instance) -> str | None:
        """The replica that runs ``inst``'s active check (its results are on that replica)."""
        if self.membership is None:
            return self.registry.replica_id
        return self.membership.owner(check_key(inst.tenant_id, inst.service_name, inst.id))

    def _owns(self, state: CheckState) -> bool:
        if self.membership is None:
            return True
        return self.membership.owns(check_key(state.key[0], state.key[1], state.instance_id))

    def _on_membership(self) -> None:
        self._reassigned = True
        self._wake.set()

    def _reassign(self) -> None:
        """After the live set changed: probe the checks this replica just took over soon (the
        previous owner may be gone for a while already), and stop the ones it handed over."""
        self._reassigned = False
        now = self.clock()
        for state in self._states.values():
            owned = self._owns(state)
            if owned == state.owned:
                continue
            self._take(state, owned)
            if owned:
                interval = float(state.spec["interval_seconds"])
                due = now + random.uniform(0, TAKEOVER_SPREAD * interval)
                if due < state.due:
                    state.due = due
                    self._push(state)

    @staticmethod
    def _take(state: CheckState, owned: bool) -> None:
        state.owned = owned
        if owned:
            # counters from an earlier turn are stale; damping starts again from the next probe
            state.failures = state.successes = 0

    def lag_figures(self) -> dict[str, float]:
        """Schedule lag percentiles (ms) over the recent probes."""
        if not self.lag:
            return {"count": 0}
        values = sorted(self.lag)

        def pct(p: float) -> float:
            return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 2)

        return {"count": len(values), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0)}

    # ------------------------------------------------------------------ scheduling
    def _on_change(self, tenant: str, service: str) -> None:
        self._dirty.add((tenant, service))
        self._wake.set()

    def _sync(self) -> None:
        """Add newly registered instances of changed services to the schedule, forget removed ones."""
        if self._full_sync:
            self._full_sync = False
            keys = {(i.tenant_id, i.service_name) for i in self.registry.all_instances()}
        else:
            keys = set()
        keys |= self._dirty
        self._dirty = set()
        now = self.clock()
        for key in keys:
            known = self._by_service.pop(key, set())
            seen: set[str] = set()
            for inst in self.registry.instances(*key):
                spec = effective_check(inst)
                if spec["type"] == "ttl":
                    continue
                seen.add(inst.id)
                state = self._states.get(inst.id)
                if state is not None and state.spec == spec:
                    continue
                state = CheckState(inst.id, spec, key)
                state.owned = self._owns(state)
                # jitter: a random first slot within one interval spreads a mass registration
                state.due = now + random.uniform(0, float(spec["interval_seconds"]))
                self._states[inst.id] = state
                self._push(state)
            for gone in known - seen:
                self._states.pop(gone, None)
            if seen:
                self._by_service[key] = seen

    def _push(self, state: CheckState) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (state.due, self._seq, state.instance_id))

    async def _run(self) -> None:
        while True:
            if self._dirty or self._full_sync:
                self._sync()
            if self._reassigned:
                self._reassign()
            now = self.clock()
            while self._heap and self._heap[0][0] <= now:
                due, _, instance_id = heapq.heappop(self._heap)
                state = self._states.get(instance_id)
                if state is None or state.due != due:
                    continue  # removed or rescheduled
                interval = float(state.spec["interval_seconds"])
                # fixed rate; if we fell more than an interval behind, skip ahead instead of bursting
                state.due = due + interval if due + interval > now else now + interval
                self._push(state)
                owned = self._owns(state)
                if owned != state.owned:
                    self._take(state, owned)
                if not owned:
                    continue  # another replica runs this check; the slot is kept for a takeover
                await self._sem.acquire()
                task = asyncio.create_task(self._probe(state, due))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            delay = (self._heap[0][0] - self.clock()) if self._heap else 1.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(delay, 1.0))):
                    await self._wake.wait()

    async def _probe(self, state: CheckState, due: float) -> None:
        try:
            self.lag.append(max(0.0, self.clock() - due))
            inst = self._current(state)
            if inst is None:
                return
            result = await self.run_check(inst, state.spec)
            self.probes += 1
            await self.apply(inst, state, result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("health check of %s failed unexpectedly", state.instance_id)
        finally:
            self._sem.release()

    def _current(self, state: CheckState) -> Instance | None:
        try:
            return self.registry.get_instance(state.key[0], state.key[1], state.instance_id)
        except NotFound:
            return None

    async def run_check(self, inst: Instance, spec: dict[str, Any]) -> HealthCheckResult:
        """Probe ``inst`` once with ``spec`` (no status change)."""
        timeout = float(spec["timeout_seconds"])
        if spec["type"] == "tcp":
            return await check_tcp(inst.host, inst.port, timeout=timeout)
        assert self._client is not None, "HealthChecker not started"
        path = inst.health_endpoint or "/health"
        if not path.startswith("/"):
            path = "/" + path
        return await check_http(self._client, inst.url + path, timeout=timeout)

    async def apply(self, inst: Instance, state: CheckState, result: HealthCheckResult) -> None:
        """Update the counters with ``result`` and move the instance's status accordingly."""
        now = self.clock()
        for listener in self.result_listeners:
            listener(inst, result)
        state.last = result
        state.checks += 1
        if result.response_time_ms is not None:
            check_type = (inst.check or {}).get("type") or "http"
            metrics.CHECK_LATENCY.labels(check_type=check_type).observe(result.response_time_ms / 1000)
        if result.healthy:
            state.successes += 1
            state.failures = 0
        else:
            state.failures += 1
            state.successes = 0
        if inst.status == InstanceStatus.DRAINING or self._current(state) is not inst:
            return  # deployments own draining instances; a removed one has no status to set
        ttl_expired = uses_ttl(inst) and now - inst.last_seen > inst.ttl_seconds
        target = next_status(inst.status, state, result.healthy, now=now)
        if ttl_expired and target != InstanceStatus.CRITICAL:
            target = inst.status  # the registry's TTL expiry owns this instance now
        if target != inst.status:
            state.transitions.append(now)
            log.info(
                "%s/%s %s -> %s (%s)",
                inst.service_name,
                inst.id[:12],
                inst.status.value,
                target.value,
                result.error or f"{result.response_time_ms:.0f} ms",
            )
            await self.registry.set_status(inst, target)
        if inst.status == InstanceStatus.CRITICAL and uses_ttl(inst):
            # The registry revives a critical instance on its next heartbeat when
            # ``critical_since`` is set (that is how TTL expiry heals). A failing health
            # endpoint is not healed by a heartbeat, so hold ``critical_since`` back while the
            # TTL is still fresh; once the TTL lapses, give it the expiry time so the reaper
            # removes the instance after the usual grace.
            inst.critical_since = inst.last_seen + inst.ttl_seconds if ttl_expired else None
