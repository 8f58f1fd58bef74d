"""The paths that keep a large registry fast behave as the plain ones did.

Start-up loading, TTL expiry by deadline, cached service answers and figures, and the cached
dependency graph, on SQLite and on the real PostgreSQL.
"""

from __future__ import annotations

import gc
from typing import Any

import httpx
import pytest

from centralhub.core.time import ManualClock
from centralhub.hub import Hub
from centralhub.registry import loading, repository
from centralhub.registry.expiry import ExpiryQueue
from centralhub.registry.models import InstanceStatus, Registration
from tests.registry.conftest import clocked_hub
from tests.support import wait_until

TENANT = {"X-Tenant-ID": "default"}


async def register(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/services/register", json=body, headers=TENANT)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def _status_of(client: httpx.AsyncClient, service: str, instance_id: str) -> str | None:
    resp = await client.get(f"/api/v1/services/{service}", headers=TENANT)
    if resp.status_code == 404:
        return None
    return {i["instance_id"]: i["status"] for i in resp.json()["instances"]}.get(instance_id)


# ------------------------------------------------------------------------- start-up load
async def test_the_start_up_load_builds_what_the_repository_reads(hub: Hub) -> None:
    reg = hub.registry
    await reg.register(
        "default",
        Registration(
            name="full",
            host="::1",
            port=1,
            protocol="grpc",
            health_endpoint="/healthz",
            version="2.1.0",
            metadata={"zone": "a", "nested": {"n": [1, 2.5, None, True]}, "text": "é"},
            tags=["x", "y"],
            weight=3,
            ttl_seconds=17,
            transport_preferences=["nats", "http"],
            dependencies=["db", "cache"],
            check={"type": "http", "interval_seconds": 30},
        ),
    )
    bare, _ = await reg.register("other", Registration(name="bare", host="h", port=2))
    await reg.set_status(bare, InstanceStatus.DRAINING)
    async with hub.database.engine.connect() as conn:
        expected = {i.id: i.to_dict() for i in await repository.get_all(conn)}
        loaded = {i.id: i.to_dict() for i in await loading.load_all(conn)}
        chunks = [len(c) async for c in loading.stream_all(conn, chunk_rows=1)]
    assert loaded == expected and len(loaded) == 2
    assert chunks == [1, 1]


async def test_a_restart_loads_every_instance_with_its_state(hub: Hub) -> None:
    reg = hub.registry
    made = []
    for k in range(60):
        inst, _ = await reg.register("default", Registration(name=f"svc-{k % 7}", host=f"h{k}", port=k))
        made.append(inst)
    await reg.set_status(made[0], InstanceStatus.DRAINING)
    await hub.stop()
    again = clocked_hub(hub.settings, ManualClock())
    await again.start()
    try:
        assert {i.id for i in again.registry.all_instances("default")} == {i.id for i in made}
        assert again.registry.get_instance("default", "svc-0", made[0].id).status == InstanceStatus.DRAINING
        figures = again.registry.figures("default")
        assert figures["services"] == 7 and figures["instances"] == 60
        assert figures["instances_by_status"]["draining"] == 1
    finally:
        await again.stop()
        await hub.start()  # the fixture stops it again


# ------------------------------------------------------------------------- TTL expiry
async def test_a_heartbeating_instance_outlives_many_ttls(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    alive = await register(client, name="beat", host="b1", port=1, ttl_seconds=5)
    silent = await register(client, name="beat", host="b2", port=2, ttl_seconds=5)
    for _ in range(6):  # 24 s: almost five TTLs
        clock.advance(4)
        hb = await client.post(
            f"/api/v1/services/beat/instances/{alive['instance_id']}/heartbeat", headers=TENANT
        )
        assert hb.status_code == 200
        await hub.registry.expire()
    assert await _status_of(client, "beat", alive["instance_id"]) == "passing"
    # the silent one went critical after its TTL and was removed after the grace
    assert await _status_of(client, "beat", silent["instance_id"]) is None


async def test_reregistering_with_a_shorter_ttl_expires_at_the_new_ttl(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    first = await register(client, name="shrink", host="s1", port=1, ttl_seconds=3600)
    again = await register(client, name="shrink", host="s1", port=1, ttl_seconds=5)
    assert again["instance_id"] == first["instance_id"]
    clock.advance(6)
    await hub.registry.expire()
    assert await _status_of(client, "shrink", first["instance_id"]) == "critical"


async def test_expiry_waits_a_full_ttl_after_a_database_outage(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    reg = await register(client, name="outage", host="o1", port=1, ttl_seconds=5)
    clock.advance(4)
    hub.registry.note_storage_outage()  # heartbeats meanwhile may not have been stored
    clock.advance(4)  # 8 s since the last heartbeat, 4 s since the outage
    await hub.registry.expire()
    assert await _status_of(client, "outage", reg["instance_id"]) == "passing"
    clock.advance(2)
    await hub.registry.expire()
    assert await _status_of(client, "outage", reg["instance_id"]) == "critical"


async def test_a_deregistered_instance_is_not_expired_later(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    reg = await register(client, name="gone", host="g1", port=1, ttl_seconds=1)
    resp = await client.delete(f"/api/v1/services/gone/instances/{reg['instance_id']}", headers=TENANT)
    assert resp.status_code == 204
    changes: list[Any] = []
    hub.registry.add_status_listener(lambda inst, old, new: _note(changes, inst.id))
    clock.advance(5)
    await hub.registry.expire()
    clock.advance(5)
    await hub.registry.expire()
    assert changes == []


async def _note(changes: list[Any], item: Any) -> None:
    changes.append(item)


def test_the_expiry_queue_hands_out_ids_by_deadline() -> None:
    q = ExpiryQueue()
    q.schedule_many([("a", 10.0), ("b", 5.0), ("c", 7.0)])
    q.schedule("a", 20.0)  # a later deadline does not postpone an earlier one
    q.schedule("c", 1.0)  # an earlier one wins
    q.discard("b")
    assert q.pop_due(0.5) == []
    assert q.pop_due(10.0) == ["c", "a"]
    assert len(q) == 0 and q.pop_due(100.0) == []
    q.schedule("a", 3.0)
    assert "a" in q and q.due_at("a") == 3.0


def test_the_expiry_queue_does_not_hoard_superseded_entries() -> None:
    q = ExpiryQueue()
    for k in range(20_000):
        q.schedule("same", 1e9 - k)  # each earlier than the last: a new heap entry each time
    assert len(q) == 1
    assert len(q._heap) < 2_000
    assert q.pop_due(1e9) == ["same"]


# ------------------------------------------------------------------------- cached answers
async def test_service_answers_show_changes_at_once_and_heartbeats_within_a_second(
    client: httpx.AsyncClient,
) -> None:
    a = await register(client, name="cached", host="c1", port=1)
    first = (await client.get("/api/v1/services/cached", headers=TENANT)).json()
    assert [i["instance_id"] for i in first["instances"]] == [a["instance_id"]]
    b = await register(client, name="cached", host="c2", port=2)
    second = (await client.get("/api/v1/services/cached", headers=TENANT)).json()
    assert {i["instance_id"] for i in second["instances"]} == {a["instance_id"], b["instance_id"]}

    path = f"/api/v1/services/cached/instances/{a['instance_id']}/heartbeat"
    assert (await client.post(path, json={"load": 0.75}, headers=TENANT)).status_code == 200

    async def load_shown() -> bool:
        doc = (await client.get("/api/v1/services/cached", headers=TENANT)).json()
        return {i["instance_id"]: i["load"] for i in doc["instances"]}[a["instance_id"]] == 0.75

    await wait_until(load_shown, timeout=3, what="the heartbeat's load in the service answer")


async def test_figures_follow_every_change(client: httpx.AsyncClient, hub: Hub) -> None:
    async def figures() -> dict[str, Any]:
        return (await client.get("/discovery/health", headers=TENANT)).json()

    before = await figures()
    reg = await register(client, name="counted", host="f1", port=1)
    after = await figures()
    assert after["instances"] == before["instances"] + 1
    assert after["services"] == before["services"] + 1
    inst = hub.registry.get_instance("default", "counted", reg["instance_id"])
    await hub.registry.set_status(inst, InstanceStatus.DRAINING)
    assert (await figures())["instances_by_status"]["draining"] == before["instances_by_status"][
        "draining"
    ] + 1
    assert (
        await client.delete(f"/api/v1/services/counted/instances/{reg['instance_id']}", headers=TENANT)
    ).is_success
    assert await figures() == before
    health = (await client.get("/health")).json()
    assert health["registered_services"] == hub.registry.figures()["services"]


async def test_the_dependency_graph_follows_registrations(hub: Hub) -> None:
    reg = hub.registry
    graph = hub.dependency_graph
    assert "orders" not in graph.build("default").edges
    orders, _ = await reg.register(
        "default", Registration(name="orders", host="o", port=1, dependencies=["db"])
    )
    assert graph.build("default").edges["orders"] == {"db"}
    await reg.register("default", Registration(name="orders", host="o2", port=2, dependencies=["cache"]))
    assert graph.build("default").edges["orders"] == {"db", "cache"}
    assert graph.dependents_of("cache", "default") == ["orders"]
    await reg.register("default", Registration(name="orders", host="o", port=1, dependencies=[]))
    assert graph.build("default").edges["orders"] == {"cache"}
    # a status change leaves the graph as it is; another tenant's services stay out of it
    await reg.set_status(orders, InstanceStatus.DRAINING)
    await reg.register("other", Registration(name="billing", host="b", port=1, dependencies=["orders"]))
    assert "billing" not in graph.build("default").edges
    assert graph.build(None).edges["billing"] == {"orders"}
    for inst in reg.instances("default", "orders"):
        await reg.deregister("default", "orders", inst.id)
    assert "orders" not in graph.build("default").edges


async def test_after_a_large_load_the_registry_works_as_before(
    hub: Hub, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load past the freeze threshold (lowered here) leaves every write path working: the
    frozen instances are still updated, expired and removed."""
    reg = hub.registry
    made = []
    for k in range(60):
        reg_k = Registration(name=f"big-{k % 6}", host=f"h{k}", port=k, ttl_seconds=5)
        made.append((await reg.register("default", reg_k))[0])
    await hub.stop()
    monkeypatch.setattr(loading, "FREEZE_AT", 50)
    frozen_before = gc.get_freeze_count()
    again = clocked_hub(hub.settings, clock)
    await again.start()
    try:
        assert gc.get_freeze_count() > frozen_before
        assert gc.isenabled()
        assert len(again.registry.all_instances("default")) == 60
        kept, gone = made[0], made[1]
        clock.advance(4)
        await again.registry.heartbeat("default", kept.service_name, kept.id)
        clock.advance(4)
        await again.registry.expire()
        view = again.registry
        assert view.get_instance("default", gone.service_name, gone.id).status == InstanceStatus.CRITICAL
        assert view.get_instance("default", kept.service_name, kept.id).status == InstanceStatus.PASSING
        clock.advance(2)  # past the removal grace
        await again.registry.expire()
        assert [i.id for i in again.registry.all_instances("default")] == [kept.id]
    finally:
        await again.stop()
        gc.unfreeze()  # the rest of the test session is collected as usual
        await hub.start()  # the fixture stops it again
