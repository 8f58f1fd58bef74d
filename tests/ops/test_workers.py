"""``centralhub serve --workers 2`` on PostgreSQL and NATS: one port, two replicas that see each
other's writes, one SIGTERM to stop them all, a dead worker replaced; refused where workers
could not follow each other."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import wait_until_sync

CLI = [sys.executable, "-m", "centralhub.cli"]
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def workers_hub(fresh_pg: str, nats_url: str, hub_process_factory: Any) -> Any:
    """``serve --workers 2`` on a fresh database and NATS under a cluster name of its own."""
    return hub_process_factory(
        database_url=fresh_pg,
        NATS_URL=nats_url,
        CENTRAL_HUB_CLUSTER=f"wk{uuid.uuid4().hex[:10]}",
        CENTRAL_HUB_WORKERS="2",
        CENTRAL_HUB_REPLICA_LEASE_SECONDS="3",
    )


def _parent_of(pid: int) -> int:
    # field 4 of /proc/PID/stat; the command name before it is in parentheses and may hold spaces
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _info(client: httpx.Client) -> dict[str, Any]:
    resp = client.get("/api/v1/info")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.fixture
def one_client_per_worker(workers_hub: Any) -> Iterator[dict[str, httpx.Client]]:
    """A keep-alive client pinned to each worker, by replica id (the kernel spreads connections
    over the workers, so new connections are opened until both have answered)."""
    pinned: dict[str, httpx.Client] = {}
    spare: list[httpx.Client] = []
    try:
        for _ in range(100):
            one = httpx.Limits(max_connections=1)
            client = httpx.Client(base_url=workers_hub.url, timeout=10, limits=one)
            replica = _info(client)["replica_id"]
            if replica in pinned:
                spare.append(client)
            else:
                pinned[replica] = client
            if len(pinned) == 2:
                break
        assert len(pinned) == 2, f"only replicas {list(pinned)} answered 100 new connections"
        yield pinned
    finally:
        for client in [*pinned.values(), *spare]:
            client.close()


def test_both_workers_answer_as_replicas_of_the_parent(workers_hub: Any, one_client_per_worker: Any) -> None:
    assert workers_hub.proc is not None
    pids = {_info(c)["pid"] for c in one_client_per_worker.values()}
    assert len(pids) == 2
    assert all(_parent_of(pid) == workers_hub.proc.pid for pid in pids)

    doc = httpx.get(f"{workers_hub.url}/api/v1/replicas", timeout=10).json()
    live = {r["replica_id"]: r["pid"] for r in doc["replicas"] if r["live"]}
    assert set(live) == set(one_client_per_worker)
    assert set(live.values()) == pids


def test_a_registration_through_one_worker_is_seen_through_the_other(one_client_per_worker: Any) -> None:
    first, second = one_client_per_worker.values()
    assert _info(first)["replica_id"] != _info(second)["replica_id"]
    reg = first.post("/api/v1/services/register", json={"name": "pricing", "host": "pricing-1", "port": 8080})
    assert reg.status_code == 201, reg.text

    def seen() -> bool:
        resp = second.get("/api/v1/services/pricing")
        return resp.status_code == 200 and len(resp.json()["instances"]) == 1

    wait_until_sync(seen, timeout=5, what="the registration seen through the other worker")
    assert second.get("/api/v1/services/pricing/endpoint").json()["url"] == "http://pricing-1:8080"

    gone = second.delete(f"/api/v1/services/pricing/instances/{reg.json()['instance_id']}")
    assert gone.status_code in (200, 204), gone.text

    def forgotten() -> bool:
        resp = first.get("/api/v1/services/pricing")
        return resp.status_code == 404 or resp.json()["instances"] == []

    wait_until_sync(forgotten, timeout=5, what="the deregistration seen through the first worker")


def test_sigterm_to_the_parent_stops_every_worker_cleanly(
    workers_hub: Any, one_client_per_worker: Any
) -> None:
    assert workers_hub.proc is not None and workers_hub.log_path is not None
    pids = [_info(c)["pid"] for c in one_client_per_worker.values()]
    began = time.monotonic()
    workers_hub.proc.send_signal(signal.SIGTERM)
    code = workers_hub.proc.wait(15)
    took = time.monotonic() - began

    assert code == 0
    assert took < 5.0, f"took {took:.2f}s to stop"
    assert not [pid for pid in pids if _alive(pid)]
    log = workers_hub.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    # each worker drained and left the replica table as a single hub process does
    assert log.count("Application shutdown complete") == 2, log[-3000:]
    assert log.count(" left; its health checks move") == 2, log[-3000:]


def test_a_worker_that_dies_is_replaced(workers_hub: Any, one_client_per_worker: Any) -> None:
    assert workers_hub.proc is not None
    before = {_info(c)["pid"] for c in one_client_per_worker.values()}
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    def new_worker() -> set[int]:
        pids = set()
        for _ in range(20):
            # a connection the kernel gave the dead worker's socket fails; the next may not
            with contextlib.suppress(httpx.HTTPError):
                pids.add(httpx.get(f"{workers_hub.url}/api/v1/info", timeout=5).json()["pid"])
        return pids - before

    fresh = wait_until_sync(new_worker, timeout=30, every=0.2, what="a replacement worker")
    assert all(_parent_of(pid) == workers_hub.proc.pid for pid in fresh)
    assert workers_hub.proc.poll() is None
    assert workers_hub.stop() == 0


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "NATS_URL"))}
    return subprocess.run(
        [*CLI, "serve", *args], env={**full, **env}, capture_output=True, text=True, timeout=60
    )


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    done = _serve({"DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}, "--workers", "2")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "several workers need PostgreSQL" in lines[0], done.stderr
    assert not (tmp_path / "hub.db").exists()


def test_several_workers_without_nats_are_refused(fresh_pg: str) -> None:
    done = _serve({"DATABASE_URL": fresh_pg, "CENTRAL_HUB_WORKERS": "3"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "several workers need NATS_URL" in lines[0], done.stderr


def test_a_worker_count_below_one_is_refused(tmp_path: Path) -> None:
    done = _serve({"DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "CENTRAL_HUB_WORKERS": "0"})
    assert done.returncode == 2
    assert "CENTRAL_HUB_WORKERS" in done.stderr, done.stderr


def test_workers_that_cannot_bind_the_port_stop_the_parent(fresh_pg: str, nats_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        done = _serve(
            {
                "DATABASE_URL": fresh_pg,
                "NATS_URL": nats_url,
                "CENTRAL_HUB_CLUSTER": f"wk{uuid.uuid4().hex[:10]}",
                "CENTRAL_HUB_HOST": "127.0.0.1",
            },
            "--workers",
            "2",
            "--port",
            str(port),
        )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "cannot serve on 127.0.0.1" in done.stderr and "in use" in done.stderr, done.stderr[-2000:]
    assert time.monotonic() - began < 30
