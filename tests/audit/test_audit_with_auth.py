"""The audit trail with auth on: the actor is the credential's name, ``admin`` alone may read it.

Runs on SQLite and PostgreSQL (``auth_hub``/``auth_client`` are parametrized); the client
connects from 127.0.0.9."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from centralhub.hub import Hub
from tests.auth_support import bearer, make_key


async def _audit(client: httpx.AsyncClient, key: str, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/audit", params=params, headers=bearer(key))
    assert resp.status_code == 200, resp.text
    return resp.json()["entries"]  # type: ignore[no-any-return]


async def test_config_changes_name_the_key_and_address(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    name = f"orders-{uuid.uuid4().hex[:8]}"
    writer = await make_key(auth_hub, "config:write", name="deployer")
    admin = await make_key(auth_hub, "admin", name="auditor")
    path = f"/api/v1/config/{name}"
    # X-Actor is only a label: it never changes who the audit trail names
    assert (
        await auth_client.post(path, json={"a": 1}, headers=bearer(writer) | {"X-Actor": "x"})
    ).status_code == 200
    assert (await auth_client.patch(path, json={"a": 2}, headers=bearer(writer))).status_code == 200
    resp = await auth_client.post(path + "/rollback", json={"version": "1.0.0"}, headers=bearer(writer))
    assert resp.status_code == 200, resp.text

    entries = await _audit(auth_client, admin, resource=f"config/{name}")
    assert [(e["action"], e["actor"], e["address"]) for e in entries] == [
        ("config.rollback", "deployer", "127.0.0.9"),
        ("config.patch", "deployer", "127.0.0.9"),
        ("config.set", "deployer", "127.0.0.9"),
    ]
    assert [(e["before"] or {}).get("config") for e in entries] == [{"a": 2}, {"a": 1}, None]
    assert [e["after"]["config"] for e in entries] == [{"a": 1}, {"a": 2}, {"a": 1}]
    assert [e["actor"] for e in await _audit(auth_client, admin, actor="deployer")] == ["deployer"] * 3


async def test_only_admin_reads_the_trail(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    ops = await make_key(auth_hub, "ops", "config:admin")
    assert (await auth_client.get("/api/v1/audit")).status_code == 401
    resp = await auth_client.get("/api/v1/audit", headers=bearer(ops))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"


async def test_key_changes_are_recorded_without_the_secret(
    auth_hub: Hub, auth_client: httpx.AsyncClient
) -> None:
    admin = await make_key(auth_hub, "admin", name="root")
    resp = await auth_client.post(
        "/api/v1/keys", json={"name": "ci-bot", "scopes": ["config:write"]}, headers=bearer(admin)
    )
    assert resp.status_code == 201, resp.text
    plaintext = resp.json()["key"]
    assert (await auth_client.delete("/api/v1/keys/ci-bot", headers=bearer(admin))).status_code == 204

    entries = await _audit(auth_client, admin, resource="keys/ci-bot")
    assert [(e["action"], e["actor"]) for e in entries] == [("key.revoke", "root"), ("key.create", "root")]
    created = entries[1]["after"]
    assert created["scopes"] == ["config:write"] and created["name"] == "ci-bot"
    assert plaintext not in str(entries) and "key_hash" not in created


async def test_registrations_by_the_instance_own_key_are_not_recorded(
    auth_hub: Hub, auth_client: httpx.AsyncClient
) -> None:
    name = f"pricing-{uuid.uuid4().hex[:8]}"
    own = await make_key(auth_hub, "registry:write", services=[name], name="pricing-own")
    operator = await make_key(auth_hub, "admin", name="operator")
    body = {"name": name, "host": "127.0.0.1", "port": 9300}

    resp = await auth_client.post("/api/v1/services/register", json=body, headers=bearer(own))
    assert resp.status_code == 201, resp.text
    mine = resp.json()["instance_id"]
    resp = await auth_client.post(
        "/api/v1/services/register", json=body | {"port": 9301}, headers=bearer(operator)
    )
    theirs = resp.json()["instance_id"]
    path = f"/api/v1/services/{name}/instances/"
    assert (await auth_client.delete(path + mine, headers=bearer(own))).status_code == 204
    assert (await auth_client.delete(path + theirs, headers=bearer(operator))).status_code == 204

    entries = await _audit(auth_client, operator, resource=f"instances/{name}/*")
    assert [(e["action"], e["actor"], e["resource"].rsplit("/", 1)[1]) for e in entries] == [
        ("instance.deregister", "operator", theirs),
        ("instance.register", "operator", theirs),
    ]
