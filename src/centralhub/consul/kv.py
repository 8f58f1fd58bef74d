"""Consul's key/value store, kept in the hub's own database.

Writes follow Consul's contract: ``cas=0`` creates only, ``cas=N`` writes only while the key's
``ModifyIndex`` is N, and every write gives the key a larger ``ModifyIndex``. Each write is
announced on the bus after its commit, so a blocking read held by another replica answers
within milliseconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from centralhub.consul import kv_repository as repository
from centralhub.consul.indexes import ChangeIndexes
from centralhub.consul.kv_repository import Entry
from centralhub.core.database import Database
from centralhub.core.errors import InvalidInput, PayloadTooLarge
from centralhub.core.events.base import EventBus, Subscription

__all__ = ["MAX_KEY_LENGTH", "MAX_VALUE_BYTES", "ConsulKV", "KvRead"]

log = logging.getLogger(__name__)

#: Consul's own limit on one value
MAX_VALUE_BYTES = 512 * 1024
MAX_KEY_LENGTH = 512
MAX_FLAGS = 2**63 - 1
#: every KV write of every tenant, between hub replicas
ALL_SUBJECTS = "consul.kv.>"


def _subject(tenant: str) -> str:
    return f"consul.kv.{tenant}"


def check_key(key: str, *, allow_empty: bool = False) -> str:
    if not key and not allow_empty:
        raise InvalidInput("a key is required: /v1/kv/<key>")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"key is longer than {MAX_KEY_LENGTH} characters")
    if any(not c.isprintable() for c in key):
        raise InvalidInput("key must not contain control characters")
    return key


@dataclass(frozen=True, slots=True)
class KvRead:
    """What a read found: one entry, the entries under a prefix, or key names."""

    entries: list[Entry]
    keys: list[str] | None = None


class ConsulKV:
    """The KV store of every tenant (a tenant is a Consul namespace)."""

    def __init__(self, database: Database, bus: EventBus, indexes: ChangeIndexes) -> None:
        self.database = database
        self.bus = bus
        self.indexes = indexes
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.bus.subscribe(ALL_SUBJECTS, self._on_event)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_event(self, subject: str, payload: dict[str, Any]) -> None:
        tenant = subject.rsplit(".", 1)[-1]
        index = payload.get("index")
        if isinstance(index, int):
            keys = [("kv", tenant)] + ([("kv-removed", tenant)] if payload.get("removed") else [])
            self.indexes.bump(*keys, index=index)

    async def _announce(self, tenant: str, index: int, *, removed: bool = False) -> None:
        keys = [("kv", tenant)] + ([("kv-removed", tenant)] if removed else [])
        self.indexes.bump(*keys, index=index)
        try:
            await self.bus.publish(_subject(tenant), {"index": index, "removed": removed})
        except Exception as exc:  # stored already: peers' held reads answer at their timeout
            log.warning("KV change of tenant %s not announced: %s", tenant, exc)

    # ---------------------------------------------------------------- reads
    async def read(
        self, tenant: str, key: str, *, recurse: bool, keys_only: bool, separator: str | None
    ) -> tuple[int, KvRead]:
        """The entries asked for and the index to answer with (see the module docstring)."""
        async with self.database.engine.connect() as conn:
            if not recurse and not keys_only:
                entry = await repository.get(conn, tenant, key)
                if entry is not None:
                    return entry.modify_index, KvRead([entry])
                return self.indexes.get(("kv", tenant)), KvRead([])
            entries = await repository.list_prefix(conn, tenant, key)
        index = max([e.modify_index for e in entries] + [self.indexes.get(("kv-removed", tenant))])
        if not keys_only:
            return index, KvRead(entries)
        names: list[str] = []
        for e in entries:
            name = e.key
            if separator:
                cut = name.find(separator, len(key))
                if cut != -1:
                    name = name[: cut + len(separator)]
            if not names or names[-1] != name:
                names.append(name)
        return index, KvRead(entries, keys=names)

    # ---------------------------------------------------------------- writes
    async def put(self, tenant: str, key: str, value: bytes, *, flags: int, cas: int | None) -> bool:
        """Store ``value``; False when ``cas`` did not match (nothing changed)."""
        check_key(key)
        if len(value) > MAX_VALUE_BYTES:
            raise PayloadTooLarge(f"value is larger than {MAX_VALUE_BYTES // 1024} KiB")
        if not 0 <= flags <= MAX_FLAGS:
            raise InvalidInput(f"flags must be an integer from 0 to {MAX_FLAGS}")
        index = self.indexes.next()
        stored: int | None = None
        for _attempt in range(3):
            try:
                async with self.database.engine.begin() as conn:
                    if cas == 0:
                        await repository.create(conn, tenant, key, value, flags, index)
                        stored = index
                    else:
                        stored = await repository.update_value(conn, tenant, key, value, flags, index, cas)
                        if stored is None and cas is None:
                            await repository.create(conn, tenant, key, value, flags, index)
                            stored = index
                break
            except IntegrityError:
                if cas == 0:
                    return False  # the key exists: create-only refused
                # created meanwhile by another writer: update it instead
        if stored is None:
            return False
        await self._announce(tenant, stored)
        return True

    async def delete(self, tenant: str, key: str, *, recurse: bool, cas: int | None) -> bool:
        """Remove one key (only at ``cas`` when given), or every key under a prefix."""
        check_key(key, allow_empty=recurse)
        async with self.database.engine.begin() as conn:
            if recurse:
                removed = await repository.remove_prefix(conn, tenant, key) > 0
            else:
                removed = await repository.remove(conn, tenant, key, cas)
        if cas is not None and not removed:
            return False
        if removed:
            await self._announce(tenant, self.indexes.next(), removed=True)
        return True
