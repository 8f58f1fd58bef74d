"""The global configuration under every service's own: merged answers (GET, hot path and
FastAPI route alike), a service with nothing of its own, history/diff/rollback/schema for the
global document, /watch woken by a global change, and what the bus carries. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from centralhub.hub import Hub
from centralhub.server.app import create_app

pytestmark = pytest.mark.timeout(120)
GLOBAL = "/api/v1/config/_global"


def svc() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def _client(hub: Hub, *, hot_paths: bool) -> httpx.AsyncClient:
    app = create_app(hub.settings, hub=hub, hot_paths=hot_paths)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub", timeout=10)


async def test_every_service_runs_the_global_document_under_its_own(hub: Hub) -> None:
    own, bare = svc(), svc()
    async with _client(hub, hot_paths=True) as fast, _client(hub, hot_paths=False) as plain:
        base = {"risk": {"max_leverage": 10, "halt": False}, "log_level": "INFO"}
        put = await fast.put(GLOBAL, json=base)
        assert put.status_code == 200 and put.json()["version"] == "1.0.0", put.text
        await fast.post(f"/api/v1/config/{own}", json={"risk": {"max_leverage": 5}, "batch": 100})
        for client in (fast, plain):
            mine = (await client.get(f"/api/v1/config/{own}")).json()
            assert mine["config"] == {
                "risk": {"max_leverage": 5, "halt": False},
                "log_level": "INFO",
                "batch": 100,
            }
            assert (mine["revision"], mine["global_revision"]) == (1, 1)
            nothing = (await client.get(f"/api/v1/config/{bare}")).json()
            assert nothing["config"] == base and (nothing["revision"], nothing["global_revision"]) == (0, 1)
            assert nothing["source"] == "global"
        # the same bytes from the memory path and the documented route, after a global change
        await fast.put(GLOBAL, json={**base, "log_level": "DEBUG"})
        for name in (own, bare):
            a, b = await fast.get(f"/api/v1/config/{name}"), await plain.get(f"/api/v1/config/{name}")
            assert a.content == b.content and a.json()["config"]["log_level"] == "DEBUG"
            assert a.json()["global_revision"] == 2
        # If-Match speaks of the service's own revision, whatever the global one is
        assert (
            await fast.post(f"/api/v1/config/{own}", json={"batch": 1}, headers={"If-Match": "1"})
        ).status_code == 200
        other_tenant = await fast.get(f"/api/v1/config/{bare}", headers={"X-Tenant-ID": "elsewhere"})
        assert other_tenant.status_code == 404


async def test_history_diff_rollback_and_schema_work_for_the_global_document(
    client: httpx.AsyncClient,
) -> None:
    schema = {"type": "object", "properties": {"log_level": {"enum": ["DEBUG", "INFO", "WARNING"]}}}
    assert (await client.put(f"{GLOBAL}/schema", json=schema)).status_code == 200
    assert (await client.put(GLOBAL, json={"log_level": "INFO"})).status_code == 200
    assert (await client.put(GLOBAL, json={"log_level": "LOUD"})).status_code == 422
    assert (await client.put(GLOBAL, json={"log_level": "DEBUG"})).status_code == 200
    history = (await client.get("/api/v1/config/history/_global")).json()["history"]
    assert [h["version"] for h in history] == ["1.1.0", "1.0.0"]
    diff = (await client.get(f"{GLOBAL}/diff", params={"from": "1.0.0"})).json()
    assert diff["changes"] == [{"path": "log_level", "op": "changed", "old": "INFO", "new": "DEBUG"}]
    back = await client.post(f"{GLOBAL}/rollback", json={"version": "1.0.0"})
    assert back.status_code == 200 and (await client.get(GLOBAL)).json()["config"] == {"log_level": "INFO"}
    secret = {"type": "object", "properties": {"token": {"type": "string", "x-secret": True}}}
    refused = await client.put(f"{GLOBAL}/schema", json=secret)
    assert refused.status_code == 400 and "holds no secrets" in refused.text


async def test_a_watch_that_names_its_global_revision_wakes_on_a_global_change(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    name = svc()
    await client.put(GLOBAL, json={"a": 1})
    await client.post(f"/api/v1/config/{name}", json={"b": 1})
    watch = f"/api/v1/config/{name}/watch"
    waiting = asyncio.create_task(
        client.get(watch, params={"revision": 1, "global_revision": 1, "timeout": 20})
    )
    unaware = asyncio.create_task(client.get(watch, params={"revision": 1, "timeout": 1.5}))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await client.put(GLOBAL, json={"a": 2})
    woken = await asyncio.wait_for(waiting, 10)
    assert woken.status_code == 200 and woken.json()["config"] == {"a": 2, "b": 1}
    assert (woken.json()["revision"], woken.json()["global_revision"]) == (1, 2)
    assert (await unaware).status_code == 304  # without global_revision only its own changes count


async def test_the_bus_carries_what_each_service_runs(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    seen: list[dict[str, Any]] = []

    async def record(_subject: str, payload: dict[str, Any]) -> None:
        seen.append(payload)

    sub = await hub.bus.subscribe(f"config.update.{name}", record)
    gsub = await hub.bus.subscribe("config.update._global", record)
    try:
        await client.put(GLOBAL, json={"shared": True})
        await client.post(f"/api/v1/config/{name}", json={"own": 1})
        for _ in range(50):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.05)
        by_service = {p["service_name"]: p for p in seen}
        assert by_service["_global"]["config"] == {"shared": True}
        assert (
            by_service[name]["config"] == {"shared": True, "own": 1}
            and by_service[name]["global_revision"] >= 1
        )
    finally:
        await sub.unsubscribe()
        await gsub.unsubscribe()
