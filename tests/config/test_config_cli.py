"""``centralhub config ...`` against a real hub process."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any


def cli(hub_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "centralhub.cli", "config", *args, "--hub", hub_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_round_trip(hub_process_factory: Any, tmp_path: Path) -> None:
    hp = hub_process_factory()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    doc = tmp_path / "c.json"
    doc.write_text(json.dumps({"operational": {"batch_size": 100}}))
    r = cli(hp.url, "set", name, str(doc), "--actor", "ops", "-m", "first")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["version"] == "1.0.0"
    r = cli(hp.url, "set", name, "--data", '{"operational": {"batch_size": 200}}')
    assert json.loads(r.stdout)["revision"] == 2

    got = json.loads(cli(hp.url, "get", name).stdout)
    assert got["config"]["operational"]["batch_size"] == 200
    hist = cli(hp.url, "history", name)
    assert "1.1.0" in hist.stdout and "ops" in hist.stdout and "first" in hist.stdout
    d = json.loads(cli(hp.url, "diff", name, "--from", "1.0.0").stdout)
    assert d["changes"] == [{"path": "operational.batch_size", "op": "changed", "old": 100, "new": 200}]
    rb = json.loads(cli(hp.url, "rollback", name, "1.0.0").stdout)
    assert rb["version"] == "1.2.0"
    assert json.loads(cli(hp.url, "get", name, "--config-only").stdout) == {
        "operational": {"batch_size": 100}
    }

    schema = (
        '{"type": "object", "properties": {"operational": {"type": "object"}}, "required": ["operational"]}'
    )
    assert cli(hp.url, "schema", name, "--data", schema).returncode == 0
    bad = cli(hp.url, "validate", name, "--data", '{"x": 1}')
    assert bad.returncode == 1 and json.loads(bad.stdout)["valid"] is False
    refused = cli(hp.url, "set", name, "--data", '{"x": 1}')
    assert refused.returncode == 1 and "422" in refused.stderr
    stale = cli(hp.url, "set", name, "--data", '{"operational": {}}', "--if-match", "1")
    assert stale.returncode == 1 and "409" in stale.stderr
    assert cli(hp.url, "set", name).returncode != 0  # neither file nor --data
