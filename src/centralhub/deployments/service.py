"""Rolling deployment coordination.

The hub does not start or stop processes: whoever runs the service (an operator, CI, a
container scheduler) does. The hub plans the batches, takes each batch out of discovery
(``draining``), and moves on only when as many instances of the new version are registered
and passing; a batch that does not get there within ``deadline_seconds`` stops the
deployment and is reported. Every step is stored in one transaction, then published on
``deployments.<tenant>.<service>`` so the party replacing instances can follow along, and
emitted as a :class:`DeploymentChanged` domain event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from centralhub.core import wire
from centralhub.core.errors import Conflict, InvalidInput, NotFound
from centralhub.core.time import rfc3339
from centralhub.deployments import repository
from centralhub.deployments.models import (
    FINISHED,
    STRATEGIES,
    Batch,
    BatchState,
    Deployment,
    DeploymentChanged,
    DeploymentState,
)
from centralhub.metrics.collectors import BUS_PUBLISH_FAILURES, DEPLOYMENT_BATCHES
from centralhub.registry.models import SELECTABLE, Instance, InstanceStatus

if TYPE_CHECKING:
    from centralhub.audit.service import AuditLog
    from centralhub.core.database import Database
    from centralhub.core.events.base import EventBus
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.core.tasks import Supervisor
    from centralhub.registry.service import InstanceRegistry

__all__ = ["DeploymentCoordinator", "DeploymentState", "plan_batches"]

log = logging.getLogger(__name__)

#: finished deployments kept in memory for counts and fast reads
KEEP_FINISHED = 200


def plan_batches(instances: list[Instance], version: str, batch_size: int) -> list[Batch]:
    """Split the live instances not yet at ``version`` into batches, oldest first."""
    old = sorted(
        (i for i in instances if i.status in SELECTABLE and i.version != version),
        key=lambda i: (i.registered_at, i.id),
    )
    ids = [i.id for i in old]
    return [
        Batch(index=n, instance_ids=ids[s : s + batch_size])
        for n, s in enumerate(range(0, len(ids), batch_size))
    ]


def _summary(dep: Deployment) -> dict[str, Any]:
    """What the audit trail keeps of a deployment."""
    return {
        "service": dep.service,
        "version": dep.version,
        "strategy": dep.strategy,
        "batch_size": dep.batch_size,
        "deadline_seconds": dep.deadline_seconds,
        "state": dep.state.value,
    }


def _task_name(deployment_id: str) -> str:
    return f"deployment-{deployment_id}"


class DeploymentCoordinator:
    """Component (start/stop) that runs each deployment as a supervised task of its own."""

    def __init__(
        self,
        registry: InstanceRegistry,
        database: Database,
        bus: EventBus,
        supervisor: Supervisor,
        *,
        events: DomainEvents | None = None,
        poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
    ) -> None:
        self.registry = registry
        self.audit = audit
        self.database = database
        self.bus = bus
        self.supervisor = supervisor
        self.events = events
        self.poll_seconds = poll_seconds
        self.clock = clock
        #: ids of the deployments this hub process is running
        self._running: set[str] = set()
        self._known: dict[str, Deployment] = {}
        self._wakeups: dict[tuple[str, str], set[asyncio.Event]] = {}
        self._stopping = False
        registry.add_change_listener(self._on_change)

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._stopping = False

    async def stop(self) -> None:
        """Cancel running deployments; each stores itself as ``cancelled`` before it ends."""
        self._stopping = True
        running = list(self._running)
        await asyncio.gather(*(self.supervisor.stop(_task_name(i)) for i in running))
        for deployment_id in running:
            self._finished(deployment_id)

    def _on_change(self, tenant: str, service: str) -> None:
        # runs on every registry change: keep it a dict lookup
        events = self._wakeups.get((tenant, service))
        if events:
            for ev in events:
                ev.set()

    # ---------------------------------------------------------------- commands
    async def create(
        self,
        tenant: str,
        *,
        service: str,
        version: str,
        strategy: str = "rolling",
        batch_size: int = 1,
        deadline_seconds: float = 300.0,
    ) -> Deployment:
        """Plan, store and start a deployment; ``Conflict`` if one already runs for the service."""
        if self._stopping:
            raise Conflict("the hub is shutting down")
        if strategy not in STRATEGIES:
            raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be at least 1 (got {batch_size})")
        if deadline_seconds <= 0:
            raise InvalidInput(f"deadline_seconds must be greater than 0 (got {deadline_seconds})")
        if not version:
            raise InvalidInput("version must not be empty")
        instances = self.registry.instances(tenant, service)
        if not instances:
            raise NotFound(f"service {service!r} is not registered")
        for other in self._known.values():
            if (other.tenant_id, other.service) == (tenant, service) and other.state not in FINISHED:
                raise Conflict(
                    f"deployment {other.id} of service {service!r} is still {other.state.value}",
                    details={"deployment_id": other.id},
                )
        batches = plan_batches(instances, version, batch_size)
        if not batches:
            raise Conflict(f"every live instance of {service!r} already runs version {version!r}")
        dep = Deployment(
            id=uuid.uuid4().hex,
            tenant_id=tenant,
            service=service,
            version=version,
            strategy=strategy,
            batch_size=batch_size,
            deadline_seconds=deadline_seconds,
            state=DeploymentState.PENDING,
            batches=batches,
            created_at=self.clock(),
            baseline_ids=[i.id for i in instances if i.version == version],
        )
        # known before the insert is awaited, so a second request for the service meanwhile
        # sees it and gets the conflict
        self._known[dep.id] = dep
        try:
            async with self.database.engine.begin() as conn:
                await repository.create(conn, dep)
                if self.audit is not None:
                    await self.audit.record(
                        "deployment.create",
                        f"deployments/{dep.id}",
                        tenant=tenant,
                        after=_summary(dep),
                        conn=conn,
                    )
        except BaseException:
            del self._known[dep.id]
            raise
        self._running.add(dep.id)
        self.supervisor.start(_task_name(dep.id), lambda: self._supervised_run(dep), restart=False)
        return dep

    async def cancel(self, tenant: str, deployment_id: str) -> Deployment:
        """Stop a running deployment of this hub; drained instances stay drained."""
        dep = await self.get(tenant, deployment_id)
        if dep.state in FINISHED:
            raise Conflict(f"deployment {deployment_id} already {dep.state.value}")
        if deployment_id not in self._running:
            raise Conflict(f"deployment {deployment_id} is run by another hub replica")
        before = _summary(dep)
        await self.supervisor.stop(_task_name(deployment_id))
        self._finished(deployment_id)
        if dep.state not in FINISHED:
            # cancelled before its task ever ran: nothing was drained yet
            dep.state = DeploymentState.CANCELLED
            dep.error = "cancelled"
            dep.finished_at = self.clock()
            await self._save(dep)
        if self.audit is not None:
            await self.audit.record(
                "deployment.cancel",
                f"deployments/{dep.id}",
                tenant=tenant,
                before=before,
                after=_summary(dep),
            )
        return dep

    # ---------------------------------------------------------------- reads
    async def get(self, tenant: str, deployment_id: str) -> Deployment:
        dep = self._known.get(deployment_id)
        if dep is None:
            async with self.database.engine.connect() as conn:
                dep = await repository.get(conn, deployment_id=deployment_id)
        if dep is None or dep.tenant_id != tenant:
            raise NotFound(f"deployment {deployment_id!r} not found")
        return dep

    async def get_all(
        self, tenant: str, *, service: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Deployment]:
        async with self.database.engine.connect() as conn:
            stored = await repository.get_all(conn, tenant=tenant, service=service, state=state, limit=limit)
        # the in-memory copy of a running deployment is the freshest
        return [self._known.get(d.id, d) for d in stored]

    def counts(self) -> dict[str, int]:
        """Deployments of this hub process by state (running ones, and the newest finished)."""
        out = {s.value: 0 for s in DeploymentState}
        for dep in self._known.values():
            out[dep.state.value] += 1
        return out

    def live_instances(self, dep: Deployment) -> dict[str, Instance]:
        return {i.id: i for i in self.registry.instances(dep.tenant_id, dep.service)}

    def describe(self, dep: Deployment) -> dict[str, Any]:
        """The public JSON shape, with each instance's current status and RFC 3339 times."""
        live = self.live_instances(dep)

        def instances(ids: list[str]) -> list[dict[str, Any]]:
            out = []
            for iid in ids:
                inst = live.get(iid)
                out.append(
                    {
                        "instance_id": iid,
                        "status": inst.status.value if inst is not None else "gone",
                        "version": inst.version if inst is not None else None,
                        "url": inst.url if inst is not None else None,
                    }
                )
            return out

        return {
            "id": dep.id,
            "tenant_id": dep.tenant_id,
            "service": dep.service,
            "version": dep.version,
            "strategy": dep.strategy,
            "batch_size": dep.batch_size,
            "deadline_seconds": dep.deadline_seconds,
            "state": dep.state.value,
            "progress": {"batches_done": dep.batches_done, "batches_total": len(dep.batches)},
            "batches": [
                {
                    "index": b.index,
                    "state": b.state.value,
                    "instances": instances(b.instance_ids),
                    "replacements": instances(b.replacement_ids),
                    "started_at": rfc3339(b.started_at),
                    "finished_at": rfc3339(b.finished_at),
                    "error": b.error,
                }
                for b in dep.batches
            ],
            "created_at": rfc3339(dep.created_at),
            "started_at": rfc3339(dep.started_at),
            "finished_at": rfc3339(dep.finished_at),
            "error": dep.error,
        }

    # ---------------------------------------------------------------- the run
    def _finished(self, deployment_id: str) -> None:
        """Forget the run's task once it ended (the supervisor's report stays bounded), and
        keep every running deployment plus the newest finished ones in memory."""
        self._running.discard(deployment_id)
        self.supervisor.forget(_task_name(deployment_id))
        finished = [d for d in self._known.values() if d.state in FINISHED]
        for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._known[old.id]

    async def _save(self, dep: Deployment) -> None:
        """Store one step (the deployment's row, batches included) in one transaction, then tell
        followers; a failed publish is counted and logged, the stored record is the truth."""
        async with self.database.engine.begin() as conn:
            await repository.update(conn, dep)
        try:
            await self.bus.publish(wire.deployments_subject(dep.tenant_id, dep.service), self.describe(dep))
        except Exception as exc:
            BUS_PUBLISH_FAILURES.labels("deployments").inc()
            log.warning("deployment event not published: %s", exc)
        if self.events is not None:
            self.events.emit(
                DeploymentChanged(
                    id=dep.id,
                    tenant_id=dep.tenant_id,
                    service=dep.service,
                    version=dep.version,
                    state=dep.state,
                    batches_done=dep.batches_done,
                    batches_total=len(dep.batches),
                    error=dep.error,
                )
            )

    async def _supervised_run(self, dep: Deployment) -> None:
        task = asyncio.current_task()
        if task is not None:
            # after the task has ended, so the supervisor can let go of it
            task.add_done_callback(lambda _task: self._finished(dep.id))
        await self._run(dep)

    async def _run(self, dep: Deployment) -> None:
        key = (dep.tenant_id, dep.service)
        wake = asyncio.Event()
        self._wakeups.setdefault(key, set()).add(wake)
        claimed = set(dep.baseline_ids)
        batch: Batch | None = None
        try:
            dep.state = DeploymentState.RUNNING
            dep.started_at = self.clock()
            await self._save(dep)
            for batch in dep.batches:
                if not await self._run_batch(dep, batch, claimed, wake):
                    return
            batch = None
            dep.state = DeploymentState.SUCCEEDED
            dep.finished_at = self.clock()
            await self._save(dep)
            log.info("deployment %s of %s to %s succeeded", dep.id, dep.service, dep.version)
        except asyncio.CancelledError:
            dep.state = DeploymentState.CANCELLED
            dep.error = "cancelled (hub stopping)" if self._stopping else "cancelled"
            dep.finished_at = self.clock()
            if batch is not None and batch.state not in (BatchState.DONE, BatchState.FAILED):
                batch.state = BatchState.CANCELLED
                batch.finished_at = dep.finished_at
            with contextlib.suppress(Exception):
                await asyncio.shield(self._save(dep))
            raise
        except Exception as exc:
            log.exception("deployment %s failed unexpectedly", dep.id)
            dep.state = DeploymentState.FAILED
            dep.error = f"internal error: {exc}"
            dep.finished_at = self.clock()
            with contextlib.suppress(Exception):
                await self._save(dep)
        finally:
            events = self._wakeups.get(key)
            if events is not None:
                events.discard(wake)
                if not events:
                    del self._wakeups[key]

    async def _run_batch(self, dep: Deployment, batch: Batch, claimed: set[str], wake: asyncio.Event) -> bool:
        """Drain one batch and wait for its replacements; False when it failed (deployment stops)."""
        batch.started_at = self.clock()
        live = self.live_instances(dep)
        for iid in batch.instance_ids:
            inst = live.get(iid)
            if inst is not None:
                await self.registry.set_status(inst, InstanceStatus.DRAINING)
        batch.state = BatchState.WAITING
        await self._save(dep)
        need = len(batch.instance_ids)
        deadline = time.monotonic() + dep.deadline_seconds
        while True:
            wake.clear()
            fresh = sorted(
                (
                    i
                    for i in self.registry.instances(dep.tenant_id, dep.service)
                    if i.version == dep.version and i.status == InstanceStatus.PASSING and i.id not in claimed
                ),
                key=lambda i: (i.registered_at, i.id),
            )
            if len(fresh) >= need:
                batch.replacement_ids = [i.id for i in fresh[:need]]
                claimed.update(batch.replacement_ids)
                batch.state = BatchState.DONE
                batch.finished_at = self.clock()
                DEPLOYMENT_BATCHES.labels("done").inc()
                await self._save(dep)
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                batch.state = BatchState.FAILED
                batch.finished_at = self.clock()
                batch.error = (
                    f"{len(fresh)} of {need} instance(s) of version {dep.version!r} registered and "
                    f"passing after {dep.deadline_seconds:g}s"
                )
                dep.state = DeploymentState.FAILED
                dep.error = f"batch {batch.index + 1} of {len(dep.batches)} failed: {batch.error}"
                dep.finished_at = batch.finished_at
                DEPLOYMENT_BATCHES.labels("failed").inc()
                await self._save(dep)
                log.warning("deployment %s stopped: %s", dep.id, dep.error)
                return False
            # woken by registry changes; the poll bounds a missed wake-up (another replica's event)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self.poll_seconds)):
                    await wake.wait()
