"""``centralhub alerts ls|ack|silence`` and ``centralhub deployments start|ls|show|cancel``."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from centralhub.cli.http import DEFAULT_HUB, HubOpt, JsonOpt, TenantOpt, fail, print_json, request, wants_json

alerts_app = typer.Typer(help="Alerts: list, acknowledge, silence.", no_args_is_help=True)
deployments_app = typer.Typer(help="Rolling deployments: start, list, show, cancel.", no_args_is_help=True)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str, option: str) -> float:
    """``90``, ``30s``, ``15m``, ``2h``, ``1d`` as seconds."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        fail(f"{option} must be a duration such as 90, 30s, 15m, 2h or 1d (got {text!r})", code=2)
        raise AssertionError  # unreachable: fail() exits
    return float(found.group(1)) * _UNIT[found.group(2)]


# ---------------------------------------------------------------------------- alerts
@alerts_app.command("ls")
def alerts_ls(
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
    severity: Annotated[str | None, typer.Option(help="info|warning|critical")] = None,
    target: Annotated[str | None, typer.Option(help="Only alerts about this service or component.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only alerts not acknowledged yet.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
) -> None:
    """List alerts, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if severity:
        params["severity"] = severity
    if target:
        params["target"] = target
    if open_only:
        params["acknowledged"] = "false"
    data = request("GET", hub, "/api/v1/alerts", tenant=tenant, params=params)
    if wants_json(as_json):
        print_json(data)
        return
    if not data["alerts"]:
        typer.echo("no alerts")
        return
    typer.echo(f"{'ID':34} {'SEVERITY':9} {'TARGET':24} {'ACK':4} {'LAST SEEN':25} MESSAGE")
    for a in data["alerts"]:
        ack = "yes" if a["acknowledged"] else "no"
        line = f"{a['id']:34} {a['severity']:9} {a['target'][:24]:24} {ack:4} {a['last_seen_at']:25}"
        typer.echo(f"{line} {a['message']}")


@alerts_app.command("ack")
def alerts_ack(
    alert_id: str,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    by: Annotated[str | None, typer.Option(help="Who acknowledges (free text).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an alert."""
    alert = request(
        "POST", hub, f"/api/v1/alerts/{alert_id}/acknowledge", tenant=tenant, json={"by": by} if by else None
    )
    if wants_json(as_json):
        print_json(alert)
        return
    typer.echo(f"{alert['id']}: acknowledged")


@alerts_app.command("silence")
def alerts_silence(
    target: Annotated[str, typer.Argument(help="Service or component name, or a glob such as 'db-*'.")],
    duration: Annotated[str, typer.Option("--duration", help="How long: 30m, 2h, 1d.")] = "1h",
    reason: Annotated[str | None, typer.Option(help="Why (shown with the silence).")] = None,
    global_: Annotated[
        bool, typer.Option("--global", help="Silence shared-infrastructure alerts (ops, no tenant limit).")
    ] = False,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Silence alerts about TARGET for a while (they are still recorded, not sent)."""
    body: dict[str, Any] = {"target": target, "duration_seconds": seconds(duration, "--duration")}
    if reason:
        body["reason"] = reason
    if global_:
        body["global"] = True
    silence = request("POST", hub, "/api/v1/alerts/silences", tenant=tenant, json=body)
    if wants_json(as_json):
        print_json(silence)
        return
    typer.echo(f"{silence['id']}: {target} silenced until {silence.get('until', '?')}")


# ---------------------------------------------------------------------------- deployments
def _deployment_line(d: dict[str, Any]) -> str:
    progress = d.get("progress") or {}
    done = f"{progress.get('batches_done', '?')}/{progress.get('batches_total', '?')}"
    why = f"  ({d['error']})" if d.get("error") else ""
    return f"{d['id']:34} {d['service'][:24]:24} {d['version'][:16]:16} {d['state']:10} {done:>7}{why}"


@deployments_app.command("start")
def deployments_start(
    service: str,
    version: str,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Instances replaced at a time.")] = 1,
    deadline: Annotated[str, typer.Option("--deadline", help="Longest a batch may take: 5m, 300.")] = "5m",
    drain: Annotated[
        str | None, typer.Option("--drain", help="How long replaced instances stay draining.")
    ] = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Start a rolling deployment of SERVICE to VERSION; prints its id."""
    body: dict[str, Any] = {
        "service": service,
        "version": version,
        "batch_size": batch_size,
        "deadline_seconds": seconds(deadline, "--deadline"),
    }
    if drain is not None:
        body["drain_seconds"] = seconds(drain, "--drain")
    made = request("POST", hub, "/api/v1/deployments", tenant=tenant, json=body)
    if wants_json(as_json):
        print_json(made)
        return
    typer.echo(made["id"])


@deployments_app.command("ls")
def deployments_ls(
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    service: Annotated[str | None, typer.Option(help="Only this service's.")] = None,
    state: Annotated[str | None, typer.Option(help="pending|running|succeeded|failed|cancelled")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List deployments, newest first."""
    params = {k: v for k, v in (("service", service), ("state", state)) if v}
    data = request("GET", hub, "/api/v1/deployments", tenant=tenant, params=params or None)
    if wants_json(as_json):
        print_json(data)
        return
    if not data["deployments"]:
        typer.echo("no deployments")
        return
    typer.echo(f"{'ID':34} {'SERVICE':24} {'VERSION':16} {'STATE':10} {'BATCHES':>7}")
    for d in data["deployments"]:
        typer.echo(_deployment_line(d))


@deployments_app.command("show")
def deployments_show(deployment_id: str, hub: HubOpt = DEFAULT_HUB, tenant: TenantOpt = "default") -> None:
    """Show one deployment with its batches as JSON."""
    print_json(request("GET", hub, f"/api/v1/deployments/{deployment_id}", tenant=tenant))


@deployments_app.command("cancel")
def deployments_cancel(
    deployment_id: str, hub: HubOpt = DEFAULT_HUB, tenant: TenantOpt = "default", as_json: JsonOpt = False
) -> None:
    """Cancel a deployment: the running batch stops and drained instances are restored."""
    d = request("POST", hub, f"/api/v1/deployments/{deployment_id}/cancel", tenant=tenant)
    if wants_json(as_json):
        print_json(d)
        return
    typer.echo(_deployment_line(d))
