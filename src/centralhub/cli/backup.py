"""``centralhub backup FILE`` and ``centralhub restore FILE``: the hub's state as one JSON file.

Both talk to a running hub over its admin API (``admin`` scope, no tenant limit), so they work
against any replica, with auth on, while it serves. The backup is written to a temporary file
and renamed, so an interrupted backup never leaves a truncated file under the final name.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from centralhub.cli.http import DEFAULT_HUB, HubOpt, JsonOpt, fail, print_json, request

#: a whole hub may take a while to read or write
TIMEOUT = 300.0
FileArg = Annotated[str, typer.Argument(help="Backup file (JSON); '-' for stdout/stdin.")]


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items())


def backup(file: FileArg, hub: HubOpt = DEFAULT_HUB) -> None:
    """Write the hub's registry, configuration (with history and schemas), contracts, alerts,
    silences and API keys (hashed) to FILE."""
    document = request("GET", hub, "/api/v1/admin/backup", timeout=TIMEOUT)
    text = json.dumps(document, indent=1, ensure_ascii=False)
    if file == "-":
        sys.stdout.write(text + "\n")
        return
    target = Path(file)
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(text + "\n", encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        fail(f"cannot write {file}: {exc}")
    typer.echo(f"backup written to {file}: {_counts(document.get('counts', {}))}")


def restore(
    file: FileArg,
    hub: HubOpt = DEFAULT_HUB,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the hub's data instead of requiring an empty hub.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore FILE into the hub: all or nothing, into an empty hub unless --replace."""
    try:
        raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    result = request(
        "POST",
        hub,
        "/api/v1/admin/restore",
        params={"replace": "true"} if replace else None,
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    if as_json:
        print_json(result)
        return
    typer.echo(f"restored from {file}: {_counts(result['restored'])}")
    if result.get("kept_keys"):
        typer.echo(f"API keys already present and kept: {', '.join(result['kept_keys'])}")
    if not result.get("alert_rules_match", True):
        typer.echo(
            "note: this hub's alert rules differ from the backup's (they come from its infrastructure file)"
        )
