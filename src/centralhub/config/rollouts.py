"""Canary rollouts of configuration: a candidate goes to a few instances, is watched, then
reaches everyone or is taken back.

While a rollout bakes, the canaries are answered the candidate (``GET`` and ``/watch`` with
their instance id, and on their own NATS subject) and every other instance, and every plain
read, the promoted version; other writes of the service are refused (409) so the promotion
writes exactly what was baked. The replica that owns the rollout looks at the canaries every
``check_seconds`` (:mod:`centralhub.config.canary_gate`); a bad sign rolls the rollout back (the
canaries are told the promoted version again, an alert is raised and the audit trail records
it), and a clean bake promotes the candidate as the next stored version.

Every replica keeps the active rollouts in memory (loaded every ``tick`` and at once when a peer
announces a change on ``hubsync.config.rollouts``) to answer the canaries. The owner renews a
lease; a replica adopts a rollout whose owner stopped renewing and carries it on from the
stored row. A hub alone on its SQLite file takes its rollouts over at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from centralhub.config import rollout_repository as repo
from centralhub.config.canary_gate import CanaryGate
from centralhub.config.rollout_answers import RolloutAnswers
from centralhub.config.rollout_models import Rollout, RolloutState, choose_canaries
from centralhub.config.rollout_requests import build_candidate, candidate_version, parse_request
from centralhub.config.rollout_views import describe
from centralhub.core import wire
from centralhub.core.errors import Conflict, NotFound

__all__ = ["ConfigRollouts"]

log = logging.getLogger(__name__)
TASK = "config-rollouts"
Key = tuple[str, str]


class ConfigRollouts(RolloutAnswers):
    """Component (start/stop); ``hub.config_rollouts``."""

    def __init__(
        self,
        database: Any,
        bus: Any,
        config: Any,
        registry: Any,
        gate: CanaryGate,
        supervisor: Any,
        *,
        audit: Any = None,
        alerts: Any = None,
        replica_id: str,
        check_seconds: float = 5.0,
        lease_seconds: float = 10.0,
        tick: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.bus = bus
        self.config = config
        self.registry = registry
        self.gate = gate
        self.supervisor = supervisor
        self.audit = audit
        self.alerts = alerts
        self.replica_id = replica_id
        self.check_seconds = check_seconds
        self.lease_seconds = lease_seconds
        self.tick = tick
        self.clock = clock
        #: every active rollout, by (tenant, service), whoever owns it
        self.active: dict[Key, Rollout] = {}
        #: the rollouts this replica tends, by id, and when each is looked at next
        self._mine: dict[str, Rollout] = {}
        self._next_look: dict[str, float] = {}
        #: rollouts a request on this replica is promoting right now (the loop leaves them be)
        self._acting: set[str] = set()
        self._sub: Any = None
        self._wake = asyncio.Event()
        config.rollouts = self

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._sub = await self.bus.subscribe(wire.CONFIG_ROLLOUTS_SUBJECT, self._on_peer)
        await self.refresh()
        if self.database.is_sqlite:
            # one hub per database file: what is active was this hub's before it restarted
            for rollout in list(self.active.values()):
                await self._take(rollout, force=True)
        self.supervisor.start(TASK, self._run)

    async def stop(self) -> None:
        await self.supervisor.stop(TASK)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        # hand the rollouts over now rather than when the lease runs out
        for rollout_id in list(self._mine):
            with contextlib.suppress(Exception):
                async with self.database.engine.begin() as conn:
                    await repo.release(conn, rollout_id, owner=self.replica_id)
        self._mine.clear()

    # ---------------------------------------------------------------- reads
    def blocking(self, tenant: str, service: str) -> Rollout | None:
        """The active rollout of the service, if one is (other writes wait for it)."""
        return self.active.get((tenant, service))

    async def latest(self, tenant: str, service: str) -> Rollout:
        async with self.database.engine.connect() as conn:
            found = await repo.latest(conn, tenant, service)
        if found is None:
            raise NotFound(f"service {service!r} has no configuration rollout")
        return self._mine.get(found.id, found)

    async def history(self, tenant: str, service: str, limit: int = 20) -> list[Rollout]:
        async with self.database.engine.connect() as conn:
            return [self._mine.get(r.id, r) for r in await repo.history(conn, tenant, service, limit)]

    async def recent(self, tenant: str, limit: int = 10) -> list[Rollout]:
        async with self.database.engine.connect() as conn:
            return [self._mine.get(r.id, r) for r in await repo.recent(conn, tenant, limit)]

    async def view(self, rollout: Rollout) -> dict[str, Any]:
        """The rollout as the API shows it, with what each canary reports."""
        return describe(rollout, await self.gate.reports(rollout), self.registry, now=self.clock())

    # ---------------------------------------------------------------- actions
    async def create(self, tenant: str, service: str, body: Any, *, author: str) -> Rollout:
        request = parse_request(body, check_seconds=self.check_seconds)
        held = self.blocking(tenant, service)
        if held is not None:
            raise self.busy(held)
        current, sealed = await build_candidate(self.config, tenant, service, request)
        canary = choose_canaries(request.selector, self.registry.instances(tenant, service))
        revision, version = candidate_version(current)
        now = self.clock()
        rollout = Rollout(
            id=uuid.uuid4().hex,
            tenant_id=tenant,
            service=service,
            state=RolloutState.BAKING,
            base_revision=current.revision,
            revision=revision,
            version=version,
            config=sealed,
            author=author,
            created_at=now,
            bake_until=now + request.bake_seconds,
            canary=canary,
            selector=request.selector,
            bake_seconds=request.bake_seconds,
            check_seconds=request.check_seconds,
            auto_rollback=request.auto_rollback,
            message=request.message,
            owner=self.replica_id,
            lease_expires_at=now + self.lease_seconds,
        )
        try:
            async with self.database.engine.begin() as conn:
                await repo.create(conn, rollout)
                await self._audit("config.rollout.start", rollout, conn=conn)
        except IntegrityError:
            await self.refresh()
            other = self.blocking(tenant, service)
            raise (
                self.busy(other) if other else Conflict(f"a rollout of {service!r} started at the same time")
            ) from None
        self._mine[rollout.id] = rollout
        self._next_look[rollout.id] = now + rollout.check_seconds
        await self._changed(rollout)
        log.info("rollout %s of %s: revision %d to canaries %s", rollout.id, service, revision, canary)
        return rollout

    async def promote(self, tenant: str, service: str, *, by: str) -> Rollout:
        """Promote the baking rollout now (a person's decision: the bake is cut short)."""
        rollout = await self._baking(tenant, service, "promote")
        self._acting.add(rollout.id)
        try:
            return await self._promote(rollout, reason=f"promoted by {by}", claim=True)
        finally:
            self._acting.discard(rollout.id)

    async def abort(self, tenant: str, service: str, *, by: str) -> Rollout:
        """Stop the baking rollout: the canaries return to the promoted version."""
        rollout = await self._baking(tenant, service, "abort")
        return await self._end(rollout, RolloutState.ABORTED, f"aborted by {by}", owner=None)

    async def _baking(self, tenant: str, service: str, action: str) -> Rollout:
        await self.refresh()
        rollout = self.blocking(tenant, service)
        if rollout is None or rollout.state != RolloutState.BAKING:
            latest = await self.latest(tenant, service)
            raise Conflict(f"cannot {action}: the latest rollout of {service!r} is {latest.state.value}")
        return self._mine.get(rollout.id, rollout)

    def busy(self, held: Rollout) -> Conflict:
        return Conflict(
            f"rollout {held.id} of {held.service!r} is {held.state.value} (revision {held.revision} on "
            f"{len(held.canary)} canary instance(s)): promote or abort it first"
        )

    # ---------------------------------------------------------------- state changes
    async def _promote(self, rollout: Rollout, *, reason: str, claim: bool) -> Rollout:
        now = self.clock()
        moving = dataclasses.replace(rollout, state=RolloutState.PROMOTING, reason=reason)
        if claim:  # whoever promotes owns the rollout until the promotion is stored
            moving.owner, moving.lease_expires_at = self.replica_id, now + self.lease_seconds
        async with self.database.engine.begin() as conn:
            won = await repo.move(
                conn, moving, expected=RolloutState.BAKING, owner=None if claim else self.replica_id
            )
        if not won:
            raise Conflict(f"rollout {rollout.id} changed meanwhile; read it again")
        self._mine[moving.id] = moving
        await self._changed(moving)
        return await self._finish_promotion(moving)

    async def _finish_promotion(self, rollout: Rollout) -> Rollout:
        """Store the candidate as the next version (unless a previous owner already did)."""
        candidate = self.config.secrets.reveal(rollout.tenant_id, rollout.service, rollout.config)
        current = await self.config.current_version(rollout.tenant_id, rollout.service)
        if (
            current.revision > rollout.base_revision
            and self.config.secrets.opened(current).config == candidate
        ):
            stored = current
        else:
            stored = await self.config.put(
                rollout.tenant_id,
                rollout.service,
                candidate,
                author=rollout.author,
                message=rollout.message or f"canary rollout {rollout.id} promoted",
                source="rollout",
                rollout_id=rollout.id,
            )
        done = dataclasses.replace(
            rollout, state=RolloutState.PROMOTED, promoted_revision=stored.revision, finished_at=self.clock()
        )
        async with self.database.engine.begin() as conn:
            if await repo.move(conn, done, expected=RolloutState.PROMOTING):
                await self._audit("config.rollout.promote", done, conn=conn)
        self._drop(done)
        await self._changed(done)
        log.info("rollout %s of %s promoted as revision %d", done.id, done.service, stored.revision)
        return done

    async def _end(self, rollout: Rollout, state: RolloutState, reason: str, *, owner: str | None) -> Rollout:
        """Roll back or abort: the rollout ends and its canaries return to the promoted version."""
        done = dataclasses.replace(rollout, state=state, reason=reason[:2000], finished_at=self.clock())
        async with self.database.engine.begin() as conn:
            if not await repo.move(conn, done, expected=RolloutState.BAKING, owner=owner):
                raise Conflict(f"rollout {rollout.id} changed meanwhile; read it again")
            action = (
                "config.rollout.rolled_back" if state == RolloutState.ROLLED_BACK else "config.rollout.abort"
            )
            await self._audit(action, done, conn=conn)
        self._drop(done)
        await self._changed(done)
        await self.send_promoted(done)
        log.warning("rollout %s of %s %s: %s", done.id, done.service, state.value, reason)
        if state == RolloutState.ROLLED_BACK and self.alerts is not None:
            with contextlib.suppress(Exception):
                await self.alerts.raise_alert(
                    kind="config",
                    target=done.service,
                    event="rollout_rolled_back",
                    message=f"canary rollout of {done.service} (revision {done.revision}) "
                    f"rolled back: {reason}",
                    tenant_id=done.tenant_id,
                    critical=False,
                    details={"rollout_id": done.id, "revision": done.revision, "canary": done.canary},
                )
        return done

    def _drop(self, rollout: Rollout) -> None:
        self._mine.pop(rollout.id, None)
        self._next_look.pop(rollout.id, None)
        if not rollout.active:
            held = self.active.get(rollout.key)
            if held is not None and held.id == rollout.id:
                del self.active[rollout.key]

    async def _changed(self, rollout: Rollout) -> None:
        """After a stored change: this replica's answers, its held watches, the peers, and (for
        a new rollout) the canaries over NATS."""
        if rollout.active:
            self.active[rollout.key] = rollout
        self.config.watcher.poke(rollout.key)
        with contextlib.suppress(Exception):
            await self.bus.publish(
                wire.CONFIG_ROLLOUTS_SUBJECT,
                {
                    "tenant_id": rollout.tenant_id,
                    "service": rollout.service,
                    "id": rollout.id,
                    "state": rollout.state.value,
                },
            )
        if rollout.state == RolloutState.BAKING:
            await self.send_candidate(rollout)

    async def _audit(self, action: str, rollout: Rollout, *, conn: Any) -> None:
        if self.audit is None:
            return
        await self.audit.record(
            action,
            f"config/{rollout.service}/rollouts/{rollout.id}",
            tenant=rollout.tenant_id,
            after={
                "state": rollout.state.value,
                "revision": rollout.revision,
                "base_revision": rollout.base_revision,
                "canary": rollout.canary,
                "reason": rollout.reason,
            },
            details={"author": rollout.author, "bake_seconds": rollout.bake_seconds},
            conn=conn,
        )

    # ---------------------------------------------------------------- the loop
    async def _on_peer(self, _subject: str, _payload: dict[str, Any]) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next pass tries again
                log.warning("configuration rollout pass failed: %s", exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick):
                    await self._wake.wait()

    async def refresh(self) -> None:
        """Load the active rollouts; a change wakes the watches of that service."""
        async with self.database.engine.connect() as conn:
            rows = await repo.active(conn)
        fresh: dict[Key, Rollout] = {}
        for row in rows:
            mine = self._mine.get(row.id)
            if mine is not None and row.owner != self.replica_id:
                self._mine.pop(row.id, None)  # another replica took it (a person promoting there)
                mine = None
            if mine is not None and mine.state != row.state:
                row.last_checks = mine.last_checks
                self._mine[row.id] = mine = row
            fresh[row.key] = mine or row
        for key in set(self.active) | set(fresh):
            before, after = self.active.get(key), fresh.get(key)
            if (before and (before.id, before.state)) != (after and (after.id, after.state)):
                self.config.watcher.poke(key)
        self.active = fresh
        live = {r.id for r in rows}
        for rollout_id in [i for i in self._mine if i not in live]:
            self._mine.pop(rollout_id, None)  # ended elsewhere (a person on another replica)

    def _state_of(self, rollout_id: str) -> RolloutState | None:
        mine = self._mine.get(rollout_id)
        return None if mine is None else mine.state

    async def pass_once(self) -> None:
        await self.refresh()
        now = self.clock()
        for rollout in list(self.active.values()):
            if rollout.id in self._mine:
                continue
            if rollout.lease_expires_at is None or rollout.lease_expires_at < now:
                await self._take(rollout, force=False)
        await self._renew()
        for rollout in list(self._mine.values()):
            try:
                await self._tend(rollout)
            except Conflict:
                await self.refresh()  # someone else moved it: the next pass sees how

    async def _take(self, rollout: Rollout, *, force: bool) -> None:
        now = self.clock()
        async with self.database.engine.begin() as conn:
            if force:
                won = await repo.take_over(
                    conn, rollout.id, owner=self.replica_id, until=now + self.lease_seconds
                )
            else:
                won = await repo.adopt(
                    conn, rollout.id, owner=self.replica_id, now=now, until=now + self.lease_seconds
                )
        if won:
            log.info(
                "carrying on rollout %s of %s (%s) from replica %s",
                rollout.id,
                rollout.service,
                rollout.state.value,
                rollout.owner,
            )
            rollout.owner, rollout.lease_expires_at = self.replica_id, now + self.lease_seconds
            self._mine[rollout.id] = rollout
            self._next_look[rollout.id] = now

    async def _renew(self) -> None:
        if not self._mine:
            return
        now = self.clock()
        async with self.database.engine.begin() as conn:
            for rollout_id, rollout in list(self._mine.items()):
                if (
                    rollout.lease_expires_at is not None
                    and rollout.lease_expires_at - now > self.lease_seconds * 2 / 3
                ):
                    continue
                if await repo.renew(conn, rollout_id, owner=self.replica_id, until=now + self.lease_seconds):
                    rollout.lease_expires_at = now + self.lease_seconds
                else:
                    log.warning("rollout %s was taken over by another replica", rollout_id)
                    self._mine.pop(rollout_id, None)

    async def _tend(self, rollout: Rollout) -> None:
        if rollout.id in self._acting:
            return
        if rollout.state == RolloutState.PROMOTING:
            await self._finish_promotion(rollout)
            return
        now = self.clock()
        final = now >= rollout.bake_until
        if not final and now < self._next_look.get(rollout.id, 0.0):
            return
        self._next_look[rollout.id] = now + rollout.check_seconds
        reason = await self.gate.look(rollout, final=final)
        if reason is not None:
            if rollout.auto_rollback:
                await self._end(rollout, RolloutState.ROLLED_BACK, reason, owner=self.replica_id)
                return
            if rollout.held_reason is None:  # a person decides; say so once
                rollout.held_reason = reason
                async with self.database.engine.begin() as conn:
                    await repo.move(conn, rollout, expected=RolloutState.BAKING, owner=self.replica_id)
                log.warning(
                    "rollout %s of %s held (auto rollback off): %s", rollout.id, rollout.service, reason
                )
            return
        if final and rollout.held_reason is None:
            await self._promote(rollout, reason=f"baked {rollout.bake_seconds:g}s cleanly", claim=False)
