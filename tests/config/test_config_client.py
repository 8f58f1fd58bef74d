"""``ConfigClient`` against the real hub: NATS push, ``/watch`` without NATS, hub outages, disk cache,
and ``/watch`` across two hub replicas sharing one database."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from centralhub.hub import Hub
from centralhub.sdk import ConfigClient
from centralhub.server.app import create_app
from tests.conftest import make_settings, reset_database
from tests.support import wait_until


def svc() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def post(url: str, service: str, doc: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/v1/config/{service}", json=doc, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


async def test_watch_path_without_nats(hub: Hub) -> None:
    """The in-process hub (SQLite and PostgreSQL, no NATS): updates reach the client through /watch."""
    name = svc()
    transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as http:
        await http.post(f"/api/v1/config/{name}", json={"operational": {"batch_size": 100}})
        client = ConfigClient(
            name,
            central_hub_url="http://hub",
            watch=True,
            watch_timeout=5,
            transport=transport,
            safe_defaults={"operational": {"batch_size": 1}},
        )
        seen: list[dict[str, Any]] = []

        async def on_update(cfg: dict[str, Any]) -> None:  # async callbacks are awaited
            seen.append(cfg)

        client.on_config_update(on_update)
        await client.init_async()
        try:
            assert client.get_value("operational.batch_size") == 100
            assert client.version == "1.0.0" and client.source == "hub"
            await http.post(f"/api/v1/config/{name}", json={"operational": {"batch_size": 200}})
            await wait_until(lambda: client.get_value("operational.batch_size") == 200, what="watch update")
            assert seen[-1] == {"operational": {"batch_size": 200}}
            assert client.revision == 2
            assert client.get_value("operational.missing", default="d") == "d"
            cfg = await client.get_config()
            assert cfg["operational"]["batch_size"] == 200
        finally:
            await client.shutdown()


@pytest.mark.nats
async def test_live_push_over_nats(hub_process_factory: Any, nats_url: str) -> None:
    hp = hub_process_factory(NATS_URL=nats_url)
    name = svc()
    post(hp.url, name, {"operational": {"batch_size": 100}})
    client = ConfigClient(name, central_hub_url=hp.url, enable_nats_updates=True, nats_url=nats_url)
    got: list[dict[str, Any]] = []
    client.on_config_update(got.append)  # plain callback
    await client.init_async()
    try:
        assert client._nc is not None and not client._watching  # NATS, not the /watch fallback
        assert (await client.get_config())["operational"]["batch_size"] == 100
        body = await asyncio.to_thread(post, hp.url, name, {"operational": {"batch_size": 200}})
        assert body["message"] == "Config updated and broadcasted" and body["broadcast"] is True
        await wait_until(lambda: bool(got) and got[-1]["operational"]["batch_size"] == 200, what="NATS push")
        assert client.version == "1.1.0"
        # a watcher on another tenant's subject hears nothing of the default tenant
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(
                f"{hp.url}/api/v1/config/{name}", json={"t": 1}, headers={"X-Tenant-ID": "other"}
            )
        assert r.status_code == 200
        await asyncio.sleep(0.3)
        assert client.get_value("operational.batch_size") == 200
    finally:
        await client.shutdown()


async def test_nats_unreachable_falls_back_to_watch(hub: Hub) -> None:
    name = svc()
    transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as http:
        await http.post(f"/api/v1/config/{name}", json={"v": 1})
        client = ConfigClient(
            name,
            central_hub_url="http://hub",
            enable_nats_updates=True,
            nats_url="nats://127.0.0.1:1",
            watch_timeout=5,
            transport=transport,
        )
        await client.init_async()
        try:
            assert client._nc is None and client._watching
            await http.post(f"/api/v1/config/{name}", json={"v": 2})
            await wait_until(lambda: client.get_value("v") == 2, what="watch fallback update")
        finally:
            await client.shutdown()


async def test_hub_down_at_start_gives_safe_defaults_without_raising() -> None:
    client = ConfigClient(
        "svc-x",
        central_hub_url="http://127.0.0.1:9",
        request_timeout=1,
        safe_defaults={"operational": {"batch_size": 100}},
        watch=True,
        retry_interval=0.2,
    )
    await client.init_async()
    try:
        assert (await client.get_config())["operational"]["batch_size"] == 100
        assert (await client.get_config(force_refresh=True))["operational"]["batch_size"] == 100
        assert client.source == "defaults" and client.hub_available is False
    finally:
        await client.shutdown()


@pytest.mark.slow
async def test_client_rides_through_a_hub_outage(hub_process_factory: Any, tmp_path: Path) -> None:
    hp = hub_process_factory()
    name = svc()
    cache = tmp_path / "cfg" / f"{name}.json"
    post(hp.url, name, {"operational": {"batch_size": 300}})
    client = ConfigClient(
        name,
        central_hub_url=hp.url,
        watch=True,
        watch_timeout=2,
        cache_path=cache,
        cache_ttl_seconds=0.1,
        retry_interval=0.3,
        request_timeout=2,
        safe_defaults={"operational": {"batch_size": 1}},
    )
    await client.init_async()
    restarted: ConfigClient | None = None
    try:
        assert client.get_value("operational.batch_size") == 300
        assert cache.exists()

        await asyncio.to_thread(hp.stop)
        # hub gone: the last good config stays, nothing raises, cache expiry does not lose it
        await asyncio.sleep(0.3)
        assert (await client.get_config())["operational"]["batch_size"] == 300
        assert (await client.get_config(force_refresh=True))["operational"]["batch_size"] == 300
        assert client.hub_available is False

        # a service restarting during the outage gets the disk cache, not the defaults
        restarted = ConfigClient(
            name,
            central_hub_url=hp.url,
            watch=True,
            watch_timeout=2,
            cache_path=cache,
            retry_interval=0.3,
            request_timeout=2,
            safe_defaults={"operational": {"batch_size": 1}},
        )
        await restarted.init_async()
        assert restarted.get_value("operational.batch_size") == 300
        assert restarted.source == "cache_file"

        await asyncio.to_thread(hp.start)
        await asyncio.to_thread(post, hp.url, name, {"operational": {"batch_size": 400}})
        await wait_until(
            lambda: client.get_value("operational.batch_size") == 400, timeout=20, what="update after restart"
        )
        await wait_until(
            lambda: restarted.get_value("operational.batch_size") == 400,
            timeout=20,
            what="restarted client update",
        )
        assert restarted.source == "hub" and client.hub_available
    finally:
        await client.shutdown()
        if restarted is not None:
            await restarted.shutdown()


async def test_watch_on_replica_b_wakes_on_replica_a_commit(database_url: str) -> None:
    """Two hubs on one database with separate in-process buses: B learns by its revision check."""
    await reset_database(database_url)
    a, b = Hub(make_settings(database_url)), Hub(make_settings(database_url))
    await a.start()
    await b.start()
    try:
        name = svc()
        await a.config_service.put("default", name, {"v": 1}, author="t")
        waiter = asyncio.create_task(b.config_service.watch("default", name, revision=1, timeout=20))
        await asyncio.sleep(0.2)
        await a.config_service.put("default", name, {"v": 2}, author="t")
        got = await asyncio.wait_for(waiter, 20)
        assert got is not None and got.revision == 2 and got.config == {"v": 2}
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.nats
async def test_watch_on_replica_b_wakes_through_nats(tmp_path: Path, nats_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    await reset_database(url)
    a = Hub(make_settings(url, nats_url=nats_url))
    b = Hub(make_settings(url, nats_url=nats_url))
    b.config_service.watcher.poll_interval = 30  # prove the bus, not the revision check, wakes it
    await a.start()
    await b.start()
    try:
        name = svc()
        await a.config_service.put("default", name, {"v": 1}, author="t")
        waiter = asyncio.create_task(b.config_service.watch("default", name, revision=1, timeout=20))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await a.config_service.put("default", name, {"v": 2}, author="t")
        got = await asyncio.wait_for(waiter, 20)
        assert got is not None and got.revision == 2
        assert time.monotonic() - started < 10
    finally:
        await a.stop()
        await b.stop()
