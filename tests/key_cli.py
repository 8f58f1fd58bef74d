"""Keys for hub processes in tests, made the way an operator makes them: ``centralhub keys create``."""

from __future__ import annotations

import os
import subprocess
import sys


def create_key(database_url: str, name: str, *scopes: str, tenant: str | None = None) -> str:
    """Run ``centralhub keys create`` on the hub's database; the key is the last line it prints."""
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    if tenant is not None:
        args += ["--tenant", tenant]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTRAL_HUB", "DATABASE_URL"))}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "centralhub.cli",
            "keys",
            "create",
            name,
            *args,
            "--database-url",
            database_url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]
