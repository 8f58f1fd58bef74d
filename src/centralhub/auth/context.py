"""The current request's caller, readable anywhere below the HTTP edge (audit, authors).

The auth middleware sets these for each request; code that runs outside a request (background
tasks) sees the defaults: the hub itself, from no address.
"""

from __future__ import annotations

from contextvars import ContextVar

from centralhub.auth.models import ANONYMOUS, Principal

current_principal: ContextVar[Principal] = ContextVar("centralhub_principal", default=ANONYMOUS)
#: the client's address as the hub saw it (``host`` of the ASGI ``client``)
current_address: ContextVar[str | None] = ContextVar("centralhub_client_address", default=None)


def actor_name() -> str:
    """Who is acting, for audit records and config authors."""
    return current_principal.get().name


def require_service(service: str) -> None:
    """Refuse (403) when the caller's credential is limited to other services.

    For writes whose service name is in the body (registration, batch heartbeats); the auth
    middleware checks those that carry it in the path."""
    principal = current_principal.get()
    if principal.services is not None and service not in principal.services:
        from centralhub.auth.errors import Forbidden

        raise Forbidden(f"{principal.name!r} may not act for service {service[:128]!r}")
