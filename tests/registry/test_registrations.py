"""Registrations stored in groups, and the batch registration endpoint (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text

from centralhub.core import wire
from centralhub.hub import Hub
from tests.auth_support import bearer, make_key

BATCH = "/api/v1/services/register/batch"
REFUSED_HOST = "refused.invalid"


def reg(name: str, host: str, port: int = 8000, **extra: Any) -> dict[str, Any]:
    return {"name": name, "host": host, "port": port, **extra}


@asynccontextmanager
async def database_refuses_host(hub: Hub, host: str) -> AsyncIterator[None]:
    """Make the database itself refuse rows for ``host`` (a trigger), as it would refuse a
    value it cannot store: the request passed validation, the row fails in the statement."""
    engine = hub.database.engine
    async with engine.begin() as conn:
        if hub.database.is_sqlite:
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_host BEFORE INSERT ON service_registry "
                    f"WHEN NEW.host = '{host}' BEGIN SELECT RAISE(ABORT, 'host refused'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION refuse_host() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.host = '{host}' THEN RAISE EXCEPTION 'host refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_host BEFORE INSERT ON service_registry "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_host()"
                )
            )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            if hub.database.is_sqlite:
                await conn.execute(text("DROP TRIGGER refuse_host"))
            else:
                await conn.execute(text("DROP TRIGGER refuse_host ON service_registry"))
                await conn.execute(text("DROP FUNCTION refuse_host()"))


async def stored_hosts(hub: Hub) -> set[str]:
    async with hub.database.engine.connect() as conn:
        return {r[0] for r in (await conn.execute(text("SELECT host FROM service_registry"))).all()}


# ---------------------------------------------------------------- group commit
async def test_concurrent_registrations_are_stored_together_and_each_answered(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    batches_before = hub.registry._registrations.batches
    async with asyncio.timeout(30):
        answers = await asyncio.gather(
            *(client.post("/api/v1/services/register", json=reg("fleet", f"h{i}")) for i in range(40))
        )
    assert [a.status_code for a in answers] == [201] * 40
    ids = {a.json()["instance_id"] for a in answers}
    assert len(ids) == 40
    assert all(a.json()["created"] for a in answers)
    # every caller was answered only after its row was stored
    assert await stored_hosts(hub) == {f"h{i}" for i in range(40)}
    assert hub.registry._registrations.batches - batches_before < 40
    listed = (await client.get("/api/v1/services/fleet")).json()
    assert {i["instance_id"] for i in listed["instances"]} == ids


async def test_concurrent_registrations_of_one_endpoint_share_its_id(client: httpx.AsyncClient) -> None:
    first = await client.post("/api/v1/services/register", json=reg("orders", "o1", version="1"))
    async with asyncio.timeout(30):
        again = await asyncio.gather(
            *(
                client.post("/api/v1/services/register", json=reg("orders", "o1", version=str(v)))
                for v in range(2, 12)
            )
        )
    assert {a.json()["instance_id"] for a in again} == {first.json()["instance_id"]}
    assert not any(a.json()["created"] for a in again)
    [inst] = (await client.get("/api/v1/services/orders")).json()["instances"]
    assert inst["version"] in {str(v) for v in range(2, 12)}


async def test_a_row_the_database_refuses_fails_only_its_caller(client: httpx.AsyncClient, hub: Hub) -> None:
    async with database_refuses_host(hub, REFUSED_HOST), asyncio.timeout(30):
        answers = await asyncio.gather(
            *(client.post("/api/v1/services/register", json=reg("mixed", f"m{i}")) for i in range(8)),
            client.post("/api/v1/services/register", json=reg("mixed", REFUSED_HOST)),
        )
    *good, bad = answers
    assert [a.status_code for a in good] == [201] * 8
    assert bad.status_code == 503
    assert bad.json()["error"]["code"] == "unavailable"
    assert await stored_hosts(hub) == {f"m{i}" for i in range(8)}
    listed = (await client.get("/api/v1/services/mixed")).json()
    assert REFUSED_HOST not in {i["host"] for i in listed["instances"]}


async def test_registration_is_announced_to_other_replicas(client: httpx.AsyncClient, hub: Hub) -> None:
    seen: list[dict[str, Any]] = []

    async def note(subject: str, payload: dict[str, Any]) -> None:
        if subject.endswith(".upserted"):
            seen.append(payload)

    sub = await hub.bus.subscribe(wire.REGISTRY_ALL_SUBJECTS, note)
    try:
        resp = await client.post(BATCH, json={"instances": [reg("ann", "a1"), reg("ann", "a2")]})
        assert resp.status_code == 201
        async with asyncio.timeout(5):
            while len(seen) < 2:
                await asyncio.sleep(0.01)
    finally:
        await sub.unsubscribe()
    assert {p["instance"]["host"] for p in seen} == {"a1", "a2"}


# ---------------------------------------------------------------- batch endpoint
async def test_batch_registers_every_item_with_results_by_index(client: httpx.AsyncClient) -> None:
    items = [reg("pricing", "p1"), reg("pricing", "p2"), reg("quotes", "q1", 9000), reg("pricing", "p1")]
    resp = await client.post(BATCH, json={"instances": items})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["stored"], body["failed"]) == (4, 0)
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert [r["service_name"] for r in body["results"]] == ["pricing", "pricing", "quotes", "pricing"]
    # the same endpoint twice in one batch is one instance, new only once
    assert body["results"][0]["instance_id"] == body["results"][3]["instance_id"]
    assert [r["created"] for r in body["results"]] == [True, True, True, False]
    assert body["results"][2]["instance"]["url"] == "http://q1:9000"
    pricing = (await client.get("/api/v1/services/pricing")).json()
    assert pricing["instance_count"] == 2
    again = await client.post(BATCH, json={"instances": items[:1]})
    assert again.json()["results"][0]["instance_id"] == body["results"][0]["instance_id"]
    assert again.json()["results"][0]["created"] is False


async def test_batch_size_is_bounded(client: httpx.AsyncClient, hub: Hub) -> None:
    items = [reg("big", f"b{i}") for i in range(1001)]
    resp = await client.post(BATCH, json={"instances": items})
    assert resp.status_code == 422
    assert "1000" in resp.json()["error"]["message"]
    empty = await client.post(BATCH, json={"instances": []})
    assert empty.status_code == 422
    assert await stored_hosts(hub) == set()
    resp = await client.post(BATCH, json={"instances": items[:1000]})
    assert resp.status_code == 201
    assert resp.json()["stored"] == 1000
    assert len(await stored_hosts(hub)) == 1000


async def test_batch_with_an_invalid_item_names_it_and_stores_nothing(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    items = [reg("svc", "s1"), reg("svc", "s2"), reg("svc", "s3", port=0)]
    resp = await client.post(BATCH, json={"instances": items})
    assert resp.status_code == 422
    assert "instances.2.port" in resp.json()["error"]["message"]
    assert await stored_hosts(hub) == set()
    assert (await client.post(BATCH, content=b"{not json")).status_code == 400


async def test_batch_row_refused_by_the_database_is_reported_alone(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    items = [reg("part", "ok1"), reg("part", REFUSED_HOST), reg("part", "ok2")]
    async with database_refuses_host(hub, REFUSED_HOST):
        resp = await client.post(BATCH, json={"instances": items})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["stored"], body["failed"]) == (2, 1)
    assert [r["status"] for r in body["results"]] == ["registered", "error", "registered"]
    assert body["results"][1]["error"]["code"] == "unavailable"
    assert await stored_hosts(hub) == {"ok1", "ok2"}


async def test_batch_needs_write_scope_and_every_service(
    auth_client: httpx.AsyncClient, auth_hub: Hub
) -> None:
    items = [reg("alpha", "a1"), reg("beta", "b1")]
    reader = await make_key(auth_hub, "registry:read")
    resp = await auth_client.post(BATCH, json={"instances": items}, headers=bearer(reader))
    assert resp.status_code == 403
    assert (await auth_client.post(BATCH, json={"instances": items})).status_code == 401

    only_alpha = await make_key(auth_hub, "registry:write", services=["alpha"])
    resp = await auth_client.post(BATCH, json={"instances": items}, headers=bearer(only_alpha))
    assert resp.status_code == 403
    assert "beta" in resp.json()["error"]["message"]
    assert await stored_hosts(auth_hub) == set()

    both = await make_key(auth_hub, "registry:write", services=["alpha", "beta"])
    resp = await auth_client.post(BATCH, json={"instances": items}, headers=bearer(both))
    assert resp.status_code == 201, resp.text
    assert await stored_hosts(auth_hub) == {"a1", "b1"}
