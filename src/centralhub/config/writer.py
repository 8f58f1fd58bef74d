"""Configuration writes of one service, queued and committed together.

Writers of one service cannot run in parallel (each builds on the version before it), so they
queue per (tenant, service). Whatever has queued while a transaction was running is then
stored by the next transaction: each write is built on the one before it in queue order, checked
(If-Match, schema, credentials) on its own, and every version that passed is inserted in one
statement with its audit entries. Fifty writers then cost a few transactions rather than fifty,
yet each caller gets its own answer (its version, or its own 4xx) exactly as if it had run alone.

The current version comes from the memory view (:mod:`centralhub.config.current`) whenever the
view is authoritative for the service: a transaction costs the schema read (on PostgreSQL in
the same statement as the cross-replica advisory lock), the insert, the audit insert and the
commit. The view can only be behind the database, never ahead of it (it holds committed
versions only), and a version built on a stale copy collides with the stored one on the unique
(tenant, service, revision) constraint: the batch is then rebuilt on the version read from the
database. A failure of the transaction itself reaches every write of the batch; none is stored.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.audit import repository as audit_repository
from centralhub.audit.models import AuditEntry
from centralhub.config import audit_trail, repository
from centralhub.config.documents import check_document, version_for
from centralhub.config.models import ConfigVersion
from centralhub.config.repository import RevisionTaken
from centralhub.config.watch import Key
from centralhub.core.errors import Conflict, Unavailable

if TYPE_CHECKING:
    from centralhub.config.service import ConfigService

log = logging.getLogger(__name__)

#: how often a batch is rebuilt on top of a concurrent writer's version before giving up (503)
WRITE_ATTEMPTS = 8
#: most writes stored by one transaction (the rest wait for the next)
MAX_BATCH = 200

#: ``make(current) -> document`` builds the new document inside the write transaction
DocumentBuilder = Callable[[ConfigVersion | None], Any]


@dataclass(eq=False)
class PendingWrite:
    """One caller's write, waiting in its service's queue."""

    make: DocumentBuilder
    author: str
    message: str | None
    source: str
    if_match: int | None
    skip_unchanged: bool
    future: asyncio.Future[ConfigVersion | None]
    #: the caller's context: its audit entry names the caller, not whoever runs the batch
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    stored: ConfigVersion | None = None
    error: Exception | None = None


class _Recheck(Exception):
    """An If-Match differs from the memory copy: compare with the database before refusing."""


def _stale(service: str, if_match: int, current_rev: int) -> Conflict:
    return Conflict(
        f"If-Match: revision {if_match} is stale; the current revision of {service!r} is {current_rev}"
    )


class WriteQueue:
    """Per-service queues of writes, each drained by one task at a time."""

    def __init__(self, svc: ConfigService) -> None:
        self.svc = svc
        self._pending: dict[Key, list[PendingWrite]] = {}
        self._drains: dict[Key, asyncio.Task[None]] = {}
        #: SQLite only (one hub per database file): schemas as last read, forgotten when this
        #: hub registers one (``forget_schema``), so a write need not read it each time
        self._schemas: dict[Key, dict[str, Any] | None] = {}
        #: transactions and versions stored (the ratio is the mean batch size)
        self.transactions = 0
        self.versions = 0

    def __len__(self) -> int:
        return len(self._drains)

    def pending(self) -> int:
        """Writes waiting for their turn, every service together."""
        return sum(len(q) for q in self._pending.values())

    async def submit(
        self,
        tenant: str,
        service: str,
        make: DocumentBuilder,
        *,
        author: str,
        message: str | None,
        source: str,
        if_match: int | None,
        skip_unchanged: bool,
    ) -> ConfigVersion | None:
        """Queue one write and wait for its outcome: the stored version as stored (``None``
        when unchanged and ``skip_unchanged``), or its error."""
        key = (tenant, service)
        write = PendingWrite(
            make,
            author,
            message,
            source,
            if_match,
            skip_unchanged,
            asyncio.get_running_loop().create_future(),
        )
        self._pending.setdefault(key, []).append(write)
        if key not in self._drains:
            task = asyncio.create_task(self._drain(key), name=f"config-write:{tenant}/{service}")
            self._drains[key] = task
        return await write.future

    async def wait_idle(self, timeout: float) -> None:
        """Let the writes already queued finish (the hub is stopping); after ``timeout`` the
        rest is cancelled and their callers get 503."""
        drains = list(self._drains.values())
        if not drains:
            return
        _done, pending = await asyncio.wait(drains, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    def forget_schema(self, key: Key | None = None) -> None:
        """A schema was registered (or a backup restored, ``key=None``): read it again."""
        if key is None:
            self._schemas.clear()
        else:
            self._schemas.pop(key, None)

    async def _schema(self, conn: AsyncConnection, key: Key) -> dict[str, Any] | None:
        """The service's schema; on PostgreSQL read with the cross-replica write lock taken."""
        tenant, service = key
        if not self.svc.database.is_sqlite:
            return await repository.lock_and_get_schema(conn, tenant=tenant, service=service)
        if key not in self._schemas:
            self._schemas[key] = await repository.get_schema(conn, tenant=tenant, service=service)
        return self._schemas[key]

    async def _drain(self, key: Key) -> None:
        try:
            while True:
                queued = self._pending.get(key)
                if not queued:
                    break
                batch, rest = queued[:MAX_BATCH], queued[MAX_BATCH:]
                if rest:
                    self._pending[key] = rest
                else:
                    del self._pending[key]
                # a caller that went away before its turn is not written
                batch = [w for w in batch if not w.future.done()]
                if batch:
                    await self._run(key, batch)
        finally:
            del self._drains[key]
            for write in self._pending.pop(key, []):
                if not write.future.done():
                    write.future.set_exception(Unavailable("the hub is stopping; the write was not stored"))

    async def _run(self, key: Key, batch: list[PendingWrite]) -> None:
        try:
            await self._store(key, batch)
        except asyncio.CancelledError:
            for write in batch:
                if not write.future.done():
                    write.future.set_exception(Unavailable("the hub is stopping; the write was not stored"))
            raise
        except Exception as exc:
            for write in batch:
                if not write.future.done():
                    write.future.set_exception(exc)
            return
        for write in batch:
            if write.stored is not None:
                await self.svc._committed(write.stored)
        for write in batch:
            if write.future.done():
                continue
            if write.error is not None:
                write.future.set_exception(write.error)
            else:
                write.future.set_result(write.stored)

    async def _store(self, key: Key, batch: list[PendingWrite]) -> None:
        """One transaction for ``batch``; retried on the stored version after a collision."""
        svc = self.svc
        tenant, service = key
        from_memory = True
        for _attempt in range(WRITE_ATTEMPTS):
            for write in batch:
                write.stored, write.error = None, None
            try:
                async with svc.database.engine.begin() as conn:
                    schema = await self._schema(conn, key)
                    known, current = svc.current.authoritative(key) if from_memory else (False, None)
                    if not known:
                        current = await repository.get_latest(conn, tenant=tenant, service=service)
                    entries: list[AuditEntry] = []
                    for write in batch:
                        try:
                            stored = self._build(write, key, current, schema, recheck=known)
                        except _Recheck:
                            raise
                        except Exception as exc:
                            write.error = exc
                            continue
                        if stored is None:
                            continue  # unchanged: nothing to store
                        if svc.audit is not None:
                            # the write before this one in the batch made ``current``: its entry's
                            # "after" is this one's "before" (masked once, not twice)
                            before = entries[-1].after if entries else None
                            entry = audit_trail.version_entry
                            entries.append(
                                write.context.run(entry, svc.audit, current, stored, schema, before)
                            )
                        write.stored = current = stored
                    versions = [w.stored for w in batch if w.stored is not None]
                    if versions:
                        await repository.create_many(conn, versions)
                        await audit_repository.create_many(conn, entries)
            except _Recheck:
                from_memory = False
                continue
            except (RevisionTaken, IntegrityError):
                from_memory = False  # another writer won the race: rebuild on the stored version
                continue
            self.transactions += 1
            self.versions += len(versions)
            return
        raise Unavailable(f"configuration of {service!r} is being changed too often; retry")

    def _build(
        self,
        write: PendingWrite,
        key: Key,
        current: ConfigVersion | None,
        schema: dict[str, Any] | None,
        *,
        recheck: bool,
    ) -> ConfigVersion | None:
        """The version ``write`` stores on top of ``current`` (``None``: unchanged)."""
        svc = self.svc
        tenant, service = key
        current_rev = current.revision if current else 0
        if write.if_match is not None and write.if_match != current_rev:
            if recheck:
                raise _Recheck()
            raise _stale(service, write.if_match, current_rev)
        opened = svc.secrets.opened(current) if current else None
        plain = opened.config if opened else None
        document = write.make(opened)
        check_document(document, "config")
        if write.skip_unchanged and current is not None and plain == document:
            return None
        svc.validator.require_valid(service, document, schema)
        document = svc.secrets.seal(
            tenant, service, document, schema, stored=current and current.config, plain=plain
        )
        return ConfigVersion(
            tenant_id=tenant,
            service_name=service,
            revision=current_rev + 1,
            version=version_for(current_rev + 1),
            config=document,
            author=write.author,
            created_at=svc.clock(),
            message=write.message,
            source=write.source,
        )
