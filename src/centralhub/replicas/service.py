"""Replica membership: each hub replica holds a lease in ``hub_replicas`` while it runs.

A replica inserts its row at start, renews its lease every third of
``CENTRAL_HUB_REPLICA_LEASE_SECONDS`` and deletes the row when it stops, announcing joins and
departures on the bus so peers re-read the table at once. The live set is the rows whose lease
has not lapsed (this replica always counts itself while it runs). Shared duties, such as the
active health check of one instance, go to exactly one live replica by rendezvous hashing over
that set (:func:`~centralhub.replicas.models.owner_of`): no coordination beyond the table, and
when a replica dies its duties move once its lease lapses and a peer's next read sees it.

Leases compare wall clocks of different hosts: replicas need synchronised clocks (NTP), a skew
well under the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from centralhub.core.time import Clock, rfc3339
from centralhub.replicas import repository
from centralhub.replicas.models import Replica, owner_of

if TYPE_CHECKING:
    from centralhub.core.database import Database
    from centralhub.core.events.base import EventBus, Subscription
    from centralhub.core.tasks import Supervisor

log = logging.getLogger(__name__)

MEMBERSHIP_TASK = "replica-membership"
#: where replicas announce that they joined or left (under the cluster prefix on NATS)
REPLICAS_SUBJECT = "hub.replicas.changed"
#: rows of replicas dead this many leases are deleted (kept until then for operators to see)
FORGET_AFTER_LEASES = 6


class ReplicaMembership:
    """This replica's lease, the live set of replicas, and who owns which duty."""

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        supervisor: Supervisor,
        replica_id: str,
        lease_seconds: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        self.database = database
        self.bus = bus
        self.supervisor = supervisor
        self.replica_id = replica_id
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.hostname = socket.gethostname()[:255]
        self.started_at = clock()
        self._replicas: list[Replica] = []
        self._live: tuple[str, ...] = (replica_id,)
        self._listeners: list[Callable[[], None]] = []
        self._wake = asyncio.Event()
        self._sub: Subscription | None = None
        self._joined = False
        self._left = False

    @property
    def renew_seconds(self) -> float:
        """How often the lease is renewed and the live set re-read."""
        return self.lease_seconds / 3

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self._join()
        await self.refresh()
        self._sub = await self.bus.subscribe(REPLICAS_SUBJECT, self._on_event)
        await self._announce("joined")
        self.supervisor.start(MEMBERSHIP_TASK, self._run)

    async def stop(self) -> None:
        await self.leave()

    async def leave(self) -> None:
        """Give up every duty now: delete this replica's row and tell the peers, so they take
        over at once instead of waiting for the lease to lapse. Safe to call more than once."""
        if self._left:
            return
        self._left = True
        self._notify()
        await self.supervisor.stop(MEMBERSHIP_TASK)
        if self._joined:
            try:
                async with self.database.engine.begin() as conn:
                    await repository.remove(conn, self.replica_id)
            except Exception as exc:  # the lease lapses on its own; peers take over then
                log.warning("replica %s could not remove its lease: %s", self.replica_id, exc)
            await self._announce("left")
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        log.info("replica %s left; its health checks move to the other replicas", self.replica_id)

    # ------------------------------------------------------------------ reads
    @property
    def live(self) -> tuple[str, ...]:
        """Ids of the replicas alive now, sorted (empty once this replica has left)."""
        return () if self._left else self._live

    def owner(self, key: str) -> str | None:
        """The live replica that runs the duty ``key``."""
        return owner_of(key, self.live)

    def owns(self, key: str) -> bool:
        """Whether this replica runs the duty ``key``."""
        return not self._left and owner_of(key, self._live) == self.replica_id

    def add_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` runs inline whenever the live set changes; it must be cheap."""
        self._listeners.append(listener)

    def document(self) -> dict[str, Any]:
        """Every known replica (dead ones until they are forgotten), as the API shows it."""
        now = self.clock()
        live = set(self.live)
        return {
            "replica_id": self.replica_id,
            "lease_seconds": self.lease_seconds,
            "replicas": [
                {
                    "replica_id": r.replica_id,
                    "hostname": r.hostname,
                    "pid": r.pid,
                    "started_at": rfc3339(r.started_at),
                    "last_seen": rfc3339(r.last_seen),
                    "lease_expires_at": rfc3339(r.lease_expires_at),
                    "live": r.replica_id in live and r.lease_expires_at > now,
                    "this_replica": r.replica_id == self.replica_id,
                }
                for r in self._replicas
            ],
        }

    # ------------------------------------------------------------------ lease upkeep
    def _row(self, now: float) -> Replica:
        return Replica(
            replica_id=self.replica_id,
            hostname=self.hostname,
            pid=os.getpid(),
            started_at=self.started_at,
            last_seen=now,
            lease_expires_at=now + self.lease_seconds,
        )

    async def _join(self) -> None:
        now = self.clock()
        async with self.database.engine.begin() as conn:
            await repository.insert_replica(conn, self._row(now))
        self._joined = True

    async def renew(self) -> None:
        """Extend this replica's lease (re-join when a peer already forgot it)."""
        now = self.clock()
        async with self.database.engine.begin() as conn:
            if not await repository.renew(
                conn, self.replica_id, now=now, expires_at=now + self.lease_seconds
            ):
                log.warning("replica %s had lost its lease; joining again", self.replica_id)
                await repository.insert_replica(conn, self._row(now))
            await repository.delete_expired(conn, before=now - FORGET_AFTER_LEASES * self.lease_seconds)

    async def refresh(self) -> None:
        """Re-read the table and recompute the live set."""
        async with self.database.engine.connect() as conn:
            rows = await repository.get_all(conn)
        now = self.clock()
        self._replicas = rows
        live = tuple(sorted({r.replica_id for r in rows if r.lease_expires_at > now} | {self.replica_id}))
        if live != self._live:
            log.info("live hub replicas: %s (this one: %s)", ", ".join(live), self.replica_id)
            self._live = live
            self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    async def _run(self) -> None:
        next_renew = self.clock() + self.renew_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_renew - self.clock())):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if self.clock() >= next_renew:
                    next_renew = self.clock() + self.renew_seconds
                    await self.renew()
                await self.refresh()
            except Exception as exc:  # the database is away: keep the last live set, retry
                log.warning("replica lease not renewed: %s", exc)

    async def _on_event(self, subject: str, payload: dict[str, Any]) -> None:
        if payload.get("origin") != self.replica_id:
            self._wake.set()

    async def _announce(self, change: str) -> None:
        try:
            await self.bus.publish(REPLICAS_SUBJECT, {"origin": self.replica_id, "change": change})
        except Exception as exc:  # peers still see the table change on their next read
            log.warning("replica %s not announced: %s", change, exc)
