"""CentralHubClient against a real hub process: registration lifecycle, re-registration after the
hub forgets it, cached discovery while the hub is down, NATS-pushed refresh, circuit state."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from centralhub.kit.exceptions import NoHealthyInstances, ServiceNotFound
from centralhub.sdk.client import CentralHubClient, HubUnavailable
from tests.support import wait_until

pytestmark = pytest.mark.timeout(90)


# Nothing listens at the addresses these clients register, so they register without a health
# endpoint (heartbeats / TTL only); with one, the hub's active HTTP checks would mark them down.


def _name(prefix: str = "svc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _instances(hub_url: str, name: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as http:
        resp = await http.get(f"{hub_url}/api/v1/services/{name}")
    return [] if resp.status_code == 404 else list(resp.json()["instances"])


async def test_register_heartbeat_deregister(hub_process_factory: Any) -> None:
    hp = hub_process_factory()
    name = _name()
    client = CentralHubClient(
        name,
        "data-collector",
        hub_url=hp.url,
        port=8123,
        ttl_seconds=3,
        version="1.2.3",
        health_endpoint=None,
    )
    async with client:
        assert client.registered and client.heartbeat_interval == pytest.approx(1.0)
        [inst] = await _instances(hp.url, name)
        assert inst["instance_id"] == client.instance_id
        assert inst["metadata"]["type"] == "data-collector" and inst["version"] == "1.2.3"
        first_seen = inst["last_seen"]

        async def heartbeat_arrived() -> bool:
            [now] = await _instances(hp.url, name)
            return bool(now["last_seen"] > first_seen and client.last_heartbeat_ok)

        await wait_until(heartbeat_arrived, what="a background heartbeat")
        # past the TTL the instance is still passing: heartbeats keep it alive
        await asyncio.sleep(3.5)
        [inst] = await _instances(hp.url, name)
        assert inst["status"] == "passing"
    assert not client.registered
    assert await _instances(hp.url, name) == []


async def test_registers_again_when_the_hub_restarts_empty(hub_process_factory: Any, tmp_path: Path) -> None:
    hp = hub_process_factory(database_url=f"sqlite:///{tmp_path / 'first.db'}")
    name = _name()
    client = CentralHubClient(name, "worker", hub_url=hp.url, port=8124, ttl_seconds=3, health_endpoint=None)
    try:
        old_id = await client.register()
        await asyncio.to_thread(hp.stop)
        # same address, brand-new empty database: the hub has never heard of us
        hp.env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'second.db'}"
        await asyncio.to_thread(hp.start)

        async def back() -> bool:
            return len(await _instances(hp.url, name)) == 1

        await wait_until(back, what="the client to register again", timeout=20)
        [inst] = await _instances(hp.url, name)
        assert inst["instance_id"] == client.instance_id != old_id
        assert client.reregistrations >= 1
    finally:
        await client.close()
    assert await _instances(hp.url, name) == []


async def test_discovery_uses_the_cache_while_the_hub_is_down(hub_process_factory: Any) -> None:
    hp = hub_process_factory()
    peer_name = _name("peer")
    peers = [
        CentralHubClient(peer_name, "api", hub_url=hp.url, host="10.0.0.1", port=9001, health_endpoint=None),
        CentralHubClient(peer_name, "api", hub_url=hp.url, host="10.0.0.2", port=9002, health_endpoint=None),
    ]
    client = CentralHubClient(
        _name("caller"), "api", hub_url=hp.url, port=9100, timeout=2, health_endpoint=None
    )
    try:
        for p in peers:
            await p.register()
        urls = {await client.discover_service(peer_name) for _ in range(4)}
        assert urls == {"http://10.0.0.1:9001", "http://10.0.0.2:9002"}
        endpoint = await client.get_load_balanced_endpoint(peer_name, strategy="least_load")
        assert endpoint["url"] in urls and "cached" not in endpoint
        with pytest.raises(ServiceNotFound):
            await client.discover_service(_name("nobody"))

        await asyncio.to_thread(hp.stop)
        started = time.monotonic()
        cached = {await client.discover_service(peer_name) for _ in range(4)}
        assert cached == urls
        endpoint = await client.get_load_balanced_endpoint(peer_name)
        assert endpoint["cached"] is True and endpoint["url"] in urls
        # nothing cached about this one: a clear error, not a hang
        with pytest.raises(HubUnavailable):
            await client.discover_service(_name("unknown"))
        assert time.monotonic() - started < 15
    finally:
        for c in [client, *peers]:
            await c.close()


async def test_registry_events_refresh_the_cache(hub_process_factory: Any, nats_url: str) -> None:
    hp = hub_process_factory(NATS_URL=nats_url)
    peer_name = _name("peer")
    first = CentralHubClient(
        peer_name, "api", hub_url=hp.url, host="10.0.1.1", port=9001, health_endpoint=None
    )
    second = CentralHubClient(
        peer_name, "api", hub_url=hp.url, host="10.0.1.2", port=9002, health_endpoint=None
    )
    # polling only once a minute: a prompt update can only come from the NATS push
    client = CentralHubClient(
        _name("caller"),
        "api",
        hub_url=hp.url,
        port=9100,
        nats_url=nats_url,
        discovery_refresh_seconds=60,
        health_endpoint=None,
    )
    try:
        await first.register()
        assert await client.discover_service(peer_name) == "http://10.0.1.1:9001"

        # the subscription is made in the background: wait until the NATS server has it
        async def subscribed() -> bool:
            nc = client._nats
            return nc is not None and bool(nc._subs)

        await wait_until(subscribed, what="the client's registry event subscription")
        await client._nats.flush()  # the SUB is queued before the PING: the server has it now
        await second.register()

        async def pushed() -> bool:
            view = await client.get_service(peer_name)
            return len(view.instances) == 2

        await wait_until(pushed, what="the NATS event to refresh the cached view", timeout=10)
        await first.deregister()

        async def removed() -> bool:
            view = await client.get_service(peer_name)
            return [i["url"] for i in view.instances] == ["http://10.0.1.2:9002"]

        await wait_until(removed, what="the removal to reach the cache", timeout=10)
        assert await client.discover_service(peer_name) == "http://10.0.1.2:9002"
        await second.deregister()

        async def gone() -> bool:
            return not (await client.get_service(peer_name)).instances

        await wait_until(gone, what="the last removal to reach the cache", timeout=10)
        with pytest.raises((NoHealthyInstances, ServiceNotFound)):
            await client.discover_service(peer_name)
    finally:
        for c in (client, first, second):
            await c.close()


async def test_circuit_state(hub_process_factory: Any) -> None:
    hp = hub_process_factory()
    client = CentralHubClient(_name(), "api", hub_url=hp.url, port=9100, timeout=2, health_endpoint=None)
    try:
        name = _name("ml")
        # nothing has tripped a circuit for this service: calls may go ahead
        assert await client.get_circuit_state(name) == "CLOSED"
        await asyncio.to_thread(hp.stop)
        assert await client.get_circuit_state(name) == "CLOSED"  # last known answer
        with pytest.raises(HubUnavailable):
            await client.get_circuit_state(_name("never-asked"))
    finally:
        await client.close()


async def test_registration_needs_a_port() -> None:
    client = CentralHubClient(_name(), "api", hub_url="http://127.0.0.1:9")
    client.port = None
    with pytest.raises(ValueError, match="port is required"):
        await client.register()
    await client.close()
