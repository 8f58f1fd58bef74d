"""Heartbeats as NATS messages: what a service sees (its registration kept alive without HTTP
heartbeats, re-registration, HTTP when NATS is gone) and what the hub guarantees (each message
applied once across replicas, signatures checked when auth is on, refusals counted)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import nats
import orjson
import pytest

from centralhub.core.heartbeat_wire import SigningKey, build_heartbeat, heartbeat_subject
from centralhub.core.settings import Settings
from centralhub.hub import Hub
from centralhub.registry.models import Registration
from centralhub.sdk.client import CentralHubClient
from centralhub.server.app import create_app
from tests.auth_support import auth_settings, bearer, make_key
from tests.conftest import make_settings
from tests.support import wait_until

pytestmark = pytest.mark.timeout(90)


class Recording(httpx.AsyncBaseTransport):
    """The hub's ASGI app as a transport, remembering every request the SDK made."""

    def __init__(self, hub: Hub) -> None:
        self.inner = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        return await self.inner.handle_async_request(request)

    def heartbeats(self) -> list[str]:
        return [s for s in self.seen if s.endswith("/heartbeat")]


def cluster_name() -> str:
    return f"hbt_{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Hub]:
    hub = Hub(settings)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


def client_of(hub: Hub, transport: Recording, name: str = "beater", **kw: Any) -> CentralHubClient:
    return CentralHubClient(
        name,
        hub_url="http://hub",
        port=9000,
        ttl_seconds=1,
        health_endpoint=None,
        transport=transport,
        enable_nats_updates=False,
        **kw,
    )


async def stored_last_seen(hub: Hub, instance_id: str) -> float:
    inst = await hub.registry.get_stored(instance_id)
    assert inst is not None
    return inst.last_seen


async def test_sdk_heartbeats_travel_on_nats_and_keep_the_instance_alive(
    fresh_pg: str, nats_url: str
) -> None:
    settings = make_settings(fresh_pg, nats_url=nats_url, cluster=cluster_name(), reaper_interval_seconds=0.2)
    async with running(settings) as hub:
        transport = Recording(hub)
        client = client_of(hub, transport)
        try:
            instance_id = await client.register()
            assert instance_id is not None
            first = await stored_last_seen(hub, instance_id)
            sender = client.nats_heartbeats
            assert sender is not None
            await wait_until(
                lambda: hub.nats_heartbeats.applied >= 3, timeout=20, what="heartbeats over NATS"
            )
            # stored by the group commit, not just noted in memory
            await wait_until(
                lambda: _later(hub, instance_id, first), timeout=10, what="last_seen stored later"
            )
            # three TTLs later the instance is still passing, with no heartbeat request over HTTP
            inst = hub.registry.get_instance("default", "beater", instance_id)
            assert inst.status.value == "passing"
            assert transport.heartbeats() == []
            assert sender.sent >= 3
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
                metrics = (await http.get("/metrics")).text
            counted = {
                line.split('"')[1]: float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("centralhub_heartbeats_total{transport=")
            }
            assert counted["nats"] >= 3 and counted["http"] == 0
        finally:
            await client.close()


async def _later(hub: Hub, instance_id: str, first: float) -> bool:
    return await stored_last_seen(hub, instance_id) > first


async def test_replicas_share_heartbeat_messages_each_applied_once(fresh_pg: str, nats_url: str) -> None:
    cluster = cluster_name()
    settings = make_settings(fresh_pg, nats_url=nats_url, cluster=cluster)
    async with running(settings) as one, running(settings) as two:
        inst, _ = await one.registry.register(
            "default", Registration(name="shared", host="h", port=1, ttl_seconds=60)
        )
        nc = await nats.connect(nats_url)
        try:
            subject = f"{cluster}.{heartbeat_subject('default', 'shared')}"
            for _ in range(300):
                await nc.publish(subject, build_heartbeat("default", "shared", inst.id, now=time.time()))
            await nc.flush()
            total = lambda: one.nats_heartbeats.applied + two.nats_heartbeats.applied  # noqa: E731
            await wait_until(lambda: total() >= 300, timeout=20, what="300 heartbeats applied")
            await asyncio.sleep(0.3)
            assert total() == 300
            # a queue group: both replicas took a share
            assert one.nats_heartbeats.applied > 0 and two.nats_heartbeats.applied > 0
        finally:
            await nc.close()


async def test_signed_heartbeats_checked_when_auth_is_on(fresh_pg: str, nats_url: str) -> None:
    cluster = cluster_name()
    async with running(auth_settings(fresh_pg, nats_url=nats_url, cluster=cluster)) as hub:
        writer = await make_key(hub, "registry:write", services=["paid"])
        other = await make_key(hub, "registry:write", services=["other"])
        revoked = await make_key(hub, "registry:write", name="soon-revoked")
        async with httpx.AsyncClient(transport=Recording(hub), base_url="http://hub") as http:
            reg = await http.post(
                "/api/v1/services/register",
                json={"name": "paid", "host": "h", "port": 1, "ttl_seconds": 60},
                headers=bearer(writer),
            )
            assert reg.status_code == 201, reg.text
            iid = reg.json()["instance_id"]
            nc = await nats.connect(nats_url)
            replies: list[dict[str, Any]] = []

            async def on_reply(msg: Any) -> None:
                replies.append(orjson.loads(msg.data)["error"])

            inbox = nc.new_inbox()
            await nc.subscribe(inbox, cb=on_reply)
            subject = f"{cluster}.{heartbeat_subject('default', 'paid')}"
            intake = hub.nats_heartbeats

            async def send(data: bytes) -> None:
                await nc.publish(subject, data, reply=inbox)
                await nc.flush()

            def beat(key: str | None, *, now: float | None = None) -> bytes:
                signing = SigningKey.of(key) if key else None
                return build_heartbeat("default", "paid", iid, now=now or time.time(), load=0.5, key=signing)

            try:
                await send(beat(writer))
                await send(beat(revoked))
                await wait_until(lambda: intake.applied == 2, timeout=10, what="valid messages applied")
                assert replies == []
                # the right prefix, signed with another secret
                forged = SigningKey(SigningKey.of(writer).key_id, b"x" * 32)  # type: ignore[union-attr]
                await send(build_heartbeat("default", "paid", iid, now=time.time(), key=forged))
                # a signature changed after signing
                good = beat(writer)
                await send(good[:-10] + (b"0" if good[-10:-9] != b"0" else b"1") + good[-9:])
                await send(beat(writer, now=time.time() - 300))
                await send(beat(other))
                await send(beat(None))
                # a key accepted a moment ago is refused from its revocation on
                await hub.keys.revoke("soon-revoked")
                await send(beat(revoked))
                await wait_until(lambda: len(replies) >= 6, timeout=10, what="six refusals")
                # refusals needing a database read (a key not seen before) may come later
                assert sorted(r["code"] for r in replies) == [
                    "forbidden",
                    "stale",
                    "unauthorized",
                    "unauthorized",
                    "unauthorized",
                    "unauthorized",
                ]
                assert intake.applied == 2
                assert intake.rejected == {"unauthorized": 4, "stale": 1, "forbidden": 1}
                metrics = (await http.get("/metrics", headers=bearer(await make_key(hub)))).text
                assert 'centralhub_heartbeat_messages_rejected_total{reason="unauthorized"} 4.0' in metrics
                assert hub.registry.get_instance("default", "paid", iid).load == 0.5
            finally:
                await nc.close()


async def test_sdk_signs_its_heartbeats_with_its_key(fresh_pg: str, nats_url: str) -> None:
    async with running(auth_settings(fresh_pg, nats_url=nats_url, cluster=cluster_name())) as hub:
        key = await make_key(hub, "registry:write", services=["signer"])
        transport = Recording(hub)
        client = client_of(hub, transport, name="signer", api_key=key)
        try:
            await client.register()
            await wait_until(lambda: hub.nats_heartbeats.applied >= 2, timeout=20, what="signed heartbeats")
            assert not hub.nats_heartbeats.rejected
            assert transport.heartbeats() == []
        finally:
            await client.close()


async def test_unknown_instance_makes_the_sdk_register_again(fresh_pg: str, nats_url: str) -> None:
    settings = make_settings(fresh_pg, nats_url=nats_url, cluster=cluster_name())
    async with running(settings) as hub:
        transport = Recording(hub)
        client = client_of(hub, transport)
        try:
            first = await client.register()
            assert first is not None
            await wait_until(lambda: hub.nats_heartbeats.applied >= 1, timeout=20, what="a NATS heartbeat")
            # the hub forgets the instance behind the client's back
            await hub.registry.deregister("default", "beater", first)
            await wait_until(lambda: client.reregistrations >= 1, timeout=20, what="registered again")
            assert client.instance_id not in (None, first)
            assert hub.nats_heartbeats.rejected["unknown_instance"] >= 1
            assert transport.heartbeats() == []
            assert hub.registry.instances("default", "beater")[0].id == client.instance_id
        finally:
            await client.close()


async def test_sdk_falls_back_to_http_when_nats_goes_down(fresh_pg: str, nats_server_factory: Any) -> None:
    server = nats_server_factory.single()
    settings = make_settings(fresh_pg, nats_url=server.url, cluster=cluster_name())
    async with running(settings) as hub:
        transport = Recording(hub)
        client = client_of(hub, transport, nats_url=server.url)
        try:
            iid = await client.register()
            assert iid is not None
            await wait_until(lambda: hub.nats_heartbeats.applied >= 1, timeout=20, what="a NATS heartbeat")
            assert transport.heartbeats() == []
            server.kill()
            await wait_until(lambda: len(transport.heartbeats()) >= 2, timeout=20, what="HTTP heartbeats")
            inst = hub.registry.get_instance("default", "beater", iid)
            assert time.time() - inst.last_seen < 2
        finally:
            await client.close()
