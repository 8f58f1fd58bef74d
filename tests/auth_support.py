"""Auth on in tests: a hub and client with ``CENTRAL_HUB_AUTH=required``, and keys to call it with.

Loaded for every test through ``pytest_plugins`` in ``tests/conftest.py``; use the fixtures
``auth_hub`` / ``auth_client`` and ``await make_key(hub, "config:write", tenant="t1")``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from centralhub.core.settings import Settings, load_settings
from centralhub.hub import Hub
from centralhub.server.app import create_app

#: the hub secret in tests (signs HS256 JWTs); at least 16 characters, as the settings require
SECRET = "test-secret-0123456789abcdef-0123456789"
_names = itertools.count(1)


async def make_key(
    hub: Hub,
    *scopes: str,
    tenant: str | None = None,
    services: list[str] | None = None,
    expires_in: str | float | None = None,
    name: str | None = None,
) -> str:
    """A new API key on ``hub`` with ``scopes`` (default ``admin``); the plaintext to send."""
    _, plaintext = await hub.keys.create(
        name or f"test-key-{next(_names)}",
        scopes or ("admin",),
        tenant=tenant,
        services=services,
        expires_in=expires_in,
    )
    return plaintext


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def auth_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings with auth required and the test secret."""
    values: dict[str, Any] = {
        "auth": "required",
        "secret": SECRET,
        "reaper_interval_seconds": 0.2,
        "deregister_grace_seconds": 1.0,
    }
    values.update(overrides)
    return load_settings(env={}, database_url=database_url, **values)


@pytest.fixture
async def auth_hub(database_url: str) -> AsyncIterator[Hub]:
    """A started hub with auth required, on the parametrized database (SQLite and PostgreSQL)."""
    from tests.conftest import reset_database

    await reset_database(database_url)
    hub = Hub(auth_settings(database_url))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
async def auth_client(auth_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client (no credential) talking to ``auth_hub`` through the real ASGI app."""
    app = create_app(auth_hub.settings, hub=auth_hub)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as c:
        yield c
