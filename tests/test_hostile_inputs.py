"""Inputs found by fuzzing the OpenAPI document: each gets one exact 4xx naming the problem, and
nothing stored becomes unreadable.

Every case runs on SQLite and on PostgreSQL with the same expectation: a status that differs
between the two is a bug, never a reason to accept either.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BIG = "99999999999999999999"  # beyond 64 bits


def nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        doc = {"a": doc}
    return doc


@pytest.fixture
async def configured(client: httpx.AsyncClient) -> httpx.AsyncClient:
    assert (await client.post("/api/v1/config/svc", json={"a": 1})).status_code == 200
    return client


def register(metadata: Any) -> dict[str, Any]:
    return {"json": {"name": "m", "host": "h", "port": 1, "metadata": metadata}}


# (method, path, request kwargs, status, error code)
CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    # a header value that is not a revision number (sent as raw UTF-8 bytes)
    (
        "POST",
        "/api/v1/config/svc",
        {"json": {"a": 2}, "headers": {"If-Match": "\u00b2".encode()}},
        400,
        "invalid_input",
    ),
    ("POST", "/api/v1/config/svc", {"json": {"a": 2}, "headers": {"If-Match": BIG}}, 400, "invalid_input"),
    # version identifiers that name no version
    ("GET", "/api/v1/config/svc/versions/%C2%B2", {}, 404, "not_found"),
    ("GET", f"/api/v1/config/svc/versions/{BIG}", {}, 404, "not_found"),
    ("GET", f"/api/v1/config/svc/diff?from={BIG}", {}, 404, "not_found"),
    ("POST", "/api/v1/config/svc/rollback", {"json": {"version": "\u00b2"}}, 404, "not_found"),
    ("POST", "/api/v1/config/svc/rollback", {"json": {"version": BIG}}, 404, "not_found"),
    # integer query parameters beyond what the database stores
    ("GET", f"/api/v1/config/history/svc?before={BIG}", {}, 422, "validation_error"),
    ("GET", f"/api/v1/config/svc/watch?revision={BIG}&timeout=0", {}, 422, "validation_error"),
    # times no one can mean
    ("GET", "/api/v1/alerts?since=1e300", {}, 400, "invalid_input"),
    ("GET", "/api/v1/alerts?since=nan", {}, 400, "invalid_input"),
    ("GET", "/api/v1/alerts?since=9999-12-31T23:59:59-23:59", {}, 400, "invalid_input"),
    # documents nested deeper than the hub stores
    ("POST", "/api/v1/config/svc", {"json": nested(254)}, 400, "invalid_input"),
    ("PATCH", "/api/v1/config/svc", {"content": b'{"a":' * 999 + b"1" + b"}" * 999}, 400, "invalid_input"),
    ("PUT", "/api/v1/config/svc/schema", {"json": nested(300)}, 400, "invalid_input"),
    ("POST", "/api/v1/services/register", register({"x": int(BIG)}), 422, "validation_error"),
    ("POST", "/api/v1/services/register", register(nested(300)), 422, "validation_error"),
    # names and tenants with control characters
    ("POST", "/api/v1/config/nl%0A", {"json": {"a": 1}}, 400, "invalid_input"),
    ("GET", "/api/v1/services", {"headers": {"X-Tenant-ID": "abc\n"}}, 400, "invalid_input"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"), CASES, ids=[f"{c[0]} {c[1][:50]}" for c in CASES]
)
async def test_hostile_input_gets_its_exact_4xx_and_the_config_stays_readable(
    configured: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    resp = await configured.request(method, path, **kwargs)
    assert resp.status_code == status, resp.text[:300]
    error = resp.json()["error"]
    assert error["code"] == code and error["message"], error
    current = await configured.get("/api/v1/config/svc")
    assert current.status_code == 200
    assert current.json()["config"] == {"a": 1}
    schema = await configured.get("/api/v1/config/svc/schema")
    assert schema.status_code == 404 and schema.json()["error"]["code"] == "not_found"


async def test_draft03_contracts_can_be_compared_and_replaced(client: httpx.AsyncClient) -> None:
    old = {
        "schemas": {
            "m": {"$schema": "http://json-schema.org/draft-03/schema#", "type": "object", "required": True}
        }
    }
    assert (await client.put("/api/v1/contracts/c3", json=old)).status_code == 200
    new = {"schemas": {"m": {"type": "object"}}}
    resp = await client.post("/api/v1/contracts/c3/compatibility", json=new)
    assert resp.status_code == 200 and resp.json()["compatible"] is True
    odd = {"schemas": {"m": {"type": [{"type": "string"}], "properties": ["not", "a", "dict"]}}}
    resp = await client.post("/api/v1/contracts/c3/compatibility", json=odd)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "invalid_input"
    assert "schemas.m" in resp.json()["error"]["message"]
