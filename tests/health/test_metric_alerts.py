"""Alerts on measurements: rules over what services report with their heartbeats and over the
hub's own health-check latency, with for-durations, per-instance and per-service judgement,
rates (an error spike), floors (a business figure), recoveries, silences, and the hub's own
pool, cache and queue figures in /metrics. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from health_support import LocalHTTPServer
from prometheus_client.parser import text_string_to_metric_families

from centralhub.core.time import ManualClock
from centralhub.hub import Hub
from tests.support import wait_until

RULES = "/api/v1/alerts/rules"


def svc() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


async def register(client: httpx.AsyncClient, name: str, port: int = 8000, **extra: Any) -> str:
    resp = await client.post(
        "/api/v1/services/register", json={"name": name, "host": "10.0.0.1", "port": port, **extra}
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["instance_id"])


async def beat(client: httpx.AsyncClient, name: str, instance: str, **metrics: float) -> None:
    resp = await client.post(
        f"/api/v1/services/{name}/instances/{instance}/heartbeat", json={"metrics": metrics}
    )
    assert resp.status_code == 200, resp.text


async def metric_alerts(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    alerts = (await client.get("/api/v1/alerts", params={"target": name, "limit": 100})).json()["alerts"]
    return sorted((a for a in alerts if a["kind"] == "metric"), key=lambda a: a["created_at"])


def clocked(hub: Hub) -> ManualClock:
    clock = ManualClock()
    hub.measurements.clock = clock
    hub.metric_rules.clock = clock
    return clock


async def test_latency_above_for_a_while_raises_then_recovers(hub: Hub, client: httpx.AsyncClient) -> None:
    clock, name = clocked(hub), svc()
    rule = {
        "name": "slow",
        "metric": "latency_ms",
        "service": name,
        "condition": "above",
        "threshold": 250,
        "for_seconds": 30,
    }
    made = await client.post(RULES, json=rule)
    assert made.status_code == 201 and made.json()["per"] == "instance", made.text
    one = await register(client, name)
    await beat(client, name, one, latency_ms=400)
    assert await hub.metric_rules.evaluate() == []  # not for 30 s yet
    clock.advance(31)
    await beat(client, name, one, latency_ms=420)
    [raised] = await hub.metric_rules.evaluate()
    assert (raised["event"], raised["instance_id"]) == ("slow", one)
    assert await hub.metric_rules.evaluate() == []  # raised once, not on every pass
    [alert] = await metric_alerts(client, name)
    assert alert["event"] == "slow" and alert["severity"] == "warning" and alert["instance_id"] == one
    assert "latency_ms" in alert["message"] and "420" in alert["message"]

    await beat(client, name, one, latency_ms=90)
    [recovered] = await hub.metric_rules.evaluate()
    assert recovered["event"] == "recovery"
    events = [a["event"] for a in await metric_alerts(client, name)]
    assert events == ["slow", "recovery"]


async def test_error_spike_per_service_and_a_business_floor(hub: Hub, client: httpx.AsyncClient) -> None:
    clock, name = clocked(hub), svc()
    spike = {
        "name": "error-spike", "metric": "errors", "service": name, "condition": "rate_above",
        "threshold": 2, "per": "service", "severity": "critical", "window_seconds": 60,
    }  # fmt: skip
    floor = {
        "name": "volume-floor", "metric": "trading_volume", "service": "*", "condition": "below",
        "threshold": 1000, "per": "service",
    }  # fmt: skip
    assert (await client.post(RULES, json=spike)).status_code == 201
    assert (await client.post(RULES, json=floor)).status_code == 201
    a, b = await register(client, name, 8001), await register(client, name, 8002)
    for n in range(3):  # errors rise by 1 per 10 s on each: 0.2/s in all, no spike
        await beat(client, name, a, errors=n, trading_volume=1500)
        await beat(client, name, b, errors=n, trading_volume=900)
        clock.advance(10)
    assert await hub.metric_rules.evaluate() == []  # the service's mean volume is 1200
    await beat(client, name, a, errors=200, trading_volume=600)  # 198 errors in 10 s, volume down
    raised = {r["event"]: r for r in await hub.metric_rules.evaluate()}
    assert set(raised) == {"error-spike", "volume-floor"} and raised["error-spike"]["instance_id"] is None
    alerts = {x["event"]: x for x in await metric_alerts(client, name)}
    assert alerts["error-spike"]["severity"] == "critical" and alerts["volume-floor"]["severity"] == "warning"


async def test_an_instance_that_leaves_stops_counting(hub: Hub, client: httpx.AsyncClient) -> None:
    clock, name = clocked(hub), svc()
    floor = {
        "name": "volume-floor", "metric": "trading_volume", "service": name, "condition": "below",
        "threshold": 1000, "per": "service",
    }  # fmt: skip
    assert (await client.post(RULES, json=floor)).status_code == 201
    a, b = await register(client, name, 8001), await register(client, name, 8002)
    await beat(client, name, a, trading_volume=1500)
    await beat(client, name, b, trading_volume=300)
    [raised] = await hub.metric_rules.evaluate()  # mean 900: below the floor
    assert raised["value"] == 900
    # the low one is shut down: what it reported no longer drags the service's mean down
    assert (await client.delete(f"/api/v1/services/{name}/instances/{b}")).status_code in (200, 204)
    shown = (await client.get("/api/v1/alerts/measurements", params={"service": name})).json()
    assert {m["instance_id"] for m in shown["measurements"]} == {a}
    clock.advance(2)
    [recovered] = await hub.metric_rules.evaluate()
    assert recovered["event"] == "recovery" and recovered["value"] == 1500


async def test_a_silenced_target_is_recorded_not_delivered(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    silence = {"target": name, "duration_seconds": 600, "reason": "load test"}
    assert (await client.post("/api/v1/alerts/silences", json=silence)).status_code in (200, 201)
    await client.post(RULES, json={"name": "slow", "metric": "latency_ms", "service": name, "threshold": 1})
    one = await register(client, name)
    await beat(client, name, one, latency_ms=5)
    await hub.metric_rules.evaluate()
    [alert] = await metric_alerts(client, name)
    assert alert["silenced"] is True


async def test_health_check_latency_is_a_measurement(
    hub: Hub, client: httpx.AsyncClient, http_server_factory: Any
) -> None:
    name = svc()
    server: LocalHTTPServer = await http_server_factory()
    check = {"type": "http", "interval_seconds": 1.0, "timeout_seconds": 0.5}
    one = await register(client, name, server.port, host="127.0.0.1", health_endpoint="/health", check=check)

    async def measured() -> list[dict[str, Any]]:
        rows = (await client.get("/api/v1/alerts/measurements", params={"service": name})).json()[
            "measurements"
        ]
        return [r for r in rows if r["metric"] == "check_latency_ms" and r["instance_id"] == one]

    [row] = await wait_until(measured, timeout=15, what="a check latency sample")
    assert row["value"] >= 0 and row["at"].endswith("Z")


async def test_rules_and_reported_metrics_are_checked(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        RULES, json={"name": "x", "metric": "latency_ms", "condition": "sideways", "threshold": 1}
    )
    assert bad.status_code == 400 and "condition" in bad.text
    assert (
        await client.post(RULES, json={"name": "x", "metric": "latency ms", "threshold": 1})
    ).status_code == 400
    assert (await client.post(RULES, json={"name": "x", "metric": "m"})).status_code == 400  # no threshold
    made = await client.post(RULES, json={"name": "dup", "metric": "m", "threshold": 1})
    assert (await client.post(RULES, json={"name": "dup", "metric": "m", "threshold": 2})).status_code == 409
    assert [r["name"] for r in (await client.get(RULES)).json()["rules"]] == ["dup"]
    assert (await client.delete(f"{RULES}/{made.json()['id']}")).status_code == 204
    assert (await client.delete(f"{RULES}/{made.json()['id']}")).status_code == 404

    name = svc()
    one = await register(client, name)
    url = f"/api/v1/services/{name}/instances/{one}/heartbeat"
    refused = await client.post(url, json={"metrics": {"latency_ms": "fast"}})
    assert refused.status_code in (400, 422) and "latency_ms" in refused.text
    assert (await client.post(url, json={"load": 0.5})).status_code == 200  # the plain heartbeat as ever


async def test_hub_resources_in_metrics(client: httpx.AsyncClient) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={"a": 1})
    for _ in range(3):
        await client.get(f"/api/v1/config/{name}")
    text = (await client.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "centralhub_db_pool_connections" in families
    ratio = {s.labels["cache"]: s.value for s in families["centralhub_cache_hit_ratio"].samples}
    assert 0 < ratio["config_reads"] <= 1
    queues = {s.labels["queue"] for s in families["centralhub_queue_depth"].samples}
    assert {"domain_events", "alert_delivery", "config_writes"} <= queues


async def test_the_sdk_reports_metrics_with_its_heartbeats(hub: Hub) -> None:
    from centralhub.sdk import CentralHubClient
    from centralhub.server.app import create_app

    name = svc()
    transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
    client = CentralHubClient(
        name, "worker", hub_url="http://hub", host="10.0.0.9", port=9000, transport=transport
    )
    try:
        await client.register()
        client.report_metrics({"latency_ms": 42, "orders_per_minute": 310})
        assert await client.heartbeat()
        latest = {(m["metric"], m["value"]) for m in hub.measurements.latest("default", name)}
        assert latest == {("latency_ms", 42.0), ("orders_per_minute", 310.0)}
    finally:
        await client.close()
