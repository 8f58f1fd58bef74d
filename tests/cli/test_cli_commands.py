"""The resource commands against a real hub process, checked through the hub's API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from centralhub import __version__

pytestmark = pytest.mark.timeout(180)


def _cli(hub: Any, *args: str, tenant: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTRAL_HUB_", "DATABASE_URL"))}
    # found from CENTRAL_HUB_HOST/PORT, as the hub itself binds
    env.update(CENTRAL_HUB_HOST="127.0.0.1", CENTRAL_HUB_PORT=str(hub.port))
    extra = ["--tenant", tenant] if tenant else []
    return subprocess.run(
        [sys.executable, "-m", "centralhub.cli", *args, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_and_output_options(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    done = _cli(hub, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"centralhub {__version__}"
    bad = _cli(hub, "--output", "yaml", "services", "ls")
    assert bad.returncode == 2 and "--output must be table or json" in bad.stderr


def test_services_alerts_and_deployments(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    tenant = f"t{uuid.uuid4().hex[:6]}"
    made = _cli(
        hub, "services", "register", "--name", "ledger", "--host", "10.1.1.1", "--port", "81",
        "--tag", "eu", "--meta", "team=fx", "--depends-on", "db", tenant=tenant,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    instance_id = made.stdout.strip()
    [inst] = httpx.get(f"{hub.url}/api/v1/services/ledger", headers={"X-Tenant-ID": tenant}).json()[
        "instances"
    ]
    assert (
        inst["instance_id"] == instance_id and inst["tags"] == ["eu"] and inst["metadata"] == {"team": "fx"}
    )
    assert inst["dependencies"] == ["db"]
    listed = _cli(hub, "--output", "json", "services", "ls", tenant=tenant)
    assert json.loads(listed.stdout)["services"][0]["name"] == "ledger"
    bad_meta = _cli(
        hub, "services", "register", "--name", "x", "--host", "h", "--port", "1", "--meta", "oops"
    )
    assert bad_meta.returncode == 2 and "--meta must be KEY=VALUE" in bad_meta.stderr

    silenced = _cli(
        hub, "alerts", "silence", "ledger", "--duration", "30m", "--reason", "upgrade", tenant=tenant
    )
    assert silenced.returncode == 0, silenced.stderr
    silences = httpx.get(f"{hub.url}/api/v1/alerts/silences", headers={"X-Tenant-ID": tenant}).json()
    assert [s["target"] for s in silences["silences"]] == ["ledger"]
    assert _cli(hub, "alerts", "silence", "x", "--duration", "soon").returncode == 2
    assert "no alerts" in _cli(hub, "alerts", "ls", tenant=tenant).stdout
    missing = _cli(hub, "alerts", "ack", "nope", tenant=tenant)
    assert missing.returncode == 1 and "404" in missing.stderr

    started = _cli(hub, "deployments", "start", "ledger", "v2", "--deadline", "10m", tenant=tenant)
    assert started.returncode == 0, started.stderr
    deployment_id = started.stdout.strip()
    shown = json.loads(_cli(hub, "deployments", "show", deployment_id, tenant=tenant).stdout)
    assert shown["service"] == "ledger" and shown["version"] == "v2"
    listing = _cli(hub, "deployments", "ls", tenant=tenant)
    assert deployment_id in listing.stdout
    cancelled = _cli(hub, "--output", "json", "deployments", "cancel", deployment_id, tenant=tenant)
    if cancelled.returncode == 0:  # it may have finished already: then cancel says so
        assert json.loads(cancelled.stdout)["id"] == deployment_id
    else:
        assert "409" in cancelled.stderr, cancelled.stderr

    gone = _cli(hub, "services", "deregister", "ledger", instance_id, tenant=tenant)
    assert gone.returncode == 0, gone.stderr
    assert httpx.get(f"{hub.url}/api/v1/services/ledger", headers={"X-Tenant-ID": tenant}).status_code == 404


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_config_export_then_import_into_another_tenant(
    hub_process_factory: Any, tmp_path: Path, suffix: str
) -> None:
    hub = hub_process_factory()
    source, target = f"s{uuid.uuid4().hex[:6]}", f"d{uuid.uuid4().hex[:6]}"
    schema = {"type": "object", "properties": {"spread": {"type": "integer", "minimum": 0}}}
    h = {"X-Tenant-ID": source}
    assert httpx.put(f"{hub.url}/api/v1/config/pricing/schema", json=schema, headers=h).status_code == 200
    assert httpx.post(f"{hub.url}/api/v1/config/pricing", json={"spread": 2}, headers=h).status_code == 200
    assert (
        httpx.post(f"{hub.url}/api/v1/config/feed", json={"symbols": ["EURUSD"]}, headers=h).status_code
        == 200
    )

    listed = _cli(hub, "config", "ls", tenant=source)
    assert listed.returncode == 0 and "pricing" in listed.stdout and "feed" in listed.stdout
    file = tmp_path / f"export{suffix}"
    exported = _cli(hub, "config", "export", str(file), tenant=source)
    assert exported.returncode == 0, exported.stderr
    assert "2 service(s) exported" in exported.stdout

    imported = _cli(hub, "config", "import", str(file), tenant=target)
    assert imported.returncode == 0, imported.stderr
    t = {"X-Tenant-ID": target}
    assert httpx.get(f"{hub.url}/api/v1/config/pricing", headers=t).json()["config"] == {"spread": 2}
    assert httpx.get(f"{hub.url}/api/v1/config/feed", headers=t).json()["config"] == {"symbols": ["EURUSD"]}
    assert httpx.get(f"{hub.url}/api/v1/config/pricing/schema", headers=t).json() == schema

    # a document its schema refuses: that service is reported, the others still stored
    doc = json.loads(file.read_text()) if suffix == ".json" else None
    if doc is not None:
        doc["services"]["pricing"]["config"] = {"spread": -1}
        doc["services"]["feed"]["config"] = {"symbols": ["GBPUSD"]}
        broken = tmp_path / "broken.json"
        broken.write_text(json.dumps(doc))
        again = _cli(hub, "config", "import", str(broken), tenant=target)
        assert again.returncode == 1 and "pricing: refused" in again.stderr
        assert "feed: stored" in again.stdout
        assert httpx.get(f"{hub.url}/api/v1/config/pricing", headers=t).json()["config"] == {"spread": 2}
    not_export = tmp_path / "other.json"
    not_export.write_text('{"spread": 1}')
    refused = _cli(hub, "config", "import", str(not_export), tenant=target)
    assert refused.returncode == 1 and "not a 'centralhub config export' file" in refused.stderr
