"""Request-scoped dependencies shared by the routers: the hub and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from centralhub.core.errors import InvalidInput
from centralhub.core.wire import DEFAULT_TENANT, TENANT_RE
from centralhub.hub import Hub

__all__ = ["DEFAULT_TENANT", "HubDep", "TenantDep", "tenant_of"]


def tenant_of(value: str | None) -> str:
    """Validate an ``X-Tenant-ID`` value; tenants become NATS subject tokens, so no dots."""
    if value is None or value == "":
        return DEFAULT_TENANT
    if not TENANT_RE.fullmatch(value):
        raise InvalidInput(f"X-Tenant-ID must be 1-64 letters, digits, '-' or '_' (got {value[:80]!r})")
    return value


async def get_hub(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


async def get_tenant(x_tenant_id: Annotated[str | None, Header()] = None) -> str:
    return tenant_of(x_tenant_id)


HubDep = Annotated[Hub, Depends(get_hub)]
TenantDep = Annotated[str, Depends(get_tenant)]
