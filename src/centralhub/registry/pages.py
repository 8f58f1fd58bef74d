"""Paginated service listings that never hold up the event loop.

``GET /api/v1/services`` used to build every service of a tenant into one answer: with tens of
thousands of instances that took over a second, during which the hub answered nothing else.
Now a page holds at most ``limit`` services, in name order, and the next page starts after the
last name shown (the opaque ``next_cursor``). Names are a stable order that registrations do
not shift: a service present for the whole walk is on exactly one page however many are
registered or removed meanwhile.

A page is chosen at once (what it holds is a snapshot), then serialized in slices of at most
:data:`SLICE` instances, yielding to the event loop between slices while the bytes are sent,
so a discovery read arriving meanwhile waits for one slice, not for the page.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

from centralhub.core import wire
from centralhub.core.errors import InvalidInput
from centralhub.registry import views
from centralhub.registry.models import Instance, InstanceStatus

#: services on a page when the caller does not say; enough for most registries in one request
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: instances serialized between two yields to the event loop (a millisecond or two of work)
SLICE = 50
#: pages with more instances than this are sent chunked as they are serialized; smaller ones
#: whole, with a Content-Length, as before pagination
STREAMED_FROM = 1000
_CURSOR_PREFIX = "s1:"


class ServiceIndex:
    """Each tenant's service names, kept sorted as services appear and go (one bisect per
    change), so a page is found without sorting every name for every request."""

    def __init__(self, exists: Callable[[str, str], bool]) -> None:
        self._exists = exists
        self._names: dict[str, list[str]] = {}

    def changed(self, tenant: str, service: str) -> None:
        """A registry change listener: called after any change of a service's instances."""
        names = self._names.setdefault(tenant, [])
        i = bisect_left(names, service)
        present = i < len(names) and names[i] == service
        if self._exists(tenant, service):
            if not present:
                names.insert(i, service)
        elif present:
            del names[i]

    def names(self, tenant: str) -> list[str]:
        """The tenant's service names in order (the index's own list: do not change it)."""
        return self._names.get(tenant, [])

    def tenants(self) -> list[str]:
        """Tenants with at least one registered service."""
        return [tenant for tenant, names in self._names.items() if names]

    def after(self, tenant: str, last: str | None) -> tuple[list[str], int]:
        """The sorted names and the position of the first one after ``last``."""
        names = self.names(tenant)
        return names, 0 if last is None else bisect_right(names, last)


def encode_cursor(last: str) -> str:
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + last).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The last service name of the previous page; ``InvalidInput`` (400) for a cursor this
    hub did not make."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raw = ""
    if not raw.startswith(_CURSOR_PREFIX) or not wire.is_service_name(raw[len(_CURSOR_PREFIX) :]):
        raise InvalidInput("cursor is not one this hub returned as next_cursor (start again without it)")
    return raw[len(_CURSOR_PREFIX) :]


@dataclass(slots=True)
class ServicePage:
    tenant: str
    #: (name, every instance, those shown) per service on the page
    services: list[tuple[str, list[Instance], list[Instance]]]
    next_cursor: str | None

    def shown(self) -> int:
        return sum(len(s) for _, _, s in self.services)


def choose_page(
    index: ServiceIndex,
    groups: Callable[[str, str], dict[str, Instance] | None],
    tenant: str,
    *,
    status: InstanceStatus | None,
    limit: int,
    after: str | None,
) -> ServicePage:
    """Up to ``limit`` services after ``after`` (with a status filter, those with an instance
    in it), each with a snapshot of its instances."""
    names, start = index.after(tenant, after)
    chosen: list[tuple[str, list[Instance], list[Instance]]] = []
    position = start
    while position < len(names) and len(chosen) < limit:
        name = names[position]
        position += 1
        group = groups(tenant, name)
        if not group:
            continue
        instances = list(group.values())
        shown = instances if status is None else [i for i in instances if i.status == status]
        if shown or status is None:
            chosen.append((name, instances, shown))
    more = position < len(names)
    return ServicePage(tenant, chosen, encode_cursor(names[position - 1]) if more and chosen else None)


def _service_head(name: str, tenant: str, group: list[Instance]) -> bytes:
    """A service's answer up to its instances' opening bracket (``views.service_answer``'s keys)."""
    head = orjson.dumps(views.service_answer(name, tenant, group, ()))
    return head[: head.rindex(b"[") + 1]


async def page_chunks(page: ServicePage) -> AsyncIterator[bytes]:
    """The page as JSON, in chunks of at most :data:`SLICE` instances each."""
    yield (
        b'{"tenant_id":'
        + orjson.dumps(page.tenant)
        + b',"count":'
        + str(len(page.services)).encode()
        + b',"next_cursor":'
        + orjson.dumps(page.next_cursor)
        + b',"services":['
    )
    budget = SLICE
    for n, (name, group, shown) in enumerate(page.services):
        parts = [b"," if n else b"", _service_head(name, tenant=page.tenant, group=group)]
        ordered = sorted(shown, key=lambda i: i.registered_at)
        for start in range(0, len(ordered), SLICE):
            piece = ordered[start : start + SLICE]
            body = orjson.dumps([views.instance_answer(i) for i in piece])[1:-1]
            parts.append(b"," + body if start else body)
            budget -= len(piece)
            if budget <= 0:
                yield b"".join(parts)
                parts = []
                budget = SLICE
                # the slice is sent; let whatever else waits on the loop run before the next
                await asyncio.sleep(0)
        parts.append(b"]}")
        yield b"".join(parts)
    yield b"]}"
