"""Service contracts: the JSON Schemas a service promises its messages follow.

A contract maps message types to JSON Schemas. The hub stores one current contract per
(tenant, service), refuses a new version that would break readers of the old one unless forced,
and marks the service's instances ``contract_validated`` while a contract is on file.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from centralhub.core.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:  # kept out at run time: the SDK imports the pure rules below without the hub
    from centralhub.contracts.repository import ContractRepository
    from centralhub.core.events.base import EventBus
    from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

Schemas = dict[str, dict[str, Any]]


@dataclass(slots=True)
class Contract:
    """One stored contract version; ``revision`` counts accepted versions from 1."""

    tenant_id: str
    service_name: str
    version: str
    revision: int
    schemas: Schemas
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "service_name": self.service_name,
            "tenant_id": self.tenant_id,
            "version": self.version,
            "revision": self.revision,
            "message_types": sorted(self.schemas),
            "schemas": self.schemas,
            "updated_at": self.updated_at,
        }


# ---------------------------------------------------------------------- pure rules
def check_schemas(schemas: Schemas) -> None:
    """Raise ``InvalidInput`` naming ``schemas.<type>`` when a schema is not valid JSON Schema."""
    if not schemas:
        raise InvalidInput("schemas: at least one message type is required")
    for message_type, schema in schemas.items():
        if not message_type or len(message_type) > 128:
            raise InvalidInput("schemas: message type names must be 1-128 characters")
        if not isinstance(schema, dict):
            raise InvalidInput(f"schemas.{message_type}: must be a JSON Schema object")
        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            suffix = f" at {where}" if where else ""
            raise InvalidInput(
                f"schemas.{message_type}: not a valid JSON Schema{suffix}: {exc.message}"
            ) from None


def _types(schema: dict[str, Any]) -> frozenset[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset([declared])
    if isinstance(declared, list):
        # draft-03 allows schemas inside "type"; only the named types are compared
        return frozenset(t for t in declared if isinstance(t, str)) or None
    return None


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _required(schema: dict[str, Any]) -> set[str]:
    """Names listed in ``required`` (draft-03's boolean ``required`` names none)."""
    required = schema.get("required")
    if not isinstance(required, list):
        return set()
    return {r for r in required if isinstance(r, str)}


def _diff(old: dict[str, Any], new: dict[str, Any], where: str, out: list[str]) -> None:
    old_types, new_types = _types(old), _types(new)
    if old_types is not None and new_types is not None and old_types != new_types:
        out.append(
            f"{where}: type changed from {'|'.join(sorted(old_types))} to {'|'.join(sorted(new_types))}"
        )
        return
    old_req, new_req = _required(old), _required(new)
    for name in sorted(new_req - old_req):
        out.append(f"{where}.{name}: required field added")
    old_props = _properties(old)
    new_props = _properties(new)
    for name in sorted(old_req - new_req):
        if name in new_props:
            out.append(f"{where}.{name}: no longer required")
        else:
            out.append(f"{where}.{name}: required field removed")
    for name in sorted(set(old_props) & set(new_props)):
        if isinstance(old_props[name], dict) and isinstance(new_props[name], dict):
            _diff(old_props[name], new_props[name], f"{where}.{name}", out)
    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        _diff(old_items, new_items, f"{where}[]", out)


def breaking_changes(old: Schemas, new: Schemas) -> list[str]:
    """What in ``new`` breaks peers written against ``old``: a message type or required field
    removed, a required field added, a field's type changed. Empty when compatible."""
    out: list[str] = []
    for message_type in sorted(old):
        if message_type not in new:
            out.append(f"{message_type}: message type removed")
            continue
        _diff(old[message_type], new[message_type], message_type, out)
    return out


# ---------------------------------------------------------------------- service
class ContractService:
    """Stores contracts and keeps the registry's ``contract_validated`` flags in step.

    Started as a hub component (after the registry). Other replicas learn of changes through
    ``contracts.{tenant}.changed`` events so new registrations there are flagged too.
    """

    def __init__(self, repo: ContractRepository, registry: InstanceRegistry, bus: EventBus) -> None:
        self.repo = repo
        self.registry = registry
        self.bus = bus
        self._keys: set[tuple[str, str]] = set()
        self._sub: Any = None

    async def start(self) -> None:
        self._keys = set(await self.repo.keys())
        self.registry.contract_check = self.has_contract
        # instances stored before the contract flag was kept (or by an older hub) catch up now
        for tenant, service in self._keys:
            await self.registry.set_contract_validated(tenant, service, True)
        self._sub = await self.bus.subscribe("contracts.>", self._on_event)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    def has_contract(self, tenant: str, service: str) -> bool:
        return (tenant, service) in self._keys

    async def _on_event(self, _subject: str, payload: dict[str, Any]) -> None:
        key = (payload["tenant_id"], payload["service_name"])
        if payload.get("present"):
            self._keys.add(key)
        else:
            self._keys.discard(key)

    async def _announce(self, tenant: str, service: str, present: bool) -> None:
        try:
            await self.bus.publish(
                f"contracts.{tenant}.changed",
                {"tenant_id": tenant, "service_name": service, "present": present},
            )
        except Exception as exc:  # stored already; other replicas reload on restart
            log.warning("contract event not published: %s", exc)

    # ------------------------------------------------------------------ operations
    async def get(self, tenant: str, service: str) -> Contract:
        contract = await self.repo.get(tenant, service)
        if contract is None:
            raise NotFound(f"service {service!r} has no contract")
        return contract

    async def get_all(self, tenant: str) -> list[Contract]:
        return await self.repo.get_all(tenant)

    async def compatibility(self, tenant: str, service: str, schemas: Schemas) -> dict[str, Any]:
        """Would ``schemas`` replace the current contract without breaking its readers?"""
        # large schemas take seconds to check: off the event loop, so other requests go on
        await asyncio.to_thread(check_schemas, schemas)
        current = await self.repo.get(tenant, service)
        changes = (
            [] if current is None else await asyncio.to_thread(breaking_changes, current.schemas, schemas)
        )
        return {
            "service_name": service,
            "compatible": not changes,
            "breaking_changes": changes,
            "current_version": None if current is None else current.version,
        }

    async def put(
        self,
        tenant: str,
        service: str,
        *,
        schemas: Schemas,
        version: str | None = None,
        force: bool = False,
    ) -> tuple[Contract, list[str]]:
        """Store a new contract version; ``Conflict`` listing the breaking changes unless forced.

        Returns the stored contract and the breaking changes that were accepted (forced)."""
        # large schemas take seconds to check: off the event loop, so other requests go on
        await asyncio.to_thread(check_schemas, schemas)
        current = await self.repo.get(tenant, service)
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
            updated_at=time.time(),
        )
        await self.repo.save(contract)
        self._keys.add((tenant, service))
        await self.registry.set_contract_validated(tenant, service, True)
        await self._announce(tenant, service, True)
        return contract, changes

    async def delete(self, tenant: str, service: str) -> None:
        if not await self.repo.delete(tenant, service):
            raise NotFound(f"service {service!r} has no contract")
        self._keys.discard((tenant, service))
        await self.registry.set_contract_validated(tenant, service, False)
        await self._announce(tenant, service, False)
