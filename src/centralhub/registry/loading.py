"""Loading the whole stored registry at start-up, lean enough for 100,000 instances.

:func:`centralhub.registry.repository.get_all` builds each instance through a row mapping,
with the JSON columns decoded one ``json.loads`` at a time by the driver. At start-up that
is most of the time between spawn and ready, so this path reads the rows as plain tuples
in chunks, decodes JSON with orjson from the columns' text, looks statuses up in a dict, and
shares one string object for values many instances repeat (tenant, service name, protocol,
version) instead of holding a copy per instance.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.core.tables import service_instances as t
from centralhub.registry.models import Instance, InstanceStatus

#: rows fetched per round trip: bounds the rows held beside the instances built from them
CHUNK_ROWS = 5000

_STATUS = {s.value: s for s in InstanceStatus}
_COLUMNS = (
    t.c.id,
    t.c.tenant_id,
    t.c.service_name,
    t.c.host,
    t.c.port,
    t.c.protocol,
    t.c.health_endpoint,
    t.c.version,
    # as text: the driver would otherwise decode each with the standard library's json
    cast(t.c.metadata, Text),
    cast(t.c.tags, Text),
    t.c.status,
    t.c.registered_at,
    t.c.last_seen,
    cast(t.c.transport_preferences, Text),
    t.c.contract_validated,
    t.c.weight,
    t.c.ttl_seconds,
    cast(t.c.dependencies, Text),
    cast(t.c.check_spec, Text),
)


def _epoch(value: datetime) -> float:
    # SQLite hands timezone-aware columns back naive; they were written as UTC
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _json(raw: str | None) -> Any:
    return None if raw is None else orjson.loads(raw)


def _list(raw: str | None) -> list[Any]:
    # the empty list is by far the most common value: no parser call for it
    if raw is None or raw == "[]":
        return []
    return list(orjson.loads(raw) or [])


#: loads at least this large are exempted from cyclic garbage collection afterwards
FREEZE_AT = 10_000


@contextmanager
def bulk_allocation(loaded: Callable[[], int]) -> Iterator[None]:
    """No cyclic garbage collection while the body runs: loading allocates millions of objects
    that all live on, and every collection meanwhile would walk all of them again.

    After a load of at least :data:`FREEZE_AT` (``loaded()`` at the end), everything alive is
    moved out of the collector's sight (``gc.freeze``) before collection resumes: with 100,000
    instances a full collection walks millions of objects that cannot be garbage, a pause of
    a second or more in the middle of serving requests. Freed instances are still reclaimed by
    reference counting (they hold no cycles). A small registry gains nothing from it, so it
    is left to the collector as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if loaded() >= FREEZE_AT:
            gc.freeze()
        if enabled:
            gc.enable()


class _Shared(dict[str, str]):
    """One string object per distinct value."""

    def __missing__(self, key: str) -> str:
        self[key] = key
        return key


async def stream_all(conn: AsyncConnection, *, chunk_rows: int = CHUNK_ROWS) -> AsyncIterator[list[Instance]]:
    """Every stored instance, ``chunk_rows`` at a time (as ``repository.get_all`` would build them)."""
    shared = _Shared()
    result = await conn.stream(select(*_COLUMNS).execution_options(yield_per=chunk_rows))
    async for rows in result.partitions(chunk_rows):
        chunk: list[Instance] = []
        for (
            instance_id,
            tenant_id,
            service_name,
            host,
            port,
            protocol,
            health_endpoint,
            version,
            metadata,
            tags,
            status,
            registered_at,
            last_seen,
            transport_preferences,
            contract_validated,
            weight,
            ttl_seconds,
            dependencies,
            check_spec,
        ) in rows:
            chunk.append(
                Instance(
                    id=instance_id,
                    tenant_id=shared[tenant_id],
                    service_name=shared[service_name],
                    host=host,
                    port=port,
                    protocol=shared[protocol],
                    health_endpoint=health_endpoint if health_endpoint is None else shared[health_endpoint],
                    version=version if version is None else shared[version],
                    metadata=_json(metadata) or {},
                    tags=_list(tags),
                    status=_STATUS[status],
                    registered_at=_epoch(registered_at),
                    last_seen=_epoch(last_seen),
                    transport_preferences=_list(transport_preferences),
                    contract_validated=bool(contract_validated),
                    weight=weight,
                    ttl_seconds=ttl_seconds,
                    dependencies=_list(dependencies),
                    check=_json(check_spec),
                )
            )
        yield chunk


async def load_all(conn: AsyncConnection) -> list[Instance]:
    """Every stored instance, built as :func:`stream_all` builds them."""
    return [inst async for chunk in stream_all(conn) for inst in chunk]
