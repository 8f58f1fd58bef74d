"""Which scope each route needs: one list, read top to bottom, first match wins.

``None`` as scope means open (no credential). A ``{service}`` in a rule's path names the
service the request writes for: a credential limited to some services may only write for
those. Anything not listed needs ``admin``, so a route added without a rule fails closed.

Reads of alerts and deployments need ``ops`` like their writes: the people who watch alerts
are the people who act on them, and ``registry:read`` keys (every service has one) should not
see operational state. Circuit and health views are discovery data: ``registry:read``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from centralhub.auth.models import Scope

R_READ = Scope.REGISTRY_READ.value
R_WRITE = Scope.REGISTRY_WRITE.value
C_READ = Scope.CONFIG_READ.value
C_WRITE = Scope.CONFIG_WRITE.value
C_ADMIN = Scope.CONFIG_ADMIN.value
OPS = Scope.OPS.value
ADMIN = Scope.ADMIN.value

#: (methods, path, scope): ``{x}`` matches one path segment, ``{rest:path}`` the remainder
RULES: list[tuple[str, str, str | None]] = [
    # the hot discovery paths first: they are matched on every call
    ("GET", "/api/v1/services/{name}", R_READ),
    ("GET", "/api/v1/services/{name}/endpoint", R_READ),
    ("POST", "/api/v1/services/{service}/instances/{id}/heartbeat", R_WRITE),
    ("GET", "/discovery/services/{name}", R_READ),
    # open
    ("GET HEAD", "/", None),
    ("GET HEAD", "/api/v1/info", None),
    ("GET HEAD", "/health", None),
    ("GET HEAD", "/metrics", None),
    ("GET HEAD", "/docs", None),
    ("GET HEAD", "/docs/oauth2-redirect", None),
    ("GET HEAD", "/redoc", None),
    ("GET HEAD", "/docs/assets/{rest:path}", None),
    ("GET HEAD", "/openapi.json", None),
    ("GET HEAD", "/dashboard", None),
    ("GET HEAD", "/dashboard/static/{rest:path}", None),
    # registry
    ("POST", "/api/v1/services/register", R_WRITE),
    # each item's service is checked by the route: the path names none
    ("POST", "/api/v1/services/register/batch", R_WRITE),
    ("POST", "/discovery/register", R_WRITE),
    ("POST", "/api/v1/heartbeats", R_WRITE),
    ("GET", "/api/v1/services", R_READ),
    ("GET", "/discovery/services", R_READ),
    ("GET", "/discovery/health", R_READ),
    ("GET", "/api/v1/services/{name}/{rest:path}", R_READ),
    ("POST PUT PATCH DELETE", "/api/v1/services/{service}/{rest:path}", R_WRITE),
    ("POST PUT PATCH DELETE", "/discovery/services/{service}/{rest:path}", R_WRITE),
    # the Consul-compatible API: KV is configuration, the rest is the registry
    ("GET", "/v1/kv/{rest:path}", C_READ),
    ("PUT DELETE", "/v1/kv/{rest:path}", C_WRITE),
    ("PUT", "/v1/agent/{rest:path}", R_WRITE),
    ("GET", "/v1/{rest:path}", R_READ),
    # the Eureka-compatible API (its reads are discovery, its writes registrations)
    ("GET", "/eureka/{rest:path}", R_READ),
    ("POST PUT DELETE", "/eureka/{rest:path}", R_WRITE),
    # contracts: the compatibility check changes nothing
    ("GET", "/api/v1/contracts", R_READ),
    ("GET", "/api/v1/contracts/{name}", R_READ),
    ("POST", "/api/v1/contracts/{name}/compatibility", R_READ),
    ("PUT DELETE", "/api/v1/contracts/{service}", R_WRITE),
    # configuration
    # an instance reports what it applied: its own service's registry credential suffices
    ("POST", "/api/v1/config/{service}/instances/{id}/applied", R_WRITE),
    ("POST", "/api/v1/config/reload", C_ADMIN),
    ("POST", "/config/reload", C_ADMIN),
    ("GET", "/api/v1/config/reload/status", C_READ),
    ("PUT DELETE", "/api/v1/config/{service}/schema", C_ADMIN),
    ("POST", "/api/v1/config/{name}/validate", C_READ),
    ("POST", "/config/{name}/validate", C_READ),
    ("GET", "/api/v1/config", C_READ),
    ("GET", "/api/v1/config/{rest:path}", C_READ),
    ("GET", "/config/{rest:path}", C_READ),
    ("POST PUT PATCH DELETE", "/api/v1/config/{service}", C_WRITE),
    ("POST PUT PATCH DELETE", "/api/v1/config/{service}/{rest:path}", C_WRITE),
    ("POST PUT PATCH DELETE", "/config/{service}", C_WRITE),
    ("POST PUT PATCH DELETE", "/config/{service}/{rest:path}", C_WRITE),
    # operations
    ("GET POST PUT PATCH DELETE", "/api/v1/alerts", OPS),
    ("GET POST PUT PATCH DELETE", "/api/v1/alerts/{rest:path}", OPS),
    ("GET POST PUT PATCH DELETE", "/api/v1/deployments", OPS),
    ("GET POST PUT PATCH DELETE", "/api/v1/deployments/{rest:path}", OPS),
    ("POST", "/api/v1/circuits/{name}/report", OPS),
    ("GET", "/api/v1/circuits", R_READ),
    ("GET", "/api/v1/replicas", OPS),
    ("GET", "/api/v1/circuits/{name}", R_READ),
    # views over the registry
    ("GET", "/api/v1/health/services", R_READ),
    ("GET", "/api/v1/infrastructure/{rest:path}", R_READ),
    ("GET", "/api/v1/dependencies", R_READ),
    ("GET", "/api/v1/dependencies/{rest:path}", R_READ),
    ("GET", "/api/v1/metrics", R_READ),
    ("GET", "/api/v1/sd/prometheus", R_READ),
    ("GET", "/api/v1/dashboard/data", R_READ),
    # the event stream: each kind is checked against the caller's scopes as it asks for it
    ("GET", "/api/v1/events", R_READ),
    # administration
    ("GET POST PUT PATCH DELETE", "/api/v1/keys", ADMIN),
    ("GET POST PUT PATCH DELETE", "/api/v1/keys/{rest:path}", ADMIN),
    ("GET POST PUT PATCH DELETE", "/api/v1/audit", ADMIN),
    ("GET POST PUT PATCH DELETE", "/api/v1/audit/{rest:path}", ADMIN),
]

#: what a path matching no rule needs
DEFAULT_SCOPE = ADMIN


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]
    scope: str | None
    #: True when the path's ``{service}`` segment names the service being written for
    names_service: bool


def _compile(path: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            out.append(f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def _table() -> dict[str, list[Rule]]:
    table: dict[str, list[Rule]] = {}
    for methods, path, scope in RULES:
        rule = Rule(_compile(path), scope, "{service}" in path)
        for method in methods.split():
            table.setdefault(method, []).append(rule)
    return table


_TABLE = _table()


def match(method: str, path: str) -> tuple[str | None, str | None]:
    """``(scope, service)`` for a request: the scope it needs (``None``: open) and the service it
    writes for, if its path names one."""
    if method == "OPTIONS":
        # CORS preflight carries no credential by design; it runs no route
        return None, None
    for rule in _TABLE.get(method, ()):
        found = rule.pattern.fullmatch(path)
        if found is not None:
            return rule.scope, found.group("service") if rule.names_service else None
    return DEFAULT_SCOPE, None
