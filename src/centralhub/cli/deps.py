"""``centralhub deps``: the hub's dependency graph, startup order or impact analysis."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

DEFAULT_HUB = "http://127.0.0.1:7000"


def _get(hub: str, path: str, tenant: str, params: dict[str, str] | None = None) -> httpx.Response:
    try:
        resp = httpx.get(hub.rstrip("/") + path, params=params, headers={"X-Tenant-ID": tenant}, timeout=10)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach the hub at {hub}: {exc}", err=True)
        raise typer.Exit(1) from None
    if resp.status_code >= 400:
        try:
            err = resp.json()["error"]
            typer.echo(f"error: {err['message']} ({resp.status_code} {err['code']})", err=True)
        except (ValueError, KeyError, TypeError):
            typer.echo(f"error: hub answered {resp.status_code}: {resp.text[:200]}", err=True)
        raise typer.Exit(1)
    return resp


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def deps(
    format: Annotated[str, typer.Option("--format", "-f", help="json | dot | mermaid")] = "json",
    order: Annotated[bool, typer.Option("--order", help="Print the startup order instead.")] = False,
    impact: Annotated[
        str | None, typer.Option("--impact", help="Print what is affected if NAME is down.")
    ] = None,
    hub: Annotated[str, typer.Option("--hub", envvar="CENTRAL_HUB_URL", help="Hub base URL.")] = DEFAULT_HUB,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant (X-Tenant-ID).")] = "default",
) -> None:
    """Show the dependency graph (--format json|dot|mermaid), --order or --impact NAME."""
    if format not in ("json", "dot", "mermaid"):
        typer.echo(f"error: --format must be json, dot or mermaid (got {format!r})", err=True)
        raise typer.Exit(2)
    if order:
        data = _get(hub, "/api/v1/dependencies/order", tenant).json()
        if format == "json":
            _print_json(data)
        else:
            for i, level in enumerate(data["levels"], 1):
                typer.echo(f"{i}. {', '.join(level)}")
        return
    if impact:
        data = _get(hub, f"/api/v1/dependencies/{impact}/impact", tenant).json()
        if format == "json":
            _print_json(data)
        else:
            typer.echo(f"if {data['name']} is down: {', '.join(data['affected']) or 'nothing else'} affected")
        return
    resp = _get(hub, "/api/v1/dependencies", tenant, params={"format": format})
    if format == "json":
        _print_json(resp.json())
    else:
        typer.echo(resp.text, nl=False)
