"""``centralhub audit``: who changed what, from the hub's audit trail over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from centralhub.cli.http import DEFAULT_HUB, HubOpt, JsonOpt, print_json, request

FilterOpt = Annotated[str | None, typer.Option(help="Exact value, or a prefix ending in '*'.")]


def audit(
    hub: HubOpt = DEFAULT_HUB,
    actor: FilterOpt = None,
    action: FilterOpt = None,
    resource: FilterOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Only entries from this time on: epoch seconds or ISO 8601.")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's entries.")] = None,
    limit: Annotated[int, typer.Option(help="How many entries (1-1000).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List audit entries, newest first (needs an admin credential when auth is on)."""
    filters = {"actor": actor, "action": action, "resource": resource, "since": since, "tenant": tenant}
    params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    params["limit"] = limit
    data = request("GET", hub, "/api/v1/audit", params=params)
    if as_json:
        print_json(data)
        return
    typer.echo(f"{'AT':24} {'ACTOR':20} {'ADDRESS':16} {'ACTION':20} RESOURCE")
    for e in data["entries"]:
        typer.echo(
            f"{e['at']:24} {e['actor'][:20]:20} {(e['address'] or '-')[:16]:16} "
            f"{e['action'][:20]:20} {e['resource']}"
        )
