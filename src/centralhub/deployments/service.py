"""Rolling deployment coordination, shared by every hub replica through the database.

The hub does not start or stop processes: whoever runs the service (an operator, CI, a
container scheduler) does. The hub plans the batches, takes each batch out of discovery
(``draining``), and moves on only when as many instances of the new version are registered
and passing; a batch that does not get there within ``deadline_seconds`` stops the deployment.
A stopped (failed, cancelled) deployment puts what it drained back; a successful one
deregisters the replaced instances after their drain period.

Each deployment is run by one replica, its ``owner``, which renews a lease on the row every
third of ``lease_seconds``. Every replica looks for deployments whose lease ran out (owner dead,
or gone without handing over) and adopts them with one conditional UPDATE, so exactly one wins,
then continues from the stored record (:mod:`centralhub.deployments.rollout`). A unique index
allows one active deployment per service whichever replica is asked, and a cancel on any replica
marks the row for the owner to act on. Every stored step is published to the other replicas
(their reads and counts follow it) and on ``deployments.<tenant>.<service>`` for whoever
replaces the instances, and emitted as a :class:`DeploymentChanged` domain event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from centralhub.core import wire
from centralhub.core.errors import Conflict, InvalidInput, NotFound
from centralhub.deployments import repository
from centralhub.deployments.models import (
    FINISHED,
    STRATEGIES,
    Batch,
    Deployment,
    DeploymentChanged,
    DeploymentState,
)
from centralhub.deployments.rollout import LeaseLost, Rollout
from centralhub.deployments.views import describe
from centralhub.metrics.collectors import BUS_PUBLISH_FAILURES
from centralhub.registry.models import SELECTABLE, Instance

if TYPE_CHECKING:
    from centralhub.audit.service import AuditLog
    from centralhub.core.database import Database
    from centralhub.core.events.base import EventBus, Subscription
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.core.tasks import Supervisor
    from centralhub.registry.service import InstanceRegistry

__all__ = ["DeploymentCoordinator", "DeploymentState", "plan_batches"]

log = logging.getLogger(__name__)

#: finished deployments kept in memory for counts
KEEP_FINISHED = 200
LEASE_TASK = "deployment-leases"


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
        "drain_seconds": dep.drain_seconds,
        "state": dep.state.value,
    }


def _task_name(deployment_id: str) -> str:
    return f"deployment-{deployment_id}"


class DeploymentCoordinator:
    """Component (start/stop): runs the deployments this replica owns, each as a supervised
    task, and keeps the leases (renewing its own, adopting orphaned ones)."""

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
        replica_id: str | None = None,
        lease_seconds: float = 10.0,
        drain_seconds: float = 30.0,
    ) -> None:
        self.registry = registry
        self.audit = audit
        self.database = database
        self.bus = bus
        self.supervisor = supervisor
        self.events = events
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.replica_id = replica_id or registry.replica_id
        self.lease_seconds = lease_seconds
        self.drain_seconds = drain_seconds
        #: the deployments this replica owns and runs
        self._runs: dict[str, Rollout] = {}
        #: the newest copy of every deployment seen (own runs, peers' events, reads), for counts
        self._known: dict[str, Deployment] = {}
        self._wakeups: dict[tuple[str, str], set[asyncio.Event]] = {}
        self._sub: Subscription | None = None
        self._stopping = False
        registry.add_change_listener(self._on_change)

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._stopping = False
        self._sub = await self.bus.subscribe(wire.DEPLOYMENT_RECORDS_SUBJECT, self._on_record)
        self.supervisor.start(LEASE_TASK, self._keep_leases)

    async def stop(self) -> None:
        """Stop the runs and hand their deployments over at once (the lease is released, so a
        live replica, or this one after a restart, adopts and continues them)."""
        self._stopping = True
        await self.supervisor.stop(LEASE_TASK)
        running = list(self._runs)
        await asyncio.gather(*(self.supervisor.stop(_task_name(i)) for i in running))
        for deployment_id in running:
            with contextlib.suppress(Exception):
                async with self.database.engine.begin() as conn:
                    await repository.release(conn, deployment_id=deployment_id, owner=self.replica_id)
            self._finished(deployment_id)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

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
        drain_seconds: float | None = None,
    ) -> Deployment:
        """Plan, store and start a deployment; ``Conflict`` if one is active for the service on
        any replica (the database's unique index decides)."""
        if self._stopping:
            raise Conflict("the hub is shutting down")
        if strategy not in STRATEGIES:
            raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be at least 1 (got {batch_size})")
        if deadline_seconds <= 0:
            raise InvalidInput(f"deadline_seconds must be greater than 0 (got {deadline_seconds})")
        if drain_seconds is not None and drain_seconds < 0:
            raise InvalidInput(f"drain_seconds must be 0 or more (got {drain_seconds})")
        if not version:
            raise InvalidInput("version must not be empty")
        instances = self.registry.instances(tenant, service)
        if not instances:
            raise NotFound(f"service {service!r} is not registered")
        batches = plan_batches(instances, version, batch_size)
        if not batches:
            await self._refuse_if_active(tenant, service)
            raise Conflict(f"every live instance of {service!r} already runs version {version!r}")
        now = self.clock()
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
            created_at=now,
            baseline_ids=[i.id for i in instances if i.version == version],
            drain_seconds=self.drain_seconds if drain_seconds is None else drain_seconds,
            owner=self.replica_id,
            lease_expires_at=now + self.lease_seconds,
        )
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
        except IntegrityError:
            await self._refuse_if_active(tenant, service)
            raise Conflict(
                f"another deployment of service {service!r} was started at the same time; retry"
            ) from None
        self._start_run(dep)
        return dep

    async def _refuse_if_active(self, tenant: str, service: str) -> None:
        async with self.database.engine.connect() as conn:
            other = await repository.get_active(conn, tenant=tenant, service=service)
        if other is not None:
            raise Conflict(
                f"deployment {other.id} of service {service!r} is still {other.state.value}; "
                "cancel it or wait for it to finish",
                details={"deployment_id": other.id},
            )

    async def cancel(self, tenant: str, deployment_id: str) -> Deployment:
        """Stop an active deployment, whichever replica runs it; what it drained goes back.

        The row is marked; its owner stops the run (at once when it is this replica or hears
        the event, at its next lease renewal otherwise), and an orphaned one is adopted here
        first. Returns once it ended, or after ``2 × lease`` with the cancel still pending."""
        dep = await self.get(tenant, deployment_id)
        if dep.state in FINISHED:
            raise Conflict(f"deployment {deployment_id} already {dep.state.value}")
        before = _summary(dep)
        now = self.clock()
        async with self.database.engine.begin() as conn:
            marked = await repository.request_cancel(conn, deployment_id=deployment_id, now=now)
        if not marked:
            dep = await self.get(tenant, deployment_id)
            raise Conflict(f"deployment {deployment_id} already {dep.state.value}")
        run = self._runs.get(deployment_id)
        if run is not None:
            run.request_cancel(now)
        else:
            dep.cancel_requested_at = now
            await self._publish_record(dep)
            await self._try_adopt(deployment_id)
        dep = await self._until_finished(tenant, deployment_id, timeout=2 * self.lease_seconds)
        if self.audit is not None:
            await self.audit.record(
                "deployment.cancel",
                f"deployments/{dep.id}",
                tenant=tenant,
                before=before,
                after=_summary(dep),
            )
        return dep

    async def _until_finished(self, tenant: str, deployment_id: str, *, timeout: float) -> Deployment:
        deadline = time.monotonic() + timeout
        while True:
            dep = await self.get(tenant, deployment_id)
            if dep.state in FINISHED or time.monotonic() >= deadline:
                return dep
            await asyncio.sleep(0.05 if deployment_id in self._runs else 0.2)

    # ---------------------------------------------------------------- reads
    async def get(self, tenant: str, deployment_id: str) -> Deployment:
        """One deployment as stored: what every replica answers alike (a run changes its copy
        a moment before storing each step, so the row, not that copy, is read)."""
        async with self.database.engine.connect() as conn:
            dep = await repository.get(conn, deployment_id=deployment_id)
        if dep is None or dep.tenant_id != tenant:
            raise NotFound(f"deployment {deployment_id!r} not found")
        if dep.id not in self._runs:
            self._remember(dep)
        return dep

    async def get_all(
        self, tenant: str, *, service: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Deployment]:
        async with self.database.engine.connect() as conn:
            return await repository.get_all(conn, tenant=tenant, service=service, state=state, limit=limit)

    def counts(self) -> dict[str, int]:
        """Deployments known to this replica by state (its own, and those its peers announced)."""
        out = {s.value: 0 for s in DeploymentState}
        for dep in self._known.values():
            out[dep.state.value] += 1
        return out

    def live_instances(self, dep: Deployment) -> dict[str, Instance]:
        return {i.id: i for i in self.registry.instances(dep.tenant_id, dep.service)}

    def describe(self, dep: Deployment) -> dict[str, Any]:
        """The public JSON shape, with each instance's current status and RFC 3339 times."""
        return describe(dep, self.live_instances(dep))

    # ---------------------------------------------------------------- following peers
    def _remember(self, dep: Deployment) -> None:
        self._known[dep.id] = dep
        finished = [d for d in self._known.values() if d.state in FINISHED]
        for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._known[old.id]

    async def _publish_record(self, dep: Deployment) -> None:
        try:
            await self.bus.publish(
                wire.DEPLOYMENT_RECORDS_SUBJECT, {"origin": self.replica_id, "record": dep.to_record()}
            )
        except Exception as exc:
            BUS_PUBLISH_FAILURES.labels("deployments").inc()
            log.warning("deployment record not published: %s", exc)

    async def _on_record(self, subject: str, payload: dict[str, Any]) -> None:
        if payload.get("origin") == self.replica_id:
            return
        dep = Deployment.from_record(payload["record"])
        run = self._runs.get(dep.id)
        if run is None:
            self._remember(dep)
        elif dep.cancel_requested_at is not None:
            run.request_cancel(dep.cancel_requested_at)

    # ---------------------------------------------------------------- leases
    async def _keep_leases(self) -> None:
        # a failing pass ends the task: the supervisor logs it and starts it again
        while True:
            await self.lease_pass()
            await asyncio.sleep(self.lease_seconds / 3)

    async def lease_pass(self) -> None:
        """Renew this replica's leases (noticing cancels and lost ones), then adopt orphans."""
        now = self.clock()
        mine = list(self._runs)
        if mine:
            async with self.database.engine.begin() as conn:
                held = [
                    i
                    for i in mine
                    if await repository.renew(
                        conn, deployment_id=i, owner=self.replica_id, until=now + self.lease_seconds
                    )
                ]
                cancels = await repository.cancel_requests(conn, held)
            for deployment_id in mine:
                run = self._runs.get(deployment_id)
                if run is None:
                    continue
                if deployment_id not in held:
                    log.warning("deployment %s was adopted by another replica; stopping here", deployment_id)
                    await self.supervisor.stop(_task_name(deployment_id))
                    self._finished(deployment_id)
                    continue
                run.dep.lease_expires_at = now + self.lease_seconds
                if deployment_id in cancels:
                    run.request_cancel(cancels[deployment_id])
        async with self.database.engine.connect() as conn:
            orphans = await repository.orphaned(conn, now=now)
        for deployment_id in orphans:
            if deployment_id not in self._runs:
                await self._try_adopt(deployment_id)

    async def _try_adopt(self, deployment_id: str) -> bool:
        if self._stopping:
            return False
        now = self.clock()
        async with self.database.engine.begin() as conn:
            before = await repository.get(conn, deployment_id=deployment_id)
            won = await repository.adopt(
                conn,
                deployment_id=deployment_id,
                owner=self.replica_id,
                now=now,
                until=now + self.lease_seconds,
            )
            dep = await repository.get(conn, deployment_id=deployment_id) if won else None
        if dep is None:
            return False
        log.info(
            "adopted deployment %s of %s (%s) from replica %s: its lease ran out",
            dep.id,
            dep.service,
            dep.state.value,
            before.owner if before is not None and before.owner else "(handed over)",
        )
        dep.owner = self.replica_id
        dep.lease_expires_at = now + self.lease_seconds
        self._start_run(dep)
        return True

    # ---------------------------------------------------------------- the run
    def _start_run(self, dep: Deployment) -> None:
        run = Rollout(
            dep, registry=self.registry, step=self._step, clock=self.clock, poll_seconds=self.poll_seconds
        )
        self._runs[dep.id] = run
        self._remember(dep)
        self._wakeups.setdefault((dep.tenant_id, dep.service), set()).add(run.wake)
        self.supervisor.start(_task_name(dep.id), lambda: self._supervised_run(run), restart=False)

    def _finished(self, deployment_id: str) -> None:
        """Forget the run once it ended (the supervisor's report stays bounded)."""
        run = self._runs.pop(deployment_id, None)
        self.supervisor.forget(_task_name(deployment_id))
        if run is not None:
            key = (run.dep.tenant_id, run.dep.service)
            events = self._wakeups.get(key)
            if events is not None:
                events.discard(run.wake)
                if not events:
                    del self._wakeups[key]

    async def _supervised_run(self, run: Rollout) -> None:
        task = asyncio.current_task()
        if task is not None:
            # after the task has ended, so the supervisor can let go of it
            task.add_done_callback(lambda _task: self._finished(run.dep.id))
        try:
            await run.run()
        except LeaseLost:
            log.warning("deployment %s was adopted by another replica; stopping here", run.dep.id)
        except Exception:
            # the end could not be stored (the database is down): hand it over rather than
            # hold a lease nobody works on; whoever adopts it continues from the stored record
            log.exception("deployment %s stopped without storing its end; handing it over", run.dep.id)
            self._runs.pop(run.dep.id, None)
            with contextlib.suppress(Exception):
                async with self.database.engine.begin() as conn:
                    await repository.release(conn, deployment_id=run.dep.id, owner=self.replica_id)

    async def _step(self, dep: Deployment) -> None:
        """Store one step (the row, batches included) if this replica still owns it, then tell
        the peers and the followers; a failed publish is counted and logged, the row is the truth."""
        async with self.database.engine.begin() as conn:
            if not await repository.update(conn, dep, owner=self.replica_id):
                raise LeaseLost(dep.id)
        self._remember(dep)
        await self._publish_record(dep)
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
