"""How deployments end and what they leave behind, and draining by hand; SQLite and PostgreSQL.

A stopped rollout (cancelled, failed) puts back what it drained; a successful one deregisters the
instances it replaced after their drain period, so the service ends ``healthy``. Two replicas on
one database can never run two deployments of one service.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from centralhub.core.settings import Settings, SettingsError, load_settings
from centralhub.deployments.models import BatchState, Deployment, DeploymentState
from centralhub.hub import Hub
from centralhub.registry.models import Registration
from centralhub.server.app import create_app
from tests.ops.test_deployments import _deployment, _register, _wait_for
from tests.support import wait_until


async def _statuses(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    resp = await client.get(f"/api/v1/services/{name}")
    assert resp.status_code == 200, resp.text
    return {i["instance_id"]: i["status"] for i in resp.json()["instances"]}


async def _service_status(client: httpx.AsyncClient, name: str) -> str:
    return str((await client.get(f"/api/v1/services/{name}")).json()["status"])


async def test_drain_and_undrain_an_instance(client: httpx.AsyncClient) -> None:
    name = f"pay-{uuid.uuid4().hex[:8]}"
    a = await _register(client, name, 9700, "v1")
    b = await _register(client, name, 9701, "v1")

    resp = await client.post(f"/api/v1/services/{name}/instances/{a}/drain")
    assert resp.status_code == 200, resp.text
    assert resp.json()["instance_id"] == a and resp.json()["status"] == "draining"
    assert await _statuses(client, name) == {a: "draining", b: "passing"}
    assert await _service_status(client, name) == "degraded"
    for _ in range(6):
        assert (await client.get(f"/api/v1/services/{name}/endpoint")).json()["instance_id"] == b
    # draining twice changes nothing
    again = await client.post(f"/api/v1/services/{name}/instances/{a}/drain")
    assert again.status_code == 200 and again.json()["status"] == "draining"

    resp = await client.post(f"/api/v1/services/{name}/instances/{a}/undrain")
    assert resp.status_code == 200 and resp.json()["status"] == "passing"
    assert await _statuses(client, name) == {a: "passing", b: "passing"}
    assert await _service_status(client, name) == "healthy"
    # undraining an instance that is not draining leaves its status alone
    resp = await client.post(f"/api/v1/services/{name}/instances/{b}/undrain")
    assert resp.status_code == 200 and resp.json()["status"] == "passing"

    missing = await client.post(f"/api/v1/services/{name}/instances/{uuid.uuid4().hex}/drain")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    other = await client.post(
        f"/api/v1/services/{name}/instances/{a}/drain", headers={"X-Tenant-ID": "other"}
    )
    assert other.status_code == 404


async def test_cancelled_rollout_puts_drained_instances_back(client: httpx.AsyncClient) -> None:
    name = f"ord-{uuid.uuid4().hex[:8]}"
    old = [await _register(client, name, 9710 + n, "v1") for n in range(3)]
    resp = await client.post(
        "/api/v1/deployments",
        json={"service": name, "version": "v2", "batch_size": 2, "deadline_seconds": 60},
    )
    assert resp.status_code == 202, resp.text
    dep_id = resp.json()["id"]
    await _wait_for(client, dep_id, lambda d: d["batches"][0]["state"] == "waiting")
    assert await _statuses(client, name) == {old[0]: "draining", old[1]: "draining", old[2]: "passing"}

    resp = await client.post(f"/api/v1/deployments/{dep_id}/cancel")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["state"] == "cancelled" and doc["error"] == "cancelled"
    assert doc["batches"][0]["state"] == "cancelled" and doc["batches"][1]["state"] == "pending"
    assert doc["cancel_requested_at"] is not None
    assert await _statuses(client, name) == {i: "passing" for i in old}
    assert await _service_status(client, name) == "healthy"
    # the service is free for the next deployment at once
    again = await client.post("/api/v1/deployments", json={"service": name, "version": "v3"})
    assert again.status_code == 202, again.text


async def test_failed_rollout_puts_drained_instances_back(client: httpx.AsyncClient) -> None:
    name = f"risk-{uuid.uuid4().hex[:8]}"
    old = [await _register(client, name, 9720 + n, "v1") for n in range(2)]
    resp = await client.post(
        "/api/v1/deployments",
        json={"service": name, "version": "v2", "batch_size": 1, "deadline_seconds": 0.5},
    )
    assert resp.status_code == 202, resp.text
    doc = await _wait_for(client, resp.json()["id"], lambda d: d["state"] == "failed")
    assert doc["batches"][0]["state"] == "failed" and doc["batches"][1]["state"] == "pending"
    assert await _statuses(client, name) == {i: "passing" for i in old}


async def test_successful_rollout_deregisters_replaced_instances_after_drain(
    client: httpx.AsyncClient,
) -> None:
    name = f"gw-{uuid.uuid4().hex[:8]}"
    old = [await _register(client, name, 9730 + n, "v1") for n in range(2)]
    resp = await client.post(
        "/api/v1/deployments",
        json={
            "service": name,
            "version": "v2",
            "batch_size": 2,
            "deadline_seconds": 30,
            "drain_seconds": 1.5,
        },
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["drain_seconds"] == 1.5
    dep_id = resp.json()["id"]
    await _wait_for(client, dep_id, lambda d: d["batches"][0]["state"] == "waiting")
    new = [await _register(client, name, 9740 + n, "v2") for n in range(2)]
    doc = await _wait_for(client, dep_id, lambda d: d["state"] == "succeeded")
    assert doc["retire_at"] is not None and doc["retire_at"] > doc["batches"][0]["started_at"]
    # still draining (serving their last requests) until the drain period is over
    statuses = await _statuses(client, name)
    assert [statuses.get(i) for i in old] == ["draining", "draining"]

    async def retired() -> bool:
        return set(await _statuses(client, name)) == set(new)

    await wait_until(retired, timeout=10, what="replaced instances deregistered")
    assert await _service_status(client, name) == "healthy"
    doc = await _wait_for(client, dep_id, lambda d: d["retire_at"] is None)
    assert {i["status"] for i in doc["batches"][0]["instances"]} == {"gone"}
    assert doc["state"] == "succeeded"


async def test_one_active_deployment_per_service_across_replicas(hub: Hub, client: httpx.AsyncClient) -> None:
    """Two replicas on one database, asked at the same moment: the database lets one through."""
    other = Hub(hub.settings, bus=hub.bus)
    await other.start()
    app = create_app(other.settings, hub=other)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub", timeout=10
        ) as client_b:
            for round_ in range(3):
                name = f"dup-{round_}-{uuid.uuid4().hex[:6]}"
                await _register(client, name, 9750, "v1")
                await wait_until(
                    lambda n=name: other.registry.instances("default", n), what="the other replica sees it"
                )
                body: dict[str, Any] = {"service": name, "version": "v2", "deadline_seconds": 60}
                first, second = await asyncio.gather(
                    client.post("/api/v1/deployments", json=body),
                    client_b.post("/api/v1/deployments", json=body),
                )
                assert sorted([first.status_code, second.status_code]) == [202, 409], (
                    first.text,
                    second.text,
                )
                winner, loser = (first, second) if first.status_code == 202 else (second, first)
                assert loser.json()["error"]["code"] == "conflict"
                assert (
                    f"deployment {winner.json()['id']} of service {name!r}"
                    in loser.json()["error"]["message"]
                )
                # either replica answers the same for the winner
                assert (await _deployment(client_b, winner.json()["id"]))["state"] in ("pending", "running")
    finally:
        await other.stop()


async def test_bad_drain_and_lease_values_name_the_setting(client: httpx.AsyncClient) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    await _register(client, name, 9760, "v1")
    resp = await client.post(
        "/api/v1/deployments", json={"service": name, "version": "v2", "drain_seconds": -1}
    )
    assert resp.status_code == 422 and "drain_seconds" in resp.json()["error"]["message"]
    with pytest.raises(
        SettingsError, match="CENTRAL_HUB_DEPLOYMENT_LEASE_SECONDS: must be a number greater than 0"
    ):
        load_settings(env={"CENTRAL_HUB_DEPLOYMENT_LEASE_SECONDS": "0"})
    with pytest.raises(
        SettingsError, match="CENTRAL_HUB_DEPLOYMENT_DRAIN_SECONDS: must be a number of seconds"
    ):
        load_settings(env={"CENTRAL_HUB_DEPLOYMENT_DRAIN_SECONDS": "soon"})
    settings = load_settings(
        env={"CENTRAL_HUB_DEPLOYMENT_LEASE_SECONDS": "2.5", "CENTRAL_HUB_DEPLOYMENT_DRAIN_SECONDS": "0"}
    )
    assert (settings.deployment_lease_seconds, settings.deployment_drain_seconds) == (2.5, 0.0)


async def test_a_replica_adopts_a_deployment_whose_owner_stopped_renewing(hub_settings: Settings) -> None:
    """The owner's work stops without a hand-over (as when its process dies): the lease runs out
    and the other replica on the database takes the deployment over and finishes it."""
    settings = hub_settings.with_overrides(deployment_lease_seconds=0.5, deployment_drain_seconds=0)
    a, b = Hub(settings), Hub(settings)
    await a.start()
    await b.start()
    try:
        name = f"svc-{uuid.uuid4().hex[:8]}"
        await a.registry.register("default", Registration(name=name, host="h", port=9770, version="v1"))
        dep = await a.deployments.create("default", service=name, version="v2", deadline_seconds=60)
        await wait_until(
            lambda: _stored_batch_state(a, dep.id, BatchState.WAITING), what="first batch waiting"
        )
        # the owner goes silent: no renewal, no run, no release
        await a.supervisor.stop("deployment-leases")
        await a.supervisor.stop(f"deployment-{dep.id}")
        silent = time.monotonic()
        adopted = await wait_until(lambda: b.deployments._runs.get(dep.id), timeout=5, what="adopted by b")
        # within twice the lease, as promised, plus room for a loaded machine's scheduling (the
        # suite shares two cores with other hubs): an adoption that waited for anything else
        # (the 5 s timeout, a restart) would still be far outside this
        assert time.monotonic() - silent <= 2 * 0.5 + 1.0
        assert adopted.dep.owner == b.registry.replica_id != a.registry.replica_id
        # b's view learns the new instance from the database (each hub has its own in-process bus)
        new, _ = await a.registry.register(
            "default", Registration(name=name, host="h", port=9771, version="v2")
        )
        await b.registry._load_missing("default", name, new.id)
        stored = await wait_until(
            lambda: _stored_state(b, dep.id, DeploymentState.SUCCEEDED), what="b finishes the deployment"
        )
        assert stored.batches[0].replacement_ids == [new.id]
    finally:
        await b.stop()
        await a.stop()


async def _stored_batch_state(hub: Hub, dep_id: str, state: BatchState) -> bool:
    return (await hub.deployments.get("default", dep_id)).batches[0].state == state


async def _stored_state(hub: Hub, dep_id: str, state: DeploymentState) -> Deployment | None:
    dep = await hub.deployments.get("default", dep_id)
    return dep if dep.state == state else None
