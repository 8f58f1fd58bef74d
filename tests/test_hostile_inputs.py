"""Inputs found by fuzzing the OpenAPI document: each must get a 4xx naming the problem, and
nothing stored may become unreadable."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


def nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        doc = {"a": doc}
    return doc


@pytest.fixture
async def configured(client: httpx.AsyncClient) -> httpx.AsyncClient:
    assert (await client.post("/api/v1/config/svc", json={"a": 1})).status_code == 200
    return client


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/api/v1/config/svc", {"json": {"a": 2}, "headers": {"If-Match": "\u00b2"}}),
        ("GET", "/api/v1/config/svc/versions/%C2%B2", {}),
        ("GET", "/api/v1/config/svc/versions/99999999999999999999", {}),
        ("GET", "/api/v1/config/svc/diff?from=99999999999999999999", {}),
        ("POST", "/api/v1/config/svc/rollback", {"json": {"version": "\u00b2"}}),
        ("POST", "/api/v1/config/svc/rollback", {"json": {"version": "99999999999999999999"}}),
        ("GET", "/api/v1/config/history/svc?before=99999999999999999999", {}),
        ("GET", "/api/v1/config/svc/watch?revision=99999999999999999999&timeout=0", {}),
        ("GET", "/api/v1/alerts?since=1e300", {}),
        ("GET", "/api/v1/alerts?since=nan", {}),
        ("GET", "/api/v1/alerts?since=9999-12-31T23:59:59-23:59", {}),
        ("POST", "/api/v1/config/svc", {"json": nested(254)}),
        ("PATCH", "/api/v1/config/svc", {"content": b'{"a":' * 999 + b"1" + b"}" * 999}),
        ("PUT", "/api/v1/config/svc/schema", {"json": nested(300)}),
        (
            "POST",
            "/api/v1/services/register",
            {"json": {"name": "m", "host": "h", "port": 1, "metadata": {"x": 99999999999999999999}}},
        ),
        (
            "POST",
            "/api/v1/services/register",
            {"json": {"name": "m", "host": "h", "port": 1, "metadata": nested(300)}},
        ),
        ("POST", "/api/v1/config/nl%0A", {"json": {"a": 1}}),
        ("GET", "/api/v1/services", {"headers": {"X-Tenant-ID": "abc\n"}}),
    ],
)
async def test_hostile_input_is_a_4xx_and_the_config_stays_readable(
    configured: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    try:
        resp = await configured.request(method, path, **kwargs)
    except (httpx.LocalProtocolError, ValueError):
        return  # the client itself refuses to send it (e.g. a newline in a header): nothing to check
    assert 400 <= resp.status_code < 500 or resp.status_code == 304, (resp.status_code, resp.text[:300])
    if resp.status_code != 304:
        assert resp.json()["error"]["message"]
    current = await configured.get("/api/v1/config/svc")
    assert current.status_code == 200
    assert current.json()["config"] == {"a": 1}
    assert (await configured.get("/api/v1/config/svc/schema")).status_code in (200, 404)


async def test_draft03_contracts_can_be_compared_and_replaced(client: httpx.AsyncClient) -> None:
    old = {
        "schemas": {
            "m": {"$schema": "http://json-schema.org/draft-03/schema#", "type": "object", "required": True}
        }
    }
    assert (await client.put("/api/v1/contracts/c3", json=old)).status_code in (200, 201)
    new = {"schemas": {"m": {"type": "object"}}}
    resp = await client.post("/api/v1/contracts/c3/compatibility", json=new)
    assert resp.status_code == 200 and "compatible" in resp.json()
    odd = {"schemas": {"m": {"type": [{"type": "string"}], "properties": ["not", "a", "dict"]}}}
    resp = await client.post("/api/v1/contracts/c3/compatibility", json=odd)
    assert resp.status_code in (200, 400, 422), resp.text
    if resp.status_code != 200:
        assert resp.json()["error"]["message"]
