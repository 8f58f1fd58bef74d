"""``centralhub`` command line: run the hub, and inspect it as a client over HTTP."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated, Any

import httpx
import typer

from centralhub.cli_deps import deps
from centralhub.settings import SettingsError, load_settings

app = typer.Typer(
    help="Central Hub: service registry, discovery and live configuration.", no_args_is_help=True
)
services_app = typer.Typer(help="Registered services.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.command("deps")(deps)

HubOpt = Annotated[str, typer.Option("--hub", envvar="CENTRAL_HUB_URL", help="Hub base URL.")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant (X-Tenant-ID).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print raw JSON.")]
DEFAULT_HUB = "http://127.0.0.1:7000"


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def request(method: str, hub: str, path: str, *, tenant: str = "default", **kwargs: Any) -> Any:
    """One HTTP call to the hub; prints the hub's error message and exits on failure."""
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
    if resp.status_code == 204 or not resp.content:
        return None
    return resp.json()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (CENTRAL_HUB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CENTRAL_HUB_PORT, default 7000).")] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="sqlite:///path or postgresql://… (DATABASE_URL)."),
    ] = None,
    nats_url: Annotated[str | None, typer.Option("--nats-url", help="NATS_URL.")] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", help="LOG_LEVEL.")] = None,
) -> None:
    """Run the hub (embedded SQLite and in-process bus unless configured otherwise)."""
    try:
        settings = load_settings(
            host=host, port=port, database_url=database_url, nats_url=nats_url, log_level=log_level
        )
    except SettingsError as exc:
        fail(f"bad setting {exc}", code=2)
    import uvicorn

    from centralhub.server.app import create_app

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from centralhub.domain.errors import HubError

    try:
        app_ = create_app(settings)
    except HubError as exc:  # e.g. a bad infrastructure file: one line, not a traceback
        fail(exc.message, code=2)
    uvicorn.run(
        app_,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@services_app.command("ls")
def services_ls(
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
    status: Annotated[str | None, typer.Option(help="Filter: healthy|warning|critical")] = None,
) -> None:
    """List services and their instances."""
    data = request(
        "GET", hub, "/api/v1/services", tenant=tenant, params={"status": status} if status else None
    )
    if as_json:
        print_json(data)
        return
    if not data["services"]:
        typer.echo("no services registered")
        return
    typer.echo(f"{'SERVICE':30} {'STATUS':9} {'INSTANCES':>9}  ENDPOINTS")
    for svc in data["services"]:
        endpoints = ", ".join(f"{i['url']}({i['status']})" for i in svc["instances"])
        typer.echo(f"{svc['name']:30} {svc['status']:9} {svc['instance_count']:>9}  {endpoints}")


@services_app.command("show")
def services_show(name: str, hub: HubOpt = DEFAULT_HUB, tenant: TenantOpt = "default") -> None:
    """Show one service with every instance as JSON."""
    print_json(request("GET", hub, f"/api/v1/services/{name}", tenant=tenant))


from centralhub.cli_config import config_app  # noqa: E402 - it imports the helpers above

app.add_typer(config_app, name="config")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
