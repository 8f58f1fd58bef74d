"""``centralhub keys`` against the database before any hub runs; start-up refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth_support import SECRET


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "NATS_URL", "CENTRAL_HUB_", "NODE_ENV"))
    }
    return subprocess.run(
        [sys.executable, "-m", "centralhub.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
        cwd=cwd,
    )


@pytest.mark.timeout(120)
def test_first_admin_key_from_the_cli_works_on_a_hub_started_later(
    tmp_path: Path, hub_process_factory: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    made = _cli("keys", "create", "admin", "--scope", "admin", "--database-url", url)
    assert made.returncode == 0, made.stderr
    key = made.stdout.rstrip("\n").splitlines()[-1]
    assert key.startswith("chub_") and " " not in key
    reader = _cli(
        "keys", "create", "reader", "--scope", "registry:read", "--expires", "30d", env={"DATABASE_URL": url}
    )
    assert reader.returncode == 0, reader.stderr

    listing = _cli("keys", "ls", "--database-url", url)
    assert listing.returncode == 0 and "admin" in listing.stdout and "reader" in listing.stdout
    assert key not in listing.stdout

    hub = hub_process_factory(database_url=url, CENTRAL_HUB_AUTH="required", CENTRAL_HUB_SECRET=SECRET)
    assert hub.log_path is not None
    assert "auth: required" in hub.log_path.read_text()
    assert httpx.get(hub.url + "/api/v1/keys", timeout=5).status_code == 401
    answer = httpx.get(hub.url + "/api/v1/keys", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    assert answer.status_code == 200
    assert {k["name"] for k in answer.json()["keys"]} == {"admin", "reader"}

    revoked = _cli("keys", "revoke", "admin", "--database-url", url)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in _cli("keys", "ls", "--database-url", url).stdout


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    unknown = _cli("keys", "create", "x", "--scope", "root", "--database-url", url)
    assert unknown.returncode == 1 and "unknown scope root" in unknown.stderr
    assert _cli("keys", "create", "x", "--scope", "ops", "--database-url", url).returncode == 0
    dup = _cli("keys", "create", "x", "--scope", "ops", "--database-url", url)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    missing = _cli("keys", "revoke", "nobody", "--database-url", url)
    assert missing.returncode == 1 and "no key named" in missing.stderr


def test_production_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    result = _cli(
        "serve",
        "--port",
        "7999",
        env={"NODE_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "CENTRAL_HUB_SECRET" in lines[0]


@pytest.mark.timeout(60)
def test_start_up_line_says_auth_is_off_in_development(tmp_path: Path, hub_process_factory: Any) -> None:
    hub = hub_process_factory(database_url=f"sqlite:///{tmp_path / 'dev.db'}")
    assert hub.log_path is not None
    assert "auth: off (development)" in hub.log_path.read_text()
