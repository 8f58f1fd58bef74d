"""``GET /api/v1/events``: configuration, registry and alert changes as Server-Sent Events.

Filters: ``service=a,b`` and ``kind=config,registry,alerts`` (default: every kind the caller may
read: registry with ``registry:read``, config with ``config:read``, alerts with ``ops``; asking for
one it may not is 403). A change of the global configuration document (service ``_global``) passes
every service filter: it changes every service's effective configuration. The caller's tenant's
events only (and, for a caller without a tenant limit, the global alerts). Resumable: the standard
``Last-Event-ID`` header (or ``?last_event_id=``, for a client that cannot set headers) replays what
was missed, or sends a ``reset`` event when that is not possible. A comment line every 15 s keeps
proxies from closing an idle stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import StreamingResponse

from centralhub.auth.context import current_principal
from centralhub.auth.errors import Forbidden
from centralhub.auth.models import Scope
from centralhub.config.global_layer import GLOBAL
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import error_responses
from centralhub.events.stream import KINDS, Event, EventStream
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["events"])
KEEPALIVE_SECONDS = 15.0
RESET_MISSED = b'event: reset\ndata: {"reason": "events were missed: read the state again"}\n\n'
RESET_BEHIND = b'event: reset\ndata: {"reason": "this client fell behind: read the state again"}\n\n'
NEEDS = {"registry": Scope.REGISTRY_READ.value, "config": Scope.CONFIG_READ.value, "alerts": Scope.OPS.value}


def _list(raw: str | None, what: str) -> set[str] | None:
    if raw is None or not raw.strip():
        return None
    items = {p.strip() for p in raw.split(",") if p.strip()}
    if len(items) > 100 or any(len(i) > 128 for i in items):
        raise InvalidInput(f"{what}: at most 100 names of at most 128 characters")
    return items


def _kinds(asked: set[str] | None) -> set[str]:
    principal = current_principal.get()
    if asked is not None:
        unknown = sorted(asked - set(KINDS))
        if unknown:
            raise InvalidInput(f"kind: {unknown[0]!r} is not one of {', '.join(KINDS)}")
        for kind in sorted(asked):
            if not principal.has(NEEDS[kind]):
                raise Forbidden(f"{kind} events need the {NEEDS[kind]!r} scope")
        return asked
    return {k for k in KINDS if principal.has(NEEDS[k])}


def _frame(event: Event) -> bytes:
    data = orjson.dumps(
        {"kind": event.kind, "tenant_id": event.tenant, "service": event.service, **event.data}
    )
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event.id.encode(), event.kind.encode(), data)


@router.get(
    "/api/v1/events",
    responses={
        200: {"description": "text/event-stream: id, event (config|registry|alerts|reset), data (JSON)"},
        **error_responses(400, 403, 422),
    },
    summary="Configuration, registry and alert changes as Server-Sent Events",
)
async def events(
    request: Request,
    hub: HubDep,
    tenant: TenantDep,
    service: Annotated[str | None, Query(description="only these services (comma-separated)")] = None,
    kind: Annotated[str | None, Query(description="config, registry, alerts (comma-separated)")] = None,
    last_event_id: Annotated[
        str | None, Query(max_length=64, description="as the Last-Event-ID header")
    ] = None,
    last_event_id_h: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    services = _list(service, "service")
    kinds = _kinds(_list(kind, "kind"))
    global_alerts = current_principal.get().tenant is None
    stream: EventStream = hub.events_stream

    def wanted(event: Event) -> bool:
        if event.kind not in kinds:
            return False
        if event.tenant != tenant and not (event.kind == "alerts" and event.tenant is None and global_alerts):
            return False
        if services is None or event.service in services:
            return True
        # the global document is part of every service's configuration
        return event.kind == "config" and event.service == GLOBAL

    async def body() -> AsyncIterator[bytes]:
        async with stream.subscribe() as subscriber:
            yield b": connected\n\n"  # a comment: no event, but the client knows it listens
            missed, complete = stream.since(last_event_id_h or last_event_id)
            if not complete:
                yield RESET_MISSED
            for old in missed:
                if wanted(old):
                    yield _frame(old)
            while not stream.closed:
                try:
                    event: Event | None = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                if event is None:
                    return  # the hub is stopping
                if wanted(event):
                    yield _frame(event)
                if subscriber.dropped and subscriber.queue.empty():
                    yield RESET_BEHIND
                    return

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
