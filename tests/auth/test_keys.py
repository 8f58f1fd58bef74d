"""API keys end to end: create, use, refuse, revoke; scopes, tenants and services enforced."""

from __future__ import annotations

import re

import httpx
import pytest

from centralhub.core.time import ManualClock
from centralhub.hub import Hub
from tests.auth_support import bearer, make_key

REGISTRATION = {"name": "orders", "host": "10.0.0.1", "port": 8080}


def _message(resp: httpx.Response) -> str:
    return str(resp.json()["error"]["message"])


async def test_unknown_and_malformed_credentials_get_401(auth_client: httpx.AsyncClient) -> None:
    for headers in (
        bearer("chub_deadbeef_" + "x" * 43),
        bearer("not-a-key"),
        {"X-API-Key": "chub_00000000_nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        resp = await auth_client.get("/api/v1/services", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.json()["error"]["code"] == "unauthorized"
        # the credential never comes back
        assert "nope" not in resp.text and "x" * 43 not in resp.text


async def test_key_by_header_or_bearer(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    key = await make_key(auth_hub, "registry:read")
    assert re.fullmatch(r"chub_[0-9a-f]{8}_[A-Za-z0-9_-]{32,}", key)
    assert (await auth_client.get("/api/v1/services", headers={"X-API-Key": key})).status_code == 200
    assert (await auth_client.get("/api/v1/services", headers=bearer(key))).status_code == 200


async def test_expired_key_gets_401(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    clock = ManualClock()
    auth_hub.keys.clock = clock
    key = await make_key(auth_hub, "registry:read", expires_in="1h")
    assert (await auth_client.get("/api/v1/services", headers=bearer(key))).status_code == 200
    clock.advance(3601)
    resp = await auth_client.get("/api/v1/services", headers=bearer(key))
    assert resp.status_code == 401
    assert "expired" in _message(resp)


async def test_scope_escalation_is_403_naming_the_scope(
    auth_hub: Hub, auth_client: httpx.AsyncClient
) -> None:
    reader = await make_key(auth_hub, "registry:read")
    resp = await auth_client.post("/api/v1/services/register", json=REGISTRATION, headers=bearer(reader))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"
    assert "registry:write" in _message(resp)

    config_reader = await make_key(auth_hub, "config:read")
    resp = await auth_client.post("/api/v1/config/orders", json={"a": 1}, headers=bearer(config_reader))
    assert resp.status_code == 403 and "config:write" in _message(resp)
    assert (await auth_client.get("/api/v1/config/orders", headers=bearer(config_reader))).status_code == 404

    writer = await make_key(auth_hub, "config:write")
    resp = await auth_client.put("/api/v1/config/orders/schema", json={}, headers=bearer(writer))
    assert resp.status_code == 403 and "config:admin" in _message(resp)

    for scope in ("registry:write", "config:admin", "ops"):
        non_admin = await make_key(auth_hub, scope)
        resp = await auth_client.post(
            "/api/v1/keys", json={"name": "sneaky", "scopes": ["admin"]}, headers=bearer(non_admin)
        )
        assert resp.status_code == 403 and "needs scope admin" in _message(resp)


async def test_write_scope_implies_read(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    writer = await make_key(auth_hub, "registry:write")
    resp = await auth_client.post("/api/v1/services/register", json=REGISTRATION, headers=bearer(writer))
    assert resp.status_code == 201, resp.text
    assert (await auth_client.get("/api/v1/services/orders", headers=bearer(writer))).status_code == 200


async def test_tenant_bound_key(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    key = await make_key(auth_hub, "registry:write", tenant="t1")
    escape = await auth_client.post(
        "/api/v1/services/register", json=REGISTRATION, headers={**bearer(key), "X-Tenant-ID": "t2"}
    )
    assert escape.status_code == 403
    assert "t1" in _message(escape) and "t2" in _message(escape)
    read_escape = await auth_client.get(
        "/api/v1/services/orders", headers={**bearer(key), "X-Tenant-ID": "default"}
    )
    assert read_escape.status_code == 403

    # without the header the key acts in its tenant, on the fast paths too
    resp = await auth_client.post("/api/v1/services/register", json=REGISTRATION, headers=bearer(key))
    assert resp.status_code == 201 and resp.json()["tenant_id"] == "t1"
    instance_id = resp.json()["instance_id"]
    assert (await auth_client.get("/api/v1/services/orders", headers=bearer(key))).status_code == 200
    beat = await auth_client.post(
        f"/api/v1/services/orders/instances/{instance_id}/heartbeat", headers=bearer(key)
    )
    assert beat.status_code == 200, beat.text
    same = await auth_client.get("/api/v1/services/orders", headers={**bearer(key), "X-Tenant-ID": "t1"})
    assert same.status_code == 200
    empty = await auth_client.get("/api/v1/services", headers={**bearer(key), "X-Tenant-ID": ""})
    assert empty.status_code == 200 and empty.json()["tenant_id"] == "t1"

    admin = await make_key(auth_hub, "admin")
    assert (await auth_client.get("/api/v1/services/orders", headers=bearer(admin))).status_code == 404
    in_t1 = await auth_client.get("/api/v1/services/orders", headers={**bearer(admin), "X-Tenant-ID": "t1"})
    assert in_t1.status_code == 200


async def test_service_limited_key(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    key = await make_key(auth_hub, "registry:write", "config:write", services=["orders"])
    other = {**REGISTRATION, "name": "billing"}
    resp = await auth_client.post("/api/v1/services/register", json=other, headers=bearer(key))
    assert resp.status_code == 403 and "billing" in _message(resp)
    resp = await auth_client.post("/api/v1/services/register", json=REGISTRATION, headers=bearer(key))
    assert resp.status_code == 201
    instance_id = resp.json()["instance_id"]

    admin = await make_key(auth_hub, "admin")
    billing = await auth_client.post("/api/v1/services/register", json=other, headers=bearer(admin))
    billing_id = billing.json()["instance_id"]
    beat = await auth_client.post(
        f"/api/v1/services/billing/instances/{billing_id}/heartbeat", headers=bearer(key)
    )
    assert beat.status_code == 403 and "billing" in _message(beat)
    gone = await auth_client.delete(f"/api/v1/services/billing/instances/{billing_id}", headers=bearer(key))
    assert gone.status_code == 403
    batch = await auth_client.post(
        "/api/v1/heartbeats",
        json={"heartbeats": [{"service": "billing", "instance_id": billing_id}]},
        headers=bearer(key),
    )
    assert batch.status_code == 403
    beat = await auth_client.post(
        f"/api/v1/services/orders/instances/{instance_id}/heartbeat", headers=bearer(key)
    )
    assert beat.status_code == 200

    assert (
        await auth_client.post("/api/v1/config/billing", json={"a": 1}, headers=bearer(key))
    ).status_code == 403
    assert (
        await auth_client.post("/api/v1/config/orders", json={"a": 1}, headers=bearer(key))
    ).status_code == 200
    # reading another service is not a write
    assert (await auth_client.get("/api/v1/services/billing", headers=bearer(key))).status_code == 200


async def test_keys_api(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    admin = bearer(await make_key(auth_hub, "admin", name="root"))
    resp = await auth_client.post(
        "/api/v1/keys",
        json={
            "name": "ci",
            "scopes": ["config:write"],
            "tenant": "t1",
            "services": ["orders"],
            "expires_in": "30d",
        },
        headers=admin,
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["key"].startswith(created["prefix"] + "_")
    assert created["scopes"] == ["config:write"] and created["tenant"] == "t1"
    assert created["services"] == ["orders"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["expires_at"])
    assert created["created_by"] == "root"

    dup = await auth_client.post("/api/v1/keys", json={"name": "ci", "scopes": ["ops"]}, headers=admin)
    assert dup.status_code == 409
    bad = await auth_client.post("/api/v1/keys", json={"name": "x", "scopes": ["superuser"]}, headers=admin)
    assert bad.status_code == 422
    bad_name = await auth_client.post("/api/v1/keys", json={"name": "a b", "scopes": ["ops"]}, headers=admin)
    assert bad_name.status_code == 422
    bad_expiry = await auth_client.post(
        "/api/v1/keys", json={"name": "y", "scopes": ["ops"], "expires_in": "soon"}, headers=admin
    )
    assert bad_expiry.status_code == 400

    listing = await auth_client.get("/api/v1/keys", headers=admin)
    assert listing.status_code == 200
    assert {k["name"] for k in listing.json()["keys"]} == {"root", "ci"}
    assert created["key"] not in listing.text and "hash" not in listing.text

    ci = bearer(created["key"])
    assert (await auth_client.get("/api/v1/config", headers=ci)).status_code == 200
    assert (await auth_client.delete("/api/v1/keys/ci", headers=admin)).status_code == 204
    resp = await auth_client.get("/api/v1/config", headers=ci)
    assert resp.status_code == 401 and "revoked" in _message(resp)
    assert (await auth_client.delete("/api/v1/keys/nobody", headers=admin)).status_code == 404


async def test_config_author_is_the_caller(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    key = await make_key(auth_hub, "config:write", name="deployer")
    resp = await auth_client.post(
        "/api/v1/config/orders", json={"a": 1}, headers={**bearer(key), "X-Actor": "someone-else"}
    )
    assert resp.status_code == 200
    history = (await auth_client.get("/api/v1/config/history/orders", headers=bearer(key))).json()
    assert "deployer" in str(history) and "someone-else" not in str(history)


@pytest.mark.timeout(30)
async def test_auth_off_lets_everyone_in(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/services")).status_code == 200
    assert (await client.post("/api/v1/services/register", json=REGISTRATION)).status_code == 201
