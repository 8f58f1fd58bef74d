"""Rolling deployments through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from centralhub.deployments import repository
from centralhub.deployments.models import BatchState, DeploymentState
from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus, Registration
from tests.support import wait_until

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def _register(client: httpx.AsyncClient, name: str, port: int, version: str, **extra: Any) -> str:
    resp = await client.post(
        "/api/v1/services/register",
        json={"name": name, "host": "127.0.0.1", "port": port, "version": version, **extra},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["instance_id"])


async def _deployment(client: httpx.AsyncClient, dep_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/deployments/{dep_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _batch_waiting(index: int) -> Any:
    def check(doc: dict[str, Any]) -> bool:
        return bool(doc["batches"][index]["state"] == "waiting")

    return check


async def _wait_for(client: httpx.AsyncClient, dep_id: str, cond: Any, timeout: float = 20) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        doc = await _deployment(client, dep_id)
        return doc if cond(doc) else None

    return await wait_until(probe, timeout=timeout, what=f"deployment {dep_id} condition")  # type: ignore[no-any-return]


async def test_rolling_deployment_drains_batches_and_waits_for_new_version(client: httpx.AsyncClient) -> None:
    name = f"trading-{uuid.uuid4().hex[:8]}"
    old = [await _register(client, name, 9000 + n, "v1") for n in range(4)]

    resp = await client.post(
        "/api/v1/deployments",
        json={
            "service": name,
            "version": "v2",
            "strategy": "rolling",
            "batch_size": 2,
            "deadline_seconds": 30,
        },
    )
    assert resp.status_code == 202, resp.text
    dep = resp.json()
    assert [len(b["instances"]) for b in dep["batches"]] == [2, 2]
    # oldest registrations go first
    assert [i["instance_id"] for i in dep["batches"][0]["instances"]] == old[:2]

    doc = await _wait_for(client, dep["id"], _batch_waiting(0))
    assert doc["state"] == "running" and RFC3339_MS.match(doc["started_at"])
    assert RFC3339_MS.match(doc["created_at"]) and RFC3339_MS.match(doc["batches"][0]["started_at"])
    assert {i["status"] for i in doc["batches"][0]["instances"]} == {"draining"}
    assert doc["batches"][1]["state"] == "pending"

    # discovery never hands out a draining instance
    for _ in range(12):
        ep = await client.get(f"/api/v1/services/{name}/endpoint")
        assert ep.status_code == 200
        assert ep.json()["instance_id"] in old[2:]

    # one new instance is not enough for a batch of two
    new1 = await _register(client, name, 9100, "v2")
    doc = await _deployment(client, dep["id"])
    assert doc["batches"][0]["state"] == "waiting"
    new2 = await _register(client, name, 9101, "v2")

    doc = await _wait_for(client, dep["id"], _batch_waiting(1))
    assert doc["batches"][0]["state"] == "done"
    assert {r["instance_id"] for r in doc["batches"][0]["replacements"]} == {new1, new2}
    assert {i["status"] for i in doc["batches"][1]["instances"]} == {"draining"}
    assert doc["progress"] == {"batches_done": 1, "batches_total": 2}

    new = [await _register(client, name, 9102 + n, "v2") for n in range(2)]
    doc = await _wait_for(client, dep["id"], lambda d: d["state"] == "succeeded")
    assert RFC3339_MS.match(doc["finished_at"]) and doc["finished_at"] >= doc["started_at"]
    assert doc["error"] is None
    assert {r["instance_id"] for r in doc["batches"][1]["replacements"]} == set(new)
    seen = {(await client.get(f"/api/v1/services/{name}/endpoint")).json()["version"] for _ in range(8)}
    assert seen == {"v2"}

    listed = (await client.get("/api/v1/deployments", params={"service": name})).json()
    assert [d["id"] for d in listed["deployments"]] == [dep["id"]]
    assert listed["deployments"][0]["state"] == "succeeded"


async def test_batch_that_misses_its_deadline_stops_the_deployment(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    name = f"risk-{uuid.uuid4().hex[:8]}"
    for n in range(3):
        await _register(client, name, 9200 + n, "v1")
    resp = await client.post(
        "/api/v1/deployments", json={"service": name, "version": "v2", "batch_size": 2, "deadline_seconds": 1}
    )
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"]
    # two instances of the new version register, one then fails its health checks: it must not count
    # (the failing one first, so there is never a moment with two passing)
    bad = await _register(client, name, 9301, "v2")
    await hub.registry.set_status(hub.registry.get_instance("default", name, bad), InstanceStatus.CRITICAL)
    await _register(client, name, 9300, "v2")

    doc = await _wait_for(client, dep_id, lambda d: d["state"] != "running" and d["state"] != "pending")
    assert doc["state"] == "failed"
    assert doc["batches"][0]["state"] == "failed"
    assert doc["batches"][1]["state"] == "pending"
    # on a busy machine the deadline may pass before the passing one registered: 0 or 1 of 2
    assert "batch 1 of 2 failed" in doc["error"] and "of 2 instance(s) of version 'v2'" in doc["error"]
    assert doc["batches"][0]["replacements"] == []
    assert doc["finished_at"] is not None
    failed = (await client.get("/api/v1/deployments", params={"state": "failed"})).json()
    assert dep_id in [d["id"] for d in failed["deployments"]]


async def test_bad_requests_name_the_problem(client: httpx.AsyncClient) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    await _register(client, name, 9400, "v1")
    base = {"service": name, "version": "v2"}

    resp = await client.post("/api/v1/deployments", json={**base, "batch_size": 0})
    assert resp.status_code == 422 and "batch_size" in resp.json()["error"]["message"]
    resp = await client.post("/api/v1/deployments", json={**base, "strategy": "blue_green"})
    assert resp.status_code == 422 and "strategy" in resp.json()["error"]["message"]
    resp = await client.post("/api/v1/deployments", json={**base, "deadline_seconds": -1})
    assert resp.status_code == 422 and "deadline_seconds" in resp.json()["error"]["message"]
    resp = await client.post("/api/v1/deployments", json={"service": name})
    assert resp.status_code == 422 and "version" in resp.json()["error"]["message"]
    resp = await client.post("/api/v1/deployments", json={**base, "service": f"nope-{uuid.uuid4().hex[:6]}"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = await client.post("/api/v1/deployments", json={**base, "version": "v1"})
    assert resp.status_code == 409 and "already runs version" in resp.json()["error"]["message"]
    resp = await client.get(f"/api/v1/deployments/{uuid.uuid4().hex}")
    assert resp.status_code == 404
    resp = await client.get("/api/v1/deployments", params={"state": "exploded"})
    assert resp.status_code == 400 and "state" in resp.json()["error"]["message"]

    first = await client.post("/api/v1/deployments", json={**base, "deadline_seconds": 60})
    assert first.status_code == 202
    again = await client.post("/api/v1/deployments", json=base)
    assert again.status_code == 409 and first.json()["id"] in again.json()["error"]["message"]
    # another tenant sees neither the service nor the deployment
    other = await client.get(f"/api/v1/deployments/{first.json()['id']}", headers={"X-Tenant-ID": "other"})
    assert other.status_code == 404

    cancelled = await client.post(f"/api/v1/deployments/{first.json()['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert (await client.post(f"/api/v1/deployments/{first.json()['id']}/cancel")).status_code == 409


async def test_stop_hands_the_deployment_over_and_a_replica_continues_it(hub: Hub) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    for n in range(2):
        await hub.registry.register("default", Registration(name=name, host="h", port=9500 + n, version="v1"))
    dep = await hub.deployments.create("default", service=name, version="v2", deadline_seconds=300)

    task = f"deployment-{dep.id}"

    async def stored_waiting() -> bool:
        stored = await hub.deployments.get("default", dep.id)
        return stored.batches[0].state == BatchState.WAITING

    await wait_until(stored_waiting, what="first batch waiting")
    # the run is a supervised task, reported in GET /health while it runs
    assert hub.supervisor.report()[task]["state"] == "running"
    await hub.deployments.stop()
    async with hub.database.engine.connect() as conn:
        stored = await repository.get(conn, deployment_id=dep.id)
    assert stored is not None
    # a replica leaving gives its lease up at once instead of cancelling the rollout
    assert stored.state == DeploymentState.RUNNING
    assert stored.owner is None and stored.lease_expires_at is None
    assert stored.batches[0].state == BatchState.WAITING
    # ended runs leave the task report, so it does not grow with every deployment
    assert task not in hub.supervisor.report()

    other = Hub(hub.settings)
    await other.start()
    try:
        adopted = await wait_until(
            lambda: other.deployments._runs.get(dep.id), timeout=5, what="the other replica adopts it"
        )
        assert adopted.dep.owner == other.registry.replica_id
        await other.registry.register("default", Registration(name=name, host="h", port=9600, version="v2"))
        await wait_until(lambda: adopted.dep.batches[0].state == BatchState.DONE, what="batch continues")
        assert adopted.dep.state == DeploymentState.RUNNING
    finally:
        await other.stop()


async def test_finished_run_leaves_the_task_report_and_emits_events(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    from centralhub.deployments.models import DeploymentChanged

    seen: list[DeploymentChanged] = []

    async def on_change(event: DeploymentChanged) -> None:
        seen.append(event)

    hub.events.subscribe(DeploymentChanged, on_change)
    name = f"svc-{uuid.uuid4().hex[:8]}"
    await _register(client, name, 9600, "v1")
    # no drain period: the run ends once the replaced instance is deregistered
    resp = await client.post(
        "/api/v1/deployments",
        json={"service": name, "version": "v2", "deadline_seconds": 30, "drain_seconds": 0},
    )
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"]
    await _wait_for(client, dep_id, _batch_waiting(0))
    await _register(client, name, 9601, "v2")
    await _wait_for(client, dep_id, lambda d: d["state"] == "succeeded")
    await wait_until(
        lambda: f"deployment-{dep_id}" not in hub.supervisor.report(), what="run dropped from the task report"
    )
    await wait_until(
        lambda: [e.state for e in seen if e.id == dep_id][-1:] == [DeploymentState.SUCCEEDED],
        what="DeploymentChanged(succeeded) consumed",
    )
    states = [e.state for e in seen if e.id == dep_id]
    assert states[0] == DeploymentState.RUNNING and states[-1] == DeploymentState.SUCCEEDED
    assert seen[-1].batches_done == seen[-1].batches_total == 1
