"""``centralhub`` command line: run the hub, and inspect it as a client over HTTP."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from centralhub.cli.config import config_app
from centralhub.cli.deps import deps
from centralhub.cli.http import fail
from centralhub.cli.keys import keys_app
from centralhub.cli.services import services_app
from centralhub.core.settings import SettingsError, load_settings

app = typer.Typer(
    help="Central Hub: service registry, discovery and live configuration.", no_args_is_help=True
)
app.add_typer(services_app, name="services")
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.command("deps")(deps)


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
    from centralhub.server.connections import uvicorn_options

    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from centralhub.core.errors import HubError

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
        **uvicorn_options(settings),
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
