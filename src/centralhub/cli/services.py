"""``centralhub services ls|show|register|deregister|drain|undrain``: registered services, over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from centralhub.cli.http import DEFAULT_HUB, HubOpt, JsonOpt, TenantOpt, fail, print_json, request, wants_json

services_app = typer.Typer(help="Registered services.", no_args_is_help=True)


@services_app.command("ls")
def services_ls(
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
    status: Annotated[str | None, typer.Option(help="Filter: healthy|warning|critical")] = None,
) -> None:
    """List services and their instances."""
    data = _every_page(hub, tenant, {"status": status} if status else {})
    if wants_json(as_json):
        print_json(data)
        return
    if not data["services"]:
        typer.echo("no services registered")
        return
    typer.echo(f"{'SERVICE':30} {'STATUS':9} {'INSTANCES':>9}  ENDPOINTS")
    for svc in data["services"]:
        endpoints = ", ".join(f"{i['url']}({i['status']})" for i in svc["instances"])
        typer.echo(f"{svc['name']:30} {svc['status']:9} {svc['instance_count']:>9}  {endpoints}")


def _every_page(hub: str, tenant: str, params: dict[str, str]) -> dict[str, Any]:
    """The listing with the services of every page (the hub answers a page at a time)."""
    data: dict[str, Any] = request("GET", hub, "/api/v1/services", tenant=tenant, params=params or None)
    while data.get("next_cursor"):
        following = {**params, "cursor": data["next_cursor"]}
        page = request("GET", hub, "/api/v1/services", tenant=tenant, params=following)
        data = {**page, "services": data["services"] + page["services"]}
    data["count"] = len(data["services"])
    return data


@services_app.command("show")
def services_show(name: str, hub: HubOpt = DEFAULT_HUB, tenant: TenantOpt = "default") -> None:
    """Show one service with every instance as JSON."""
    print_json(request("GET", hub, f"/api/v1/services/{name}", tenant=tenant))


@services_app.command("drain")
def services_drain(
    name: str,
    instance_id: str,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Take an instance out of discovery (draining) without removing it."""
    _drain(name, instance_id, hub, tenant, as_json, "drain")


@services_app.command("undrain")
def services_undrain(
    name: str,
    instance_id: str,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Put a draining instance back into discovery (passing; its checks decide from there)."""
    _drain(name, instance_id, hub, tenant, as_json, "undrain")


def _drain(name: str, instance_id: str, hub: str, tenant: str, as_json: bool, action: str) -> None:
    inst = request("POST", hub, f"/api/v1/services/{name}/instances/{instance_id}/{action}", tenant=tenant)
    if wants_json(as_json):
        print_json(inst)
        return
    typer.echo(f"{name} {inst['instance_id']} {inst['url']}: {inst['status']}")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{what} must be KEY=VALUE (got {item!r})", code=2)
        found[key] = value
    return found


@services_app.command("register")
def services_register(
    name: Annotated[str, typer.Option("--name", help="Service name.")],
    host: Annotated[str, typer.Option("--host", help="Address callers reach the instance at.")],
    port: Annotated[int, typer.Option("--port", help="Its port.")],
    version: Annotated[str | None, typer.Option("--version", help="What it runs.")] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="http, https, grpc, tcp...")] = "http",
    health_endpoint: Annotated[
        str | None, typer.Option("--health-endpoint", help="Path the hub probes, e.g. /health.")
    ] = None,
    ttl: Annotated[
        int | None, typer.Option("--ttl", help="Seconds without a heartbeat before critical.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat).")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata KEY=VALUE (repeat).")] = None,
    depends_on: Annotated[
        list[str] | None, typer.Option("--depends-on", help="A dependency (repeat).")
    ] = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Register an instance (or update the one at the same host and port); prints its id."""
    body: dict[str, Any] = {"name": name, "host": host, "port": port, "protocol": protocol}
    for key, value in (("version", version), ("health_endpoint", health_endpoint), ("ttl_seconds", ttl)):
        if value is not None:
            body[key] = value
    if tag:
        body["tags"] = tag
    if meta:
        body["metadata"] = _pairs(meta, "--meta")
    if depends_on:
        body["dependencies"] = depends_on
    inst = request("POST", hub, "/api/v1/services/register", tenant=tenant, json=body)
    if wants_json(as_json):
        print_json(inst)
        return
    typer.echo(inst["instance_id"])


@services_app.command("deregister")
def services_deregister(
    name: str, instance_id: str, hub: HubOpt = DEFAULT_HUB, tenant: TenantOpt = "default"
) -> None:
    """Remove an instance from the registry."""
    request("DELETE", hub, f"/api/v1/services/{name}/instances/{instance_id}", tenant=tenant)
    typer.echo(f"{name} {instance_id}: deregistered")
