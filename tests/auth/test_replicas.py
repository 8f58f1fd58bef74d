"""A revoked key stops working on every replica within a second."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from centralhub.auth.service import KeyService
from centralhub.core.database import Database
from centralhub.core.events import MemoryEventBus
from centralhub.core.events.dispatch import DomainEvents
from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.auth_support import auth_settings, bearer, make_key
from tests.conftest import reset_database
from tests.support import wait_until


@pytest.fixture
async def replicas(pg_database: str, nats_url: str) -> AsyncIterator[list[tuple[Hub, httpx.AsyncClient]]]:
    """Two hubs on one PostgreSQL database and one NATS, each behind its own app."""
    await reset_database(pg_database)
    hubs = [Hub(auth_settings(pg_database, nats_url=nats_url)) for _ in range(2)]
    clients = []
    for hub in hubs:
        await hub.start()
        transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10))
    await wait_until(lambda: all(h.bus.connected for h in hubs), timeout=10, what="NATS connected")
    try:
        yield list(zip(hubs, clients, strict=True))
    finally:
        for client in clients:
            await client.aclose()
        for hub in hubs:
            await hub.stop()


@pytest.mark.timeout(60)
async def test_revoked_on_one_replica_refused_on_the_other(
    replicas: list[tuple[Hub, httpx.AsyncClient]],
) -> None:
    (hub_a, client_a), (_, client_b) = replicas
    admin = bearer(await make_key(hub_a, "admin"))
    created = await client_a.post(
        "/api/v1/keys", json={"name": "svc", "scopes": ["registry:read"]}, headers=admin
    )
    key = bearer(created.json()["key"])
    # both replicas have verified (and cached) the key
    assert (await client_a.get("/api/v1/services", headers=key)).status_code == 200
    assert (await client_b.get("/api/v1/services", headers=key)).status_code == 200

    assert (await client_a.delete("/api/v1/keys/svc", headers=admin)).status_code == 204
    started = time.monotonic()

    async def refused_on_b() -> bool:
        return (await client_b.get("/api/v1/services", headers=key)).status_code == 401

    await wait_until(refused_on_b, timeout=1.0, every=0.02, what="replica B refusing the revoked key")
    assert time.monotonic() - started < 1.0
    assert (await client_a.get("/api/v1/services", headers=key)).status_code == 401


@pytest.mark.timeout(60)
async def test_revoked_in_the_database_refused_within_a_second(
    replicas: list[tuple[Hub, httpx.AsyncClient]], pg_database: str
) -> None:
    """``centralhub keys revoke`` without NATS writes the database only; the cache ages out."""
    (hub_a, client_a), (_, client_b) = replicas
    key = bearer(await make_key(hub_a, "registry:read", name="cli-revoked"))
    for client in (client_a, client_b):
        assert (await client.get("/api/v1/services", headers=key)).status_code == 200

    database = Database(pg_database)
    try:
        await KeyService(database, MemoryEventBus(), events=DomainEvents()).revoke("cli-revoked")
    finally:
        await database.close()

    async def refused_everywhere() -> bool:
        statuses = [(await c.get("/api/v1/services", headers=key)).status_code for c in (client_a, client_b)]
        return statuses == [401, 401]

    await wait_until(refused_everywhere, timeout=1.5, every=0.05, what="both replicas refusing")
