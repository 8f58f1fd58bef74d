"""Configuration reads answered from memory: the same bytes as the documented route, secrets only
for callers allowed to see them, never an older revision once a newer one is known, and writers
of one service queued rather than refused. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from centralhub.config import repository
from centralhub.config.models import ConfigVersion
from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.auth_support import auth_settings, bearer, make_key
from tests.conftest import reset_database

pytestmark = pytest.mark.timeout(120)

SECRET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "db": {"type": "object", "properties": {"password": {"type": "string", "x-secret": True}}}
    },
}


def svc() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def _client(hub: Hub, *, hot_paths: bool) -> httpx.AsyncClient:
    app = create_app(hub.settings, hub=hub, hot_paths=hot_paths)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub", timeout=10)


@pytest.fixture
async def plain_client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """The same hub answering through its FastAPI routes only (no memory fast path)."""
    async with _client(hub, hot_paths=False) as c:
        yield c


def _same(label: str, fast: httpx.Response, plain: httpx.Response) -> list[str]:
    problems = []
    if fast.status_code != plain.status_code:
        problems.append(f"{label}: status {fast.status_code} fast, {plain.status_code} plain")
    if fast.content != plain.content:
        problems.append(f"{label}: bodies differ\n  fast  {fast.text}\n  plain {plain.text}")
    for header in ("content-type", "content-length", "etag", "allow"):
        if fast.headers.get(header) != plain.headers.get(header):
            problems.append(
                f"{label}: {header} differs: {fast.headers.get(header)} / {plain.headers.get(header)}"
            )
    return problems


async def test_memory_reads_are_byte_identical_to_the_documented_route(
    hub: Hub, client: httpx.AsyncClient, plain_client: httpx.AsyncClient
) -> None:
    name = svc()
    for body in ({"v": 1, "nested": {"list": [1, 2.5, None, "ü"]}}, {"v": 2}):
        assert (await client.post(f"/api/v1/config/{name}", json=body)).status_code == 200
    assert (
        await client.post(f"/api/v1/config/{name}", json={"v": 3}, headers={"X-Tenant-ID": "t2"})
    ).status_code == 200
    cases: list[tuple[str, str, str, dict[str, str]]] = [
        ("current", "GET", f"/api/v1/config/{name}", {}),
        ("short alias", "GET", f"/config/{name}", {}),
        ("other tenant", "GET", f"/api/v1/config/{name}", {"X-Tenant-ID": "t2"}),
        ("tenant without it", "GET", f"/api/v1/config/{name}", {"X-Tenant-ID": "t3"}),
        ("unknown service", "GET", "/api/v1/config/never-stored", {}),
        ("bad service name", "GET", "/api/v1/config/no%20spaces", {}),
        ("bad tenant", "GET", f"/api/v1/config/{name}", {"X-Tenant-ID": "no.dots"}),
        ("If-None-Match current", "GET", f"/api/v1/config/{name}", {"If-None-Match": '"2"'}),
        ("If-None-Match older", "GET", f"/api/v1/config/{name}", {"If-None-Match": '"1"'}),
        ("HEAD", "HEAD", f"/api/v1/config/{name}", {}),
        ("PUT on the alias", "PUT", f"/config/{name}", {}),
    ]
    problems: list[str] = []
    for label, method, url, headers in cases:
        for _round in range(2):  # the second read is answered from the cached body
            fast = await client.request(method, url, headers=headers)
            plain = await plain_client.request(method, url, headers=headers)
            problems += _same(label, fast, plain)
    assert not problems, "\n".join(problems)
    current = await client.get(f"/api/v1/config/{name}")
    assert current.headers["etag"] == '"2"' and current.json()["config"] == {"v": 2}


async def test_a_read_after_a_write_returns_the_new_revision(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    for i in range(1, 6):
        written = await client.post(f"/api/v1/config/{name}", json={"i": i})
        assert written.json()["revision"] == i
        read = await client.get(f"/api/v1/config/{name}")
        assert (read.json()["revision"], read.json()["config"]) == (i, {"i": i})
    patched = await client.patch(f"/api/v1/config/{name}", json={"extra": True})
    assert (await client.get(f"/config/{name}")).json()["config"] == {"i": 5, "extra": True}
    rolled = await client.post(f"/api/v1/config/{name}/rollback", json={"version": "1"})
    assert rolled.status_code == 200, rolled.text
    read = (await client.get(f"/api/v1/config/{name}")).json()
    assert (read["revision"], read["config"]) == (patched.json()["revision"] + 1, {"i": 1})


async def test_a_newer_revision_known_but_not_held_is_read_from_the_database(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    """Another replica stored a version and announced it: the memory copy is stale and is not
    answered; the read goes to the database and returns the announced version."""
    name = svc()
    assert (await client.post(f"/api/v1/config/{name}", json={"v": 1})).status_code == 200
    async with hub.database.engine.begin() as conn:
        await repository.create(
            conn,
            version=ConfigVersion("default", name, 2, "1.0.1", {"v": 2}, "elsewhere", 1.0e9, source="api"),
        )
    stale = (await client.get(f"/api/v1/config/{name}")).json()
    assert stale["revision"] == 1  # nothing announced yet: this replica cannot know
    await hub.config_service.watcher.on_bus_event(
        f"config.update.{name}", {"tenant_id": "default", "service_name": name, "revision": 2}
    )
    fresh = (await client.get(f"/api/v1/config/{name}")).json()
    assert (fresh["revision"], fresh["config"]) == (2, {"v": 2})
    # and a write builds on the stored version, not on the stale copy
    written = await client.post(f"/api/v1/config/{name}", json={"v": 3})
    assert written.json()["revision"] == 3


async def test_fifty_concurrent_writers_of_one_service_all_succeed_in_order(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    name = svc()

    async def write(i: int) -> httpx.Response:
        return await client.post(f"/api/v1/config/{name}", json={"writer": i})

    answers = await asyncio.gather(*(write(i) for i in range(50)))
    assert [a.status_code for a in answers] == [200] * 50, [a.text for a in answers if a.status_code != 200]
    revisions = sorted(a.json()["revision"] for a in answers)
    assert revisions == list(range(1, 51))
    history = (await client.get(f"/api/v1/config/history/{name}", params={"limit": 100})).json()["history"]
    assert sorted(h["revision"] for h in history) == list(range(1, 51))
    async with hub.database.engine.connect() as conn:
        stored = await repository.get_history(conn, tenant="default", service=name, limit=100)
    assert sorted(v.config["writer"] for v in stored) == list(range(50))  # none lost
    current = (await client.get(f"/api/v1/config/{name}")).json()
    assert current["revision"] == 50
    assert current["config"] == next(v.config for v in stored if v.revision == 50)
    # one audit entry per version, each "before" the version it was built on
    audit = await client.get("/api/v1/audit", params={"resource": f"config/{name}", "limit": 100})
    entries = audit.json()["entries"]
    assert len(entries) == 50
    by_revision = {v.revision: v.config for v in stored}
    for entry in entries:
        after = entry["after"]
        assert after["config"] == by_revision[after["revision"]]
        if after["revision"] == 1:
            assert entry["before"] is None
        else:
            assert entry["before"]["revision"] == after["revision"] - 1
            assert entry["before"]["config"] == by_revision[after["revision"] - 1]


# ---------------------------------------------------------------- secrets
@pytest.fixture
async def auth_hub_db(database_url: str) -> AsyncIterator[Hub]:
    await reset_database(database_url)
    h = Hub(auth_settings(database_url, rate_limit_per_minute=10**9, rate_limit_burst=10**9))
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


async def test_secrets_are_shown_only_to_readers_allowed_to_see_them(auth_hub_db: Hub) -> None:
    hub, name = auth_hub_db, svc()
    admin = bearer(await make_key(hub, "admin"))
    reader = bearer(await make_key(hub, "config:read", services=[name]))
    outsider = bearer(await make_key(hub, "config:read", services=["another-service"]))
    async with _client(hub, hot_paths=True) as fast, _client(hub, hot_paths=False) as plain:
        schema = await fast.put(f"/api/v1/config/{name}/schema", json=SECRET_SCHEMA, headers=admin)
        assert schema.status_code == 200, schema.text
        document = {"db": {"password": "hunter2-secret"}, "pool": 3}
        assert (await fast.post(f"/api/v1/config/{name}", json=document, headers=admin)).status_code == 200
        # whoever reads first, each caller gets its own answer, identical to the documented route's
        for headers, sees in (
            (outsider, "***"),
            (reader, "hunter2-secret"),
            (outsider, "***"),
            (admin, "hunter2-secret"),
        ):
            got = await fast.get(f"/api/v1/config/{name}", headers=headers)
            want = await plain.get(f"/api/v1/config/{name}", headers=headers)
            assert got.status_code == 200, got.text
            assert got.json()["config"]["db"]["password"] == sees
            assert got.json()["secrets"] == ["db.password"]
            assert _same("secret read", got, want) == []
        assert (await fast.get(f"/api/v1/config/{name}")).status_code == 401


async def test_queued_writers_each_get_their_own_answer(hub: Hub, client: httpx.AsyncClient) -> None:
    """Writes stored by one transaction still succeed or fail one by one: a document the schema
    refuses, or a stale If-Match, fails alone; the others are stored in order."""
    name = svc()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert (await client.put(f"/api/v1/config/{name}/schema", json=schema)).status_code == 200
    assert (await client.post(f"/api/v1/config/{name}", json={"n": 0})).status_code == 200

    async def write(i: int) -> httpx.Response:
        if i % 10 == 3:
            return await client.post(f"/api/v1/config/{name}", json={"n": "not a number"})
        if i % 10 == 7:
            return await client.post(f"/api/v1/config/{name}", json={"n": i}, headers={"If-Match": '"1"'})
        return await client.post(f"/api/v1/config/{name}", json={"n": i})

    answers = await asyncio.gather(*(write(i) for i in range(40)))
    by_status: dict[int, int] = {}
    for a in answers:
        by_status[a.status_code] = by_status.get(a.status_code, 0) + 1
    # the If-Match writers race: at most one of them can find revision 1 still current
    assert by_status.get(422) == 4 and by_status.get(200, 0) in (32, 33), by_status
    assert by_status.get(409, 0) + by_status.get(200, 0) == 36, by_status
    revisions = sorted(a.json()["revision"] for a in answers if a.status_code == 200)
    assert revisions == list(range(2, 2 + len(revisions)))
    history = (await client.get(f"/api/v1/config/history/{name}", params={"limit": 100})).json()["history"]
    assert len(history) == 1 + len(revisions)
