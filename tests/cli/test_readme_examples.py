"""The README's command-line block, run as it stands against a real hub: README and CLI cannot
drift apart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)
_BLOCK = re.compile(r"<!-- cli-examples: begin -->\s*```bash\n(.*?)```\s*<!-- cli-examples: end -->", re.S)


def _readme_block() -> str:
    found = _BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found is not None, "the README's cli-examples block is missing"
    return found.group(1)


def test_the_readme_cli_block_runs_against_a_hub(hub_process_factory: Any, tmp_path: Path) -> None:
    hot_reload = tmp_path / "hot-reload"
    hot_reload.mkdir()
    hub = hub_process_factory(HOT_RELOAD_DIR=str(hot_reload))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `centralhub` as the README writes it: this interpreter's CLI
    shim = bin_dir / "centralhub"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m centralhub.cli "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTRAL_HUB_", "DATABASE_URL"))}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", CENTRAL_HUB_PORT=str(hub.port))
    work = tmp_path / "work"
    work.mkdir()
    script = "set -euo pipefail\nset -x\n" + _readme_block()
    done = subprocess.run(
        ["bash", "-c", script], env=env, cwd=work, capture_output=True, text=True, timeout=150
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert "centralhub " in done.stdout.splitlines()[0]
    # what the block did is in the hub: config written twice then rolled back, exported and
    # imported, the instance gone again
    history = httpx.get(f"{hub.url}/api/v1/config/history/pricing", timeout=10)
    assert history.status_code == 200
    current = httpx.get(f"{hub.url}/api/v1/config/pricing", timeout=10).json()
    assert current["config"] == {"spread": 2, "symbols": ["EURUSD"]}
    assert (work / "hub-config.yaml").exists() and (work / "hub-backup.json").exists()
    assert httpx.get(f"{hub.url}/api/v1/services/pricing", timeout=10).status_code == 404
