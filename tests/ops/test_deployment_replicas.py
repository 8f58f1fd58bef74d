"""Deployments across real hub replicas on one PostgreSQL database and NATS.

The owner of a deployment is killed with SIGKILL and another replica adopts it within twice the
lease; a create on two replicas at once lets exactly one through; a cancel works on any replica;
drain and undrain work from the CLI and are seen by every replica.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support import wait_until_sync

CLI = [sys.executable, "-m", "centralhub.cli"]
LEASE = 1.0
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def replicas(fresh_pg: str, nats_url: str, hub_process_factory: Any) -> tuple[Any, Any]:
    """Two hub processes on one fresh database and NATS (their own cluster name), 1 s leases.

    The database comes first so it is dropped only after the processes are gone."""
    env = {
        "NATS_URL": nats_url,
        "CENTRAL_HUB_CLUSTER": f"dep{uuid.uuid4().hex[:10]}",
        "CENTRAL_HUB_DEPLOYMENT_LEASE_SECONDS": str(LEASE),
    }
    a = hub_process_factory(database_url=fresh_pg, **env)
    b = hub_process_factory(database_url=fresh_pg, **env)
    return a, b


def _register(url: str, name: str, port: int, version: str) -> str:
    resp = httpx.post(
        f"{url}/api/v1/services/register",
        json={"name": name, "host": "127.0.0.1", "port": port, "version": version},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["instance_id"])


def _deployment(url: str, dep_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{url}/api/v1/deployments/{dep_id}", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _wait_deployment(url: str, dep_id: str, cond: Any, what: str, timeout: float = 20) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        doc = _deployment(url, dep_id)
        return doc if cond(doc) else None

    return wait_until_sync(probe, timeout=timeout, every=0.02, what=what)  # type: ignore[no-any-return]


def _statuses(url: str, name: str) -> dict[str, str]:
    resp = httpx.get(f"{url}/api/v1/services/{name}", timeout=10)
    assert resp.status_code == 200, resp.text
    return {i["instance_id"]: i["status"] for i in resp.json()["instances"]}


def _seen_by(url: str, name: str, count: int) -> None:
    wait_until_sync(lambda: len(_statuses(url, name)) == count, what=f"{count} instances of {name} at {url}")


def test_owner_killed_mid_deployment_another_replica_adopts_and_finishes(replicas: tuple[Any, Any]) -> None:
    a, b = replicas
    name = "trading-engine"
    old = [_register(a.url, name, 9100 + n, "v1") for n in range(2)]
    _seen_by(b.url, name, 2)
    resp = httpx.post(
        f"{a.url}/api/v1/deployments",
        json={"service": name, "version": "v2", "batch_size": 1, "deadline_seconds": 60, "drain_seconds": 1},
        timeout=10,
    )
    assert resp.status_code == 202, resp.text
    dep_id, owner_a = resp.json()["id"], resp.json()["owner"]
    assert owner_a
    # reads on the other replica follow the owner's steps
    _wait_deployment(
        b.url, dep_id, lambda d: d["batches"][0]["state"] == "waiting", "batch 1 waiting, seen on B"
    )

    a.stop(signal.SIGKILL)
    killed = time.monotonic()
    doc = _wait_deployment(
        b.url, dep_id, lambda d: d["owner"] not in (None, owner_a), "B adopts the deployment", timeout=10
    )
    adopted_after = time.monotonic() - killed
    print(f"adopted {adopted_after:.2f}s after the owner's SIGKILL (lease {LEASE}s)")
    assert adopted_after <= 2 * LEASE, adopted_after
    assert doc["state"] == "running" and doc["batches"][0]["state"] == "waiting"
    assert _statuses(b.url, name)[old[0]] == "draining"

    # the adopter continues where the dead owner stopped
    new1 = _register(b.url, name, 9200, "v2")
    doc = _wait_deployment(b.url, dep_id, lambda d: d["batches"][1]["state"] == "waiting", "batch 2 waiting")
    assert [r["instance_id"] for r in doc["batches"][0]["replacements"]] == [new1]
    new2 = _register(b.url, name, 9201, "v2")
    doc = _wait_deployment(b.url, dep_id, lambda d: d["state"] == "succeeded", "deployment succeeded")
    assert doc["owner"] != owner_a
    # after their drain period the replaced instances are gone and the service is healthy again
    wait_until_sync(lambda: set(_statuses(b.url, name)) == {new1, new2}, what="replaced instances removed")
    assert httpx.get(f"{b.url}/api/v1/services/{name}", timeout=10).json()["status"] == "healthy"


def test_cancel_on_any_replica_even_after_the_owner_died(replicas: tuple[Any, Any]) -> None:
    a, b = replicas
    # a live owner: B marks the row, A stops the run and gives back what it drained
    name = "orders"
    old = [_register(a.url, name, 9300 + n, "v1") for n in range(2)]
    _seen_by(b.url, name, 2)
    resp = httpx.post(f"{a.url}/api/v1/deployments", json={"service": name, "version": "v2"}, timeout=10)
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"]
    _wait_deployment(b.url, dep_id, lambda d: d["batches"][0]["state"] == "waiting", "batch 1 waiting")
    cancelled = httpx.post(f"{b.url}/api/v1/deployments/{dep_id}/cancel", timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["owner"] == resp.json()["owner"]
    for url in (a.url, b.url):
        wait_until_sync(
            lambda u=url: set(_statuses(u, name).values()) == {"passing"}, what=f"restored at {url}"
        )
    again = httpx.post(f"{b.url}/api/v1/deployments/{dep_id}/cancel", timeout=10)
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]

    # a dead owner: B's cancel adopts the deployment once the lease ran out, then cancels it
    name = "risk"
    old = [_register(a.url, name, 9400 + n, "v1") for n in range(2)]
    _seen_by(b.url, name, 2)
    resp = httpx.post(f"{a.url}/api/v1/deployments", json={"service": name, "version": "v2"}, timeout=10)
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"]
    _wait_deployment(b.url, dep_id, lambda d: d["batches"][0]["state"] == "waiting", "batch 1 waiting")
    assert _statuses(b.url, name)[old[0]] == "draining"
    a.stop(signal.SIGKILL)
    started = time.monotonic()
    cancelled = httpx.post(f"{b.url}/api/v1/deployments/{dep_id}/cancel", timeout=10)
    took = time.monotonic() - started
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["owner"] != resp.json()["owner"]
    assert took <= 2 * LEASE + 0.5, took
    assert set(_statuses(b.url, name).values()) == {"passing"}


def test_create_on_two_replicas_at_once_lets_one_through(replicas: tuple[Any, Any]) -> None:
    a, b = replicas
    for round_ in range(4):
        name = f"pricing-{round_}"
        _register(a.url, name, 9500, "v1")
        _seen_by(b.url, name, 1)
        answers: dict[str, httpx.Response] = {}
        gate = threading.Barrier(2)

        def create(
            url: str,
            name: str = name,
            gate: threading.Barrier = gate,
            answers: dict[str, httpx.Response] = answers,
        ) -> None:
            gate.wait()
            answers[url] = httpx.post(
                f"{url}/api/v1/deployments", json={"service": name, "version": "v2"}, timeout=10
            )

        threads = [threading.Thread(target=create, args=(u,)) for u in (a.url, b.url)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        codes = sorted(r.status_code for r in answers.values())
        assert codes == [202, 409], [r.text for r in answers.values()]
        winner = next(r for r in answers.values() if r.status_code == 202).json()
        loser = next(r for r in answers.values() if r.status_code == 409).json()
        assert loser["error"]["code"] == "conflict"
        assert f"deployment {winner['id']} of service {name!r} is still" in loser["error"]["message"]
        listed = httpx.get(f"{b.url}/api/v1/deployments", params={"service": name}, timeout=10).json()
        assert [d["id"] for d in listed["deployments"]] == [winner["id"]]


def test_drain_and_undrain_from_the_cli_reach_every_replica(replicas: tuple[Any, Any]) -> None:
    a, b = replicas
    name = "gateway"
    first = _register(a.url, name, 9600, "v1")
    second = _register(a.url, name, 9601, "v1")
    _seen_by(b.url, name, 2)

    res = subprocess.run(
        [*CLI, "services", "drain", name, first, "--hub", a.url], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{name} {first} http://127.0.0.1:9600: draining"
    wait_until_sync(lambda: _statuses(b.url, name)[first] == "draining", what="B sees the drain")
    for _ in range(6):
        ep = httpx.get(f"{b.url}/api/v1/services/{name}/endpoint", timeout=10).json()
        assert ep["instance_id"] == second

    res = subprocess.run(
        [*CLI, "services", "undrain", name, first, "--hub", b.url, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    assert '"status": "passing"' in res.stdout
    wait_until_sync(lambda: _statuses(a.url, name)[first] == "passing", what="A sees the undrain")

    res = subprocess.run(
        [*CLI, "services", "drain", name, "nope", "--hub", a.url], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 1 and "'nope'" in res.stderr and "404" in res.stderr
