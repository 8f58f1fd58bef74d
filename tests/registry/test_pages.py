"""Paginated service listings (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx

from centralhub.registry.pages import DEFAULT_LIMIT, MAX_LIMIT, SLICE

BATCH = "/api/v1/services/register/batch"


async def register_services(client: httpx.AsyncClient, names: list[str], per_service: int = 1) -> None:
    items = [{"name": n, "host": f"{n}-{k}", "port": 8000} for n in names for k in range(per_service)]
    for start in range(0, len(items), 1000):
        resp = await client.post(BATCH, json={"instances": items[start : start + 1000]})
        assert resp.status_code == 201, resp.text


async def walk(
    client: httpx.AsyncClient, path: str = "/api/v1/services", **params: Any
) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor."""
    pages = []
    cursor = None
    async with asyncio.timeout(60):
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            resp = await client.get(path, params=query)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            pages.append(page)
            cursor = page["next_cursor"]
            if cursor is None:
                assert "link" not in resp.headers
                return pages
            assert resp.headers["link"].endswith('>; rel="next"')
            assert f"cursor={cursor}" in resp.headers["link"]


async def test_cursor_walk_visits_every_service_once_in_name_order(client: httpx.AsyncClient) -> None:
    names = [f"svc-{i:02d}" for i in range(25)]
    await register_services(client, names, per_service=2)
    for path in ("/api/v1/services", "/discovery/services"):
        pages = await walk(client, path, limit=10)
        assert [p["count"] for p in pages] == [10, 10, 5]
        seen = [s["name"] for p in pages for s in p["services"]]
        assert seen == names
        assert all(
            s["instance_count"] == 2 and len(s["instances"]) == 2 for p in pages for s in p["services"]
        )


async def test_default_page_size_and_bounds(client: httpx.AsyncClient) -> None:
    names = [f"d{i:03d}" for i in range(DEFAULT_LIMIT + 20)]
    await register_services(client, names)
    first = (await client.get("/api/v1/services")).json()
    assert first["count"] == DEFAULT_LIMIT
    assert first["next_cursor"] is not None
    assert len((await client.get("/api/v1/services", params={"limit": MAX_LIMIT})).json()["services"]) == len(
        names
    )
    for bad in ("0", "-1", str(MAX_LIMIT + 1), "ten"):
        resp = await client.get("/api/v1/services", params={"limit": bad})
        assert resp.status_code == 422, bad
        assert "limit" in resp.json()["error"]["message"]


async def test_bad_cursor_is_a_400_naming_it(client: httpx.AsyncClient) -> None:
    await register_services(client, ["one"])
    forged = base64.urlsafe_b64encode(b"x9:one").decode()
    for bad in ("not-a-cursor!", "%%%", forged):
        resp = await client.get("/api/v1/services", params={"cursor": bad})
        assert resp.status_code == 400, bad
        assert "cursor" in resp.json()["error"]["message"]


async def test_status_filter_pages_only_matching_services(client: httpx.AsyncClient) -> None:
    names = [f"f{i:02d}" for i in range(12)]
    await register_services(client, names)
    for name in names[::3]:
        [inst] = (await client.get(f"/api/v1/services/{name}")).json()["instances"]
        assert (
            await client.post(f"/api/v1/services/{name}/instances/{inst['instance_id']}/drain")
        ).status_code == 200
    pages = await walk(client, status="draining", limit=2)
    assert [s["name"] for p in pages for s in p["services"]] == names[::3]
    assert all(i["status"] == "draining" for p in pages for s in p["services"] for i in s["instances"])


async def test_big_service_is_sent_whole_and_in_registration_order(client: httpx.AsyncClient) -> None:
    count = SLICE * 3 + 7
    await register_services(client, ["big"], per_service=count)
    await register_services(client, ["small"])
    [big, small] = (await client.get("/api/v1/services")).json()["services"]
    assert big["instance_count"] == count
    assert [i["host"] for i in big["instances"]] == [f"big-{k}" for k in range(count)]
    assert big == (await client.get("/api/v1/services/big")).json()
    assert small["name"] == "small"


async def test_paging_during_registrations_neither_repeats_nor_misses(client: httpx.AsyncClient) -> None:
    names = [f"p{i:02d}" for i in range(40)]
    await register_services(client, names)
    stop = asyncio.Event()

    async def churn() -> None:
        # new services land between and around the existing names; existing ones re-register
        k = 0
        while not stop.is_set():
            items = [
                {"name": f"p{k % 40:02d}x{k}", "host": "n", "port": 8000},
                {"name": names[k % 40], "host": f"p{k % 40:02d}-0", "port": 8000, "version": str(k)},
                {"name": f"a{k}", "host": "n", "port": 8000},
            ]
            assert (await client.post(BATCH, json={"instances": items})).status_code == 201
            k += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(churn())
    try:
        pages = await walk(client, limit=3)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    seen = [s["name"] for p in pages for s in p["services"]]
    assert len(seen) == len(set(seen))
    assert set(names) <= set(seen)
    assert seen == sorted(seen)
