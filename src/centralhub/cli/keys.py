"""``centralhub keys``: API keys managed straight in the database.

These commands need no running hub, so the first ``admin`` key can exist before the hub ever
starts. A revocation reaches running hubs within about a second (their verified-key cache
ages out), at once when ``NATS_URL`` is set (the revocation is announced on the bus).
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from centralhub.audit.service import AuditLog
from centralhub.auth.context import current_principal
from centralhub.auth.models import ALL_SCOPES, Principal
from centralhub.auth.service import KeyService
from centralhub.cli.http import fail, print_json
from centralhub.core.database import Database
from centralhub.core.errors import HubError
from centralhub.core.events import create_event_bus
from centralhub.core.events.dispatch import DomainEvents
from centralhub.core.settings import DEFAULT_SQLITE_PATH, SettingsError, to_sqlalchemy_url
from centralhub.core.tasks import Supervisor
from centralhub.core.time import rfc3339
from centralhub.core.wire import DEFAULT_CLUSTER, is_cluster_name

keys_app = typer.Typer(help="API keys (works on the database directly; no hub needed).", no_args_is_help=True)

T = TypeVar("T")
DatabaseOpt = Annotated[
    str,
    typer.Option(
        "--database-url", envvar="DATABASE_URL", help="sqlite:///path or postgresql://… (DATABASE_URL)."
    ),
]
NatsOpt = Annotated[
    str | None, typer.Option("--nats-url", envvar="NATS_URL", help="Announce revocations on this NATS.")
]
DEFAULT_DATABASE = f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


def _run(database_url: str, nats_url: str | None, work: Callable[[KeyService], Awaitable[T]]) -> T:
    try:
        to_sqlalchemy_url(database_url)
    except SettingsError as exc:
        fail(str(exc), code=2)
    cluster = os.environ.get("CENTRAL_HUB_CLUSTER") or DEFAULT_CLUSTER
    if not is_cluster_name(cluster):
        # the revocation would go out under a subject no hub listens on
        fail(f"CENTRAL_HUB_CLUSTER: {cluster!r} must be 1-64 letters, digits, '_' or '-'", code=2)

    async def main() -> T:
        database = Database(database_url)
        bus = create_event_bus(nats_url, cluster)
        try:
            await database.start()
            if nats_url:
                await bus.start()
                # the revocation is announced once; give the connection a moment to come up
                for _ in range(40):
                    if bus.connected:
                        break
                    await asyncio.sleep(0.05)
            # straight against the database: the audit trail names the local user as the actor
            audit = AuditLog(database, supervisor=Supervisor())
            current_principal.set(Principal(name=f"cli:{_local_user()}", scopes=ALL_SCOPES, kind="cli"))
            return await work(KeyService(database, bus, events=DomainEvents(), audit=audit))
        finally:
            await bus.close()
            await database.close()

    try:
        return asyncio.run(main())
    except HubError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot reach the database: {exc}")
    raise AssertionError("unreachable")


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique key name (shown as the actor in audit and history).")],
    scope: Annotated[
        list[str], typer.Option("--scope", help=f"Scope to grant (repeat): {', '.join(sorted(ALL_SCOPES))}.")
    ],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Bind the key to this tenant.")] = None,
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Limit writes to this service (repeat).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime: 30d, 12h, 15m or seconds.")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option("--rate-limit", help="Requests per minute for this key.")
    ] = None,
    database_url: DatabaseOpt = DEFAULT_DATABASE,
) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""

    async def work(keys: KeyService) -> tuple[str, str]:
        key, plaintext = await keys.create(
            name,
            scope,
            tenant=tenant,
            services=service or None,
            expires_in=expires,
            rate_limit_per_minute=rate_limit,
            created_by="cli",
        )
        summary = f"created key {key.name!r} ({key.prefix}…) scopes={','.join(sorted(key.scopes))}"
        if key.tenant:
            summary += f" tenant={key.tenant}"
        if key.services:
            summary += f" services={','.join(sorted(key.services))}"
        if key.expires_at:
            summary += f" expires={rfc3339(key.expires_at)}"
        return summary, plaintext

    summary, plaintext = _run(database_url, None, work)
    typer.echo(summary)
    typer.echo("store this key now; it is not shown again:")
    typer.echo(plaintext)


@keys_app.command("ls")
def ls(
    database_url: DatabaseOpt = DEFAULT_DATABASE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List keys (never their secrets)."""

    async def work(keys: KeyService) -> list[dict[str, object]]:
        from centralhub.auth.schemas import KeyRead

        return [KeyRead.of(k).model_dump() for k in await keys.list()]

    rows = _run(database_url, None, work)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no keys")
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        typer.echo(
            f"{row['name']:<24} {row['prefix']:<14} {state:<8} {','.join(row['scopes']):<32}"  # type: ignore[arg-type]
            f" tenant={row['tenant'] or '*'} expires={row['expires_at'] or 'never'}"
        )


@keys_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="Key to revoke.")],
    database_url: DatabaseOpt = DEFAULT_DATABASE,
    nats_url: NatsOpt = None,
) -> None:
    """Revoke a key; running hubs refuse it within a second."""
    _run(database_url, nats_url, lambda keys: keys.revoke(name))
    typer.echo(f"revoked key {name!r}")
