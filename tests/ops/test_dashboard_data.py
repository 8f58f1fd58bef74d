"""What the info, metrics and dashboard routes answer: one time format, documented shapes."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from centralhub.core.time import parse_rfc3339

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def times_in(doc: Any, key: str = "") -> list[tuple[str, Any]]:
    """Every (key, value) under a time-named key anywhere in ``doc``."""
    if isinstance(doc, dict):
        return [pair for k, v in doc.items() for pair in times_in(v, str(k))]
    if isinstance(doc, list):
        return [pair for v in doc for pair in times_in(v, key)]
    if key.endswith("_at") or key in ("timestamp", "last_seen", "last_check", "status_since"):
        return [(key, doc)]
    return []


async def test_dashboard_document_has_every_time_in_rfc3339(client: httpx.AsyncClient) -> None:
    body = {"name": "pay", "host": "127.0.0.1", "port": 9100, "dependencies": ["ledger"]}
    assert (await client.post("/api/v1/services/register", json=body)).status_code == 201
    assert (await client.post("/api/v1/config/pay", json={"limit": 3})).status_code == 200

    doc = (await client.get("/api/v1/dashboard/data")).json()
    found = times_in(doc)
    keys = {k for k, v in found if v is not None}
    assert {"generated_at", "timestamp", "last_seen", "updated_at"} <= keys, found
    for key, value in found:
        assert value is None or RFC3339_MS.match(value), (key, value)
    assert abs(parse_rfc3339(doc["generated_at"]) - time.time()) < 60
    assert doc["graph"]["edges"] == [{"from": "pay", "to": "ledger"}]


async def test_info_uses_rfc3339_and_health_keeps_epoch_milliseconds(client: httpx.AsyncClient) -> None:
    info = (await client.get("/")).json()
    assert RFC3339_MS.match(info["started_at"])
    health = (await client.get("/health")).json()
    assert isinstance(health["timestamp"], int)
    assert abs(health["timestamp"] - time.time() * 1000) < 60_000


@pytest.mark.parametrize(
    ("path", "errors"),
    [
        ("/", ()),
        ("/health", ("503",)),
        ("/api/v1/metrics", ()),
        ("/api/v1/sd/prometheus", ("400", "422")),
        ("/api/v1/dashboard/data", ("400", "422")),
    ],
)
async def test_openapi_documents_each_body_and_error_shape(
    client: httpx.AsyncClient, path: str, errors: tuple[str, ...]
) -> None:
    spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"][path]["get"]["responses"]
    assert "$ref" in str(responses["200"]["content"]["application/json"]["schema"]), responses["200"]
    for status in errors:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema["$ref"].rsplit("/", 1)[-1] in ("ErrorRead", "HealthRead"), (status, schema)
    assert "HTTPValidationError" not in str(responses)


async def test_prometheus_exposition_is_documented_as_text(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
