"""The configuration API on SQLite and PostgreSQL: versions, history, diff, rollback, If-Match,
schemas, merge patch, tenants and the blocking ``/watch``."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from centralhub.hub import Hub


def svc() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


SEED_DOC = {"operational": {"batch_size": 200, "gap_check_interval_hours": 1}}


async def test_post_get_versions_and_history(client: httpx.AsyncClient) -> None:
    name = svc()
    r = await client.get(f"/api/v1/config/{name}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"

    r = await client.post(
        f"/api/v1/config/{name}", json={"operational": {"batch_size": 100}}, headers={"X-Actor": "alice"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success"
    assert body["message"] == "Config updated and broadcasted"
    assert (body["version"], body["revision"]) == ("1.0.0", 1)

    r = await client.post(f"/api/v1/config/{name}?message=bigger+batches", json=SEED_DOC)
    assert (r.json()["version"], r.json()["revision"]) == ("1.1.0", 2)

    for path in (f"/api/v1/config/{name}", f"/config/{name}"):
        got = (await client.get(path)).json()
        assert got["service_name"] == name
        assert got["version"] == "1.1.0" and got["revision"] == 2
        assert got["config"] == SEED_DOC
        assert got["updated_by"] == "anonymous"
        assert got["updated_at"]

    hist = (await client.get(f"/api/v1/config/history/{name}")).json()["history"]
    assert [h["version"] for h in hist] == ["1.1.0", "1.0.0"]
    assert hist[0]["message"] == "bigger batches"
    assert hist[1]["updated_by"] == "alice"

    old = (await client.get(f"/api/v1/config/{name}/versions/1.0.0")).json()
    assert old["config"] == {"operational": {"batch_size": 100}}
    assert (await client.get(f"/api/v1/config/{name}/versions/1")).json()["version"] == "1.0.0"
    assert (await client.get(f"/api/v1/config/{name}/versions/9.9.9")).status_code == 404


async def test_diff_and_rollback(client: httpx.AsyncClient) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={"a": 1, "b": {"c": 2}, "gone": True})
    await client.post(f"/api/v1/config/{name}", json={"a": 1, "b": {"c": 3}, "new": "x"})

    d = (await client.get(f"/api/v1/config/{name}/diff", params={"from": "1.0.0", "to": "1.1.0"})).json()
    changes = {c["path"]: c for c in d["changes"]}
    assert changes["b.c"] == {"path": "b.c", "op": "changed", "old": 2, "new": 3}
    assert changes["gone"]["op"] == "removed"
    assert changes["new"]["op"] == "added"
    assert "a" not in changes

    r = await client.post(
        f"/api/v1/config/{name}/rollback", json={"version": "1.0.0"}, headers={"X-Actor": "bob"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["revision"]) == ("1.2.0", 3)
    assert r.json()["rolled_back_to"]["version"] == "1.0.0"
    current = (await client.get(f"/api/v1/config/{name}")).json()
    assert current["config"] == {"a": 1, "b": {"c": 2}, "gone": True}
    assert current["updated_by"] == "bob"
    # the old versions are untouched
    assert (await client.get(f"/api/v1/config/{name}/versions/1.1.0")).json()["config"]["new"] == "x"

    assert (
        await client.post(f"/api/v1/config/{name}/rollback", json={"version": "7.0.0"})
    ).status_code == 404
    bad = await client.post(f"/api/v1/config/{name}/rollback", json={"nope": 1})
    assert bad.status_code == 400 and "version" in bad.json()["error"]["message"]


async def test_if_match_conflict_writes_nothing(client: httpx.AsyncClient) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={"x": 1}, headers={"If-Match": "0"})
    r = await client.post(f"/api/v1/config/{name}", json={"x": 2}, headers={"If-Match": "1"})
    assert r.status_code == 200
    stale = await client.post(f"/api/v1/config/{name}", json={"x": 3}, headers={"If-Match": "1"})
    assert stale.status_code == 409
    assert "If-Match" in stale.json()["error"]["message"]
    stale_patch = await client.patch(f"/api/v1/config/{name}", json={"x": 3}, headers={"If-Match": '"1"'})
    assert stale_patch.status_code == 409
    current = (await client.get(f"/api/v1/config/{name}")).json()
    assert current["revision"] == 2 and current["config"] == {"x": 2}
    bad = await client.post(f"/api/v1/config/{name}", json={"x": 3}, headers={"If-Match": "abc"})
    assert bad.status_code == 400 and "If-Match" in bad.json()["error"]["message"]


async def test_concurrent_writers_get_distinct_revisions(client: httpx.AsyncClient) -> None:
    name = svc()
    results = await asyncio.gather(*(client.post(f"/api/v1/config/{name}", json={"n": i}) for i in range(8)))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    assert sorted(r.json()["revision"] for r in results) == list(range(1, 9))


async def test_merge_patch(client: httpx.AsyncClient) -> None:
    name = svc()
    await client.post(
        f"/api/v1/config/{name}",
        json={"operational": {"batch_size": 100, "retries": 3}, "features": {"x": True}},
    )
    r = await client.patch(
        f"/api/v1/config/{name}", json={"operational": {"batch_size": 250, "retries": None}, "features": None}
    )
    assert r.status_code == 200 and r.json()["version"] == "1.1.0"
    got = (await client.get(f"/api/v1/config/{name}")).json()
    assert got["config"] == {"operational": {"batch_size": 250}}
    assert got["source"] == "patch"


async def test_schema_validation_blocks_bad_changes(client: httpx.AsyncClient, hub: Hub) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={"operational": {"batch_size": 100}})
    schema = {
        "type": "object",
        "properties": {
            "operational": {
                "type": "object",
                "properties": {"batch_size": {"type": "integer", "minimum": 1, "maximum": 10000}},
                "required": ["batch_size"],
            }
        },
        "required": ["operational"],
    }
    r = await client.put(f"/api/v1/config/{name}/schema", json=schema)
    assert r.status_code == 200 and r.json()["current_version_valid"] is True
    assert (await client.get(f"/api/v1/config/{name}/schema")).json() == schema

    bad_schema = await client.put(f"/api/v1/config/{name}/schema", json={"type": "nonsense"})
    assert bad_schema.status_code == 400 and "schema" in bad_schema.json()["error"]["message"]

    for path in (f"/api/v1/config/{name}/validate", f"/config/{name}/validate"):
        v = (await client.post(path, json={"operational": {"batch_size": 0}})).json()
        assert v["valid"] is False
        assert v["errors"][0]["path"] == "operational.batch_size"
        assert "minimum" in v["errors"][0]["message"] or "less than" in v["errors"][0]["message"]
    ok = (
        await client.post(f"/api/v1/config/{name}/validate", json={"operational": {"batch_size": 5}})
    ).json()
    assert ok == {"valid": True, "errors": []}

    seen: list[dict] = []

    async def on_event(subject: str, payload: dict) -> None:
        seen.append(payload)

    sub = await hub.bus.subscribe(f"config.update.{name}", on_event)
    try:
        r = await client.post(f"/api/v1/config/{name}", json={"operational": {"batch_size": "lots"}})
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == "config_invalid"
        assert err["details"][0]["path"] == "operational.batch_size"
        r = await client.patch(f"/api/v1/config/{name}", json={"operational": None})
        assert r.status_code == 422
        assert seen == []  # nothing broadcast
    finally:
        await sub.unsubscribe()
    current = (await client.get(f"/api/v1/config/{name}")).json()
    assert current["revision"] == 1  # nothing stored


async def test_bad_input_is_4xx_naming_the_field(client: httpx.AsyncClient) -> None:
    name = svc()
    r = await client.post(f"/api/v1/config/{name}", content=b"{not json")
    assert r.status_code == 400 and "body" in r.json()["error"]["message"]
    r = await client.post(f"/api/v1/config/{name}", json=[1, 2])
    assert r.status_code == 400 and "JSON object" in r.json()["error"]["message"]
    r = await client.post("/api/v1/config/bad.name", json={})
    assert r.status_code == 400 and "service" in r.json()["error"]["message"]
    r = await client.get(f"/api/v1/config/{name}/watch", params={"timeout": 9999})
    assert r.status_code == 422 and "timeout" in r.json()["error"]["message"]
    r = await client.get(f"/api/v1/config/{name}/diff")
    assert r.status_code == 422 and "from" in r.json()["error"]["message"]


async def test_tenants_are_separate_and_use_their_own_subject(client: httpx.AsyncClient, hub: Hub) -> None:
    name = svc()
    seen: list[tuple[str, dict]] = []

    async def on_event(subject: str, payload: dict) -> None:
        seen.append((subject, payload))

    sub = await hub.bus.subscribe(f"tenant.acme.config.update.{name}", on_event)
    try:
        await client.post(f"/api/v1/config/{name}", json={"who": "acme"}, headers={"X-Tenant-ID": "acme"})
    finally:
        await sub.unsubscribe()
    assert (await client.get(f"/api/v1/config/{name}")).status_code == 404
    got = (await client.get(f"/api/v1/config/{name}", headers={"X-Tenant-ID": "acme"})).json()
    assert got["config"] == {"who": "acme"}
    assert seen and seen[0][1]["tenant_id"] == "acme" and seen[0][1]["revision"] == 1
    assert seen[0][1]["config"] == {"who": "acme"}


async def test_watch_answers_at_once_holds_and_times_out(client: httpx.AsyncClient) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={"v": 1})
    r = await client.get(f"/api/v1/config/{name}/watch", params={"revision": 0, "timeout": 5})
    assert r.status_code == 200 and r.json()["revision"] == 1

    r = await client.get(f"/api/v1/config/{name}/watch", params={"revision": 1, "timeout": 0.3})
    assert r.status_code == 304

    async def change_later() -> None:
        await asyncio.sleep(0.3)
        await client.post(f"/api/v1/config/{name}", json={"v": 2})

    task = asyncio.create_task(change_later())
    r = await client.get(f"/api/v1/config/{name}/watch", params={"revision": 1, "timeout": 20})
    await task
    assert r.status_code == 200 and r.json()["revision"] == 2 and r.json()["config"] == {"v": 2}


async def test_watch_for_a_service_not_yet_configured(client: httpx.AsyncClient) -> None:
    name = svc()

    async def create_later() -> None:
        await asyncio.sleep(0.3)
        await client.post(f"/api/v1/config/{name}", json={"first": True})

    task = asyncio.create_task(create_later())
    r = await client.get(f"/api/v1/config/{name}/watch", params={"timeout": 20})
    await task
    assert r.status_code == 200 and r.json()["config"] == {"first": True}


async def test_list_services(client: httpx.AsyncClient) -> None:
    name = svc()
    await client.post(f"/api/v1/config/{name}", json={})
    assert name in (await client.get("/api/v1/config")).json()["services"]
