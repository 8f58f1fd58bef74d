"""``/metrics``, ``/api/v1/metrics`` and Prometheus service discovery through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from centralhub.hub import Hub
from centralhub.metrics import collectors as metrics
from centralhub.registry.models import InstanceStatus
from centralhub.server.app import create_app


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def _scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return _samples(resp.text)


def _requests(samples: dict[Any, float], method: str, route: str, status: str) -> float:
    key = ("centralhub_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0.0)


async def _register(client: httpx.AsyncClient, tenant: str = "default", **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/services/register", json=body, headers={"X-Tenant-ID": tenant})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_requests_are_counted_by_route_template_and_status(client: httpx.AsyncClient) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    await _register(client, name=name, host="h", port=1)
    before = await _scrape(client)
    for _ in range(3):
        assert (await client.get(f"/api/v1/services/{name}")).status_code == 200
    assert (await client.get(f"/api/v1/services/missing-{name}")).status_code == 404
    raw = f"/no/such/path/{uuid.uuid4().hex}"
    assert (await client.get(raw)).status_code == 404
    after_text = (await client.get("/metrics")).text
    after = _samples(after_text)

    route = "/api/v1/services/{name}"
    assert _requests(after, "GET", route, "200") - _requests(before, "GET", route, "200") == 3
    assert _requests(after, "GET", route, "404") - _requests(before, "GET", route, "404") == 1
    assert _requests(after, "GET", "<unmatched>", "404") >= 1
    # raw paths never become labels
    assert name not in after_text and raw not in after_text
    count = ("centralhub_http_request_duration_seconds_count", (("method", "GET"), ("route", route)))
    assert after[count] - before.get(count, 0) >= 4


async def test_scrape_time_figures_follow_the_registry(client: httpx.AsyncClient, hub: Hub) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    ids = [(await _register(client, name=name, host="h", port=p))["instance_id"] for p in (1, 2, 3)]
    from centralhub.registry.models import InstanceStatus

    await hub.registry.set_status(hub.registry.get_instance("default", name, ids[0]), InstanceStatus.DRAINING)
    samples = await _scrape(client)
    figures = hub.registry.figures()
    for status, count in figures["instances_by_status"].items():
        assert samples[("centralhub_instances", (("status", status),))] == count
    assert samples[("centralhub_instances", (("status", "draining"),))] == 1
    assert samples[("centralhub_services", ())] == figures["services"]
    assert samples[("centralhub_bus_publish_failures_total", ())] == hub.bus.publish_failures
    # metrics other modules record show up in the same scrape
    metrics.CONFIG_CHANGES.labels(tenant="default", service=name).inc()
    samples = await _scrape(client)
    assert samples[("centralhub_config_changes_total", (("service", name), ("tenant", "default")))] == 1


async def test_json_summary(client: httpx.AsyncClient) -> None:
    await _register(client, name=f"svc-{uuid.uuid4().hex[:8]}", host="h", port=1)
    doc = (await client.get("/api/v1/metrics")).json()
    assert doc["services"] >= 1 and doc["instances"] >= 1
    assert set(doc["instances_by_status"]) == {"passing", "warning", "critical", "draining"}
    assert doc["bus"]["publish_failures"] == 0
    register = doc["http"]["routes"]["POST /api/v1/services/register"]
    assert register["count"] >= 1 and register["by_status"]["201"] >= 1 and register["mean_ms"] > 0
    assert {"config_changes", "alerts_sent", "health_checks", "deployments"} <= set(doc)


async def test_prometheus_sd_targets_carry_meta_labels_and_no_health_label(
    client: httpx.AsyncClient,
) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    await _register(client, name=name, host="10.0.0.1", port=8001, version="v1")
    await _register(client, name=name, host="10.0.0.2", port=8001, version="v1", tags=["prod", "eu"])
    v2 = await _register(
        client,
        name=name,
        host="10.0.0.3",
        port=8001,
        version="v2",
        metadata={"metrics_path": "/m", "team.name": "fx", "shards": 4},
    )
    await _register(client, tenant, name=name, host="10.1.0.1", port=9000, version="v1")

    groups = (await client.get("/api/v1/sd/prometheus", params={"tenant": "all"})).json()
    mine = {g["targets"][0]: g["labels"] for g in groups if g["labels"]["service"] == name}
    assert set(mine) == {"10.0.0.1:8001", "10.0.0.2:8001", "10.0.0.3:8001", "10.1.0.1:9000"}
    assert all(len(g["targets"]) == 1 for g in groups)
    labels = mine["10.0.0.3:8001"]
    # health only as a __meta_ label: a flapping check must not split the target's series
    assert "status" not in labels and labels["__meta_centralhub_status"] == "passing"
    assert labels["__metrics_path__"] == "/m"
    assert labels["__meta_centralhub_service"] == name and labels["__meta_centralhub_version"] == "v2"
    assert labels["__meta_centralhub_tenant"] == "default"
    assert labels["__meta_centralhub_instance_id"] == v2["instance_id"]
    assert labels["__meta_centralhub_metadata_team_name"] == "fx"
    assert labels["__meta_centralhub_metadata_shards"] == "4"
    assert mine["10.0.0.2:8001"]["__meta_centralhub_tags"] == ",prod,eu,"
    assert mine["10.0.0.1:8001"]["__meta_centralhub_tags"] == ""
    assert mine["10.1.0.1:9000"]["__meta_centralhub_tenant"] == tenant
    assert all(isinstance(v, str) for g in groups for v in g["labels"].values())

    only = (await client.get("/api/v1/sd/prometheus", params={"tenant": tenant})).json()
    assert [g["targets"] for g in only] == [["10.1.0.1:9000"]]
    assert (await client.get("/api/v1/sd/prometheus", params={"status": "draining"})).json() == []
    bad = await client.get("/api/v1/sd/prometheus", params={"status": "sleepy"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["message"]
    bad = await client.get("/api/v1/sd/prometheus", params={"tenant": "no.dots"})
    assert bad.status_code == 400


async def test_prometheus_sd_leaves_out_critical_and_draining_unless_asked(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    ids = [
        (await _register(client, name=name, host=f"10.2.0.{n}", port=80, ttl_seconds=600))["instance_id"]
        for n in (1, 2, 3)
    ]
    drained = await client.post(f"/api/v1/services/{name}/instances/{ids[1]}/drain")
    assert drained.status_code == 200, drained.text
    failing = next(i for i in hub.registry.all_instances("default") if i.id == ids[2])
    assert await hub.registry.set_status(failing, InstanceStatus.CRITICAL)  # as a failed check does

    def targets(groups: list[dict[str, Any]]) -> dict[str, str]:
        return {
            g["targets"][0]: g["labels"]["__meta_centralhub_status"]
            for g in groups
            if g["labels"]["service"] == name
        }

    default = (await client.get("/api/v1/sd/prometheus", params={"service": name})).json()
    assert targets(default) == {"10.2.0.1:80": "passing"}
    every = (await client.get("/api/v1/sd/prometheus", params={"service": name, "status": "all"})).json()
    assert targets(every) == {"10.2.0.1:80": "passing", "10.2.0.2:80": "draining", "10.2.0.3:80": "critical"}
    some = await client.get("/api/v1/sd/prometheus", params={"service": name, "status": "passing,draining"})
    assert targets(some.json()) == {"10.2.0.1:80": "passing", "10.2.0.2:80": "draining"}


async def test_several_apps_in_one_process_share_the_registry(hub: Hub) -> None:
    # creating apps again (as every test does) must not raise duplicate-registration errors
    for _ in range(3):
        app = create_app(hub.settings, hub=hub)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
            assert (await c.get("/metrics")).status_code == 200
