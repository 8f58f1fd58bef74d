"""The README's command-line block, run as it stands against a real hub: README and CLI cannot
drift apart."""

from __future__ import annotations

import os
import re
import shlex
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


_ROOT_OPTIONS_WITH_VALUE = {"--api-key", "--ca-file", "--output", "-o", "--hub"}
_WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def _shell_blocks(text: str) -> list[str]:
    """The fenced code blocks of ``text`` that are shell (bash, sh, console or unmarked)."""
    blocks: list[str] = []
    current: list[str] | None = None
    shell = False
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, shell = [], line[3:].strip() in ("", "bash", "sh", "console")
            else:
                if shell:
                    blocks.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _readme_commands() -> list[list[str]]:
    """Every ``centralhub …`` command line in the README's code blocks, as the words naming the
    command (root options and everything from the first option or value on left out)."""
    found: list[list[str]] = []
    for block in _shell_blocks((ROOT / "README.md").read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            if "centralhub " not in line or line.lstrip().startswith("#"):
                continue
            rest = line.split("centralhub ", 1)[1].split("#", 1)[0]
            try:
                tokens = shlex.split(rest)
            except ValueError:
                continue
            words: list[str] = []
            skip = False
            for token in tokens:
                if skip:
                    skip = False
                    continue
                if not words and token in _ROOT_OPTIONS_WITH_VALUE:
                    skip = True
                    continue
                if not _WORD.fullmatch(token):
                    break
                words.append(token)
            if words:
                found.append(words)
    return found


def test_every_readme_command_is_one_the_cli_has() -> None:
    commands = _readme_commands()
    assert len(commands) > 20
    tried: set[tuple[str, ...]] = set()
    for words in commands:
        # the command path: as many words as name (sub)commands; the rest are arguments, which
        # --help lets through
        key = tuple(words[:3])
        if key in tried:
            continue
        tried.add(key)
        done = subprocess.run(
            [sys.executable, "-m", "centralhub.cli", *words[:3], "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"README: centralhub {' '.join(words)}: {done.stderr[-500:]}"
