"""The SDK and the CLI against a real hub process with auth required.

With a key the clients work as before; without one, or with a key lacking the scope, they raise
``HubAuthError`` carrying the hub's message at once (no retry loop), and the CLI exits 1 with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from centralhub.sdk.client import CentralHubClient
from centralhub.sdk.config_client import ConfigClient
from centralhub.sdk.connection import HubAuthError
from tests.auth_support import SECRET
from tests.key_cli import create_key
from tests.support import wait_until

pytestmark = pytest.mark.timeout(120)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CENTRAL_HUB")}
    return subprocess.run(
        [sys.executable, "-m", "centralhub.cli", *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def auth_hub_process(hub_process_factory: Any, tmp_path: Path) -> tuple[Any, dict[str, str]]:
    """A hub process with auth required, and keys: ``admin``, ``service`` (registry:write +
    config:read) and ``reader`` (config:read only)."""
    database_url = f"sqlite:///{tmp_path / 'auth-hub.db'}"
    hp = hub_process_factory(
        database_url=database_url, start=False, CENTRAL_HUB_AUTH="required", CENTRAL_HUB_SECRET=SECRET
    )
    hp.start(timeout=60)  # several hub processes may be starting at once on a 2-core machine
    keys = {
        "admin": create_key(database_url, "ops-admin", "admin"),
        "service": create_key(database_url, "svc", "registry:write", "config:read"),
        "reader": create_key(database_url, "reader", "config:read"),
    }
    return hp, keys


async def test_sdk_with_a_key_works_without_one_is_refused_at_once(
    auth_hub_process: tuple[Any, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CENTRAL_HUB_API_KEY", raising=False)
    hp, keys = auth_hub_process
    name = f"auth-{uuid.uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    async with httpx.AsyncClient(base_url=hp.url, headers=admin, timeout=10) as http:
        r = await http.post(f"/api/v1/config/{name}", json={"batch_size": 3})
        assert r.status_code == 200, r.text

    async with CentralHubClient(
        name, hub_url=hp.url, port=9100, api_key=keys["service"], health_endpoint=None
    ) as client:
        assert await client.discover_service(name) == "http://127.0.0.1:9100"
        assert await client.heartbeat()
    assert not client.registered
    async with ConfigClient(name, hp.url, api_key=keys["service"], watch=True) as config:
        assert config.source == "hub" and config.get_value("batch_size") == 3

    started = time.monotonic()
    anonymous = CentralHubClient(name, hub_url=hp.url, port=9101, health_endpoint=None)
    with pytest.raises(HubAuthError) as refused:
        await anonymous.register(keep_trying=True)
    await anonymous.close()
    assert refused.value.status == 401
    assert "(401 unauthorized)" in str(refused.value) and "CENTRAL_HUB_API_KEY" in str(refused.value)

    with pytest.raises(HubAuthError) as wrong:
        await CentralHubClient(name, hub_url=hp.url, api_key="chk_not-a-key").discover_service(name)
    assert wrong.value.status == 401 and "check the API key" in str(wrong.value)

    reader = CentralHubClient(name, hub_url=hp.url, port=9102, api_key=keys["reader"], health_endpoint=None)
    with pytest.raises(HubAuthError) as forbidden:
        await reader.register()
    await reader.close()
    assert forbidden.value.status == 403 and "registry:write" in str(forbidden.value)

    with pytest.raises(HubAuthError, match="401 unauthorized"):
        async with ConfigClient(name, hp.url, watch=True):
            pass
    assert time.monotonic() - started < 10  # refused at once, not retried until a timeout

    # a key revoked while the service runs: heartbeats stop with the hub's reason, no retry loop
    client = CentralHubClient(
        name, hub_url=hp.url, port=9103, api_key=keys["service"], ttl_seconds=3, health_endpoint=None
    )
    await client.register()
    try:
        r = cli("keys", "revoke", "svc", "--database-url", hp.env["DATABASE_URL"])
        assert r.returncode == 0, r.stderr
        task = client._heartbeat_task
        assert task is not None
        await wait_until(task.done, timeout=15, what="heartbeats to stop after the revocation")
        with pytest.raises(HubAuthError, match="revoked"):
            await client.heartbeat()
    finally:
        await client.close()


def test_cli_sends_the_key(auth_hub_process: tuple[Any, dict[str, str]]) -> None:
    hp, keys = auth_hub_process
    ok = cli("--api-key", keys["admin"], "services", "ls", "--hub", hp.url)
    assert ok.returncode == 0, ok.stderr
    from_env = cli(
        "config", "get", "nothing-here", "--hub", hp.url, env={"CENTRAL_HUB_API_KEY": keys["admin"]}
    )
    assert from_env.returncode == 1 and "404" in from_env.stderr  # authenticated: the hub looked
    refused = cli("services", "ls", "--hub", hp.url)
    assert refused.returncode == 1
    assert "401 unauthorized" in refused.stderr and "--api-key" in refused.stderr
    assert keys["admin"] not in ok.stdout + ok.stderr
