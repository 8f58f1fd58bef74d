"""Bounded work and clean text: numeric bounds, control characters, batch sizes.

Every case runs on SQLite and PostgreSQL and expects the same exact status on both.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest


def registration(**extra: Any) -> dict[str, Any]:
    return {"name": "pricing", "host": "10.0.0.5", "port": 8080, **extra}


# (field named in the message, registration body)
NUMERIC: list[tuple[str, dict[str, Any]]] = [
    ("interval_seconds", registration(check={"type": "ttl", "interval_seconds": 0.0001})),
    (
        "interval_seconds",
        registration(check={"type": "http", "interval_seconds": 0.5, "timeout_seconds": 0.1}),
    ),
    ("timeout_seconds", registration(check={"type": "tcp", "interval_seconds": 2, "timeout_seconds": 5})),
    ("ttl_seconds", registration(ttl_seconds=0)),
]


@pytest.mark.parametrize(("field", "body"), NUMERIC, ids=[f"{f}-{i}" for i, (f, _) in enumerate(NUMERIC)])
async def test_numeric_settings_out_of_bounds_are_refused_naming_the_field(
    client: httpx.AsyncClient, field: str, body: dict[str, Any]
) -> None:
    resp = await client.post("/api/v1/services/register", json=body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error" and field in error["message"], error


async def test_sane_checks_are_accepted(client: httpx.AsyncClient) -> None:
    body = registration(check={"type": "tcp", "interval_seconds": 1, "timeout_seconds": 1}, ttl_seconds=1)
    assert (await client.post("/api/v1/services/register", json=body)).status_code in (200, 201)


NUL = "\u0000"
# (field named in the message, registration body)
CONTROL: list[tuple[str, dict[str, Any]]] = [
    ("host", registration(host=f"10.0.0.5{NUL}")),
    ("host", registration(host="db\u007f")),
    ("version", registration(version=f"1.0{NUL}")),
    ("tags", registration(tags=["ok", "bad\u0001"])),
    ("metadata", registration(metadata={"region": f"eu{NUL}"})),
    ("metadata", registration(metadata={"nested": {"list": ["x", "\u001b[31m"]}})),
    ("metadata", registration(metadata={f"key{NUL}": 1})),
    ("health_endpoint", registration(health_endpoint="/health\n")),
    ("dependencies", registration(dependencies=[f"db{NUL}"])),
]


@pytest.mark.parametrize(("field", "body"), CONTROL, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CONTROL)])
async def test_control_characters_in_text_are_refused_alike_on_every_backend(
    client: httpx.AsyncClient, field: str, body: dict[str, Any]
) -> None:
    resp = await client.post("/api/v1/services/register", json=body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "validation_error" and field in error["message"], error
    # nothing was stored, and the registry still answers
    assert (await client.get("/api/v1/services/pricing")).status_code == 404


async def test_control_characters_in_labels_messages_and_silences(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/config/svc", json={"a": 1}, params={"message": f"hi{NUL}"})
    assert resp.status_code == 400 and "message" in resp.json()["error"]["message"]
    resp = await client.post("/api/v1/config/svc", json={"a": 1}, headers={"X-Actor": "ops\u007f"})
    assert resp.status_code == 400 and "author" in resp.json()["error"]["message"]
    resp = await client.post("/api/v1/config/svc/rollback", json={"version": 1, "message": "x\u0002"})
    assert resp.status_code in (400, 404)
    resp = await client.post(
        "/api/v1/alerts/silences", json={"target": "pricing", "duration_seconds": 60, "reason": f"r{NUL}"}
    )
    assert resp.status_code == 422 and "reason" in resp.json()["error"]["message"]
    assert (await client.get("/api/v1/config/svc")).status_code == 404


async def test_heartbeat_batches_are_capped_and_unknown_ids_answer_promptly(
    client: httpx.AsyncClient,
) -> None:
    beats = [{"service": "pricing", "instance_id": f"ghost-{i}"} for i in range(1001)]
    resp = await client.post("/api/v1/heartbeats", json={"heartbeats": beats})
    assert resp.status_code == 422
    assert "1000" in resp.json()["error"]["message"]

    start = time.perf_counter()
    resp = await client.post("/api/v1/heartbeats", json={"heartbeats": beats[:1000]})
    assert resp.status_code == 200, resp.text
    assert time.perf_counter() - start < 5
    assert {r["status"] for r in resp.json()["results"]} == {"unknown"}

    resp = await client.post(
        "/api/v1/heartbeats", json={"heartbeats": [{"service": "pricing", "instance_id": f"x{NUL}"}]}
    )
    assert resp.status_code == 422


async def test_control_characters_in_paths_are_client_errors(client: httpx.AsyncClient) -> None:
    """An id from the URL reaches the database only when it could be stored."""
    resp = await client.post("/api/v1/services/pricing/instances/a%00b/heartbeat")
    assert resp.status_code == 404, resp.text
    resp = await client.delete("/api/v1/services/pricing/instances/a%00b")
    assert resp.status_code == 404, resp.text
