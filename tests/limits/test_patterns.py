"""User-supplied regular expressions run on RE2: a catastrophic pattern answers at once, and a
pattern RE2 cannot run is refused with 422 when the schema is set."""

from __future__ import annotations

import asyncio
import time

import httpx

EVIL = {"type": "object", "properties": {"v": {"type": "string", "pattern": "^(a+)+$"}}}
EVIL_VALUE = {"v": "a" * 40 + "!"}


async def test_a_backtracking_pattern_answers_422_while_discovery_keeps_answering(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.put("/api/v1/config/evil/schema", json=EVIL)).status_code == 200
    slowest = 0.0

    async def read() -> None:
        nonlocal slowest
        start = time.perf_counter()
        resp = await client.get("/api/v1/services/pricing")
        slowest = max(slowest, time.perf_counter() - start)
        assert resp.status_code == 404

    async def write() -> httpx.Response:
        return await client.post("/api/v1/config/evil", json=EVIL_VALUE)

    start = time.perf_counter()
    results = await asyncio.wait_for(asyncio.gather(write(), *(read() for _ in range(20))), timeout=10)
    assert time.perf_counter() - start < 5
    resp = results[0]
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "config_invalid" and "does not match '^(a+)+$'" in error["message"]
    assert slowest < 1.0
    # the pattern still does its job
    assert (await client.post("/api/v1/config/evil", json={"v": "aaaa"})).status_code == 200


async def test_patterns_re2_cannot_run_are_refused_with_422_naming_them(client: httpx.AsyncClient) -> None:
    backref = {"type": "object", "properties": {"v": {"type": "string", "pattern": "(a)\\1"}}}
    resp = await client.put("/api/v1/config/svc/schema", json=backref)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unsupported_pattern" and "(a)\\\\1" in error["message"]
    assert "properties.v.pattern" in error["message"]

    lookahead = {"type": "object", "patternProperties": {"^(?!x)": {"type": "integer"}}}
    resp = await client.put("/api/v1/contracts/svc", json={"schemas": {"event": lookahead}})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "unsupported_pattern"
    assert "schemas.event.patternProperties" in resp.json()["error"]["message"]

    # a malformed schema is still the 400 it was
    resp = await client.put("/api/v1/config/svc/schema", json={"type": 12})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_input"


async def test_pattern_properties_and_additional_properties_use_re2(client: httpx.AsyncClient) -> None:
    schema = {
        "type": "object",
        "patternProperties": {"^(x+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    assert (await client.put("/api/v1/config/pp/schema", json=schema)).status_code == 200
    start = time.perf_counter()
    resp = await client.post("/api/v1/config/pp", json={"x" * 40 + "!": 1})
    assert time.perf_counter() - start < 2
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "config_invalid"
    assert (await client.post("/api/v1/config/pp", json={"xxx": 1})).status_code == 200
    assert (await client.post("/api/v1/config/pp", json={"xxx": "one"})).status_code == 422


async def test_unique_items_on_a_large_array_answers_promptly(client: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True}}}
    assert (await client.put("/api/v1/config/uniq/schema", json=schema)).status_code == 200
    start = time.perf_counter()
    resp = await client.post("/api/v1/config/uniq", json={"a": [{"k": i} for i in range(20000)]})
    assert resp.status_code == 200
    assert time.perf_counter() - start < 5
    resp = await client.post("/api/v1/config/uniq", json={"a": [1, 2, 1.0]})
    assert resp.status_code == 422 and "non-unique" in resp.json()["error"]["message"]
