"""Acting as a caller in-process: what the auth middleware sets for a request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from centralhub.auth.context import current_address, current_principal
from centralhub.auth.models import Principal, expand


@contextmanager
def acting_as(
    name: str, address: str | None = "10.0.0.7", *, services: set[str] | None = None, kind: str = "key"
) -> Iterator[Principal]:
    principal = Principal(
        name=name,
        scopes=expand({"admin"}),
        services=None if services is None else frozenset(services),
        kind=kind,
    )
    who = current_principal.set(principal)
    where = current_address.set(address)
    try:
        yield principal
    finally:
        current_address.reset(where)
        current_principal.reset(who)
