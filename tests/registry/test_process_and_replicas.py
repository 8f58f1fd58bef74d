"""The hub as users run it: a real server process, the CLI, and replicas sharing a database."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx

from centralhub.core.events.nats import NatsEventBus
from centralhub.hub import Hub
from centralhub.registry.models import Registration
from tests.conftest import make_settings, reset_database
from tests.support import wait_until

CLI = [sys.executable, "-m", "centralhub.cli"]


def _register(url: str, **body: Any) -> dict[str, Any]:
    resp = httpx.post(f"{url}/api/v1/services/register", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_server_process_keeps_registrations_across_sigterm(hub_process_factory: Any, tmp_path: Any) -> None:
    db = tmp_path / "restart.db"
    hp = hub_process_factory(database_url=f"sqlite:///{db}")
    reg = _register(hp.url, name="api-gateway", host="suho-api-gateway", port=8000, health_endpoint="/health")
    # uvicorn re-raises the signal after a graceful shutdown, so -15 is a clean exit too
    assert hp.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in hp.log_path.read_text()
    hp.start()
    svc = httpx.get(f"{hp.url}/discovery/services/api-gateway", timeout=10).json()
    assert [i["instance_id"] for i in svc["instances"]] == [reg["instance_id"]]
    ep = httpx.get(f"{hp.url}/api/v1/services/api-gateway/endpoint", timeout=10).json()
    assert ep["url"] == "http://suho-api-gateway:8000"


def test_acknowledged_heartbeat_survives_kill_9(hub_process_factory: Any, tmp_path: Any) -> None:
    db = tmp_path / "kill.db"
    hp = hub_process_factory(database_url=f"sqlite:///{db}")
    reg = _register(hp.url, name="beater", host="b", port=1)
    time.sleep(0.3)
    before = time.time()
    hb = httpx.post(f"{hp.url}/api/v1/services/beater/instances/{reg['instance_id']}/heartbeat", timeout=10)
    assert hb.status_code == 200
    hp.stop(signal.SIGKILL)
    with sqlite3.connect(db) as conn:
        (last_seen,) = conn.execute(
            "SELECT last_seen FROM service_registry WHERE id = ?", (reg["instance_id"],)
        ).fetchone()
    # stored as an ISO timestamp; compare as text prefix down to the second
    stored = time.mktime(time.strptime(last_seen[:19], "%Y-%m-%d %H:%M:%S")) - time.timezone
    assert stored >= int(before) - 1, (last_seen, before)


def test_bad_settings_stop_startup_with_one_line(tmp_path: Any) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    res = subprocess.run(
        [*CLI, "serve", "--port", "99999"], env=env, capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 2
    assert "CENTRAL_HUB_PORT" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    env["DATABASE_URL"] = "mysql://nope"
    res = subprocess.run([*CLI, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "DATABASE_URL" in res.stderr
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    env["NATS_URL"] = "http://not-nats:4222"
    res = subprocess.run([*CLI, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "NATS_URL" in res.stderr


def test_cli_lists_and_shows_services(hub_process_factory: Any) -> None:
    hp = hub_process_factory()
    _register(hp.url, name="cli-svc", host="c1", port=4000)
    res = subprocess.run(
        [*CLI, "services", "ls", "--hub", hp.url], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stderr
    assert "cli-svc" in res.stdout and "http://c1:4000" in res.stdout
    res = subprocess.run(
        [*CLI, "services", "show", "cli-svc", "--hub", hp.url], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0 and '"instance_id"' in res.stdout
    res = subprocess.run(
        [*CLI, "services", "show", "ghost", "--hub", hp.url], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 1 and "ghost" in res.stderr


async def test_two_replicas_on_postgres_and_nats_stay_coherent(pg_database: str, nats_url: str) -> None:
    await reset_database(pg_database)
    settings = make_settings(pg_database, nats_url=nats_url)
    tenant = f"t{uuid.uuid4().hex[:8]}"
    a, b = Hub(settings, bus=NatsEventBus(nats_url)), Hub(settings, bus=NatsEventBus(nats_url))
    await a.start()
    await b.start()
    try:
        inst, _ = await a.registry.register(tenant, Registration(name="orders", host="o1", port=1))
        await wait_until(
            lambda: len(b.registry.instances(tenant, "orders")) == 1, what="B sees the registration"
        )
        assert b.registry.select_endpoint(tenant, "orders").id == inst.id
        # a heartbeat taken by replica B reaches replica A's view
        await asyncio.sleep(0.05)
        beat = await b.registry.heartbeat(tenant, "orders", inst.id, load=0.5)
        await wait_until(
            lambda: a.registry.instances(tenant, "orders")[0].last_seen >= beat.last_seen,
            what="A sees the heartbeat",
        )
        await a.registry.deregister(tenant, "orders", inst.id)
        await wait_until(lambda: b.registry.instances(tenant, "orders") == [], what="B sees the removal")
    finally:
        await a.stop()
        await b.stop()


async def test_replica_started_later_loads_the_registry(hub: Hub) -> None:
    inst, _ = await hub.registry.register("default", Registration(name="early", host="e", port=1))
    late = Hub(hub.settings)
    await late.start()
    try:
        assert [i.id for i in late.registry.instances("default", "early")] == [inst.id]
        # a heartbeat on a replica that has not seen the instance's event yet still works
        late.registry._drop(inst.id)
        assert (await late.registry.heartbeat("default", "early", inst.id)).id == inst.id
    finally:
        await late.stop()
