"""Rolling deployment coordination (seed 004 "deployment-coord").

The hub does not start or stop processes: whoever runs the service (an operator, CI, a
container scheduler) does. The hub plans the batches, takes each batch out of discovery
(``draining``), and moves on only when as many instances of the new version are registered
and passing; a batch that does not get there within ``deadline_seconds`` stops the
deployment and is reported. Every step is stored and published on
``deployments.<tenant>.<service>`` so the party replacing instances can follow along.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from centralhub.core.errors import Conflict, InvalidInput, NotFound
from centralhub.core.events.base import EventBus
from centralhub.metrics.collectors import BUS_PUBLISH_FAILURES, DEPLOYMENT_BATCHES
from centralhub.registry.models import SELECTABLE, Instance, InstanceStatus
from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

STRATEGIES = ("rolling",)
#: finished deployments kept in memory for counts and fast reads
KEEP_FINISHED = 200


class DeploymentState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({DeploymentState.SUCCEEDED, DeploymentState.FAILED, DeploymentState.CANCELLED})


class BatchState(enum.StrEnum):
    PENDING = "pending"
    #: old instances taken out of discovery, waiting for replacements to pass
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Batch:
    """One step of a rolling deployment: the old instances it drains and what replaced them."""

    index: int
    instance_ids: list[str]
    state: BatchState = BatchState.PENDING
    replacement_ids: list[str] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None


@dataclass(slots=True)
class Deployment:
    """A rolling deployment of ``service`` to ``version``; times are epoch seconds."""

    id: str
    tenant_id: str
    service: str
    version: str
    strategy: str
    batch_size: int
    deadline_seconds: float
    state: DeploymentState
    batches: list[Batch]
    created_at: float
    #: instances already at ``version`` when planned; they do not count as replacements
    baseline_ids: list[str] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None

    def to_dict(self, live: dict[str, Instance] | None = None) -> dict[str, Any]:
        """The public JSON shape; ``live`` (instance id → instance) adds current statuses."""
        live = live or {}

        def describe(ids: list[str]) -> list[dict[str, Any]]:
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

        done = sum(1 for b in self.batches if b.state == BatchState.DONE)
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "service": self.service,
            "version": self.version,
            "strategy": self.strategy,
            "batch_size": self.batch_size,
            "deadline_seconds": self.deadline_seconds,
            "state": self.state.value,
            "progress": {"batches_done": done, "batches_total": len(self.batches)},
            "batches": [
                {
                    "index": b.index,
                    "state": b.state.value,
                    "instances": describe(b.instance_ids),
                    "replacements": describe(b.replacement_ids),
                    "started_at": b.started_at,
                    "finished_at": b.finished_at,
                    "error": b.error,
                }
                for b in self.batches
            ],
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }

    def to_record(self) -> dict[str, Any]:
        """Plain data for storage (enums as strings)."""
        record = asdict(self)
        record["state"] = self.state.value
        for b in record["batches"]:
            b["state"] = str(b["state"])
        return record

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Deployment:
        batches = [
            Batch(
                index=b["index"],
                instance_ids=list(b["instance_ids"]),
                state=BatchState(b["state"]),
                replacement_ids=list(b.get("replacement_ids") or []),
                started_at=b.get("started_at"),
                finished_at=b.get("finished_at"),
                error=b.get("error"),
            )
            for b in r["batches"]
        ]
        return cls(
            id=r["id"],
            tenant_id=r["tenant_id"],
            service=r["service"],
            version=r["version"],
            strategy=r["strategy"],
            batch_size=int(r["batch_size"]),
            deadline_seconds=float(r["deadline_seconds"]),
            state=DeploymentState(r["state"]),
            batches=batches,
            created_at=float(r["created_at"]),
            baseline_ids=list(r.get("baseline_ids") or []),
            started_at=r.get("started_at"),
            finished_at=r.get("finished_at"),
            error=r.get("error"),
        )


class DeploymentStore(Protocol):
    """What the coordinator needs from storage (see ``storage/deployments.py``)."""

    async def create(self, dep: Deployment) -> None: ...
    async def save(self, dep: Deployment) -> None: ...
    async def get(self, deployment_id: str) -> Deployment | None: ...
    async def get_all(
        self, *, tenant: str, service: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Deployment]: ...


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


class DeploymentCoordinator:
    """Component (start/stop) that runs each deployment as a background task."""

    def __init__(
        self,
        registry: InstanceRegistry,
        store: DeploymentStore,
        bus: EventBus,
        *,
        poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.store = store
        self.bus = bus
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
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
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

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
        """Plan and start a deployment; ``Conflict`` if one already runs for the service."""
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
        await self.store.create(dep)
        self._known[dep.id] = dep
        task = asyncio.create_task(self._run(dep), name=f"deployment-{dep.id[:8]}")
        self._tasks[dep.id] = task
        task.add_done_callback(functools.partial(self._forget, dep.id))
        return dep

    async def cancel(self, tenant: str, deployment_id: str) -> Deployment:
        """Stop a running deployment of this hub; drained instances stay drained."""
        dep = await self.get(tenant, deployment_id)
        if dep.state in FINISHED:
            raise Conflict(f"deployment {deployment_id} already {dep.state.value}")
        task = self._tasks.get(deployment_id)
        if task is None:
            raise Conflict(f"deployment {deployment_id} is run by another hub replica")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if dep.state not in FINISHED:
            # cancelled before its task ever ran: nothing was drained yet
            dep.state = DeploymentState.CANCELLED
            dep.error = "cancelled"
            dep.finished_at = self.clock()
            await self._save(dep)
        return dep

    # ---------------------------------------------------------------- reads
    async def get(self, tenant: str, deployment_id: str) -> Deployment:
        dep = self._known.get(deployment_id)
        if dep is None:
            dep = await self.store.get(deployment_id)
        if dep is None or dep.tenant_id != tenant:
            raise NotFound(f"deployment {deployment_id!r} not found")
        return dep

    async def get_all(
        self, tenant: str, *, service: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Deployment]:
        stored = await self.store.get_all(tenant=tenant, service=service, state=state, limit=limit)
        # the in-memory copy of a running deployment is the freshest
        return [self._known.get(d.id, d) for d in stored]

    def _forget(self, deployment_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(deployment_id, None)
        # keep every running deployment and the newest finished ones (storage keeps them all)
        finished = [d for d in self._known.values() if d.state in FINISHED]
        for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._known[old.id]

    def counts(self) -> dict[str, int]:
        """Deployments of this hub process by state (running ones, and the newest finished)."""
        out = {s.value: 0 for s in DeploymentState}
        for dep in self._known.values():
            out[dep.state.value] += 1
        return out

    def live_instances(self, dep: Deployment) -> dict[str, Instance]:
        return {i.id: i for i in self.registry.instances(dep.tenant_id, dep.service)}

    def describe(self, dep: Deployment) -> dict[str, Any]:
        return dep.to_dict(self.live_instances(dep))

    # ---------------------------------------------------------------- the run
    async def _save(self, dep: Deployment) -> None:
        await self.store.save(dep)
        try:
            await self.bus.publish(f"deployments.{dep.tenant_id}.{dep.service}", self.describe(dep))
        except Exception as exc:  # the stored record is the truth; watchers can poll
            BUS_PUBLISH_FAILURES.labels("deployments").inc()
            log.warning("deployment event not published: %s", exc)

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
