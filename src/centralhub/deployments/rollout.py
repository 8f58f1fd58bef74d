"""One deployment's run on the replica that owns it, resumable from its stored record.

Every step is stored before it takes effect where a crash in between would lose track: a batch
records when it started draining before any instance drains, so whoever adopts the deployment
knows which instances to give back. Re-draining an instance is harmless, so an adopter simply
continues from the stored batch states; a batch's deadline counts from its stored start, not
from the adoption.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from centralhub.core.errors import NotFound
from centralhub.deployments.models import Batch, BatchState, Deployment, DeploymentState
from centralhub.metrics.collectors import DEPLOYMENT_BATCHES
from centralhub.registry.models import Instance, InstanceStatus

if TYPE_CHECKING:
    from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

#: stores one step of the deployment (raises :class:`LeaseLost` when this replica no longer owns it)
Step = Callable[[Deployment], Awaitable[None]]

#: what the replaced instances may be in when a successful deployment deregisters them; one an
#: operator put back into discovery (passing, warning) is kept
RETIRED_STATUSES = frozenset({InstanceStatus.DRAINING, InstanceStatus.CRITICAL})


class LeaseLost(Exception):
    """Another replica adopted the deployment: this run ends without writing anything more."""


class Rollout:
    """Runs (or continues) one deployment: its batches, a cancel, the restore, the retirement."""

    def __init__(
        self,
        dep: Deployment,
        *,
        registry: InstanceRegistry,
        step: Step,
        clock: Callable[[], float],
        poll_seconds: float,
    ) -> None:
        self.dep = dep
        self.registry = registry
        self.step = step
        self.clock = clock
        self.poll_seconds = poll_seconds
        #: set by registry changes of the service and by a cancel request
        self.wake = asyncio.Event()

    def request_cancel(self, at: float) -> None:
        if self.dep.cancel_requested_at is None:
            self.dep.cancel_requested_at = at
        self.wake.set()

    def _live(self) -> dict[str, Instance]:
        return {i.id: i for i in self.registry.instances(self.dep.tenant_id, self.dep.service)}

    async def run(self) -> None:
        dep = self.dep
        try:
            if dep.active:
                await self._roll()
            if dep.state == DeploymentState.SUCCEEDED and dep.retire_at is not None:
                await self._retire()
        except (LeaseLost, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("deployment %s failed unexpectedly", dep.id)
            if not dep.active:
                raise
            await self._stop(DeploymentState.FAILED, f"internal error: {exc}")

    # ---------------------------------------------------------------- the batches
    async def _roll(self) -> None:
        dep = self.dep
        claimed = set(dep.baseline_ids)
        claimed.update(r for b in dep.batches if b.state == BatchState.DONE for r in b.replacement_ids)
        if dep.cancel_requested_at is not None:
            await self._stop(DeploymentState.CANCELLED, "cancelled")
            return
        if dep.state == DeploymentState.PENDING:
            dep.state = DeploymentState.RUNNING
            dep.started_at = self.clock()
            await self.step(dep)
        for batch in dep.batches:
            if batch.state == BatchState.DONE:
                continue
            if batch.state not in (BatchState.PENDING, BatchState.WAITING):
                # a stored record no run could have left: do not guess, give everything back
                await self._stop(
                    DeploymentState.FAILED,
                    f"batch {batch.index + 1} was stored as {batch.state.value} in a running deployment",
                )
                return
            if not await self._run_batch(batch, claimed):
                return
        now = self.clock()
        dep.state = DeploymentState.SUCCEEDED
        dep.finished_at = now
        dep.retire_at = max(now, *((b.started_at or now) + dep.drain_seconds for b in dep.batches))
        await self.step(dep)
        log.info("deployment %s of %s to %s succeeded", dep.id, dep.service, dep.version)

    async def _run_batch(self, batch: Batch, claimed: set[str]) -> bool:
        """Drain one batch and wait for its replacements; False when the deployment stopped."""
        dep = self.dep
        if batch.started_at is None:
            batch.started_at = self.clock()
            await self.step(dep)
        live = self._live()
        for iid in batch.instance_ids:
            inst = live.get(iid)
            if inst is not None and inst.status != InstanceStatus.DRAINING:
                await self.registry.set_status(inst, InstanceStatus.DRAINING)
        if batch.state == BatchState.PENDING:
            batch.state = BatchState.WAITING
            await self.step(dep)
        need = len(batch.instance_ids)
        deadline = batch.started_at + dep.deadline_seconds
        while True:
            self.wake.clear()
            if dep.cancel_requested_at is not None:
                await self._stop(DeploymentState.CANCELLED, "cancelled")
                return False
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
                await self.step(dep)
                return True
            remaining = deadline - self.clock()
            if remaining <= 0:
                batch.state = BatchState.FAILED
                batch.finished_at = self.clock()
                batch.error = (
                    f"{len(fresh)} of {need} instance(s) of version {dep.version!r} registered and "
                    f"passing after {dep.deadline_seconds:g}s"
                )
                DEPLOYMENT_BATCHES.labels("failed").inc()
                failure = f"batch {batch.index + 1} of {len(dep.batches)} failed: {batch.error}"
                await self._stop(DeploymentState.FAILED, failure)
                log.warning("deployment %s stopped: %s", dep.id, dep.error)
                return False
            # woken by registry changes; the poll bounds a missed wake-up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, self.poll_seconds)):
                    await self.wake.wait()

    # ---------------------------------------------------------------- endings
    async def _stop(self, state: DeploymentState, error: str) -> None:
        """End the rollout as failed or cancelled: every drained instance goes back first, then
        the end is stored (a crash in between leaves it active, and the adopter restores again)."""
        dep = self.dep
        now = self.clock()
        for b in dep.batches:
            if b.started_at is not None and b.state in (BatchState.PENDING, BatchState.WAITING):
                b.state = BatchState.CANCELLED
                b.finished_at = now
        await self.restore()
        dep.state = state
        dep.error = error
        dep.finished_at = now
        dep.retire_at = None
        await self.step(dep)

    async def restore(self) -> None:
        """Put every instance this deployment drained back into discovery."""
        live = self._live()
        for iid in self.dep.drained_ids():
            inst = live.get(iid)
            if inst is not None and inst.status == InstanceStatus.DRAINING:
                await self.registry.set_status(inst, InstanceStatus.PASSING)

    async def _retire(self) -> None:
        """After success: deregister each replaced instance once it has drained long enough."""
        dep = self.dep
        for batch in dep.batches:
            delay = (batch.started_at or 0.0) + dep.drain_seconds - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            live = self._live()
            for iid in batch.instance_ids:
                inst = live.get(iid)
                if inst is not None and inst.status in RETIRED_STATUSES:
                    with contextlib.suppress(NotFound):
                        await self.registry.deregister(dep.tenant_id, dep.service, iid)
        dep.retire_at = None
        await self.step(dep)
        log.info("deployment %s: replaced instances of %s deregistered", dep.id, dep.service)
