"""Credentials stay out of configuration: a credential-like key is refused (422, nothing stored)
unless the service's schema marks it ``x-secret``; then it is encrypted at rest, masked in history,
diffs, old versions, events and broadcasts, and decrypted only for a caller with ``config:read``
on that service. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from centralhub.auth.context import current_principal
from centralhub.auth.models import Principal
from centralhub.config.models import ConfigChanged
from centralhub.config.secrets import MASK, SecretBox, SecretInConfig, looks_like_credential, mask
from centralhub.core.tables import config_versions
from centralhub.hub import Hub
from centralhub.sdk import ConfigClient
from centralhub.server.app import create_app
from tests.auth_support import bearer, make_key
from tests.conftest import make_settings, reset_database
from tests.support import wait_until

SECRET = "s3cr3t-for-tests-" + "x" * 20
PLAIN = "hunter2-very-secret"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operational": {
            "type": "object",
            "properties": {
                "db": {
                    "type": "object",
                    "properties": {
                        "host": {"type": "string"},
                        "password": {"type": "string", "x-secret": True},
                    },
                }
            },
        }
    },
}


def svc() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def doc(password: str = PLAIN, host: str = "db1") -> dict[str, Any]:
    return {"operational": {"db": {"host": host, "password": password}}, "pool": 5}


@pytest.fixture
async def secret_hub(database_url: str) -> AsyncIterator[Hub]:
    await reset_database(database_url)
    h = Hub(make_settings(database_url, secret=SECRET))
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def sclient(secret_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(secret_hub.settings, hub=secret_hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as c:
        yield c


async def stored_rows(hub: Hub, service: str) -> list[str]:
    """The raw stored documents, read from the table itself."""
    async with hub.database.engine.connect() as conn:
        rows = await conn.execute(
            select(config_versions.c.config).where(config_versions.c.service_name == service)
        )
        return [r[0] if isinstance(r[0], str) else json.dumps(r[0]) for r in rows]


# ---------------------------------------------------------------- refused
@pytest.mark.parametrize(
    "key",
    ["password", "db_password", "dbPassword", "PASSWD", "secret", "client_secret", "token",
     "access_token", "api_key", "apiKey", "APIKEY", "private_key", "aws_secret_access_key",
     "credentials", "passphrase"],
)  # fmt: skip
def test_credential_like_key_names(key: str) -> None:
    assert looks_like_credential(key)


@pytest.mark.parametrize(
    "key",
    ["token_url", "password_env", "secret_name", "max_tokens", "token_ttl_seconds", "access_key_id",
     "cache_key", "host", "passwordMinLength", "keyspace"],
)  # fmt: skip
def test_keys_that_describe_a_credential_are_not_one(key: str) -> None:
    assert not looks_like_credential(key)


async def test_a_credential_key_is_refused_and_nothing_is_stored(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    r = await client.post(f"/api/v1/config/{name}", json={"operational": {"db": {"password": "p"}}})
    assert r.status_code == 422
    assert r.json() == {
        "error": {
            "code": "secret_in_config",
            "message": "operational.db.password looks like a credential: keep it in an environment "
            'variable (or mark the property "x-secret": true in the service\'s schema)',
        }
    }
    assert (await client.get(f"/api/v1/config/{name}")).status_code == 404
    assert await stored_rows(hub, name) == []

    # at any depth, in lists, whatever the spelling; a patch and the direct service call alike
    assert (await client.post(f"/api/v1/config/{name}", json={"ok": 1})).status_code == 200
    for body in (
        {"clients": [{"name": "a", "clientSecret": "x"}]},
        {"upstream": {"API-KEY": "k"}},
        {"tokens": {"access_token": "t"}},
        {"db": {"url": "postgres://app:pw@db:5432/app"}},
    ):
        r = await client.patch(f"/api/v1/config/{name}", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "secret_in_config"
    with pytest.raises(SecretInConfig, match=r"^a\.token looks like a credential"):
        await hub.config_service.put_if_changed(
            "default", name, {"a": {"token": "t"}}, author="t", source="hot_reload"
        )
    assert len(await stored_rows(hub, name)) == 1

    # names that only describe a credential, env references, flags and empty values are fine
    fine = {"token_url": "https://idp/token", "password_env": "DB_PASSWORD", "max_tokens": 512,
            "password": "${DB_PASSWORD}", "require_token": True, "secret": None, "api_key": ""}  # fmt: skip
    r = await client.post(f"/api/v1/config/{name}", json=fine)
    assert r.status_code == 200, r.text
    assert (await client.get(f"/api/v1/config/{name}")).json()["config"] == fine


async def test_the_encrypted_marker_cannot_be_written(client: httpx.AsyncClient) -> None:
    r = await client.post(f"/api/v1/config/{svc()}", json={"a": {"$encrypted": "v1.abc"}})
    assert r.status_code == 400
    assert "reserved" in r.json()["error"]["message"]


async def test_x_secret_needs_a_hub_secret(hub: Hub, client: httpx.AsyncClient) -> None:
    name = svc()
    assert (await client.put(f"/api/v1/config/{name}/schema", json=SCHEMA)).status_code == 200
    r = await client.post(f"/api/v1/config/{name}", json=doc())
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "secret_key_missing"
    assert "CENTRAL_HUB_SECRET" in r.json()["error"]["message"]
    assert await stored_rows(hub, name) == []


# ---------------------------------------------------------------- x-secret: encrypted and masked
async def test_an_x_secret_value_is_encrypted_at_rest_and_masked_outside_reads(
    secret_hub: Hub, sclient: httpx.AsyncClient
) -> None:
    name = svc()
    assert (await sclient.put(f"/api/v1/config/{name}/schema", json=SCHEMA)).status_code == 200
    changed: list[ConfigChanged] = []

    async def on_changed(event: ConfigChanged) -> None:
        changed.append(event)

    secret_hub.events.subscribe(ConfigChanged, on_changed)
    published: list[dict[str, Any]] = []

    async def on_publish(_subject: str, payload: dict[str, Any]) -> None:
        published.append(payload)

    sub = await secret_hub.bus.subscribe(f"config.update.{name}", on_publish)
    try:
        r = await sclient.post(f"/api/v1/config/{name}", json=doc())
        assert r.status_code == 200, r.text
        await wait_until(lambda: published and changed, timeout=5, what="broadcast and event")
    finally:
        await sub.unsubscribe()

    # registering the schema again finds the stored version valid (its secret checked decrypted)
    again = await sclient.put(f"/api/v1/config/{name}/schema", json=SCHEMA)
    assert again.json()["current_version_valid"] is True

    # the row holds a token, never the plaintext
    rows = await stored_rows(secret_hub, name)
    assert len(rows) == 1 and PLAIN not in rows[0] and "$encrypted" in rows[0]

    # the broadcast and the in-process event carry "***"; the broadcast says what it hides
    assert published[0]["config"]["operational"]["db"] == {"host": "db1", "password": MASK}
    assert published[0]["masked"] == ["operational.db.password"]
    assert changed[-1].version.config["operational"]["db"]["password"] == MASK

    # a reader with config:read (anonymous when auth is off) gets the plaintext ...
    current = (await sclient.get(f"/api/v1/config/{name}")).json()
    assert current["config"] == doc() and current["secrets"] == ["operational.db.password"]
    watched = await sclient.get(f"/api/v1/config/{name}/watch", params={"revision": 0, "timeout": 1})
    assert watched.json()["config"] == doc()

    # ... old versions and diffs show "***"
    v1 = (await sclient.get(f"/api/v1/config/{name}/versions/1")).json()
    assert v1["config"]["operational"]["db"]["password"] == MASK
    assert (await sclient.post(f"/api/v1/config/{name}", json=doc("n3w-pass"))).status_code == 200
    d = (await sclient.get(f"/api/v1/config/{name}/diff", params={"from": "1"})).json()
    assert d["changes"] == [{"path": "operational.db.password", "op": "changed", "old": MASK, "new": MASK}]
    history = await secret_hub.config_service.history("default", name)
    assert all(v.config["operational"]["db"]["password"] == MASK for v in history)
    assert all(PLAIN not in row and "n3w-pass" not in row for row in await stored_rows(secret_hub, name))


async def test_unchanged_secrets_keep_their_token_and_rollback_restores_them(
    secret_hub: Hub, sclient: httpx.AsyncClient
) -> None:
    name = svc()
    await sclient.put(f"/api/v1/config/{name}/schema", json=SCHEMA)
    await sclient.post(f"/api/v1/config/{name}", json=doc())
    # a patch of another key, and writing back the masked "***", leave the secret as it was
    assert (await sclient.patch(f"/api/v1/config/{name}", json={"pool": 6})).status_code == 200
    assert (await sclient.post(f"/api/v1/config/{name}", json=doc(MASK, host="db2"))).status_code == 200
    rows = await stored_rows(secret_hub, name)
    tokens = {json.loads(r)["operational"]["db"]["password"]["$encrypted"] for r in rows}
    assert len(rows) == 3 and len(tokens) == 1
    d = (await sclient.get(f"/api/v1/config/{name}/diff", params={"from": "1", "to": "2"})).json()
    assert d["changes"] == [{"path": "pool", "op": "changed", "old": 5, "new": 6}]
    d = (await sclient.get(f"/api/v1/config/{name}/diff", params={"from": "2"})).json()
    assert sorted(c["path"] for c in d["changes"]) == ["operational.db.host", "pool"]
    assert (await sclient.get(f"/api/v1/config/{name}")).json()["config"] == doc(host="db2")

    await sclient.post(f"/api/v1/config/{name}", json=doc("other"))
    r = await sclient.post(f"/api/v1/config/{name}/rollback", json={"version": "1"})
    assert r.status_code == 200, r.text
    assert (await sclient.get(f"/api/v1/config/{name}")).json()["config"] == doc()


async def test_only_a_caller_with_config_read_on_the_service_sees_the_plaintext(
    secret_hub: Hub, sclient: httpx.AsyncClient
) -> None:
    name = svc()
    await sclient.put(f"/api/v1/config/{name}/schema", json=SCHEMA)
    await sclient.post(f"/api/v1/config/{name}", json=doc())
    service = secret_hub.config_service
    # what the auth middleware does per request (over HTTP: the auth-on test below)
    current_principal.set(Principal("reader", frozenset({"config:read"}), services=frozenset({name})))
    assert (await service.get("default", name)).config == doc()

    for who in (
        Principal("registry-only", frozenset({"registry:read"})),
        Principal("other-service", frozenset({"config:read"}), services=frozenset({"other"})),
        Principal("other-tenant", frozenset({"config:read"}), tenant="acme"),
    ):
        current_principal.set(who)
        assert (await service.get("default", name)).config["operational"]["db"]["password"] == MASK, who
        got = (await service.watch("default", name, revision=0, timeout=1)) or None
        assert got is not None and got.config["operational"]["db"]["password"] == MASK


async def test_a_stored_secret_does_not_open_for_another_service_or_key() -> None:
    box = SecretBox(SECRET)
    token = box.encrypt("default", "a", "pw", "p")
    assert box.decrypt("default", "a", token, "p") == "pw"
    with pytest.raises(Exception, match="cannot be decrypted"):
        box.decrypt("default", "b", token, "p")
    with pytest.raises(Exception, match="cannot be decrypted"):
        SecretBox("another-secret-of-enough-length").decrypt("default", "a", token, "p")
    assert mask({"db": token, "x": [{"password": "legacy"}]}, None) == {"db": MASK, "x": [{"password": MASK}]}
    assert mask({"p": "v"}, {"properties": {"p": {"x-secret": True}}}) == {"p": MASK}


async def test_concurrent_secret_writes_all_encrypt(secret_hub: Hub, sclient: httpx.AsyncClient) -> None:
    name = svc()
    await sclient.put(f"/api/v1/config/{name}/schema", json=SCHEMA)
    results = await asyncio.gather(
        *(sclient.post(f"/api/v1/config/{name}", json=doc(f"concurrent-plaintext-{i}")) for i in range(5))
    )
    assert [r.status_code for r in results] == [200] * 5
    rows = await stored_rows(secret_hub, name)
    assert len(rows) == 5 and all("concurrent-plaintext" not in row for row in rows)


async def test_config_client_fetches_secrets_over_http_after_a_masked_broadcast(
    hub_process_factory: Any, nats_url: str
) -> None:
    """The NATS message carries "***"; the client reads the plaintext over HTTP instead."""
    hp = hub_process_factory(NATS_URL=nats_url, CENTRAL_HUB_SECRET=SECRET)
    name = svc()
    async with httpx.AsyncClient(base_url=hp.url, timeout=10) as http:
        assert (await http.put(f"/api/v1/config/{name}/schema", json=SCHEMA)).status_code == 200
        assert (await http.post(f"/api/v1/config/{name}", json=doc())).status_code == 200
        client = ConfigClient(name, central_hub_url=hp.url, enable_nats_updates=True, nats_url=nats_url)
        await client.init_async()
        try:
            assert client._nc is not None and not client._watching  # NATS, not the /watch fallback
            assert client.get_value("operational.db.password") == PLAIN
            assert (await http.post(f"/api/v1/config/{name}", json=doc("rotated"))).status_code == 200
            await wait_until(
                lambda: client.get_value("operational.db.password") == "rotated", what="refetch after push"
            )
            assert client.revision == 2
        finally:
            await client.shutdown()


def test_cli_config_get_masks_secrets_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI prints "***" for the paths the hub lists as secrets; --show-secrets prints them."""
    from typer.testing import CliRunner

    from centralhub.cli import config as cli_config

    body = {"service_name": "s", "revision": 1, "config": doc(), "secrets": ["operational.db.password"]}
    monkeypatch.setattr(cli_config, "request", lambda *a, **k: json.loads(json.dumps(body)))
    runner = CliRunner()
    shown = runner.invoke(cli_config.config_app, ["get", "s", "--config-only"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["operational"]["db"] == {"host": "db1", "password": MASK}
    revealed = runner.invoke(cli_config.config_app, ["get", "s", "--config-only", "--show-secrets"])
    assert json.loads(revealed.output) == doc()


async def test_with_auth_on_only_config_read_on_the_service_decrypts(
    auth_hub: Hub, auth_client: httpx.AsyncClient
) -> None:
    """Real keys over HTTP: the schema owner marks the secret, a service-bound writer stores it,
    a reader of that service sees it, a reader bound to other services sees "***"."""
    name = svc()
    admin = bearer(await make_key(auth_hub, "config:admin"))
    writer = bearer(await make_key(auth_hub, "config:write", services=[name]))
    reader = bearer(await make_key(auth_hub, "config:read", services=[name]))
    elsewhere = bearer(await make_key(auth_hub, "config:read", services=["other"]))
    url = f"/api/v1/config/{name}"

    r = await auth_client.post(url, json={"db": {"password": "p"}}, headers=writer)
    assert r.status_code == 422 and r.json()["error"]["code"] == "secret_in_config"
    assert await stored_rows(auth_hub, name) == []
    assert (await auth_client.put(f"{url}/schema", json=SCHEMA, headers=admin)).status_code == 200
    assert (await auth_client.post(url, json=doc(), headers=writer)).status_code == 200
    assert all(PLAIN not in row for row in await stored_rows(auth_hub, name))

    assert (await auth_client.get(url, headers=reader)).json()["config"] == doc()
    body = (await auth_client.get(url, headers=elsewhere)).json()
    assert body["config"]["operational"]["db"] == {"host": "db1", "password": MASK}
    watched = await auth_client.get(f"{url}/watch", params={"timeout": 1}, headers=elsewhere)
    assert watched.json()["config"]["operational"]["db"]["password"] == MASK
    assert (await auth_client.post(url, json=doc("next"), headers=writer)).status_code == 200
    d = await auth_client.get(f"{url}/diff", params={"from": "1"}, headers=reader)
    changed = {"path": "operational.db.password", "op": "changed", "old": MASK, "new": MASK}
    assert d.json()["changes"] == [changed]
    v1 = await auth_client.get(f"{url}/versions/1", headers=reader)
    assert v1.json()["config"]["operational"]["db"]["password"] == MASK
