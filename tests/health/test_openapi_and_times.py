"""Every health, infrastructure, circuit and alert route documents its body and its errors, and
answers with RFC 3339 times."""

from __future__ import annotations

import re
from typing import Any

import httpx

from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PREFIXES = ("/api/v1/alerts", "/api/v1/infrastructure", "/api/v1/circuits", "/api/v1/health/services")


async def test_routes_declare_response_and_error_models(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    routes = {
        (path, method): op
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if path.startswith(PREFIXES) or path == "/api/v1/services/{name}/health"
    }
    assert len(routes) == 16
    for (path, method), op in routes.items():
        responses: dict[str, Any] = op["responses"]
        ok = next(code for code in responses if code.startswith("2"))
        if ok != "204":
            assert responses[ok]["content"]["application/json"]["schema"], (path, method)
        for code, answer in responses.items():
            if code.startswith(("4", "5")):
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorRead"}, (path, method, code)
    assert "404" in routes[("/api/v1/circuits/{service}", "get")]["responses"]
    assert "422" in routes[("/api/v1/alerts/silences", "post")]["responses"]


async def test_times_are_rfc3339_with_milliseconds(hub: Hub, client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/services/register", json={"name": "clocked", "host": "127.0.0.1", "port": 1}
    )
    inst = hub.registry.get_instance("default", "clocked", resp.json()["instance_id"])
    await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
    await hub.alerts.wait_delivered()

    alert = (await client.get("/api/v1/alerts", params={"target": "clocked"})).json()["alerts"][0]
    assert RFC3339_MS.match(alert["created_at"]) and RFC3339_MS.match(alert["last_seen_at"])
    acked = (await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge")).json()
    assert RFC3339_MS.match(acked["acknowledged_at"])
    silence = (
        await client.post("/api/v1/alerts/silences", json={"target": "x-*", "duration_seconds": 60})
    ).json()
    assert RFC3339_MS.match(silence["until"]) and RFC3339_MS.match(silence["created_at"])

    circuit = (await client.get("/api/v1/circuits/clocked")).json()
    assert circuit["state"] == "OPEN"
    assert RFC3339_MS.match(circuit["opened_at"]) and RFC3339_MS.match(circuit["changed_at"])
    health = (await client.get("/api/v1/services/clocked/health")).json()
    assert RFC3339_MS.match(health["instances"][0]["last_seen"])
    summary = (await client.get("/api/v1/health/services")).json()
    assert RFC3339_MS.match(summary["clocked"]["last_check"])
    # epoch seconds and ISO 8601 both still filter the history
    assert (await client.get("/api/v1/alerts", params={"since": "0"})).json()["count"] >= 1
    assert (await client.get("/api/v1/alerts", params={"since": alert["created_at"]})).json()["count"] >= 1
