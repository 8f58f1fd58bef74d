"""Dependency graph (order, cycles, impact, exports, API, CLI) and circuit state."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from centralhub.graph.service import DependencyCycle, Graph
from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus


def graph(edges: dict[str, list[str]]) -> Graph:
    return Graph(edges, {"db": "infrastructure"})


def test_order_cycle_and_impact() -> None:
    g = graph({"api": ["orders", "auth"], "orders": ["db"], "auth": ["db"], "report": ["orders"]})
    order = g.startup_order()
    assert order.index("db") < order.index("orders") < order.index("api")
    assert g.startup_levels() == [["db"], ["auth", "orders"], ["api", "report"]]
    impact = g.impact("db")
    assert impact["direct"] == ["auth", "orders"]
    assert impact["affected"] == ["auth", "orders", "api", "report"]
    assert "n0" in g.to_mermaid() and '"api" -> "orders";' in g.to_dot()
    with pytest.raises(DependencyCycle) as err:
        graph({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}).startup_order()
    assert err.value.cycle == ["a", "b", "c", "a"]
    assert "a -> b -> c -> a" in err.value.message
    # the same cycle is named the same way whichever node the search meets first
    assert graph({"x": ["c"], "c": ["a"], "a": ["b"], "b": ["c"]}).find_cycle() == ["a", "b", "c", "a"]
    assert graph({"a": ["b"], "b": ["c"], "c": ["a"]}).to_json()["startup_order"] is None


def test_ties_start_alphabetically() -> None:
    # "a" becomes startable only after "b", yet comes before "z", which was startable from the beginning
    assert graph({"a": ["b"], "b": [], "z": []}).startup_order() == ["b", "a", "z"]


def test_ten_thousand_service_chain_orders_and_reports_impact() -> None:
    """s0 -> s1 -> ... -> s9999: far deeper than the recursion limit, answered in well under a second."""
    n = 10_000
    chain = graph({f"s{i}": [f"s{i + 1}"] for i in range(n - 1)})
    started = time.perf_counter()
    order = chain.startup_order()
    assert order == [f"s{i}" for i in reversed(range(n))]
    assert len(chain.startup_levels(order)) == n
    impact = chain.impact(f"s{n - 1}")
    assert len(impact["affected"]) == n - 1 and impact["affected"][0] == f"s{n - 2}"
    assert impact["depth"]["s0"] == n - 1
    assert chain.dependents_of("s5000") == [f"s{i}" for i in reversed(range(5000))]
    assert chain.find_cycle() is None
    looped = graph({**{f"s{i}": [f"s{i + 1}"] for i in range(n - 1)}, f"s{n - 1}": ["s0"]})
    with pytest.raises(DependencyCycle) as err:
        looped.startup_order()
    assert len(err.value.cycle) == n + 1 and err.value.cycle[0] == err.value.cycle[-1] == "s0"
    assert time.perf_counter() - started < 10


async def register(client: httpx.AsyncClient, name: str, port: int, **extra: Any) -> str:
    body = {"name": name, "host": "127.0.0.1", "port": port, **extra}
    resp = await client.post("/api/v1/services/register", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["instance_id"])


async def test_dependencies_api(client: httpx.AsyncClient) -> None:
    await register(client, "gateway", 1, dependencies=["orders"])
    await register(client, "orders", 2, metadata={"dependencies": ["postgres"]})
    doc = (await client.get("/api/v1/dependencies")).json()
    assert {"from": "gateway", "to": "orders"} in doc["edges"]
    assert {"from": "orders", "to": "postgres"} in doc["edges"]
    assert doc["startup_order"] == ["postgres", "orders", "gateway"]
    dot = await client.get("/api/v1/dependencies", params={"format": "dot"})
    assert dot.text.startswith("digraph") and '"orders" -> "postgres";' in dot.text
    mermaid = await client.get("/api/v1/dependencies", params={"format": "mermaid"})
    assert mermaid.text.startswith("graph LR")
    bad = await client.get("/api/v1/dependencies", params={"format": "png"})
    assert bad.status_code == 422 and "format" in bad.json()["error"]["message"]
    order = (await client.get("/api/v1/dependencies/order")).json()
    assert order["levels"] == [["postgres"], ["orders"], ["gateway"]]
    impact = (await client.get("/api/v1/dependencies/postgres/impact")).json()
    assert impact["affected"] == ["orders", "gateway"]
    assert (await client.get("/api/v1/dependencies/nope/impact")).status_code == 404
    # another tenant sees its own graph
    other = (await client.get("/api/v1/dependencies", headers={"X-Tenant-ID": "t2"})).json()
    assert other["nodes"] == []

    await register(client, "postgres", 3, dependencies=["gateway"])
    cyc = await client.get("/api/v1/dependencies/order")
    assert cyc.status_code == 409
    assert cyc.json()["error"]["code"] == "dependency_cycle"
    assert "gateway -> orders -> postgres -> gateway" in cyc.json()["error"]["message"]


def test_cli_deps_against_a_real_hub(hub_process_factory: Any) -> None:
    hp = hub_process_factory()
    for body in (
        {"name": "gateway", "host": "127.0.0.1", "port": 1, "dependencies": ["orders"]},
        {"name": "orders", "host": "127.0.0.1", "port": 2},
    ):
        assert httpx.post(hp.url + "/api/v1/services/register", json=body, timeout=10).status_code == 201

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "centralhub.cli", "deps", "--hub", hp.url, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    out = cli("--format", "dot")
    assert out.returncode == 0, out.stderr
    assert '"gateway" -> "orders";' in out.stdout
    out = cli("--order", "--format", "mermaid")
    assert out.stdout.splitlines() == ["1. orders", "2. gateway"]
    out = cli("--impact", "orders")
    assert '"affected": [\n    "gateway"\n  ]' in out.stdout
    out = cli("--impact", "nope")
    assert out.returncode == 1 and "not in the dependency graph" in out.stderr


async def test_circuit_from_reports_and_health(hub: Hub, client: httpx.AsyncClient) -> None:
    # the recovery timeout is driven by a fake clock: a real 0.2 s timeout could already have
    # passed again between two requests on a loaded machine
    now = [time.time()]
    hub.circuits.clock = lambda: now[0]
    hub.circuits.recovery_timeout = 0.2
    instance_id = await register(client, "ml", 1)
    state = (await client.get("/api/v1/circuits/ml")).json()
    assert state["state"] == "CLOSED"
    for _ in range(5):
        resp = await client.post("/api/v1/circuits/ml/report", json={"success": False, "error": "timeout"})
    assert resp.json()["state"] == "OPEN" and resp.json()["last_error"] == "timeout"
    assert resp.json()["retry_after_seconds"] > 0

    now[0] += 0.3
    assert (await client.get("/api/v1/circuits/ml")).json()["state"] == "HALF_OPEN"
    await client.post("/api/v1/circuits/ml/report", json={"success": False})
    assert (await client.get("/api/v1/circuits/ml")).json()["state"] == "OPEN"
    now[0] += 0.3
    for _ in range(2):
        resp = await client.post("/api/v1/circuits/ml/report", json={"success": True})
    assert resp.json()["state"] == "CLOSED"

    # health: no healthy instance opens it; a passing instance lets trial traffic through
    hub.circuits.recovery_timeout = 60
    inst = hub.registry.get_instance("default", "ml", instance_id)
    await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
    await hub.events.drain()  # circuits follow status changes as events, after the write
    assert (await client.get("/api/v1/circuits/ml")).json()["state"] == "OPEN"
    await hub.registry.set_status(inst, InstanceStatus.PASSING)
    await hub.events.drain()
    assert (await client.get("/api/v1/circuits/ml")).json()["state"] == "HALF_OPEN"

    bad = await client.post("/api/v1/circuits/ml/report", json={"success": "maybe"})
    assert bad.status_code == 422 and "success" in bad.json()["error"]["message"]
    assert (await client.get("/api/v1/circuits/nope")).status_code == 404
