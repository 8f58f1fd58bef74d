"""``centralhub`` command line: run the hub, and inspect it as a client over HTTP."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from centralhub.cli.audit import audit
from centralhub.cli.backup import backup, restore
from centralhub.cli.config import config_app
from centralhub.cli.deps import deps
from centralhub.cli.http import CLIENT, fail
from centralhub.cli.keys import keys_app
from centralhub.cli.ops import alerts_app, deployments_app
from centralhub.cli.services import services_app
from centralhub.core.logs import quiet_chatty_libraries
from centralhub.core.settings import Settings, SettingsError, load_settings

app = typer.Typer(
    help="Central Hub: service registry, discovery and live configuration.", no_args_is_help=True
)
app.add_typer(services_app, name="services")
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(alerts_app, name="alerts")
app.add_typer(deployments_app, name="deployments")
app.command("deps")(deps)
app.command("audit")(audit)
app.command("backup")(backup)
app.command("restore")(restore)


def _print_version(value: bool) -> None:
    if value:
        from centralhub import __version__

        typer.echo(f"centralhub {__version__}")
        raise typer.Exit()


@app.callback()
def client_options(
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="CENTRAL_HUB_API_KEY",
            help="Credential (API key or JWT) every client command sends as a Bearer token.",
            show_default=False,
        ),
    ] = None,
    ca_file: Annotated[
        str | None,
        typer.Option(
            "--ca-file",
            envvar="CENTRAL_HUB_CA_FILE",
            help="PEM CA certificate(s) to trust for an https hub (instead of the system's).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="table (for people) or json (for scripts), for commands that print tables.",
        ),
    ] = "table",
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    """Central Hub: service registry, discovery and live configuration."""
    CLIENT.api_key = api_key
    CLIENT.ca_file = ca_file
    if output not in ("table", "json"):
        fail(f"--output must be table or json (got {output!r})", code=2)
    CLIENT.output = output


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
    ssl_certfile: Annotated[
        str | None, typer.Option("--ssl-certfile", help="Serve https with this PEM certificate chain.")
    ] = None,
    ssl_keyfile: Annotated[
        str | None, typer.Option("--ssl-keyfile", help="The certificate's private key (PEM).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes serving the port, each a replica (CENTRAL_HUB_WORKERS, default 1; "
            "more than 1 needs PostgreSQL and NATS).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the hub (embedded SQLite and in-process bus unless configured otherwise)."""
    try:
        settings = load_settings(
            host=host,
            port=port,
            database_url=database_url,
            nats_url=nats_url,
            log_level=log_level,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            workers=workers,
        )
    except SettingsError as exc:
        fail(f"bad setting {exc}", code=2)
    from centralhub.server.workers import WorkersRefused, check_workers

    try:
        check_workers(settings.workers, is_sqlite=settings.is_sqlite, nats_url=settings.nats_url)
    except WorkersRefused as exc:
        fail(str(exc), code=2)
    if settings.ssl_certfile and settings.ssl_keyfile:
        _check_tls(settings.ssl_certfile, settings.ssl_keyfile)

    # with several workers every line says which process wrote it
    who = " [%(process)d]" if settings.workers > 1 else ""
    logging.basicConfig(
        level=settings.log_level, format=f"%(asctime)s %(levelname)s{who} %(name)s: %(message)s"
    )
    quiet_chatty_libraries(settings.log_level)
    from centralhub.core.seed_env import composed_urls

    for name, url in composed_urls(os.environ).items():
        if name == "DATABASE_URL" and database_url:
            continue  # the flag wins
        logging.getLogger("centralhub.settings").info(
            "%s composed from the platform's variables: %s", name, url
        )
    from centralhub.core.startup import StartupRefused, prepare_storage

    try:
        # kept referenced until the process ends: the SQLite lock lives as long as the file is open
        storage_lock = prepare_storage(settings)  # noqa: F841
    except StartupRefused as exc:
        fail(str(exc), code=1)
    if settings.workers == 1:
        _serve_one(settings)
        return
    from centralhub.server.workers import WorkerPool

    pool = WorkerPool(
        count=settings.workers,
        target=lambda sock, ready: _serve_one(settings, sockets=[sock], on_ready=ready),
        host=settings.host,
        port=settings.port,
        graceful_seconds=GRACEFUL_SHUTDOWN_SECONDS,
    )
    sys.exit(pool.run())


#: how long a stopping hub waits for the requests still running
GRACEFUL_SHUTDOWN_SECONDS = 10


def _serve_one(
    settings: Settings,
    *,
    sockets: list[socket.socket] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Build the app and serve it in this process until SIGTERM (on ``sockets`` when given)."""
    import uvicorn

    from centralhub.core.errors import HubError
    from centralhub.server.app import create_app
    from centralhub.server.connections import uvicorn_options
    from centralhub.server.gc_tuning import space_out_collections
    from centralhub.server.shutdown import PortTaken, bind_listener, serve_until_signalled

    space_out_collections()
    if sockets is None:
        try:
            sockets = [bind_listener(settings.host, settings.port)]
        except PortTaken as exc:
            fail(str(exc), code=1)

    try:
        app_ = create_app(settings)
    except HubError as exc:  # e.g. a bad infrastructure file: one line, not a traceback
        fail(exc.message, code=2)
    serve_until_signalled(
        uvicorn.Config(
            app_,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            ssl_certfile=settings.ssl_certfile,
            ssl_keyfile=settings.ssl_keyfile,
            **uvicorn_options(settings),
        ),
        sockets=sockets,
        on_ready=on_ready,
    )


def _check_tls(certfile: str, keyfile: str) -> None:
    """Refuse to start (one line, exit 2) on a certificate or key that cannot be loaded."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        fail(f"CENTRAL_HUB_SSL_CERTFILE/KEYFILE ({certfile}, {keyfile}): cannot be used: {exc}", code=2)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
