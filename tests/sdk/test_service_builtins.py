"""BaseService's built-ins: databases and a cache from ServiceConfig, request tracing under the
correlation id, and circuit breakers around calls to peers (a real hub process and a peer that
refuses connections)."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import httpx
import pytest

from centralhub.kit.circuit_breaker import CircuitOpenError
from centralhub.sdk.base_service import BaseService, ServiceConfig
from tests.conftest import create_pg_database, drop_pg_database

pytestmark = pytest.mark.timeout(120)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_databases_cache_and_tracing_from_the_service_config() -> None:
    url = create_pg_database("centralhub_builtins")
    service = BaseService(
        ServiceConfig(
            service_name=f"ledger-{uuid.uuid4().hex[:6]}",
            register_with_hub=False,
            enable_config=False,
            databases={"main": {"kind": "postgresql", "url": url}},
            caches={"l1": {"backend": "memory"}, "shared": {"backend": "redis", "port": 6379}},
            cache_ttl_default=60,
        )
    )
    try:
        await service.start()
        assert await service.db_execute("SELECT $1::int + 1 AS n", 41) == [{"n": 42}]
        assert await service.cache_set("rate:EURUSD", {"bid": 1.08}, ttl=30)
        assert await service.cache_get("rate:EURUSD") == {"bid": 1.08}
        assert await service.cache.get("rate:EURUSD", backend="shared") == {"bid": 1.08}

        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            resp = await client.get("/health", headers={"X-Correlation-ID": "trace-abc-1"})
        assert resp.headers["x-correlation-id"] == "trace-abc-1"
        doc = resp.json()
        assert doc["databases"]["status"] == "healthy" and doc["databases"]["stores"]["main"]["healthy"]
        assert set(doc["cache"]) == {"l1", "shared"}
        assert service.tracer is not None
        [span] = service.tracer.get_trace("trace-abc-1")
        assert span.name == "GET /health" and span.metadata["status"] == 200 and span.ok
    finally:
        await service.stop()
        await service.cache.flush()
        drop_pg_database(url)


async def test_a_database_out_of_reach_degrades_health_and_a_plain_service_still_caches() -> None:
    plain = BaseService(ServiceConfig(service_name="plain", register_with_hub=False, enable_config=False))
    await plain.start()
    try:
        assert await plain.cache_set("k", [1, 2]) and await plain.cache_get("k") == [1, 2]
        assert "databases" not in await plain.health()
    finally:
        await plain.stop()
    broken = BaseService(
        ServiceConfig(
            service_name="broken",
            register_with_hub=False,
            enable_config=False,
            caches={"nope": {"backend": "memory", "colour": "red"}},
        )
    )
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        await broken.start()
    await broken.stop()


def test_a_peer_that_keeps_refusing_opens_its_circuit(hub_process_factory: Any) -> None:
    import asyncio

    hub = hub_process_factory()
    peer = f"ghost-{uuid.uuid4().hex[:6]}"
    made = httpx.post(
        f"{hub.url}/api/v1/services/register",
        json={"name": peer, "host": "127.0.0.1", "port": _closed_port()},
    )
    assert made.status_code == 201
    service = BaseService(
        ServiceConfig(service_name="caller", hub_url=hub.url, register_with_hub=False, enable_config=False)
    )

    async def run() -> None:
        await service.start()
        try:
            for _ in range(5):
                with pytest.raises(httpx.ConnectError):
                    await service.call_peer(peer, "GET", "/x")
            with pytest.raises(CircuitOpenError):
                await service.call_peer(peer, "GET", "/x")
            assert (await service.health())["circuits"] == {f"peer:{peer}": "open"}
        finally:
            await service.stop()

    asyncio.run(run())
