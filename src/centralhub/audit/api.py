"""``GET /api/v1/audit``: search the audit trail (the auth layer restricts it to ``admin``)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query

from centralhub.audit.schemas import AuditEntryRead, AuditListRead
from centralhub.auth.context import current_principal
from centralhub.core.errors import InvalidInput
from centralhub.core.schemas import error_responses
from centralhub.core.time import parse_rfc3339
from centralhub.server.deps import HubDep

router = APIRouter(tags=["audit"])

Filter = Annotated[str | None, Query(max_length=255, description="exact value, or a prefix ending in *")]


def parse_since(value: str) -> float:
    """Epoch seconds (``1764600000``) or an ISO 8601 / RFC 3339 time; anything else is a 400."""
    text = value.strip()
    try:
        ts = float(text)
    except ValueError:
        try:
            ts = parse_rfc3339(text)
        except ValueError:
            raise InvalidInput(
                f"since: must be epoch seconds or an ISO 8601 time (got {value[:40]!r})"
            ) from None
    if not math.isfinite(ts) or not 0 <= ts < 253402300800:  # up to the year 9999
        raise InvalidInput(f"since: out of range (got {value[:40]!r})")
    return ts


@router.get(
    "/api/v1/audit",
    response_model=AuditListRead,
    responses=error_responses(400, 401, 403, 422, 503),
    summary="Who changed what: the audit trail, newest first",
)
async def search_audit(
    hub: HubDep,
    actor: Filter = None,
    action: Filter = None,
    resource: Filter = None,
    since: Annotated[str | None, Query(max_length=64, description="epoch seconds or ISO 8601")] = None,
    tenant: Annotated[str | None, Query(max_length=64, description="only this tenant's entries")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditListRead:
    # a credential bound to a tenant sees that tenant's entries whatever it asks for
    tenant = current_principal.get().tenant or tenant
    entries = await hub.audit.search(
        actor=actor,
        action=action,
        resource=resource,
        since=None if since is None else parse_since(since),
        tenant=tenant,
        limit=limit,
    )
    return AuditListRead(count=len(entries), entries=[AuditEntryRead.of(e) for e in entries])
