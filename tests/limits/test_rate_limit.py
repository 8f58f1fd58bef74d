"""Rate limits per caller: a burst, then 429 with ``Retry-After``; per-key limits; CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import ASGIApp

from centralhub.core.settings import Settings
from centralhub.hub import Hub
from centralhub.server.app import create_app
from centralhub.server.limits import TokenBuckets
from tests.conftest import make_settings, reset_database


@pytest.fixture
async def limited_settings(tmp_path: object) -> Settings:
    url = f"sqlite:///{tmp_path}/hub.db"
    await reset_database(url)
    return make_settings(url, rate_limit_per_minute=600, rate_limit_burst=5)


@pytest.fixture
async def limited_hub(limited_settings: Settings) -> AsyncIterator[Hub]:
    hub = Hub(limited_settings)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


def client_for(app: ASGIApp, address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10)


async def test_an_address_gets_its_burst_then_429_with_retry_after(limited_hub: Hub) -> None:
    app = create_app(limited_hub.settings, hub=limited_hub)
    async with client_for(app) as c, client_for(app, "10.0.0.2") as other:
        statuses = [(await c.get("/api/v1/services/pricing")).status_code for _ in range(5)]
        assert statuses == [404] * 5
        resp = await c.get("/api/v1/services/pricing")
        assert resp.status_code == 429
        assert resp.json()["error"]["code"] == "rate_limited"
        assert resp.headers["Retry-After"] == "1"
        # a batch of heartbeats is one request like any other, and so is a refused one
        assert (await c.post("/api/v1/heartbeats", json={"heartbeats": []})).status_code == 429
        # another address has its own bucket; health and metrics are never throttled
        assert (await other.get("/api/v1/services/pricing")).status_code == 404
        assert (await c.get("/health")).status_code in (200, 503)
        assert (await c.get("/metrics")).status_code == 200


def test_buckets_refill_at_the_rate_and_stay_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(burst=3, max_keys=4, clock=lambda: now[0])
    assert [buckets.take("a", 60) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 60) == pytest.approx(1.0)
    now[0] += 1.0
    assert buckets.take("a", 60) == 0.0
    for key in range(10):
        buckets.take(key, 60)
    assert len(buckets) <= 4


async def test_cors_is_off_by_default_and_answers_configured_origins(hub: Hub) -> None:
    preflight = {
        "Origin": "https://ops.example.com",
        "Access-Control-Request-Method": "GET",
    }
    async with client_for(create_app(hub.settings, hub=hub)) as c:
        resp = await c.get("/api/v1/services", headers={"Origin": "https://ops.example.com"})
        assert "access-control-allow-origin" not in resp.headers
        assert (await c.options("/api/v1/services", headers=preflight)).status_code == 405
    settings = hub.settings.with_overrides(cors_origins="https://ops.example.com, https://b.example")
    async with client_for(create_app(settings, hub=hub)) as c:
        resp = await c.options("/api/v1/services", headers=preflight)
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-origin"] == "https://ops.example.com"
        resp = await c.get("/api/v1/services", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in resp.headers


async def test_a_key_with_its_own_limit_gets_429_with_auth_on(auth_hub: Hub) -> None:
    _, key = await auth_hub.keys.create("slow-reader", ["registry:read"], rate_limit_per_minute=3)
    _, other = await auth_hub.keys.create("other-reader", ["registry:read"])
    app = create_app(auth_hub.settings, hub=auth_hub)
    async with client_for(app, "10.0.0.5") as c:
        headers = {"X-API-Key": key}
        assert [(await c.get("/api/v1/services/x", headers=headers)).status_code for _ in range(3)] == [
            404
        ] * 3
        resp = await c.get("/api/v1/services/x", headers=headers)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "20"
        assert resp.json()["error"]["code"] == "rate_limited"
        # the same address with another key is counted apart
        assert (await c.get("/api/v1/services/x", headers={"X-API-Key": other})).status_code == 404
