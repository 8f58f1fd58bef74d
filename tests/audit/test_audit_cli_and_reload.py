"""``centralhub audit`` against a real hub process, and reloads in the audit trail."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from centralhub.audit.models import AuditEntry
from centralhub.audit.service import AuditLog
from centralhub.core.database import Database
from centralhub.core.tasks import Supervisor
from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.auth_support import auth_settings, bearer, make_key
from tests.conftest import reset_database


def cli(hub_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "centralhub.cli", "audit", *args, "--hub", hub_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_lists_and_filters_entries(hub_process_factory: Any) -> None:
    hp = hub_process_factory()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=hp.url, timeout=10) as http:
        assert http.post(f"/api/v1/config/{name}", json={"a": 1}).status_code == 200
        assert http.patch(f"/api/v1/config/{name}", json={"a": 2}).status_code == 200

    table = cli(hp.url)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["AT", "ACTOR", "ADDRESS", "ACTION", "RESOURCE"]
    assert [r.split()[3:] for r in rows[:2]] == [
        ["config.patch", f"config/{name}"],
        ["config.set", f"config/{name}"],
    ]
    assert rows[0].split()[1] == "anonymous"

    as_json = cli(hp.url, "--action", "config.set", "--resource", f"config/{name}", "--json")
    assert as_json.returncode == 0, as_json.stderr
    entries = json.loads(as_json.stdout)["entries"]
    assert [(e["action"], e["after"]["config"]) for e in entries] == [("config.set", {"a": 1})]

    assert json.loads(cli(hp.url, "--since", "2999-01-01T00:00:00Z", "--json").stdout)["count"] == 0
    assert json.loads(cli(hp.url, "--limit", "1", "--json").stdout)["count"] == 1
    bad = cli(hp.url, "--since", "last tuesday")
    assert bad.returncode == 1 and "400" in bad.stderr and "since" in bad.stderr


@pytest.fixture
async def reload_hub(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Hub, Path]]:
    await reset_database(database_url)
    directory = tmp_path / "hot"
    directory.mkdir()
    # no file watcher: the reload asked for over HTTP is the only one that applies the file
    hub = Hub(auth_settings(database_url, hot_reload_enabled=False, hot_reload_dir=str(directory)))
    await hub.start()
    try:
        yield hub, directory
    finally:
        await hub.stop()


async def test_reload_and_the_writes_it_makes_are_recorded(reload_hub: tuple[Hub, Path]) -> None:
    hub, directory = reload_hub
    name = f"hot-{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.json").write_text(json.dumps({"pool": 4}))
    bot = await make_key(hub, "config:admin", name="release-bot")
    admin = await make_key(hub, "admin")
    app = create_app(hub.settings, hub=hub)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        resp = await client.post("/api/v1/config/reload", headers=bearer(bot))
        assert resp.status_code == 200, resp.text
        resp = await client.get("/api/v1/audit", params={"actor": "release-bot"}, headers=bearer(admin))
        entries = resp.json()["entries"]

    assert [e["action"] for e in entries] == ["config.reload", "config.hot_reload"]
    reload, write = entries
    assert reload["resource"] == "config/reload" and reload["address"] == "198.51.100.4"
    assert reload["details"]["loaded"][0]["service_name"] == name
    assert write["resource"] == f"config/{name}"
    assert write["after"]["config"] == {"pool": 4}
    assert write["details"]["author"] == f"hot-reload:{name}.json"


def test_keys_made_from_the_cli_are_recorded_with_the_local_user(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    for args in (("create", "ops-bot", "--scope", "ops"), ("revoke", "ops-bot")):
        done = subprocess.run(
            [sys.executable, "-m", "centralhub.cli", "keys", *args, "--database-url", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    async def search() -> list[AuditEntry]:
        database = Database(url)
        try:
            return await AuditLog(database, supervisor=Supervisor()).search(resource="keys/ops-bot")
        finally:
            await database.close()

    entries = asyncio.run(search())
    assert [e.action for e in entries] == ["key.revoke", "key.create"]
    assert all(e.actor.startswith("cli:") and e.address is None for e in entries)
    assert entries[1].after["scopes"] == ["ops"]
