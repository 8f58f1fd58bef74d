"""Registry and discovery over HTTP, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from centralhub.core.time import ManualClock, parse_rfc3339
from centralhub.hub import Hub
from tests.registry.conftest import clocked_hub
from tests.support import wait_until

README_EXAMPLE = {
    "name": "api-gateway",
    "host": "suho-api-gateway",
    "port": 8000,
    "protocol": "http",
    "health_endpoint": "/health",
    "metadata": {
        "type": "api-gateway",
        "capabilities": ["http", "websocket", "trading"],
        "max_connections": 1000,
    },
}


async def register(client: httpx.AsyncClient, tenant: str | None = None, **body: Any) -> dict[str, Any]:
    headers = {"X-Tenant-ID": tenant} if tenant else {}
    resp = await client.post("/api/v1/services/register", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_readme_example_registers_and_is_discoverable(client: httpx.AsyncClient) -> None:
    resp = await client.post("/discovery/register", json=README_EXAMPLE)
    assert resp.status_code == 201
    instance_id = resp.json()["instance_id"]

    for path in ("/api/v1/services/api-gateway", "/discovery/services/api-gateway"):
        svc = (await client.get(path)).json()
        assert svc["name"] == "api-gateway"
        [inst] = svc["instances"]
        assert inst["instance_id"] == instance_id
        assert inst["url"] == "http://suho-api-gateway:8000"
        assert inst["metadata"]["max_connections"] == 1000
        assert inst["status"] == "passing"

    listing = (await client.get("/discovery/services")).json()
    assert [s["name"] for s in listing["services"]] == ["api-gateway"]
    assert (await client.get("/api/v1/services")).json() == listing


async def test_reregistering_same_endpoint_keeps_instance_id(client: httpx.AsyncClient) -> None:
    first = await register(client, name="orders", host="10.0.0.5", port=9000, version="1.0.0")
    again = await register(client, name="orders", host="10.0.0.5", port=9000, version="1.1.0")
    assert again["instance_id"] == first["instance_id"]
    assert again["created"] is False
    svc = (await client.get("/api/v1/services/orders")).json()
    assert [i["version"] for i in svc["instances"]] == ["1.1.0"]
    other = await register(client, name="orders", host="10.0.0.6", port=9000)
    assert other["instance_id"] != first["instance_id"]


async def test_heartbeat_deregister_and_unknowns(client: httpx.AsyncClient) -> None:
    reg = await register(client, name="quotes", host="q1", port=8100)
    iid = reg["instance_id"]
    hb = await client.post(f"/api/v1/services/quotes/instances/{iid}/heartbeat", json={"load": 0.7})
    assert hb.status_code == 200
    assert hb.json()["status"] == "passing"
    assert (await client.post("/api/v1/services/quotes/instances/nope/heartbeat")).status_code == 404
    # the instance id belongs to another service name
    assert (await client.post(f"/api/v1/services/other/instances/{iid}/heartbeat")).status_code == 404

    assert (await client.delete(f"/api/v1/services/quotes/instances/{iid}")).status_code == 204
    resp = await client.get("/api/v1/services/quotes")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    assert "quotes" in resp.json()["error"]["message"]
    assert (await client.delete(f"/api/v1/services/quotes/instances/{iid}")).status_code == 404


async def test_round_robin_rotates_and_strategies(client: httpx.AsyncClient) -> None:
    ids = {
        (await register(client, name="pricing", host=f"p{i}", port=7100 + i, weight=i + 1))["instance_id"]
        for i in range(3)
    }
    seen = []
    for _ in range(6):
        resp = await client.get("/api/v1/services/pricing/endpoint", params={"strategy": "round_robin"})
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) >= {"instance_id", "host", "port", "url", "weight", "load"}
        assert body["url"] == f"http://{body['host']}:{body['port']}"
        seen.append(body["instance_id"])
    assert set(seen[:3]) == ids, "round robin visits every instance once per cycle"
    assert seen[:3] == seen[3:]

    for strategy in ("random", "weighted", "least_load"):
        resp = await client.get("/api/v1/services/pricing/endpoint", params={"strategy": strategy})
        assert resp.status_code == 200 and resp.json()["instance_id"] in ids

    weighted: Counter[int] = Counter()
    for _ in range(300):
        resp = await client.get("/api/v1/services/pricing/endpoint?strategy=weighted")
        weighted[resp.json()["port"]] += 1
    assert weighted[7102] > weighted[7100], weighted  # weight 3 vs weight 1

    bad = await client.get("/api/v1/services/pricing/endpoint", params={"strategy": "fastest"})
    assert bad.status_code == 400
    assert "strategy" in bad.json()["error"]["message"]


async def test_least_load_prefers_the_idle_instance(client: httpx.AsyncClient) -> None:
    a = await register(client, name="workers", host="w1", port=1)
    b = await register(client, name="workers", host="w2", port=2)
    await client.post(f"/api/v1/services/workers/instances/{a['instance_id']}/heartbeat", json={"load": 0.9})
    await client.post(f"/api/v1/services/workers/instances/{b['instance_id']}/heartbeat", json={"load": 0.1})
    for _ in range(3):
        resp = await client.get("/api/v1/services/workers/endpoint?strategy=least_load")
        assert resp.json()["instance_id"] == b["instance_id"]


async def _statuses(client: httpx.AsyncClient, service: str) -> dict[str, str]:
    resp = await client.get(f"/api/v1/services/{service}")
    if resp.status_code == 404:
        return {}
    return {i["instance_id"]: i["status"] for i in resp.json()["instances"]}


async def test_ttl_expiry_hides_instance_then_removes_it(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    short = await register(client, name="ticker", host="t1", port=1, ttl_seconds=5)
    await register(client, name="ticker", host="t2", port=2, ttl_seconds=3600)
    clock.advance(4)
    await asyncio.sleep(0.5)  # a few reaper passes: within its TTL nothing changes
    assert (await _statuses(client, "ticker"))[short["instance_id"]] == "passing"

    clock.advance(2)
    await wait_until(lambda: _has_status(client, "ticker", short["instance_id"], "critical"), what="critical")
    for _ in range(10):
        endpoint = (await client.get("/api/v1/services/ticker/endpoint")).json()
        assert endpoint["host"] == "t2"
    healthy = (await client.get("/api/v1/services?status=healthy")).json()
    assert [i["host"] for i in healthy["services"][0]["instances"]] == ["t2"]
    critical = (await client.get("/api/v1/services/ticker?status=critical")).json()["instances"]
    assert [i["host"] for i in critical] == ["t1"]
    assert parse_rfc3339(critical[0]["critical_since"]) == pytest.approx(clock.now, abs=0.01)

    # after the grace period (1 s in these tests) the expired instance is removed
    clock.advance(1.5)
    await wait_until(
        lambda: _has_status(client, "ticker", short["instance_id"], None), what="expired instance removed"
    )
    assert list((await _statuses(client, "ticker")).values()) == ["passing"]


async def _has_status(client: httpx.AsyncClient, service: str, instance_id: str, status: str | None) -> bool:
    return (await _statuses(client, service)).get(instance_id) == status


async def test_no_healthy_instance_is_503_with_message(client: httpx.AsyncClient, clock: ManualClock) -> None:
    reg = await register(client, name="lonely", host="l1", port=1, ttl_seconds=1)
    clock.advance(2)
    await wait_until(lambda: _has_status(client, "lonely", reg["instance_id"], "critical"), what="critical")
    resp = await client.get("/api/v1/services/lonely/endpoint")
    assert resp.status_code == 503
    assert "none is healthy" in resp.json()["error"]["message"]
    assert (await client.get("/api/v1/services/ghost/endpoint")).status_code == 404


async def test_heartbeat_revives_an_expired_instance(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    reg = await register(client, name="revive", host="r1", port=1, ttl_seconds=1)
    inst = hub.registry.get_instance("default", "revive", reg["instance_id"])
    clock.advance(2)
    await wait_until(lambda: inst.status.value == "critical", what="TTL expiry")
    hb = await client.post(f"/api/v1/services/revive/instances/{reg['instance_id']}/heartbeat")
    assert hb.status_code == 200 and hb.json()["status"] == "passing"
    assert (await client.get("/api/v1/services/revive/endpoint")).status_code == 200
    stored = await hub.registry.get_stored(reg["instance_id"])
    assert stored is not None and stored.status.value == "passing"


async def test_tenants_never_see_each_other(client: httpx.AsyncClient) -> None:
    await register(client, tenant="alpha", name="shared-name", host="a", port=1)
    await register(client, tenant="beta", name="shared-name", host="b", port=1)
    await register(client, tenant="beta", name="beta-only", host="b", port=2)
    alpha = (await client.get("/api/v1/services", headers={"X-Tenant-ID": "alpha"})).json()
    assert [s["name"] for s in alpha["services"]] == ["shared-name"]
    assert alpha["services"][0]["instances"][0]["host"] == "a"
    resp = await client.get("/api/v1/services/beta-only", headers={"X-Tenant-ID": "alpha"})
    assert resp.status_code == 404
    resp = await client.get("/api/v1/services/shared-name/endpoint", headers={"X-Tenant-ID": "beta"})
    assert resp.json()["host"] == "b"
    assert (await client.get("/api/v1/services")).json()["services"] == []  # default tenant
    bad = await client.get("/api/v1/services", headers={"X-Tenant-ID": "no.dots allowed"})
    assert bad.status_code == 400 and "X-Tenant-ID" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"name": "a", "host": "h", "port": 99999}, 422, "port"),
        ({"name": "a", "host": "h", "port": 0}, 422, "port"),
        ({"name": "a", "host": "", "port": 80}, 422, "host"),
        ({"name": "a", "host": "has space", "port": 80}, 422, "host"),
        ({"host": "h", "port": 80}, 422, "name"),
        ({"name": "", "host": "h", "port": 80}, 422, "name"),
        ({"name": "a", "host": "h", "port": "eighty"}, 422, "port"),
        ({"name": "a", "host": "h", "port": 80, "protocol": "carrier-pigeon"}, 422, "protocol"),
        ({"name": "a", "host": "h", "port": 80, "ttl_seconds": 0}, 422, "ttl_seconds"),
        ({"name": "a", "host": "h", "port": 80, "metadata": {"blob": "x" * 70_000}}, 413, "metadata"),
        ([1, 2, 3], 422, "body"),
    ],
)
async def test_bad_registrations_are_4xx_naming_the_field(
    client: httpx.AsyncClient, body: Any, status: int, needle: str
) -> None:
    resp = await client.post("/api/v1/services/register", json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert needle in err["message"], err
    assert (await client.get("/api/v1/services")).json()["services"] == []


async def test_unknown_registration_fields_are_refused_not_dropped(client: httpx.AsyncClient) -> None:
    # misspelt health check and TTL: silently ignoring them would leave the instance unchecked
    # and on the default TTL
    body = {"name": "typo-svc", "host": "h", "port": 1, "healthcheck": "/h", "ttl": 5}
    for path in ("/api/v1/services/register", "/discovery/register"):
        resp = await client.post(path, json=body)
        assert resp.status_code == 422, resp.text
        fields = {d["field"] for d in resp.json()["error"]["details"]}
        assert fields == {"healthcheck", "ttl"}, resp.text
    batch = await client.post(
        "/api/v1/services/register/batch",
        json={"instances": [{"name": "typo-svc", "host": "h", "port": 2}, {**body, "port": 3}]},
    )
    assert batch.status_code == 422, batch.text
    assert "instances.1.ttl" in batch.json()["error"]["message"]
    assert (await client.get("/api/v1/services")).json()["services"] == []


async def test_non_json_and_form_encoded_bodies(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/services/register", content=b"{not json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_json"
    # an editor's line and column, never the byte offset dressed up as a field name
    for path in ("/api/v1/services/register", "/api/v1/services/register/batch"):
        resp = await client.post(path, content=b'{\n  "name": "x",\n  "host" "h"\n}')
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["code"] == "invalid_json"
        assert "line 3 column 10" in error["message"], error
        assert error["details"] == [{"line": 3, "column": 10, "message": "Expecting ':' delimiter"}]
    # curl -d sends JSON labelled as a form; the hub still reads it as JSON
    resp = await client.post(
        "/discovery/register",
        content=b'{"name": "curl-svc", "host": "c", "port": 5}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 201
    hb = await client.post(
        f"/api/v1/services/curl-svc/instances/{resp.json()['instance_id']}/heartbeat", content=b"[oops"
    )
    assert hb.status_code == 400


async def test_unknown_route_and_method_are_json_errors(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = await client.put("/api/v1/services/register")
    assert resp.status_code == 405 and "error" in resp.json()


async def test_info_health_and_discovery_health(client: httpx.AsyncClient) -> None:
    await register(client, name="svc-a", host="a", port=1)
    await register(client, name="svc-b", host="b", port=1)
    info = (await client.get("/")).json()
    assert info["name"] == "Central Hub" and info["uptime_seconds"] >= 0 and "health" in info["links"]
    health = (await client.get("/health")).json()
    assert health["status"] == "healthy"
    assert health["checks"]["database"] == "healthy"
    assert health["registered_services"] == 2
    assert abs(health["timestamp"] - time.time() * 1000) < 60_000
    disc = (await client.get("/discovery/health")).json()
    assert disc["services"] == 2 and disc["instances"] == 2
    assert disc["instances_by_status"]["passing"] == 2
    assert (await client.get("/openapi.json")).json()["paths"]["/api/v1/services/{name}/endpoint"]


async def test_registrations_survive_a_restart(hub: Hub) -> None:
    from centralhub.registry.models import Registration

    inst, _ = await hub.registry.register("default", Registration(name="durable", host="d", port=1))
    await hub.registry.heartbeat("default", "durable", inst.id)
    stored_seen = inst.last_seen
    await hub.stop()
    again = clocked_hub(hub.settings, ManualClock())
    await again.start()
    try:
        [back] = again.registry.instances("default", "durable")
        assert back.id == inst.id
        assert back.last_seen >= stored_seen - 0.001
    finally:
        await again.stop()
        await hub.start()  # the fixture stops it again


async def test_heartbeats_are_written_in_batches(client: httpx.AsyncClient, hub: Hub) -> None:
    ids = [(await register(client, name="batchy", host=f"b{i}", port=1))["instance_id"] for i in range(50)]
    before_batches = hub.registry.heartbeat_batches
    before = hub.registry.heartbeats

    async def beat(iid: str) -> int:
        return (await client.post(f"/api/v1/services/batchy/instances/{iid}/heartbeat")).status_code

    codes = await asyncio.gather(*(beat(i) for _ in range(4) for i in ids))
    assert set(codes) == {200}
    beats = hub.registry.heartbeats - before
    batches = hub.registry.heartbeat_batches - before_batches
    assert beats == 200
    assert batches < beats / 2, f"{batches} database writes for {beats} heartbeats"


async def test_batch_heartbeats_store_many_and_name_unknowns(client: httpx.AsyncClient, hub: Hub) -> None:
    ids = [(await register(client, name="many", host=f"m{i}", port=1))["instance_id"] for i in range(20)]
    before = hub.registry.heartbeat_batches
    body = {"heartbeats": [{"service": "many", "instance_id": i, "load": 0.5} for i in ids]}
    body["heartbeats"].append({"service": "many", "instance_id": "ghost"})
    resp = await client.post("/api/v1/heartbeats", json=body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["stored"] == 20
    assert data["results"][-1] == {"instance_id": "ghost", "status": "unknown"}
    assert hub.registry.heartbeat_batches - before == 1
    assert all(i.load == 0.5 for i in hub.registry.instances("default", "many"))
    bad = await client.post("/api/v1/heartbeats", json={"heartbeats": [{"service": "many"}]})
    assert bad.status_code == 422 and "instance_id" in bad.json()["error"]["message"]


async def test_expired_instances_after_a_restart_revive_or_go(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    alive = await register(client, name="after", host="a", port=1, ttl_seconds=1)
    gone = await register(client, name="after", host="g", port=1, ttl_seconds=1)
    clock.advance(2)
    await wait_until(
        lambda: {i.status.value for i in hub.registry.instances("default", "after")} == {"critical"},
        what="both expired",
    )
    await hub.stop()
    later = ManualClock(clock.now + 3600)
    again = clocked_hub(hub.settings, later)
    await again.start()
    try:
        beat = await again.registry.heartbeat("default", "after", alive["instance_id"])
        assert beat.status.value == "passing", "a heartbeat revives an instance stored as critical"
        # the TTL and then the removal grace start again from the restart, not from before it
        await asyncio.sleep(0.5)
        assert {i.id for i in again.registry.instances("default", "after")} == {
            alive["instance_id"],
            gone["instance_id"],
        }
        later.advance(0.9)
        await again.registry.heartbeat("default", "after", alive["instance_id"])
        later.advance(0.9)
        await again.registry.heartbeat("default", "after", alive["instance_id"])
        await wait_until(
            lambda: [i.id for i in again.registry.instances("default", "after")] == [alive["instance_id"]],
            what="the instance without heartbeats removed",
        )
        assert gone["instance_id"] not in {i.id for i in again.registry.all_instances()}
    finally:
        await again.stop()
        await hub.start()


async def test_openapi_documents_every_registry_body(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (method, path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if path.startswith(("/api/v1/services", "/api/v1/heartbeats", "/discovery"))
    ]
    assert len(operations) >= 8
    for method, path, op in operations:
        for status, response in op["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            where = f"{method.upper()} {path} {status}"
            if status == "204":
                assert not schema, where
            elif status.startswith("2"):
                assert schema.get("$ref", "").endswith("Read"), where
            else:
                assert schema.get("$ref") == "#/components/schemas/ErrorRead", where
        assert "422" in op["responses"], f"{method.upper()} {path}"
    heartbeat = spec["paths"]["/api/v1/services/{name}/instances/{instance_id}/heartbeat"]["post"]
    assert set(heartbeat["responses"]) == {"200", "400", "404", "422", "503"}
    assert "load" in heartbeat["requestBody"]["content"]["application/json"]["schema"]["properties"]
