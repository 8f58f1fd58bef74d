"""The scope table: what a few representative requests need, and that it fails closed."""

from __future__ import annotations

import pytest

from centralhub.auth import rules


@pytest.mark.parametrize(
    ("method", "path", "scope", "service"),
    [
        ("GET", "/health", None, None),
        ("OPTIONS", "/api/v1/config/orders", None, None),
        ("GET", "/api/v1/services/orders", "registry:read", None),
        ("POST", "/api/v1/services/orders/instances/i-1/heartbeat", "registry:write", "orders"),
        ("DELETE", "/api/v1/services/orders/instances/i-1", "registry:write", "orders"),
        ("GET", "/api/v1/config/orders/watch", "config:read", None),
        ("PATCH", "/api/v1/config/orders", "config:write", "orders"),
        ("POST", "/api/v1/config/orders/rollback", "config:write", "orders"),
        ("PUT", "/api/v1/config/orders/schema", "config:admin", "orders"),
        ("POST", "/api/v1/config/reload", "config:admin", None),
        ("GET", "/api/v1/alerts", "ops", None),
        ("POST", "/api/v1/deployments", "ops", None),
        ("PUT", "/api/v1/contracts/orders", "registry:write", "orders"),
        ("GET", "/api/v1/audit", "admin", None),
        ("DELETE", "/api/v1/keys/ci", "admin", None),
        # a route nobody listed needs admin
        ("POST", "/api/v1/something-new", "admin", None),
        ("HEAD", "/api/v1/services", "admin", None),
    ],
)
def test_rule(method: str, path: str, scope: str | None, service: str | None) -> None:
    assert rules.match(method, path) == (scope, service)
