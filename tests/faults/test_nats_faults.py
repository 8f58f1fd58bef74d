"""NATS faults against real hub processes: a cluster node dies, NATS is absent or comes and goes,
and unrelated hubs share one NATS. Every NATS server here is private to its test."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import pytest

from centralhub.core.settings import load_settings
from centralhub.health.probes import check_nats
from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.conftest import HubProcess, free_port
from tests.fault_support import NatsFactory
from tests.support import wait_until

pytestmark = pytest.mark.timeout(90)

CLI = [sys.executable, "-m", "centralhub.cli"]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class RawSubscriber:
    """A plain NATS client listening the way an SDK client or another hub would."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._nc: nats.NATS | None = None

    async def start(self, url: str, subject: str) -> RawSubscriber:
        self._nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)

        async def on_msg(msg: Any) -> None:
            self.messages.append((msg.subject, orjson.loads(msg.data)))

        await self._nc.subscribe(subject, cb=on_msg)
        await self._nc.flush(timeout=5)
        return self

    def subjects(self) -> list[str]:
        return [s for s, _ in self.messages]

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()


async def _start_hubs(factory: Any, *configs: dict[str, str]) -> list[HubProcess]:
    """Start hub processes side by side (each start is mostly interpreter start-up)."""
    return list(await asyncio.gather(*(asyncio.to_thread(factory, **c) for c in configs)))


async def _info(http: httpx.AsyncClient, hub: HubProcess) -> dict[str, Any]:
    resp = await http.get(f"{hub.url}/api/v1/info")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def _connected_url(http: httpx.AsyncClient, hub: HubProcess) -> str | None:
    nats_info = (await _info(http, hub))["nats"]
    return nats_info["connected_url"] if nats_info["connected"] else None


async def _register(http: httpx.AsyncClient, hub: HubProcess, name: str, port: int = 8000) -> str:
    resp = await http.post(
        f"{hub.url}/api/v1/services/register", json={"name": name, "host": "10.0.0.7", "port": port}
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["instance_id"])


async def _instance_ids(http: httpx.AsyncClient, hub: HubProcess, name: str) -> list[str] | None:
    resp = await http.get(f"{hub.url}/api/v1/services/{name}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return [i["instance_id"] for i in resp.json()["instances"]]


async def _write_config(http: httpx.AsyncClient, hub: HubProcess, service: str, doc: dict[str, Any]) -> Any:
    resp = await http.post(f"{hub.url}/api/v1/config/{service}", json=doc)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _log(hub: HubProcess) -> str:
    assert hub.log_path is not None
    return hub.log_path.read_text(errors="replace")


# ---------------------------------------------------------------------- a NATS cluster
async def test_config_push_and_replica_sync_carry_on_when_the_connected_node_dies(
    nats_server_factory: NatsFactory, hub_process_factory: Any, pg_database: str
) -> None:
    nodes = await asyncio.to_thread(nats_server_factory.cluster, 3)
    cluster = _name("ha")
    env = {
        "database_url": pg_database,
        "NATS_URL": ",".join(n.url for n in nodes),
        "CENTRAL_HUB_CLUSTER": cluster,
    }
    a, b = await _start_hubs(hub_process_factory, env, env)
    async with httpx.AsyncClient(timeout=10) as http:
        on_a = await wait_until(lambda: _connected_url(http, a), what="replica A connected to NATS")
        await wait_until(lambda: _connected_url(http, b), what="replica B connected to NATS")
        info = await _info(http, a)
        assert info["nats"]["servers"] == [n.url for n in nodes]
        victim = next(n for n in nodes if n.url == on_a)

        await asyncio.to_thread(victim.kill)
        for hub in (a, b):
            now_on = await wait_until(
                lambda hub=hub: _connected_url(http, hub), timeout=10, what="reconnected to a live node"
            )
            assert now_on != victim.url
        health = (await http.get(f"{a.url}/health")).json()
        assert health["checks"]["nats"] == "healthy"

        survivor = next(n for n in nodes if n is not victim)
        service = _name("orders")
        raw = await RawSubscriber().start(survivor.url, f"{cluster}.config.update.{service}")
        try:
            # replica sync: the registry has no database polling, so B learns of it only by NATS
            instance = await _register(http, a, service)
            began = time.monotonic()
            await wait_until(
                lambda: _instance_ids(http, b, service), timeout=5, what="B lists A's registration"
            )
            assert await _instance_ids(http, b, service) == [instance]
            assert time.monotonic() - began < 3

            # config push: a /watch held on B and a subscriber on a surviving node both wake
            watch = asyncio.create_task(
                http.get(f"{b.url}/api/v1/config/{service}/watch", params={"revision": 0, "timeout": 20})
            )
            await asyncio.sleep(0.3)
            written = await _write_config(http, a, service, {"limits": {"rps": 50}})
            assert written["broadcast"] is True
            wrote_at = time.monotonic()
            await wait_until(lambda: raw.messages, timeout=5, what="the update on a surviving node")
            subject, payload = raw.messages[0]
            assert subject == f"{cluster}.config.update.{service}"
            assert (payload["service_name"], payload["revision"]) == (service, written["revision"])
            assert payload["config"] == {"limits": {"rps": 50}}
            answer = await asyncio.wait_for(watch, 10)
            assert answer.status_code == 200
            assert answer.json()["revision"] == written["revision"]
            assert time.monotonic() - wrote_at < 3
        finally:
            await raw.close()
    log = _log(a)
    assert len(re.findall(rf"NATS connection to {re.escape(victim.url)} lost \(.*\); reconnecting", log)) == 1
    assert len(re.findall(r"NATS reconnected to nats://127\.0\.0\.1:\d+", log)) == 1
    assert "Traceback" not in log and "Traceback" not in _log(b)


# ---------------------------------------------------------------------- no NATS
async def test_hub_without_nats_starts_serves_from_the_database_and_stops_promptly(
    hub_process_factory: Any, tmp_path: Path
) -> None:
    closed = free_port()
    spawned = time.monotonic()
    hub = await asyncio.to_thread(
        hub_process_factory,
        database_url=f"sqlite:///{tmp_path / 'alone.db'}",
        NATS_URL=f"nats://127.0.0.1:{closed}",
    )
    ready = time.time()
    async with httpx.AsyncClient(timeout=10) as http:
        info = await _info(http, hub)
        # from the hub being built to answering (the interpreter's own start-up aside)
        started = time.time() - info["uptime_seconds"]
        assert ready - started < 5, f"hub took {ready - started:.1f}s to serve"
        assert time.monotonic() - spawned < 30
        assert info["nats"]["enabled"] is True and info["nats"]["connected"] is False
        assert info["nats"]["connected_url"] is None

        health = await http.get(f"{hub.url}/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["checks"]["nats"] == "unhealthy"
        assert health.json()["checks"]["database"] == "healthy"

        instance = await _register(http, hub, "alone")
        assert await _instance_ids(http, hub, "alone") == [instance]
        written = await _write_config(http, hub, "alone", {"mode": "solo"})
        assert written["broadcast"] is False
        read = await http.get(f"{hub.url}/api/v1/config/alone")
        assert read.status_code == 200 and read.json()["config"] == {"mode": "solo"}

        await asyncio.sleep(3)
    attempt_line = re.compile(r"unreachable \(attempt (\d+): .*\); next attempt in ([\d.]+)s$", re.M)
    attempts = [(int(m.group(1)), float(m.group(2))) for m in attempt_line.finditer(_log(hub))]
    assert len(attempts) >= 3, _log(hub)[-2000:]
    assert [n for n, _ in attempts] == list(range(1, len(attempts) + 1))
    # capped exponential backoff (with jitter): each wait longer than the one before, none above 6 s
    waits = [w for _, w in attempts]
    assert waits[0] < waits[1] < waits[2], waits
    assert max(waits) <= 6.0

    stopping = time.monotonic()
    code = await asyncio.to_thread(hub.stop, signal.SIGTERM)
    assert time.monotonic() - stopping < 2.0
    assert code in (0, -signal.SIGTERM)
    log = _log(hub)
    assert "Traceback" not in log and "nats: encountered error" not in log
    assert "Application shutdown complete" in log


async def test_hub_picks_nats_up_when_it_appears_and_follows_it_through_an_outage(
    nats_server_factory: NatsFactory, hub_process_factory: Any, pg_database: str
) -> None:
    cluster = _name("late")
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    env = {"database_url": pg_database, "NATS_URL": url, "CENTRAL_HUB_CLUSTER": cluster}
    early = await asyncio.to_thread(hub_process_factory, **env)
    server = nats_server_factory.single(port=port, start=False)
    await asyncio.to_thread(server.start)
    async with httpx.AsyncClient(timeout=10) as http:

        async def nats_health(hub: HubProcess) -> str:
            return str((await http.get(f"{hub.url}/health")).json()["checks"]["nats"])

        await wait_until(
            lambda: _connected_url(http, early), timeout=15, what="the hub connected once NATS came up"
        )
        assert await _connected_url(http, early) == url
        assert await nats_health(early) == "healthy"

        # subscriptions made while NATS was absent work: a replica started now reaches this one
        late = await asyncio.to_thread(hub_process_factory, **env)
        service = _name("billing")
        instance = await _register(http, late, service)
        await wait_until(
            lambda: _instance_ids(http, early, service), timeout=5, what="the early hub sees the registration"
        )
        assert await _instance_ids(http, early, service) == [instance]

        raw = await RawSubscriber().start(url, f"{cluster}.config.update.{service}")
        try:
            written = await _write_config(http, early, service, {"currency": "EUR"})
            assert written["broadcast"] is True
            await wait_until(lambda: raw.messages, timeout=5, what="the early hub's update on NATS")
            assert raw.messages[0][1]["revision"] == written["revision"]
        finally:
            await raw.close()

        # an established connection lost and found again
        await asyncio.to_thread(server.kill)
        await wait_until(lambda: _nats_is(http, early, "unhealthy"), timeout=10, what="/health: the loss")
        assert (await _info(http, early))["nats"]["connected"] is False
        lost = await _write_config(http, early, service, {"currency": "USD"})
        assert lost["broadcast"] is False
        await asyncio.sleep(2.5)
        await asyncio.to_thread(server.start)
        await wait_until(lambda: _nats_is(http, early, "healthy"), timeout=10, what="reconnected")
        raw = await RawSubscriber().start(url, f"{cluster}.config.update.{service}")
        try:
            again = await _write_config(http, early, service, {"currency": "GBP"})
            assert again["broadcast"] is True
            await wait_until(lambda: raw.messages, timeout=5, what="an update after the reconnection")
            assert raw.messages[0][1]["config"] == {"currency": "GBP"}
        finally:
            await raw.close()
    log = _log(early)
    assert "Traceback" not in log and "nats: encountered error" not in log
    assert len(re.findall(rf"NATS connection to {re.escape(url)} lost \(.*\); reconnecting", log)) == 1
    assert log.count(f"NATS reconnected to {url}") == 1
    # while the server was down: one line per failed reconnection attempt, not a stream
    failed = [
        int(w)
        for w in re.findall(
            r"NATS reconnection attempt failed: ConnectionRefusedError.*; next within (\d+)s", log
        )
    ]
    assert 1 <= len(failed) <= 3, failed
    assert failed == sorted(set(failed)) and failed[-1] <= 5, f"no backoff: {failed}"


async def _nats_is(http: httpx.AsyncClient, hub: HubProcess, state: str) -> bool:
    return bool((await http.get(f"{hub.url}/health")).json()["checks"]["nats"] == state)


# ---------------------------------------------------------------------- cluster names
async def test_hubs_with_different_cluster_names_on_one_nats_never_see_each_other(
    nats_server_factory: NatsFactory, hub_process_factory: Any, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(nats_server_factory.single)
    staging, production = _name("staging"), _name("production")
    a, b = await _start_hubs(
        hub_process_factory,
        {
            "database_url": f"sqlite:///{tmp_path / 'staging.db'}",
            "NATS_URL": server.url,
            "CENTRAL_HUB_CLUSTER": staging,
        },
        {
            "database_url": f"sqlite:///{tmp_path / 'production.db'}",
            "NATS_URL": server.url,
            "CENTRAL_HUB_CLUSTER": production,
        },
    )
    everything = await RawSubscriber().start(server.url, ">")
    b_side = await RawSubscriber().start(server.url, f"{production}.>")
    async with httpx.AsyncClient(timeout=10) as http:
        for hub, name in ((a, staging), (b, production)):
            await wait_until(lambda hub=hub: _connected_url(http, hub), what="connected to NATS")
            info = await _info(http, hub)
            assert info["cluster"] == name
            assert info["event_bus"] == "nats"
            assert info["nats"] == {
                "enabled": True,
                "connected": True,
                "servers": [server.url],
                "subject_prefix": f"{name}.",
                "connected_url": server.url,
            }
        try:
            service = _name("payments")
            await _register(http, a, service)
            written = await _write_config(http, a, service, {"gateway": "sandbox"})
            assert written["broadcast"] is True
            # A's events are on the wire: under A's name, and nowhere else
            await wait_until(
                lambda: f"{staging}.config.update.{service}" in everything.subjects(),
                timeout=5,
                what="A's config update on NATS",
            )
            assert f"{staging}.registry.default.upserted" in everything.subjects()
            ours = [s for s in everything.subjects() if not s.startswith(("_INBOX.", "$"))]
            assert all(s.startswith((f"{staging}.", f"{production}.")) for s in ours), ours
            await asyncio.sleep(0.5)
            assert b_side.messages == []

            listed = await http.get(f"{b.url}/api/v1/services")
            assert listed.status_code == 200
            assert service not in [s["name"] for s in listed.json()["services"]]
            assert (await http.get(f"{b.url}/api/v1/services/{service}")).status_code == 404
            assert (await http.get(f"{b.url}/api/v1/services/{service}/endpoint")).status_code == 404
            assert (await http.get(f"{b.url}/api/v1/config/{service}")).status_code == 404
            assert await _instance_ids(http, a, service) is not None
        finally:
            await everything.close()
            await b_side.close()


async def test_hubs_with_the_same_cluster_name_share_registrations_and_config(
    nats_server_factory: NatsFactory, hub_process_factory: Any, pg_database: str
) -> None:
    server = await asyncio.to_thread(nats_server_factory.single)
    cluster = _name("shared")
    env = {"database_url": pg_database, "NATS_URL": server.url, "CENTRAL_HUB_CLUSTER": cluster}
    a, b = await _start_hubs(hub_process_factory, env, env)
    async with httpx.AsyncClient(timeout=10) as http:
        for hub in (a, b):
            await wait_until(lambda hub=hub: _connected_url(http, hub), what="connected to NATS")
        service = _name("search")
        instance = await _register(http, a, service)
        await wait_until(lambda: _instance_ids(http, b, service), timeout=5, what="B sees A's registration")
        assert await _instance_ids(http, b, service) == [instance]
        endpoint = await http.get(f"{b.url}/api/v1/services/{service}/endpoint")
        assert endpoint.status_code == 200 and endpoint.json()["url"] == "http://10.0.0.7:8000"

        watch = asyncio.create_task(
            http.get(f"{b.url}/api/v1/config/{service}/watch", params={"revision": 0, "timeout": 20})
        )
        await asyncio.sleep(0.3)
        written = await _write_config(http, a, service, {"index": "v2"})
        answer = await asyncio.wait_for(watch, 10)
        assert answer.status_code == 200
        assert (answer.json()["revision"], answer.json()["config"]) == (written["revision"], {"index": "v2"})


async def test_info_announces_an_embedded_bus_and_hides_nats_credentials(tmp_path: Path) -> None:
    for nats_url, expected in (
        (None, {"enabled": False, "servers": []}),
        (
            "nats://app:s3cret@127.0.0.1:1,nats://127.0.0.1:2",
            {"enabled": True, "servers": ["nats://127.0.0.1:1", "nats://127.0.0.1:2"]},
        ),
    ):
        settings = load_settings(
            env={}, database_url=f"sqlite:///{tmp_path / 'info.db'}", nats_url=nats_url, cluster="edge_1"
        )
        hub = Hub(settings)
        await hub.start()
        try:
            transport = httpx.ASGITransport(app=create_app(settings, hub=hub))
            async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as client:
                for path in ("/api/v1/info", "/"):
                    body = (await client.get(path)).json()
                    assert body["cluster"] == "edge_1"
                    assert body["event_bus"] == ("nats" if nats_url else "memory")
                    assert body["nats"] == {
                        **expected,
                        "connected": False,
                        "subject_prefix": "edge_1.",
                        "connected_url": None,
                    }
                    assert "s3cret" not in str(body)
        finally:
            await hub.stop()


@pytest.mark.parametrize("cluster", ["a.b", "a b", "stage>"])
def test_invalid_cluster_name_stops_serve_with_one_line(cluster: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "CENTRAL_HUB_CLUSTER": cluster}
    env.pop("NATS_URL", None)
    res = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "CENTRAL_HUB_CLUSTER" in lines[0], res.stderr
    assert repr(cluster) in lines[0]


# ---------------------------------------------------------------------- other NATS users
def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "CENTRAL_HUB_CLUSTER")}
    return subprocess.run([*CLI, *args], env={**full, **env}, capture_output=True, text=True, timeout=60)


async def test_cli_key_revocation_goes_out_under_the_cluster_name_through_a_server_list(
    nats_server_factory: NatsFactory, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(nats_server_factory.single)
    cluster = _name("keys")
    database = f"sqlite:///{tmp_path / 'keys.db'}"
    made = await asyncio.to_thread(_cli, "keys", "create", "ops", "--scope", "admin", DATABASE_URL=database)
    assert made.returncode == 0, made.stderr
    watcher = await RawSubscriber().start(server.url, ">")
    try:
        servers = f"nats://127.0.0.1:{free_port()},{server.url}"  # the first one is down
        env = {"DATABASE_URL": database, "NATS_URL": servers, "CENTRAL_HUB_CLUSTER": cluster}
        revoked = await asyncio.to_thread(_cli, "keys", "revoke", "ops", **env)
        assert revoked.returncode == 0, revoked.stderr
        assert "Traceback" not in revoked.stderr
        await wait_until(lambda: watcher.messages, timeout=5, what="the revocation on NATS")
        assert watcher.messages == [(f"{cluster}.auth.keys.revoked", {"name": "ops"})]
    finally:
        await watcher.close()
    bad = await asyncio.to_thread(_cli, "keys", "ls", DATABASE_URL=database, CENTRAL_HUB_CLUSTER="a.b")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: CENTRAL_HUB_CLUSTER: 'a.b' must be 1-64 letters, digits, '_' or '-'"
    ]


async def test_infrastructure_nats_probe_names_the_cause_without_a_traceback(
    nats_server_factory: NatsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await asyncio.to_thread(nats_server_factory.single)
    down = f"nats://127.0.0.1:{free_port()}"
    began = time.monotonic()
    refused = await check_nats(down, timeout=2.0)
    assert refused.healthy is False
    assert refused.error is not None and refused.error.startswith("ConnectionRefusedError")
    assert time.monotonic() - began < 1.0
    either = await check_nats(f"{down},{server.url}", timeout=2.0)
    assert either.healthy is True and either.metadata == {"server": f"127.0.0.1:{server.port}"}
    assert not [r for r in caplog.records if r.exc_info], "a probe logged a traceback"
