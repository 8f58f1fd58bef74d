"""Which tenants' records the current caller may see and touch.

Records carry a ``tenant_id``; ``None`` marks global records that belong to no tenant (alerts
about shared infrastructure and the silences that cover them). The rules, applied below the
HTTP edge from :data:`~centralhub.auth.context.current_principal`:

* a caller sees and acts on the records of the tenant it acts in (the request's tenant, which
  for a tenant-limited credential is always that credential's tenant);
* global records are in reach only of a caller **without** a tenant limit: an infrastructure
  alert names the services of every tenant that depend on the component, so a tenant-limited
  caller never sees it, acknowledges it or silences it;
* a record out of reach answers as if it did not exist (404), so ids of other tenants leak
  nothing; asking outright for something out of reach (a global silence, another tenant's
  dashboard) is a 403 naming what is missing;
* views that can show any tenant (dashboard, Prometheus service discovery) show the caller's
  own tenant; a principal with ``admin`` and no tenant limit (the anonymous caller when auth
  is off) may choose another one, or ``all``.
"""

from __future__ import annotations

from centralhub.auth.context import current_principal
from centralhub.auth.errors import Forbidden
from centralhub.auth.models import Principal, Scope
from centralhub.core.errors import InvalidInput
from centralhub.core.wire import TENANT_RE

__all__ = [
    "ALL_TENANTS",
    "Forbidden",
    "in_reach",
    "may_choose_tenant",
    "require_global",
    "sees_global",
    "view_tenant",
]

#: ``?tenant=all`` on a view that can show every tenant
ALL_TENANTS = "all"


def _principal(principal: Principal | None) -> Principal:
    return principal if principal is not None else current_principal.get()


def sees_global(principal: Principal | None = None) -> bool:
    """Whether global (tenant-less) records are in reach: only without a tenant limit."""
    return _principal(principal).tenant is None


def in_reach(
    record_tenant: str | None, tenant: str | None = None, principal: Principal | None = None
) -> bool:
    """Whether a record of ``record_tenant`` may be seen or changed by a caller acting in
    ``tenant`` (``None``: in whichever tenant its credential allows, for in-process callers)."""
    p = _principal(principal)
    if record_tenant is None:
        return p.tenant is None
    if tenant is not None and record_tenant != tenant:
        return False
    return p.tenant in (None, record_tenant)


def require_global(action: str, principal: Principal | None = None) -> None:
    """Refuse (403) a change to global records unless the caller has ``ops`` and no tenant limit."""
    p = _principal(principal)
    if p.tenant is not None:
        raise Forbidden(
            f"{action} needs a credential without a tenant limit (this one is limited to {p.tenant!r})"
        )
    if not p.has(Scope.OPS):
        raise Forbidden(f"{action} needs scope {Scope.OPS.value}")


def may_choose_tenant(principal: Principal | None = None) -> bool:
    """``admin`` without a tenant limit may look at any tenant."""
    p = _principal(principal)
    return p.is_admin and p.tenant is None


def view_tenant(requested: str | None, tenant: str, principal: Principal | None = None) -> str | None:
    """The tenant a cross-tenant view shows: ``tenant`` (the caller's) unless ``requested`` names
    another one, which needs :func:`may_choose_tenant` (403 otherwise). ``None`` means every
    tenant (``requested == "all"``)."""
    if requested is None or requested == "":
        return tenant
    if requested != ALL_TENANTS and not TENANT_RE.fullmatch(requested):
        raise InvalidInput(f"tenant must be 1-64 letters, digits, '-' or '_' (got {requested[:80]!r})")
    if requested == tenant:
        return tenant
    if not may_choose_tenant(principal):
        what = "every tenant" if requested == ALL_TENANTS else f"tenant {requested!r}"
        raise Forbidden(f"seeing {what} needs scope {Scope.ADMIN.value} without a tenant limit")
    return None if requested == ALL_TENANTS else requested
