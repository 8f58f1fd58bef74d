"""``centralhub deps``: the hub's dependency graph, startup order or impact analysis."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from centralhub.cli.http import DEFAULT_HUB, HubOpt, TenantOpt, fail, print_json, request

FORMATS = ("json", "dot", "mermaid")


def deps(
    format: Annotated[str, typer.Option("--format", "-f", help="json | dot | mermaid")] = "json",
    order: Annotated[bool, typer.Option("--order", help="Print the startup order instead.")] = False,
    impact: Annotated[
        str | None, typer.Option("--impact", help="Print what is affected if NAME is down.")
    ] = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
) -> None:
    """Show the dependency graph (--format json|dot|mermaid), --order or --impact NAME."""
    if format not in FORMATS:
        fail(f"--format must be json, dot or mermaid (got {format!r})", code=2)
    if order:
        data = request("GET", hub, "/api/v1/dependencies/order", tenant=tenant)
        if format == "json":
            print_json(data)
        else:
            for i, level in enumerate(data["levels"], 1):
                typer.echo(f"{i}. {', '.join(level)}")
        return
    if impact:
        data = request("GET", hub, f"/api/v1/dependencies/{quote(impact, safe='')}/impact", tenant=tenant)
        if format == "json":
            print_json(data)
        else:
            typer.echo(f"if {data['name']} is down: {', '.join(data['affected']) or 'nothing else'} affected")
        return
    if format == "json":
        print_json(request("GET", hub, "/api/v1/dependencies", tenant=tenant))
    else:
        text = request(
            "GET", hub, "/api/v1/dependencies", tenant=tenant, params={"format": format}, as_text=True
        )
        typer.echo(text, nl=False)
