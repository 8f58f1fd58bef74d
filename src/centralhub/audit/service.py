"""The audit trail (``hub.audit``): records who changed what, answers searches, forgets old entries.

Who is acting comes from the request context (``current_principal``, ``current_address``) set by
the auth middleware, so the services that record need not pass it along. A service that owns a
transaction passes its connection (``conn=``): the entry then commits or rolls back with the
change it describes. A supervised task deletes entries older than the retention period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.audit import repository
from centralhub.audit.models import AuditEntry
from centralhub.auth.context import current_address, current_principal
from centralhub.core.database import Database
from centralhub.core.errors import InvalidInput
from centralhub.core.tasks import Supervisor

log = logging.getLogger(__name__)

RETENTION_TASK = "audit-retention"
MAX_LIMIT = 1000
DAY = 86400.0


def entry_id(at: float) -> str:
    """32 hex characters that sort by time first, so entries of one instant keep their order."""
    return f"{int(at * 1_000_000):016x}{os.urandom(8).hex()}"


class AuditLog:
    """Stores audit entries in the database and keeps them ``retention_days``."""

    def __init__(
        self,
        database: Database,
        *,
        supervisor: Supervisor,
        retention_days: float = 90.0,
        clock: Callable[[], float] = time.time,
        sweep_seconds: float = 3600.0,
    ) -> None:
        self.database = database
        self.supervisor = supervisor
        self.retention_days = retention_days
        self.clock = clock
        #: how often the retention task looks for expired entries
        self.sweep_seconds = sweep_seconds
        self._started = False

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self.supervisor.start(RETENTION_TASK, self._retention_loop)
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.supervisor.stop(RETENTION_TASK)

    async def _retention_loop(self) -> None:
        while True:
            removed = await self.purge()
            if removed:
                log.info("audit: removed %d entries older than %g days", removed, self.retention_days)
            await asyncio.sleep(self.sweep_seconds)

    async def purge(self) -> int:
        """Delete entries older than the retention period; returns how many went."""
        cutoff = self.clock() - self.retention_days * DAY
        async with self.database.engine.begin() as conn:
            return await repository.delete_older_than(conn, before=cutoff)

    # ---------------------------------------------------------------- writes
    async def record(
        self,
        action: str,
        resource: str,
        *,
        tenant: str | None = None,
        before: Any = None,
        after: Any = None,
        details: dict[str, Any] | None = None,
        conn: AsyncConnection | None = None,
    ) -> AuditEntry:
        """Record a write by the current caller; inside ``conn``'s transaction when given.

        Without ``conn`` the entry gets a transaction of its own: call it after the change
        committed, never while holding another connection (SQLite has one)."""
        entry = self.entry(action, resource, tenant=tenant, before=before, after=after, details=details)
        if conn is not None:
            await repository.create(conn, entry=entry)
        else:
            async with self.database.engine.begin() as own:
                await repository.create(own, entry=entry)
        return entry

    def entry(
        self,
        action: str,
        resource: str,
        *,
        tenant: str | None = None,
        before: Any = None,
        after: Any = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """The entry :meth:`record` would store, for a caller that stores several at once (the
        actor and address are the current context's: build it where the request runs)."""
        principal = current_principal.get()
        at = self.clock()
        address = current_address.get()
        return AuditEntry(
            id=entry_id(at),
            at=at,
            actor=principal.name[:255],
            action=action[:64],
            resource=resource[:255],
            address=None if address is None else address[:64],
            tenant_id=tenant if tenant is not None else principal.tenant,
            before=before,
            after=after,
            details=details,
        )

    async def record_instance(
        self,
        action: str,
        tenant: str,
        service: str,
        instance_id: str,
        *,
        before: Any = None,
        after: Any = None,
        conn: AsyncConnection | None = None,
    ) -> AuditEntry | None:
        """Record a registry write unless it is the instance's own routine work.

        Instances register and deregister themselves all day; what an operator wants to see is
        someone else doing it. A named credential is recorded unless it is bound to the
        instance's service. Without auth (anonymous) nobody can be told apart, so only removals
        are recorded: an instance taken away is what needs explaining."""
        if not instance_write_is_foreign(service, removal=action != "instance.register"):
            return None
        return await self.record(
            action,
            f"instances/{service}/{instance_id}",
            tenant=tenant,
            before=before,
            after=after,
            conn=conn,
        )

    # ---------------------------------------------------------------- reads
    async def search(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        since: float | None = None,
        tenant: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries matching every filter, newest first; a filter ending in ``*`` is a prefix."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit: must be 1-{MAX_LIMIT} (got {limit})")
        async with self.database.engine.connect() as conn:
            return await repository.get_all(
                conn,
                actor=actor,
                action=action,
                resource=resource,
                since=since,
                tenant=tenant,
                limit=limit,
            )


def instance_write_is_foreign(service: str, *, removal: bool) -> bool:
    """Whether a registry write of ``service`` is done by someone other than its own instance."""
    principal = current_principal.get()
    if principal.kind == "anonymous":
        return removal
    return principal.services is None or service not in principal.services
