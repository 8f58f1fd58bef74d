"""Backup and restore: one JSON file carries a hub's state to an empty hub on the other backend.

A hub on SQLite is filled through its API, backed up with ``centralhub backup``, restored with
``centralhub restore`` into a hub on PostgreSQL, and every read must answer the same; then the
same from PostgreSQL back to a fresh SQLite hub. A restore is all or nothing, refuses a hub
that holds data (unless told to replace it), refuses a malformed file naming what is wrong,
and needs ``admin`` without a tenant limit.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from centralhub.hub import Hub
from tests.auth_support import SECRET, bearer, make_key
from tests.conftest import HubProcess
from tests.faults.durable_support import DatabaseFactory, fresh_database
from tests.key_cli import create_key
from tests.support import wait_until

__all__ = ["fresh_database"]

TENANTS = ("default", "t2")
#: fields that must differ between two hubs: the TTL clock restarts when a hub loads its registry
VOLATILE = {"last_seen", "last_check", "critical_since", "uptime_seconds", "uptime"}
SCHEMA = {
    "type": "object",
    "properties": {"pool": {"type": "integer", "minimum": 1}, "mode": {"type": "string"}},
    "required": ["pool"],
}
CONTRACT = {
    "version": "1.2.0",
    "schemas": {"order.created": {"type": "object", "properties": {"id": {"type": "string"}}}},
}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "centralhub.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def _populate(hub: str) -> list[str]:
    """Fill a hub through its API; returns the plaintext keys created (never to be in a backup)."""
    async with httpx.AsyncClient(base_url=hub, timeout=10) as c:
        for tenant in TENANTS:
            h = {"X-Tenant-ID": tenant}
            for n, name in enumerate(("orders", "payments")):
                reg = {
                    "name": name,
                    "host": f"10.0.{n}.1",
                    "port": 8000 + n,
                    "version": "2.1.0",
                    "metadata": {"zone": "eu", "tenant": tenant, "deep": {"a": [1, 2, {"b": None}]}},
                    "tags": ["blue", "primary"],
                    "weight": 3,
                    "ttl_seconds": 3600,
                    "dependencies": ["postgres"],
                }
                r = await c.post("/api/v1/services/register", json=reg, headers=h)
                assert r.status_code == 201, r.text
            assert (await c.put("/api/v1/config/orders/schema", json=SCHEMA, headers=h)).status_code == 200
            for doc in ({"pool": 1}, {"pool": 2, "mode": "fast"}, {"pool": 3, "mode": "ü ☃"}):
                r = await c.post("/api/v1/config/orders", json=doc, headers=h, params={"message": "tune"})
                assert r.status_code == 200, r.text
            r = await c.patch("/api/v1/config/orders", json={"mode": None}, headers=h)
            assert r.status_code == 200, r.text
            r = await c.post("/api/v1/config/orders/rollback", json={"version": "2"}, headers=h)
            assert r.status_code == 200, r.text
            r = await c.post("/api/v1/config/payments", json={"currency": "EUR"}, headers=h)
            assert r.status_code == 200, r.text
            assert (await c.put("/api/v1/contracts/orders", json=CONTRACT, headers=h)).status_code == 200
            r = await c.post(
                "/api/v1/alerts/silences",
                json={"target": "payments*", "duration_seconds": 3600, "reason": "maintenance"},
                headers=h,
            )
            assert r.status_code == 201, r.text
        r = await c.post(
            "/api/v1/alerts/silences", json={"target": "redis", "duration_seconds": 600, "global": True}
        )
        assert r.status_code == 201, r.text
        keys = []
        for name, scopes, tenant in (("ops-admin", ["admin"], None), ("orders-cfg", ["config:read"], "t2")):
            r = await c.post("/api/v1/keys", json={"name": name, "scopes": scopes, "tenant": tenant})
            assert r.status_code == 201, r.text
            keys.append(r.json()["key"])
        # an instance that stops heartbeating raises an alert, so the alert history has one
        reg = {"name": "flaky", "host": "10.9.9.9", "port": 9999, "ttl_seconds": 1}
        assert (await c.post("/api/v1/services/register", json=reg)).status_code == 201

        async def alerted() -> bool:
            r = await c.get("/api/v1/alerts")
            return r.status_code == 200 and r.json()["count"] >= 1

        await wait_until(alerted, timeout=15, what="an alert for the expired instance")
    return keys


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


async def _reads(hub: str) -> dict[str, Any]:
    """The answer of every main read endpoint, per tenant."""
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=hub, timeout=10) as c:

        async def get(path: str, tenant: str = "default") -> None:
            r = await c.get(path, headers={"X-Tenant-ID": tenant})
            out[f"{tenant} {path}"] = (r.status_code, _strip(r.json()))

        for tenant in TENANTS:
            await get("/api/v1/services", tenant)
            for svc in ("orders", "payments", "flaky"):
                await get(f"/api/v1/services/{svc}", tenant)
            await get("/api/v1/config", tenant)
            for svc in ("orders", "payments"):
                await get(f"/api/v1/config/{svc}", tenant)
                await get(f"/api/v1/config/history/{svc}", tenant)
                await get(f"/api/v1/config/{svc}/schema", tenant)
                for rev in range(1, 6):
                    await get(f"/api/v1/config/{svc}/versions/{rev}", tenant)
                await get(f"/api/v1/contracts/{svc}", tenant)
            await get("/api/v1/contracts", tenant)
            await get("/api/v1/config/orders/diff?from=1", tenant)
            await get("/api/v1/health/services", tenant)
            await get("/api/v1/dependencies", tenant)
            await get("/api/v1/alerts", tenant)
            await get("/api/v1/alerts/silences", tenant)
        await get("/api/v1/keys")
    return out


def _sections(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "created_at"}


async def test_backup_restores_sqlite_to_postgres_and_back(
    fresh_database: DatabaseFactory, hub_process_factory: Any, tmp_path: Path
) -> None:
    a: HubProcess = await asyncio.to_thread(hub_process_factory, database_url=fresh_database("sqlite"))
    keys = await _populate(a.url)
    before = await _reads(a.url)
    assert before["t2 /api/v1/config/history/orders"][1]["count"] == 5
    assert before["default /api/v1/alerts"][1]["count"] >= 1

    file_a = tmp_path / "a.json"
    done = await asyncio.to_thread(_cli, "backup", str(file_a), "--hub", a.url, env=a.env)
    assert done.returncode == 0, done.stderr
    assert "backup written to" in done.stdout
    text = file_a.read_text()
    assert all(key not in text for key in keys), "a plaintext API key is in the backup"
    document = json.loads(text)
    assert document["format"] == "centralhub-backup" and document["version"] == 1
    assert document["created_at"].endswith("Z")
    assert document["counts"]["config_versions"] == 12
    assert {k["name"] for k in document["api_keys"]} == {"ops-admin", "orders-cfg"}
    assert all(len(k["key_hash"]) == 64 for k in document["api_keys"])

    b: HubProcess = await asyncio.to_thread(hub_process_factory, database_url=fresh_database("postgres"))
    done = await asyncio.to_thread(_cli, "restore", str(file_a), "--hub", b.url, env=b.env)
    assert done.returncode == 0, done.stderr
    assert "restored from" in done.stdout
    assert await _reads(b.url) == before

    # the hub now holds data: a second restore is refused and changes nothing
    done = await asyncio.to_thread(_cli, "restore", str(file_a), "--hub", b.url, env=b.env)
    assert done.returncode == 1
    assert "this hub is not empty" in done.stderr and "(409 conflict)" in done.stderr

    # and back, through the admin API this time
    c: HubProcess = await asyncio.to_thread(hub_process_factory, database_url=fresh_database("sqlite"))
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(b.url + "/api/v1/admin/backup")
        assert r.status_code == 200, r.text
        assert _sections(r.json()) == _sections(document)
        r = await client.post(c.url + "/api/v1/admin/restore", content=r.content)
        assert r.status_code == 200, r.text
        assert r.json()["restored"] == {**document["counts"]}
        assert r.json()["alert_rules_match"] is True
    assert await _reads(c.url) == before

    # a restored hub is a working hub: the restored configuration carries on from its revision
    async with httpx.AsyncClient(base_url=c.url, timeout=10) as client:
        r = await client.post("/api/v1/config/orders", json={"pool": 9}, headers={"X-Tenant-ID": "t2"})
        assert r.status_code == 200 and r.json()["revision"] == 6, r.text
        bad = await client.post("/api/v1/config/orders", json={"pool": 0})
        assert bad.status_code == 422, bad.text  # the restored schema is enforced


# ---------------------------------------------------------------- in-process: refusals
def _doc(**sections: Any) -> dict[str, Any]:
    return {
        "format": "centralhub-backup",
        "version": 1,
        "created_at": "2026-12-01T10:00:00.000000Z",
        **sections,
    }


def _instance(n: int, port: int = 8000) -> dict[str, Any]:
    return {
        "id": f"inst-{n}",
        "tenant_id": "default",
        "service_name": "orders",
        "host": "10.0.0.1",
        "port": port,
        "protocol": "http",
        "health_endpoint": None,
        "version": None,
        "metadata": {},
        "tags": [],
        "status": "passing",
        "registered_at": "2026-12-01T10:00:00.000000Z",
        "last_seen": "2026-12-01T10:00:00.000000Z",
        "transport_preferences": [],
        "contract_validated": False,
        "weight": 1,
        "ttl_seconds": 30,
        "dependencies": [],
        "check_spec": None,
    }


def _version(revision: int, service: str = "orders") -> dict[str, Any]:
    return {
        "tenant_id": "default",
        "service_name": service,
        "revision": revision,
        "version": str(revision),
        "config": {"pool": revision},
        "author": "ops",
        "message": None,
        "source": "api",
        "created_at": "2026-12-01T10:00:00.000000Z",
    }


BAD_DOCUMENTS: list[tuple[Any, int, str]] = [
    ([1, 2], 422, "the backup must be a JSON object"),
    ({"format": "other", "version": 1}, 422, "format: must be 'centralhub-backup'"),
    (_doc(version=2), 422, "version: this hub restores version 1"),
    (_doc(registry={"a": 1}), 422, "registry: must be a list"),
    (
        _doc(config_versions=[{**_version(1), "revision": "1"}]),
        422,
        "config_versions[0].revision: must be an integer",
    ),
    (_doc(config_versions=[_version(1), _version(3)]), 422, "default/orders must run 1..2"),
    (_doc(config_versions=[{**_version(1), "colour": 1}]), 422, "config_versions[0]: unknown field 'colour'"),
    (
        _doc(config_versions=[{**_version(1), "created_at": "yesterday"}]),
        422,
        "config_versions[0].created_at",
    ),
    (_doc(registry=[{**_instance(1), "status": "great"}]), 422, "registry[0].status: must be one of"),
    (
        _doc(registry=[{k: v for k, v in _instance(1).items() if k != "host"}]),
        422,
        "registry[0].host: required",
    ),
    (
        _doc(silences=[{"id": "s1", "target": "x", "created_at": "2026-12-01T10:00:00Z"}]),
        422,
        "silences[0].until",
    ),
    (
        _doc(
            api_keys=[
                {
                    "name": "k",
                    "prefix": "chk_",
                    "key_hash": "secret",
                    "scopes": ["admin"],
                    "created_at": "2026-12-01T10:00:00Z",
                }
            ]
        ),
        422,
        "api_keys[0].key_hash: must be a SHA-256 hash",
    ),
    (_doc(registry=[{**_instance(1), "port": 2**40}]), 422, "registry[0].port: must be an integer (32-bit)"),
    # the database refuses the registry (two instances on one endpoint) after the other sections
    # were written: nothing of the file may remain
    (
        _doc(config_versions=[_version(1), _version(2)], registry=[_instance(1), _instance(2)]),
        422,
        "uniqueness rule",
    ),
]


@pytest.mark.parametrize(("document", "status", "message"), BAD_DOCUMENTS)
async def test_restore_refuses_a_bad_file_and_writes_nothing(
    auth_hub: Hub, auth_client: httpx.AsyncClient, document: Any, status: int, message: str
) -> None:
    admin = bearer(await make_key(auth_hub, "admin"))
    r = await auth_client.post("/api/v1/admin/restore", json=document, headers=admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == "invalid_backup"
    assert message in r.json()["error"]["message"]
    assert (await auth_client.get("/api/v1/config", headers=admin)).json()["count"] == 0
    assert (await auth_client.get("/api/v1/services", headers=admin)).json()["services"] == []


async def test_restore_refuses_a_body_that_is_not_json(auth_hub: Hub, auth_client: httpx.AsyncClient) -> None:
    admin = bearer(await make_key(auth_hub, "admin"))
    r = await auth_client.post("/api/v1/admin/restore", content=b"{not json", headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"].startswith("body: not valid JSON")


async def test_backup_and_restore_need_admin_without_tenant_limit(
    auth_hub: Hub, auth_client: httpx.AsyncClient
) -> None:
    assert (await auth_client.get("/api/v1/admin/backup")).status_code == 401
    ops = bearer(await make_key(auth_hub, "ops", "config:admin"))
    assert (await auth_client.get("/api/v1/admin/backup", headers=ops)).status_code == 403
    assert (await auth_client.post("/api/v1/admin/restore", json=_doc(), headers=ops)).status_code == 403
    limited = bearer(await make_key(auth_hub, "admin", tenant="t1"))
    r = await auth_client.get("/api/v1/admin/backup", headers=limited)
    assert r.status_code == 403
    assert "without a tenant limit" in r.json()["error"]["message"]
    admin = bearer(await make_key(auth_hub, "admin"))
    r = await auth_client.get("/api/v1/admin/backup", headers=admin)
    assert r.status_code == 200
    assert r.json()["counts"]["api_keys"] == 3


async def test_restore_replaces_data_when_asked_and_keeps_the_callers_key(
    auth_hub: Hub, auth_client: httpx.AsyncClient
) -> None:
    admin = bearer(await make_key(auth_hub, "admin", name="operator"))
    r = await auth_client.post("/api/v1/config/payments", json={"old": True}, headers=admin)
    assert r.status_code == 200
    # a large backup: well past the 1 MiB body limit of other writes
    versions = [{**_version(n), "config": {"pool": n, "pad": "x" * 600}} for n in range(1, 2001)]
    document = _doc(config_versions=versions, registry=[_instance(1)])
    r = await auth_client.post("/api/v1/admin/restore", json=document, headers=admin)
    assert r.status_code == 409, r.text
    assert "this hub is not empty (1 config_versions)" in r.json()["error"]["message"]

    r = await auth_client.post(
        "/api/v1/admin/restore", json=document, headers=admin, params={"replace": "true"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["restored"]["config_versions"] == 2000 and r.json()["replaced"] is True
    assert (await auth_client.get("/api/v1/config", headers=admin)).json()["services"] == ["orders"]
    current = (await auth_client.get("/api/v1/config/orders", headers=admin)).json()
    assert current["revision"] == 2000 and current["config"]["pool"] == 2000
    service = (await auth_client.get("/api/v1/services/orders", headers=admin)).json()
    assert [i["instance_id"] for i in service["instances"]] == ["inst-1"]
    assert (await auth_client.get("/api/v1/keys", headers=admin)).json()["count"] == 1


async def test_restore_keeps_the_keys_a_hub_already_has_and_refuses_a_different_one(
    auth_hub: Hub, auth_client: httpx.AsyncClient
) -> None:
    admin = bearer(await make_key(auth_hub, "admin", name="operator"))
    await make_key(auth_hub, "config:read", name="reader")
    document = (await auth_client.get("/api/v1/admin/backup", headers=admin)).json()
    assert [k["name"] for k in document["api_keys"]] == ["operator", "reader"]

    other = {**document, "api_keys": [{**document["api_keys"][1], "key_hash": "0" * 64}]}
    r = await auth_client.post("/api/v1/admin/restore", json=other, headers=admin)
    assert r.status_code == 409, r.text
    assert (
        r.json()["error"]["message"]
        == "API key 'reader' exists on this hub with another secret; use replace=true"
    )

    alias = {**document, "api_keys": [{**document["api_keys"][0], "name": "operator-2"}]}
    r = await auth_client.post("/api/v1/admin/restore", json=alias, headers=admin)
    assert r.status_code == 409, r.text
    assert "is the key 'operator' of this hub under another name" in r.json()["error"]["message"]

    r = await auth_client.post("/api/v1/admin/restore", json=document, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["kept_keys"] == ["operator", "reader"]
    assert r.json()["restored"]["api_keys"] == 0
    assert (await auth_client.get("/api/v1/keys", headers=admin)).json()["count"] == 2


async def test_cli_backs_up_and_restores_a_hub_with_auth_on(
    fresh_database: DatabaseFactory, hub_process_factory: Any, tmp_path: Path
) -> None:
    """The operator's way: an admin key made with ``centralhub keys create`` before the hub
    starts, then ``centralhub --api-key … backup`` and ``restore`` against the running hub."""
    database_url = fresh_database("sqlite")
    key = await asyncio.to_thread(create_key, database_url, "ops-admin", "admin")
    hub: HubProcess = await asyncio.to_thread(
        hub_process_factory, database_url=database_url, CENTRAL_HUB_AUTH="required", CENTRAL_HUB_SECRET=SECRET
    )
    env = {k: v for k, v in hub.env.items() if k != "CENTRAL_HUB_API_KEY"}
    async with httpx.AsyncClient(base_url=hub.url, timeout=10, headers=bearer(key)) as c:
        r = await c.post("/api/v1/config/billing", json={"currency": "EUR"})
        assert r.status_code == 200, r.text

    file = tmp_path / "auth.json"
    done = await asyncio.to_thread(_cli, "backup", str(file), "--hub", hub.url, env=env)
    assert done.returncode == 1
    assert "(401 unauthorized)" in done.stderr and "--api-key" in done.stderr
    assert not file.exists()

    done = await asyncio.to_thread(_cli, "--api-key", key, "backup", str(file), "--hub", hub.url, env=env)
    assert done.returncode == 0, done.stderr
    assert key not in file.read_text()

    done = await asyncio.to_thread(
        _cli, "--api-key", key, "restore", str(file), "--replace", "--hub", hub.url, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "API keys already present and kept: ops-admin" in done.stdout
    async with httpx.AsyncClient(base_url=hub.url, timeout=10, headers=bearer(key)) as c:
        r = await c.get("/api/v1/config/billing")
        assert r.status_code == 200 and r.json()["config"] == {"currency": "EUR"}, r.text
