"""What every ``centralhub`` client command shares: the hub's address, one HTTP call, output."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

HubOpt = Annotated[str, typer.Option("--hub", envvar="CENTRAL_HUB_URL", help="Hub base URL.")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant (X-Tenant-ID).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print raw JSON.")]
DEFAULT_HUB = "http://127.0.0.1:7000"


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def request(
    method: str, hub: str, path: str, *, tenant: str = "default", as_text: bool = False, **kwargs: Any
) -> Any:
    """One HTTP call to the hub; prints the hub's error message and exits on failure.

    Returns the decoded JSON body, or the body as text with ``as_text`` (DOT, Mermaid)."""
    headers = kwargs.pop("headers", {})
    headers.setdefault("X-Tenant-ID", tenant)
    try:
        resp = httpx.request(method, hub.rstrip("/") + path, headers=headers, timeout=10, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the hub at {hub}: {exc}")
    if resp.status_code >= 400:
        try:
            err = resp.json()["error"]
            fail(f"{err['message']} ({resp.status_code} {err['code']})")
        except (ValueError, KeyError, TypeError):
            fail(f"hub answered {resp.status_code}: {resp.text[:200]}")
    if as_text:
        return resp.text
    if resp.status_code == 204 or not resp.content:
        return None
    return resp.json()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))
