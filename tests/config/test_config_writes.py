"""A configuration write is one transaction (on SQLite and PostgreSQL), and its side effects run
after the commit: the bus broadcast, then the ``ConfigChanged`` event for metrics and the dashboard.
Also: the config routes' OpenAPI documentation and RFC 3339 timestamps."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from centralhub.config import repository
from centralhub.config.models import ConfigChanged, ConfigVersion
from centralhub.hub import Hub
from centralhub.metrics import collectors as metrics

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def svc() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


async def _history(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/config/history/{name}")
    return list(r.json()["history"]) if r.status_code == 200 else []


async def test_a_write_failing_after_its_insert_stores_nothing(
    hub: Hub, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, fresh = svc(), svc()
    assert (await client.post(f"/api/v1/config/{name}", json={"v": 1})).status_code == 200
    published: list[dict[str, Any]] = []

    async def on_publish(_subject: str, payload: dict[str, Any]) -> None:
        published.append(payload)

    sub = await hub.bus.subscribe(f"config.update.{name}", on_publish)
    real_create = repository.create_many
    inserted: list[int] = []

    async def create_then_fail(conn: AsyncConnection, versions: list[ConfigVersion]) -> None:
        await real_create(conn, versions)
        # inside the transaction the new version is there ...
        inserted.append(await repository.get_latest_revision(conn, tenant="default", service=name))
        raise RuntimeError("storage failed mid-write")

    monkeypatch.setattr(repository, "create_many", create_then_fail)
    try:
        with pytest.raises(RuntimeError, match="mid-write"):
            await hub.config_service.put("default", name, {"v": 2}, author="t")
        with pytest.raises(RuntimeError, match="mid-write"):
            await hub.config_service.put("default", fresh, {"first": True}, author="t")
    finally:
        monkeypatch.undo()
        await sub.unsubscribe()
    assert inserted[0] == 2

    # ... and after the failure nothing of it is: not current, not in the history, not broadcast
    current = (await client.get(f"/api/v1/config/{name}")).json()
    assert (current["revision"], current["config"]) == (1, {"v": 1})
    assert [h["revision"] for h in await _history(client, name)] == [1]
    assert published == []
    assert (await client.get(f"/api/v1/config/{name}/versions/2")).status_code == 404
    assert (await client.get(f"/api/v1/config/{fresh}")).status_code == 404
    # the next write takes the revision the failed one never got
    r = await client.post(f"/api/v1/config/{name}", json={"v": 3})
    assert r.status_code == 200 and r.json()["revision"] == 2


async def test_a_schema_registration_failing_mid_way_keeps_the_old_schema(
    hub: Hub, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={"n": 1})
    old = {"type": "object"}
    assert (await client.put(f"/api/v1/config/{name}/schema", json=old)).status_code == 200

    async def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("storage failed mid-write")

    # the schema row is written first, then the current version is read in the same transaction
    monkeypatch.setattr(repository, "get_latest", fail)
    with pytest.raises(RuntimeError):
        await hub.config_service.set_schema(
            "default", name, {"type": "object", "required": ["x"]}, author="t"
        )
    monkeypatch.undo()
    assert (await client.get(f"/api/v1/config/{name}/schema")).json() == old


async def test_if_match_conflict_is_409_and_stores_nothing(client: httpx.AsyncClient) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={"v": 1})
    r = await client.post(f"/api/v1/config/{name}", json={"v": 2}, headers={"If-Match": "0"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert [h["revision"] for h in await _history(client, name)] == [1]


async def test_config_changed_event_reaches_consumers_after_the_write(hub: Hub) -> None:
    name = svc()
    gate = asyncio.Event()
    seen: list[ConfigChanged] = []

    async def slow_consumer(event: ConfigChanged) -> None:
        await gate.wait()
        seen.append(event)

    hub.events.subscribe(ConfigChanged, slow_consumer)
    before = (
        metrics.REGISTRY.get_sample_value(
            "centralhub_config_changes_total", {"tenant": "default", "service": name}
        )
        or 0
    )
    # the write returns while the consumer is still blocked: consumers never delay it
    stored = await asyncio.wait_for(hub.config_service.put("default", name, {"v": 1}, author="t"), 10)
    assert stored.revision == 1 and seen == []
    gate.set()
    await asyncio.wait_for(hub.events.drain(), 10)
    assert [(e.version.service_name, e.version.revision, e.broadcast) for e in seen] == [(name, 1, True)]
    after = metrics.REGISTRY.get_sample_value(
        "centralhub_config_changes_total", {"tenant": "default", "service": name}
    )
    assert after == before + 1


async def test_the_revision_check_runs_under_the_supervisor(hub: Hub) -> None:
    assert hub.supervisor.report()["config-revision-check"]["state"] == "running"


async def test_answers_carry_rfc3339_millisecond_times(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    published: list[dict[str, Any]] = []

    async def on_publish(_subject: str, payload: dict[str, Any]) -> None:
        published.append(payload)

    sub = await hub.bus.subscribe(f"config.update.{name}", on_publish)
    try:
        await client.post(f"/api/v1/config/{name}", json={"v": 1})
    finally:
        await sub.unsubscribe()
    times = [
        (await client.get(f"/api/v1/config/{name}")).json()["updated_at"],
        (await client.get(f"/api/v1/config/{name}/versions/1")).json()["updated_at"],
        (await client.get(f"/api/v1/config/{name}/watch", params={"timeout": 0})).json()["updated_at"],
        (await _history(client, name))[0]["updated_at"],
        published[0]["updated_at"],
    ]
    assert all(RFC3339_MS.match(t) for t in times), times


async def test_openapi_documents_every_config_route(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = {p: ops for p, ops in doc["paths"].items() if p.startswith("/api/v1/config")}
    assert len(paths) >= 10
    for path, ops in paths.items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            answered = op["responses"].get("200") or op["responses"]["201"]  # 201: a rollout created
            ok = answered["content"]["application/json"]["schema"]
            assert ok.get("$ref") or ok.get("type") == "object", where
            assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
                "/ErrorRead"
            ), where
            if method in ("post", "put", "patch") and not path.endswith(("/reload", "/promote", "/abort")):
                assert "application/json" in op["requestBody"]["content"], where
    write = paths["/api/v1/config/{service}"]["post"]
    assert {"400", "404", "409", "413", "422", "503"} <= set(write["responses"])
    assert write["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ConfigWritten"
    )
    read = doc["components"]["schemas"]["ConfigRead"]["properties"]
    assert {"config", "revision", "version", "updated_at", "updated_by"} <= set(read)
    rollback = paths["/api/v1/config/{service}/rollback"]["post"]["requestBody"]
    assert "version" in rollback["content"]["application/json"]["schema"]["properties"]
