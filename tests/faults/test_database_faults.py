"""The database fails under a running hub, is unreachable at start, or is a SQLite file another
hub already serves: the hub keeps answering what it can, refuses the rest with 503, and recovers
by itself.

Every PostgreSQL fault here is injected on a private server (``private_postgres``), never on
the shared one other tests use.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from centralhub.core.settings import SettingsError, load_settings
from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.conftest import make_settings
from tests.fault_support import PrivatePostgres, free_port
from tests.support import wait_until, wait_until_sync

OUTAGE_SECONDS = 10.0


def _client_port(resp: httpx.Response) -> int:
    """The local port of the connection that carried ``resp`` (the same port: the same
    keep-alive connection)."""
    stream = resp.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def _serve_once(env: dict[str, str], port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "centralhub.cli", "serve", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _storage_unavailable(resp: httpx.Response) -> bool:
    return resp.status_code == 503 and resp.json()["error"]["code"] == "storage_unavailable"


class Load:
    """Discovery reads, config reads and heartbeats from their own clients, all the time,
    recording every status and every transport error."""

    def __init__(self, url: str, instance_id: str) -> None:
        self.url = url
        self.instance_id = instance_id
        self.statuses: dict[str, Counter[int]] = {
            "discovery": Counter(),
            "config": Counter(),
            "beat": Counter(),
        }
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._reads, daemon=True),
            threading.Thread(target=self._beats, daemon=True),
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _reads(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    self.statuses["discovery"][
                        client.get("/api/v1/services/orders/endpoint").status_code
                    ] += 1
                    self.statuses["config"][client.get("/api/v1/config/orders").status_code] += 1
                except httpx.HTTPError as exc:
                    self.errors.append(f"read: {type(exc).__name__}: {exc}")
                time.sleep(0.02)

    def _beats(self) -> None:
        path = f"/api/v1/services/orders/instances/{self.instance_id}/heartbeat"
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    self.statuses["beat"][client.post(path).status_code] += 1
                except httpx.HTTPError as exc:
                    self.errors.append(f"heartbeat: {type(exc).__name__}: {exc}")
                time.sleep(0.3)


async def _stored_last_seen(url: str, instance_id: str) -> datetime:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        value = await conn.fetchval("SELECT last_seen FROM service_registry WHERE id = $1", instance_id)
    finally:
        await conn.close()
    assert isinstance(value, datetime)
    return value


def test_postgres_stopped_under_load_hub_answers_from_memory_and_recovers(
    private_postgres: PrivatePostgres, hub_process_factory: Any
) -> None:
    hp = hub_process_factory(
        database_url=private_postgres.url,
        CENTRAL_HUB_REAPER_INTERVAL_SECONDS="0.2",
        CENTRAL_HUB_HEARTBEAT_FLUSH_SECONDS="0.05",
    )
    client = httpx.Client(base_url=hp.url, timeout=10)
    reg = client.post(
        "/api/v1/services/register",
        json={"name": "orders", "host": "orders-1", "port": 8080, "ttl_seconds": 2},
    )
    assert reg.status_code == 201, reg.text
    instance_id = reg.json()["instance_id"]
    document = {"db": {"pool": 5}, "feature": True}
    assert client.post("/api/v1/config/orders", json=document).status_code == 200
    first_port = _client_port(client.get("/health"))

    watched: list[httpx.Response] = []
    watch = threading.Thread(
        target=lambda: watched.append(
            httpx.get(f"{hp.url}/api/v1/config/orders/watch?revision=1&timeout=60", timeout=90)
        )
    )
    watch.start()
    with Load(hp.url, instance_id) as load:
        time.sleep(0.5)
        stopped_at = time.time()
        private_postgres.stop()
        try:
            health = wait_until_sync(
                lambda: (r := client.get("/health")).status_code == 503 and r.json(),
                timeout=10,
                what="/health reporting the database down",
            )
            assert health["checks"]["database"] == "unhealthy"
            assert health["status"] == "unhealthy"

            # discovery and config reads come from memory
            svc = client.get("/api/v1/services/orders")
            assert svc.status_code == 200
            assert [(i["instance_id"], i["status"]) for i in svc.json()["instances"]] == [
                (instance_id, "passing")
            ]
            endpoint = client.get("/api/v1/services/orders/endpoint")
            assert endpoint.status_code == 200 and endpoint.json()["url"] == "http://orders-1:8080"
            cfg = client.get("/api/v1/config/orders")
            assert cfg.status_code == 200
            assert (cfg.json()["config"], cfg.json()["revision"]) == (document, 1)

            # writes are refused with 503 storage_unavailable, never a 500
            write = client.post("/api/v1/config/orders", json={"db": {"pool": 9}})
            assert _storage_unavailable(write), write.text
            assert write.json()["error"]["message"]
            register = client.post("/api/v1/services/register", json={"name": "late", "host": "l", "port": 1})
            assert _storage_unavailable(register), register.text
            batch = client.post(
                "/api/v1/services/register/batch",
                json={"instances": [{"name": "late", "host": h, "port": 2} for h in ("l", "m")]},
            )
            assert _storage_unavailable(batch), batch.text
            beat = client.post(f"/api/v1/services/orders/instances/{instance_id}/heartbeat")
            assert _storage_unavailable(beat), beat.text

            # several TTLs pass: heartbeats kept in memory keep the instance alive
            # several TTLs pass: heartbeats kept in memory keep the instance passing throughout,
            # and every answer comes over the keep-alive connection opened before the outage
            while time.time() < stopped_at + OUTAGE_SECONDS:
                svc = client.get("/api/v1/services/orders")
                assert [i["status"] for i in svc.json()["instances"]] == ["passing"]
                assert _client_port(svc) == first_port
                time.sleep(0.5)
        finally:
            private_postgres.start()

        # recovery without a restart
        wait_until_sync(
            lambda: client.get("/health").status_code == 200, timeout=20, what="/health healthy again"
        )
        written = wait_until_sync(
            lambda: (
                (r := client.post("/api/v1/config/orders", json={"db": {"pool": 9}})).status_code == 200
                and r.json()
            ),
            timeout=10,
            what="a config write succeeding again",
        )
        assert written["revision"] == 2
        # a watch held through the whole outage answers the first change made after it
        watch.join(10)
        assert [(r.status_code, r.json()["revision"]) for r in watched] == [(200, 2)]
        assert (
            client.post(
                "/api/v1/services/register", json={"name": "late", "host": "l", "port": 1}
            ).status_code
            == 201
        )
        time.sleep(1.0)  # heartbeats of the load reach the database again

    assert _client_port(client.get("/health")) == first_port
    client.close()
    # the heartbeats answered during the outage were kept and stored once PostgreSQL was back
    last_seen = asyncio.run(_stored_last_seen(private_postgres.url, instance_id))
    assert last_seen.timestamp() > stopped_at + OUTAGE_SECONDS - 1
    # the service never went critical, and nobody saw a dropped connection or a 500
    assert load.errors == []
    assert set(load.statuses["discovery"]) == {200}
    assert set(load.statuses["config"]) == {200}
    assert set(load.statuses["beat"]) <= {200, 503} and load.statuses["beat"][503] > 0
    final = httpx.get(f"{hp.url}/api/v1/services/orders", timeout=10).json()
    assert [i["status"] for i in final["instances"]] == ["passing"]
    assert hp.proc.poll() is None
    log = hp.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]


def test_unreachable_database_at_start_is_retried_then_one_line_and_exit_1(hub_process_factory: Any) -> None:
    port = free_port()  # nothing listens here
    hp = hub_process_factory(
        database_url=f"postgresql://hubuser:s3cr3t-pw@127.0.0.1:{port}/inventory",
        start=False,
        CENTRAL_HUB_STARTUP_TIMEOUT="2",
    )
    began = time.monotonic()
    done = _serve_once(hp.env, hp.port)
    took = time.monotonic() - began
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert took < 20
    attempts = [line for line in output.splitlines() if "unreachable (attempt" in line]
    assert len(attempts) >= 2, output
    assert all(f"127.0.0.1:{port}/inventory" in line for line in attempts)
    assert "s3cr3t-pw" not in output
    assert "Traceback" not in output
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: database hubuser:***@127.0.0.1:{port}/inventory unreachable for 2s"), last


def test_database_coming_up_during_the_retry_window_lets_the_hub_start(
    private_postgres: PrivatePostgres, hub_process_factory: Any
) -> None:
    private_postgres.stop()
    hp = hub_process_factory(database_url=private_postgres.url, start=False, CENTRAL_HUB_STARTUP_TIMEOUT="60")
    assert hp.log_path is not None
    log_path = hp.log_path

    def start_when_refused() -> None:
        # PostgreSQL comes up only once the hub has been refused at least once
        wait_until_sync(
            lambda: log_path.exists() and "unreachable (attempt 2" in log_path.read_text(),
            timeout=30,
            what="the hub retrying",
        )
        private_postgres.start()

    starter = threading.Thread(target=start_when_refused)
    starter.start()
    try:
        hp.start(timeout=60)
    finally:
        starter.join()
    health = httpx.get(f"{hp.url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["checks"]["database"] == "healthy"
    log = hp.log_path.read_text()
    assert f"127.0.0.1:{private_postgres.port}/postgres unreachable (attempt 1" in log
    assert "Traceback" not in log


def test_second_hub_on_one_sqlite_file_refuses_to_start(hub_process_factory: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = hub_process_factory(database_url=url)
    second = hub_process_factory(database_url=url, start=False)
    done = _serve_once(second.env, second.port)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "already serving the SQLite database" in lines[0] and "shared.db" in lines[0]
    assert f"pid {first.proc.pid}" in lines[0]
    # the first hub is untouched; once it is gone, the file is free again
    assert httpx.get(f"{first.url}/health", timeout=10).status_code == 200
    first.stop()
    second.start()
    assert httpx.get(f"{second.url}/health", timeout=10).status_code == 200


async def test_memory_copy_of_a_config_is_not_served_once_a_newer_revision_is_known(
    private_postgres: PrivatePostgres,
) -> None:
    settings = make_settings(private_postgres.url)
    hub = Hub(settings)
    await hub.start()
    try:
        transport = httpx.ASGITransport(app=create_app(settings, hub=hub))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as client:
            for service in ("search", "payments"):
                assert (await client.post(f"/api/v1/config/{service}", json={"v": 1})).status_code == 200
            await asyncio.to_thread(private_postgres.stop)
            try:
                # another replica stored revision 2 of payments and announced it on the bus
                await hub.config_service.watcher.on_bus_event(
                    "config.update.payments",
                    {"tenant_id": "default", "service_name": "payments", "revision": 2},
                )
                search = await client.get("/api/v1/config/search")
                assert search.status_code == 200 and search.json()["config"] == {"v": 1}
                stale = await client.get("/api/v1/config/payments")
                assert _storage_unavailable(stale), stale.text
                unknown = await client.get("/api/v1/config/never-stored")
                assert _storage_unavailable(unknown), unknown.text
            finally:
                await asyncio.to_thread(private_postgres.start)

            async def payments_read() -> Any:
                resp = await client.get("/api/v1/config/payments")
                return resp.status_code == 200 and resp.json()

            # the database answers again: the read is fresh (no replica really stored revision 2)
            fresh = await wait_until(payments_read, timeout=20, what="config reads from the database")
            assert fresh["revision"] == 1
    finally:
        await hub.stop()


def test_startup_timeout_setting_is_read_and_checked() -> None:
    assert load_settings(env={}).startup_timeout_seconds == 60.0
    assert load_settings(env={"CENTRAL_HUB_STARTUP_TIMEOUT": "2.5"}).startup_timeout_seconds == 2.5
    with pytest.raises(SettingsError, match="CENTRAL_HUB_STARTUP_TIMEOUT"):
        load_settings(env={"CENTRAL_HUB_STARTUP_TIMEOUT": "soon"})
