"""Clients converge on the hub's state whatever happens to NATS: real hub processes, real
``nats-server`` processes stopped and started under them.

The client follows NATS only when the hub says it publishes there (``GET /api/v1/info``), under
the hub's cluster name; ``/watch`` otherwise and while NATS is down; and the stored revision is
checked at least every ``reconcile_seconds`` whichever path is in use.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from centralhub.kit.exceptions import ServiceNotFound
from centralhub.sdk import BaseService, CentralHubClient, ConfigClient, ServiceConfig
from centralhub.sdk.client import HubUnavailable
from centralhub.sdk.hub_link import HubInfo, parse_hub_info
from centralhub.sdk.messaging import NATSMessagingClient
from tests.fault_support import free_port
from tests.support import wait_until


def _name(prefix: str = "svc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _post(url: str, service: str, doc: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/v1/config/{service}", json=doc, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _hub_nats_connected(url: str) -> bool:
    return bool(httpx.get(f"{url}/api/v1/info", timeout=5).json()["nats"]["connected"])


@pytest.fixture(autouse=True)
def _client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # what a client knows comes from its arguments and the hub, not from this test's environment
    for var in ("NATS_URL", "CENTRAL_HUB_CLUSTER", "CENTRAL_HUB_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)


async def test_hub_on_embedded_bus_is_followed_by_watch_even_with_nats_reachable(
    hub_process_factory: Any, nats_server_factory: Any
) -> None:
    """A NATS server answers at the client's URL, but the hub does not publish there: the
    client must not sit on a subject nobody publishes on."""
    nats = nats_server_factory.single()
    hp = hub_process_factory()  # no NATS_URL: the embedded bus
    name = _name()
    _post(hp.url, name, {"limit": 1})
    explicit = ConfigClient(name, hp.url, enable_nats_updates=True, nats_url=nats.url, watch_timeout=20)
    default_url = ConfigClient(name, hp.url, enable_nats_updates=True, watch_timeout=20)  # 127.0.0.1:4222
    try:
        for client in (explicit, default_url):
            await client.init_async()
            assert client.hub_info is not None and client.hub_info.publishes_on_nats is False
            assert client.following == "watch" and client._nc is None
        await asyncio.to_thread(_post, hp.url, name, {"limit": 2})
        started = time.monotonic()
        await wait_until(
            lambda: explicit.get_value("limit") == 2 and default_url.get_value("limit") == 2,
            timeout=3,
            what="the change through /watch",
        )
        assert time.monotonic() - started < 2
        assert explicit.last_update_origin == "watch" and default_url.last_update_origin == "watch"

        # discovery likewise: it asks the hub, and polls instead of subscribing
        caller = CentralHubClient(_name("caller"), "api", hub_url=hp.url, port=9100, nats_url=nats.url)
        try:
            with pytest.raises(ServiceNotFound):
                await caller.discover_service(_name("nobody"))
            await wait_until(lambda: caller._discovery.hub_info is not None, timeout=5, what="the hub's info")
            assert caller._discovery.following == "polling" and caller._nats is None
        finally:
            await caller.close()
    finally:
        await explicit.shutdown()
        await default_url.shutdown()


async def test_nats_outage_falls_back_to_watch_and_returns_to_nats(
    hub_process_factory: Any, nats_server_factory: Any
) -> None:
    """NATS stops under a connected client: a change written meanwhile arrives through /watch,
    and once NATS is back the client is on NATS again (under the hub's own cluster name)."""
    nats = nats_server_factory.single()
    cluster = f"c{uuid.uuid4().hex[:8]}"
    hp = hub_process_factory(NATS_URL=nats.url, CENTRAL_HUB_CLUSTER=cluster)
    name = _name()
    _post(hp.url, name, {"v": 1})
    # the default reconcile (30 s) is far beyond every bound below: only NATS and /watch can deliver
    client = ConfigClient(name, hp.url, enable_nats_updates=True, nats_url=nats.url, watch_timeout=20)
    await client.init_async()
    try:
        assert client.hub_info is not None and client.hub_info.cluster == cluster
        assert client.following == "nats"
        await asyncio.to_thread(_post, hp.url, name, {"v": 2})
        await wait_until(lambda: client.get_value("v") == 2, timeout=5, what="the NATS push")
        assert client.last_update_origin == "nats"

        await asyncio.to_thread(nats.stop)
        await wait_until(lambda: client.following == "watch", timeout=5, what="the /watch fallback")
        await asyncio.to_thread(_post, hp.url, name, {"v": 3})
        await wait_until(lambda: client.get_value("v") == 3, timeout=5, what="the change during the outage")
        assert client.last_update_origin == "watch"

        await asyncio.to_thread(nats.start)

        await wait_until(lambda: client.following == "nats", timeout=10, what="back on NATS")
        await wait_until(lambda: _hub_nats_connected(hp.url), timeout=15, what="the hub back on NATS")
        await asyncio.to_thread(_post, hp.url, name, {"v": 4})
        await wait_until(lambda: client.get_value("v") == 4, timeout=5, what="the push after the outage")
        assert client.last_update_origin == "nats" and client.revision == 4
    finally:
        await client.shutdown()


async def test_reconcile_brings_a_change_whose_message_never_arrives(
    hub_process_factory: Any, nats_server_factory: Any
) -> None:
    """The client's NATS is not the hub's (a partition: every message is lost), yet the client
    is connected and subscribed; the periodic revision check alone brings the change."""
    hub_nats, client_nats = nats_server_factory.single(), nats_server_factory.single()
    hp = hub_process_factory(NATS_URL=hub_nats.url)
    name = _name()
    _post(hp.url, name, {"v": 1})
    client = ConfigClient(
        name, hp.url, enable_nats_updates=True, nats_url=client_nats.url, reconcile_seconds=1
    )
    await client.init_async()
    try:
        assert client.following == "nats"
        await asyncio.to_thread(_post, hp.url, name, {"v": 2})
        started = time.monotonic()
        await wait_until(lambda: client.get_value("v") == 2, timeout=5, what="the reconcile")
        assert time.monotonic() - started < 2.5
        assert client.last_update_origin == "reconcile" and client.following == "nats"
    finally:
        await client.shutdown()


async def test_discovery_answers_survive_a_restart_during_a_hub_outage(
    hub_process_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hp = hub_process_factory()
    peer_name, caller = _name("peer"), _name("caller")
    peer = CentralHubClient(
        peer_name, "api", hub_url=hp.url, host="10.0.2.1", port=9001, health_endpoint=None
    )
    cache_dir = tmp_path / "cache"
    # where CENTRAL_HUB_CACHE_DIR puts it by default: <dir>/<tenant>/<service>.discovery.json
    path = cache_dir / "default" / f"{caller}.discovery.json"
    first = CentralHubClient(caller, "api", hub_url=hp.url, port=9100, discovery_cache_path=path, timeout=2)
    restarted: CentralHubClient | None = None
    try:
        await peer.register()
        assert await first.discover_service(peer_name) == "http://10.0.2.1:9001"
        await first.close()
        assert path.exists()

        await asyncio.to_thread(hp.stop)
        monkeypatch.setenv("CENTRAL_HUB_CACHE_DIR", str(cache_dir))
        restarted = CentralHubClient(
            caller, "api", hub_url=hp.url, port=9100, timeout=2, discovery_refresh_seconds=0.5
        )
        assert restarted.discovery_cache_path == path
        assert await restarted.discover_service(peer_name) == "http://10.0.2.1:9001"
        view = await restarted.get_service(peer_name)
        assert view.extra["source"] == "disk"
        endpoint = await restarted.get_load_balanced_endpoint(peer_name)
        assert endpoint["url"] == "http://10.0.2.1:9001" and endpoint["cached"] is True
        with pytest.raises(HubUnavailable):  # nothing saved about this one
            await restarted.discover_service(_name("unknown"))

        # the hub back: the saved answer is replaced by the hub's own
        await asyncio.to_thread(hp.start)

        async def from_hub() -> bool:
            return (await restarted.get_service(peer_name)).extra.get("source") != "disk"

        await wait_until(from_hub, timeout=10, what="the hub's answer replacing the saved one")
    finally:
        await peer.close()
        await first.close()
        if restarted is not None:
            await restarted.close()


async def test_a_server_list_with_a_dead_first_server(
    hub_process_factory: Any, nats_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``NATS_URL=nats://dead,nats://alive``: config push, registry events and messaging all
    go through the live server."""
    nats = nats_server_factory.single()
    servers = f"nats://127.0.0.1:{free_port()},{nats.url}"
    hp = hub_process_factory(NATS_URL=nats.url)
    name, peer_name = _name(), _name("peer")
    _post(hp.url, name, {"v": 1})
    monkeypatch.setenv("NATS_URL", servers)
    config = ConfigClient(name, hp.url, enable_nats_updates=True)
    caller = CentralHubClient(_name("caller"), "api", hub_url=hp.url, port=9100, discovery_refresh_seconds=60)
    peer = CentralHubClient(
        peer_name, "api", hub_url=hp.url, host="10.0.3.1", port=9001, health_endpoint=None
    )
    second = CentralHubClient(
        peer_name, "api", hub_url=hp.url, host="10.0.3.2", port=9002, health_endpoint=None
    )
    messaging = NATSMessagingClient(servers, service_name="lister", connect_timeout=2)
    try:
        await config.init_async()
        assert config.following == "nats"
        await asyncio.to_thread(_post, hp.url, name, {"v": 2})
        await wait_until(lambda: config.get_value("v") == 2, timeout=5, what="the NATS push")
        assert config.last_update_origin == "nats"

        await peer.register()
        assert await caller.discover_service(peer_name) == "http://10.0.3.1:9001"
        await wait_until(lambda: caller._discovery.following == "nats", timeout=10, what="registry events")
        await caller._nats.flush()
        await second.register()  # polling once a minute: only the NATS event can bring it soon

        async def two() -> bool:
            return len((await caller.get_service(peer_name)).instances) == 2

        await wait_until(two, timeout=10, what="the registry event")

        await messaging.connect()
        got: list[Any] = []
        await messaging.subscribe("ticks", lambda msg: got.append(msg.data))
        await messaging.publish("ticks", {"bid": 1})
        await wait_until(lambda: got, timeout=5, what="a message over the server list")
    finally:
        await messaging.close()
        await config.shutdown()
        for c in (caller, peer, second):
            await c.close()


async def test_a_client_started_before_its_hub_moves_to_nats_once_the_hub_answers(
    hub_process_factory: Any, nats_server_factory: Any
) -> None:
    nats = nats_server_factory.single()
    hp = hub_process_factory(NATS_URL=nats.url, start=False)
    name = _name()
    client = ConfigClient(
        name, hp.url, enable_nats_updates=True, retry_interval=0.2, safe_defaults={"v": 0}, request_timeout=1
    )
    await client.init_async()
    try:
        # nothing known about the hub yet: no subject to listen on, so /watch (which retries)
        assert client.hub_info is None and client.following == "watch" and client.get_value("v") == 0
        await asyncio.to_thread(hp.start)
        await asyncio.to_thread(_post, hp.url, name, {"v": 1})
        await wait_until(lambda: client.get_value("v") == 1, timeout=10, what="the first configuration")
        await wait_until(lambda: client.following == "nats", timeout=10, what="NATS once the hub said so")
        # no NATS URL given: the client used the servers the hub announced
        assert client.hub_info is not None and client.hub_info.servers == [nats.url]
        await asyncio.to_thread(_post, hp.url, name, {"v": 2})
        await wait_until(lambda: client.get_value("v") == 2, timeout=5, what="the NATS push")
        assert client.last_update_origin == "nats"
    finally:
        await client.shutdown()


def test_service_config_hands_reconcile_and_cache_dir_to_both_clients(tmp_path: Path) -> None:
    name = _name()
    service = BaseService(
        ServiceConfig(
            service_name=name, hub_url="http://127.0.0.1:9", cache_dir=str(tmp_path), reconcile_seconds=5
        )
    )
    assert service.hub.reconcile_seconds == 5
    assert service.hub.discovery_cache_path == tmp_path / "default" / f"{name}.discovery.json"
    source = service._make_config_source()
    assert source.reconcile_seconds == 5 and source.enable_nats_updates is True
    assert source.cache_path == tmp_path / "default" / f"{name}.config.json"


def test_a_hub_that_does_not_announce_its_nats_use_is_followed_over_http() -> None:
    assert parse_hub_info({"name": "Central Hub", "version": "0.9"}) is None
    assert parse_hub_info({"cluster": "a.b", "nats": {"enabled": True}}) is None  # not one subject token
    info = parse_hub_info(
        {"cluster": "prod", "nats": {"enabled": True, "connected": True, "servers": ["nats://n1:4222"]}}
    )
    assert info == HubInfo(
        cluster="prod", publishes_on_nats=True, nats_connected=True, servers=["nats://n1:4222"]
    )
    assert info.subject("config.update.api") == "prod.config.update.api"
