"""Service contracts: the JSON Schemas a service promises its messages follow.

A contract maps message types to JSON Schemas. The hub stores one current contract per
(tenant, service), refuses a new version that would break readers of the old one unless forced,
and marks the service's instances ``contract_validated`` while a contract is on file. The
contract row and the instance flags are written in one transaction, so neither exists
without the other; replicas and in-process consumers hear of the change after it commits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from centralhub.contracts import repository
from centralhub.contracts.compatibility import breaking_changes, check_schemas
from centralhub.contracts.models import Contract, ContractChanged, Schemas
from centralhub.core import wire
from centralhub.core.errors import Conflict, NotFound
from centralhub.registry import repository as registry_repository

if TYPE_CHECKING:
    from centralhub.core.database import Database
    from centralhub.core.events.base import EventBus
    from centralhub.core.events.dispatch import DomainEvents
    from centralhub.registry.service import InstanceRegistry

__all__ = ["Contract", "ContractService", "breaking_changes", "check_schemas"]

log = logging.getLogger(__name__)

#: how often a put re-reads and re-checks when another writer changed the contract meanwhile
_PUT_ATTEMPTS = 3


class ContractService:
    """Stores contracts and keeps the registry's ``contract_validated`` flags in step.

    Started as a hub component (after the registry). Other replicas learn of changes through
    ``contracts.{tenant}.changed`` events so new registrations there are flagged too.
    """

    def __init__(
        self,
        database: Database,
        registry: InstanceRegistry,
        bus: EventBus,
        *,
        events: DomainEvents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.registry = registry
        self.bus = bus
        self.events = events
        self.clock = clock
        self._keys: set[tuple[str, str]] = set()
        self._sub: Any = None

    async def start(self) -> None:
        async with self.database.engine.connect() as conn:
            self._keys = set(await repository.get_keys(conn))
        self.registry.contract_check = self.has_contract
        # instances stored before the contract flag was kept (or by an older hub) catch up now
        for tenant, service in self._keys:
            await self.registry.set_contract_validated(tenant, service, True)
        self._sub = await self.bus.subscribe(wire.CONTRACTS_ALL_SUBJECTS, self._on_event)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def reload(self) -> None:
        """Re-read every contract after a bulk change (a restored backup) and bring the registry
        flags, the other replicas and in-process consumers up to date."""
        async with self.database.engine.connect() as conn:
            keys = set(await repository.get_keys(conn))
            contracts = {k: await repository.get(conn, tenant=k[0], service=k[1]) for k in keys}
        for tenant, service in self._keys - keys:
            await self._after_commit(tenant, service, None)
        for (tenant, service), contract in contracts.items():
            await self._after_commit(tenant, service, contract)

    def has_contract(self, tenant: str, service: str) -> bool:
        return (tenant, service) in self._keys

    async def _on_event(self, _subject: str, payload: dict[str, Any]) -> None:
        key = (payload["tenant_id"], payload["service_name"])
        if payload.get("present"):
            self._keys.add(key)
        else:
            self._keys.discard(key)

    # ------------------------------------------------------------------ reads
    async def get(self, tenant: str, service: str) -> Contract:
        async with self.database.engine.connect() as conn:
            contract = await repository.get(conn, tenant=tenant, service=service)
        if contract is None:
            raise NotFound(f"service {service!r} has no contract")
        return contract

    async def get_all(self, tenant: str) -> list[Contract]:
        async with self.database.engine.connect() as conn:
            return await repository.get_all(conn, tenant=tenant)

    async def _current(self, tenant: str, service: str) -> Contract | None:
        async with self.database.engine.connect() as conn:
            return await repository.get(conn, tenant=tenant, service=service)

    async def compatibility(self, tenant: str, service: str, schemas: Schemas) -> dict[str, Any]:
        """Would ``schemas`` replace the current contract without breaking its readers?"""
        # large schemas take seconds to check: off the event loop, so other requests go on
        await asyncio.to_thread(check_schemas, schemas)
        current = await self._current(tenant, service)
        changes = (
            [] if current is None else await asyncio.to_thread(breaking_changes, current.schemas, schemas)
        )
        return {
            "service_name": service,
            "compatible": not changes,
            "breaking_changes": changes,
            "current_version": None if current is None else current.version,
        }

    # ------------------------------------------------------------------ writes
    async def put(
        self,
        tenant: str,
        service: str,
        *,
        schemas: Schemas,
        version: str | None = None,
        force: bool = False,
    ) -> tuple[Contract, list[str]]:
        """Store a new contract version and flag the service's instances, atomically;
        ``Conflict`` listing the breaking changes unless forced.

        Returns the stored contract and the breaking changes that were accepted (forced)."""
        await asyncio.to_thread(check_schemas, schemas)
        for _attempt in range(_PUT_ATTEMPTS):
            # the diff can take seconds on large schemas, so it runs before the transaction
            # (which would hold the write lock meanwhile) and is redone if the contract moved on
            current = await self._current(tenant, service)
            changes = (
                [] if current is None else await asyncio.to_thread(breaking_changes, current.schemas, schemas)
            )
            if changes and not force:
                raise Conflict(
                    f"contract version breaks the current one ({current.version if current else ''}): "
                    + "; ".join(changes)
                    + ' (send "force": true to replace it anyway)',
                    details={"breaking_changes": changes},
                )
            revision = 1 if current is None else current.revision + 1
            contract = Contract(
                tenant_id=tenant,
                service_name=service,
                version=version or str(revision),
                revision=revision,
                schemas=schemas,
                updated_at=self.clock(),
            )
            if await self._store(contract, expected=current):
                break
        else:
            raise Conflict(f"the contract of {service!r} keeps changing concurrently; try again")
        await self._after_commit(contract.tenant_id, contract.service_name, contract)
        return contract, changes

    async def _store(self, contract: Contract, *, expected: Contract | None) -> bool:
        """One transaction: the contract and the instance flags. ``False`` (nothing written)
        when another writer changed the contract since ``expected`` was read."""
        tenant, service = contract.tenant_id, contract.service_name
        async with self.database.engine.begin() as conn:
            if expected is None:
                if not await repository.create(conn, contract):
                    return False
            else:
                latest = await repository.get(conn, tenant=tenant, service=service, for_update=True)
                if latest is None or latest.revision != expected.revision:
                    return False
                await repository.update(conn, contract)
            await registry_repository.set_contract_validated(conn, tenant=tenant, service=service, value=True)
        return True

    async def delete(self, tenant: str, service: str) -> None:
        """Drop the contract and clear the instance flags, atomically."""
        async with self.database.engine.begin() as conn:
            if not await repository.delete(conn, tenant=tenant, service=service):
                raise NotFound(f"service {service!r} has no contract")
            await registry_repository.set_contract_validated(
                conn, tenant=tenant, service=service, value=False
            )
        await self._after_commit(tenant, service, None)

    # ------------------------------------------------------------------ after commit
    async def _after_commit(self, tenant: str, service: str, contract: Contract | None) -> None:
        """Bring this replica's view, the other replicas and in-process consumers up to date
        with a committed change; failures here are logged, the stored state is the truth."""
        present = contract is not None
        if present:
            self._keys.add((tenant, service))
        else:
            self._keys.discard((tenant, service))
        try:
            # the flag is already stored with the contract: refresh the view and tell replicas
            await self.registry.contract_validated_changed(tenant, service, present)
        except Exception as exc:
            log.warning("registry view of %s/%s not refreshed: %s", tenant, service, exc)
        try:
            await self.bus.publish(
                wire.contracts_subject(tenant),
                {"tenant_id": tenant, "service_name": service, "present": present},
            )
        except Exception as exc:  # stored already; other replicas reload on restart
            log.warning("contract event not published: %s", exc)
        if self.events is not None:
            self.events.emit(
                ContractChanged(
                    tenant_id=tenant,
                    service_name=service,
                    present=present,
                    revision=contract.revision if contract else None,
                    version=contract.version if contract else None,
                )
            )
