"""Group commit for registrations.

A fleet starting up registers hundreds of instances at once; one transaction each would make
the database's commit rate the hub's registration rate. Registrations arriving together wait
for one batch instead: the writer stores the whole batch with one multi-row upsert per
transaction, brings the view up to date and announces each instance, then answers every caller.

Each request is validated before it joins a batch, so a batch fails only for a reason the
database gives. When that reason is one row (a value the database refuses), the batch is stored
again row by row and only the caller of the refused row gets the error. When the database is
out of reach every caller of the batch gets :class:`StorageUnavailable`; nothing is kept, the
caller retries (unlike a heartbeat, a registration carries a whole instance worth resending).

The audit trail records who registered an instance, which the writer task cannot see in its own
context: each request's principal and address are taken along and set around its entry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.audit.service import AuditLog, instance_write_is_foreign
from centralhub.auth.context import current_address, current_principal
from centralhub.auth.models import Principal
from centralhub.core.database import Database, is_storage_failure
from centralhub.core.errors import StorageUnavailable, Unavailable
from centralhub.registry import repository
from centralhub.registry.models import Instance, InstanceStatus, Registration

log = logging.getLogger(__name__)

#: runs after a batch committed, before its callers are answered (view upkeep and events)
AfterStore = Callable[[list[Instance]], Awaitable[None]]
Endpoint = tuple[str, str, str, int]
#: what a caller gets: the stored instance and whether it was new, or the error of its row
Outcome = tuple[Instance, bool] | Exception
#: per endpoint of a batch: the stored instance and whether its row is new, or the row's error
Rows = dict[Endpoint, tuple[Instance, bool] | Exception]


def new_instance(tenant: str, reg: Registration, *, now: float, contract_validated: bool) -> Instance:
    """The instance a registration describes, passing, with a fresh id (an endpoint already
    stored keeps its own id when the batch is written)."""
    return Instance(
        id=uuid.uuid4().hex,
        tenant_id=tenant,
        service_name=reg.name,
        host=reg.host,
        port=reg.port,
        protocol=reg.protocol,
        health_endpoint=reg.health_endpoint,
        version=reg.version,
        metadata=reg.metadata,
        tags=reg.tags,
        status=InstanceStatus.PASSING,
        registered_at=now,
        last_seen=now,
        transport_preferences=reg.transport_preferences,
        contract_validated=contract_validated,
        weight=reg.weight,
        ttl_seconds=reg.ttl_seconds,
        dependencies=reg.dependencies,
        check=reg.check,
    )


@dataclass(slots=True)
class _Pending:
    inst: Instance
    waiter: asyncio.Future[tuple[Instance, bool]]
    #: who asked and from where, for the audit entry written by the writer task
    principal: Principal
    address: str | None
    audited: bool

    @property
    def endpoint(self) -> Endpoint:
        return (self.inst.tenant_id, self.inst.service_name, self.inst.host, self.inst.port)


class RegistrationBatcher:
    """Collects registrations and stores them in batches; :meth:`run` is the writer loop."""

    def __init__(
        self,
        database: Database,
        *,
        after_store: AfterStore,
        flush_interval: float,
        audit: AuditLog | None = None,
    ) -> None:
        self.database = database
        self.audit = audit
        self._after_store = after_store
        self.flush_interval = flush_interval
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        #: batches stored so far, and the registrations they held
        self.batches = 0
        self.stored = 0

    async def submit(self, insts: list[Instance]) -> list[Outcome]:
        """Store ``insts`` with the next batch; returns, in order, each one's outcome.

        A caller that goes away stops waiting, but what it submitted is still stored."""
        loop = asyncio.get_running_loop()
        principal = current_principal.get()
        address = current_address.get()
        mine: list[_Pending] = []
        for inst in insts:
            audited = self.audit is not None and instance_write_is_foreign(inst.service_name, removal=False)
            mine.append(_Pending(inst, loop.create_future(), principal, address, audited))
        self._pending.extend(mine)
        self._wake.set()
        outcomes: list[Outcome] = []
        for pending in mine:
            try:
                outcomes.append(await pending.waiter)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def run(self) -> None:
        """The writer loop (supervised): a batch, then a short pause for the next to gather."""
        # a restarted writer stores at once whatever waited while it was down
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(self.flush_interval)

    async def flush(self) -> None:
        """Store what is pending now and answer its callers."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            rows = await self._store(batch)
        except asyncio.CancelledError:
            # stopped mid-write (the transaction rolled back): the final flush stores these
            self._pending = batch + self._pending
            raise
        stored = [row[0] for row in rows.values() if not isinstance(row, Exception)]
        if stored:
            self.batches += 1
            self.stored += len(stored)
            try:
                await self._after_store(stored)
            except Exception:
                # the rows are committed; a view or bus hiccup must not turn them into errors
                log.exception("registrations stored but not all announced")
        self._answer(batch, rows)

    # ---------------------------------------------------------------- storing
    async def _store(self, batch: list[_Pending]) -> Rows:
        """Each endpoint's stored instance (the last registration of it wins), or its error."""
        latest: dict[Endpoint, Instance] = {}
        for pending in batch:
            latest[pending.endpoint] = pending.inst
        # a known endpoint keeps its stored id: the row is new when it took the one given here
        proposed = {key: inst.id for key, inst in latest.items()}
        try:
            async with self.database.engine.begin() as conn:
                await repository.upsert_many(conn, list(latest.values()))
                await self._record(conn, batch, latest)
            return {key: (inst, inst.id == proposed[key]) for key, inst in latest.items()}
        except Exception as exc:
            if is_storage_failure(exc):
                log.warning("registrations not stored, the database is unreachable: %s", exc)
                error = StorageUnavailable("the database is unreachable; the registration was not stored")
                return dict.fromkeys(latest, error)
            if len(latest) == 1:
                log.error("registration not stored: %s", exc)
                return dict.fromkeys(latest, Unavailable(f"registration not stored: {exc}"))
            log.warning("batch of %d registrations refused (%s): storing them one by one", len(latest), exc)
        return {key: await self._store_one(key, inst, batch) for key, inst in latest.items()}

    async def _store_one(
        self, key: Endpoint, inst: Instance, batch: list[_Pending]
    ) -> tuple[Instance, bool] | Exception:
        proposed = inst.id
        try:
            async with self.database.engine.begin() as conn:
                await repository.upsert_many(conn, [inst])
                await self._record(conn, [p for p in batch if p.endpoint == key], {key: inst})
        except Exception as exc:
            if is_storage_failure(exc):
                return StorageUnavailable("the database is unreachable; the registration was not stored")
            log.error("registration of %s/%s:%d not stored: %s", inst.service_name, inst.host, inst.port, exc)
            return Unavailable(f"registration not stored: {exc}")
        return inst, inst.id == proposed

    async def _record(
        self, conn: AsyncConnection, batch: list[_Pending], latest: dict[Endpoint, Instance]
    ) -> None:
        """Audit entries for the registrations made on someone else's behalf, in the batch's
        transaction, each under the principal that asked for it."""
        if self.audit is None:
            return
        for pending in batch:
            if not pending.audited:
                continue
            inst = latest[pending.endpoint]
            principal = current_principal.set(pending.principal)
            address = current_address.set(pending.address)
            try:
                await self.audit.record_instance(
                    "instance.register",
                    inst.tenant_id,
                    inst.service_name,
                    inst.id,
                    after=inst.to_dict(),
                    conn=conn,
                )
            finally:
                current_address.reset(address)
                current_principal.reset(principal)

    # ---------------------------------------------------------------- answering
    @staticmethod
    def _answer(batch: list[_Pending], rows: Rows) -> None:
        answered: set[Endpoint] = set()
        for pending in batch:
            # of several registrations of one endpoint in a batch, only the first can be new
            first = pending.endpoint not in answered
            answered.add(pending.endpoint)
            row = rows[pending.endpoint]
            if pending.waiter.done():
                continue  # its caller went away
            if isinstance(row, Exception):
                pending.waiter.set_exception(row)
            else:
                pending.waiter.set_result((row[0], first and row[1]))
