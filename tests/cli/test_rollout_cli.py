"""``centralhub config set ... --canary-percent 50 --bake 2m`` and ``config rollout
status|promote|abort`` against a real hub process, checked through the hub's API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.cli.test_cli_commands import _cli

pytestmark = pytest.mark.timeout(180)


def test_a_canary_write_status_promote_and_abort(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    name = f"cli-{uuid.uuid4().hex[:6]}"
    ids = [
        httpx.post(
            f"{hub.url}/api/v1/services/register",
            json={"name": name, "host": "10.0.0.1", "port": p},
            timeout=10,
        ).json()["instance_id"]
        for p in (81, 82)
    ]
    assert _cli(hub, "config", "set", name, "--data", '{"batch": 100}').returncode == 0

    started = _cli(
        hub, "config", "set", name, "--data", '{"batch": 500}', "--canary-percent", "50", "--bake", "2m"
    )
    assert started.returncode == 0, started.stderr
    assert "baking on 1 canary instance(s) for 120s" in started.stdout and ids[0] in started.stdout
    assert httpx.get(f"{hub.url}/api/v1/config/{name}", timeout=10).json()["config"] == {"batch": 100}

    status = _cli(hub, "config", "rollout", "status", name)
    assert status.returncode == 0 and "state     baking" in status.stdout and ids[0] in status.stdout
    as_json = json.loads(_cli(hub, "-o", "json", "config", "rollout", "status", name).stdout)
    assert as_json["state"] == "baking" and as_json["bake_seconds"] == 120

    refused = _cli(hub, "config", "set", name, "--data", '{"batch": 7}')
    assert refused.returncode != 0 and "promote or abort" in refused.stderr

    promoted = _cli(hub, "config", "rollout", "promote", name, "--actor", "ops")
    assert promoted.returncode == 0 and "state     promoted" in promoted.stdout
    assert httpx.get(f"{hub.url}/api/v1/config/{name}", timeout=10).json()["config"] == {"batch": 500}

    patched = _cli(
        hub, "config", "patch", name, "--data", '{"extra": 1}', "--canary-instances", ids[1],
        "--bake", "90s", "--no-auto-rollback",
    )  # fmt: skip
    assert patched.returncode == 0, patched.stderr
    view = httpx.get(f"{hub.url}/api/v1/config/{name}/rollout", timeout=10).json()
    assert view["canary"] == [ids[1]] and view["bake_seconds"] == 90 and view["auto_rollback"] is False
    aborted = _cli(hub, "config", "rollout", "abort", name)
    assert aborted.returncode == 0 and "state     aborted" in aborted.stdout
    assert httpx.get(f"{hub.url}/api/v1/config/{name}", timeout=10).json()["config"] == {"batch": 500}

    again = _cli(hub, "config", "rollout", "abort", name)
    assert again.returncode != 0 and "aborted" in again.stderr
    bad = _cli(hub, "config", "set", name, "--data", "{}", "--canary-percent", "5", "--bake", "soon")
    assert bad.returncode == 2 and "--bake must be a duration" in bad.stderr
