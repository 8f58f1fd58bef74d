"""``centralhub config rollout status|promote|abort`` and the canary options of
``config set`` / ``config patch`` (a write with ``--canary-*`` starts a rollout instead)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from centralhub.cli.http import DEFAULT_HUB, HubOpt, JsonOpt, TenantOpt, fail, print_json, request, wants_json
from centralhub.cli.ops import seconds

rollout_app = typer.Typer(
    help="Canary rollouts of a configuration: status, promote, abort.", no_args_is_help=True
)

CanaryPercentOpt = Annotated[
    float | None, typer.Option("--canary-percent", help="Roll out to this share of the instances first.")
]
CanaryInstancesOpt = Annotated[
    str | None, typer.Option("--canary-instances", help="Roll out to these instance ids first (a,b).")
]
CanaryTagsOpt = Annotated[
    str | None, typer.Option("--canary-tags", help="Roll out first to instances carrying these tags (a,b).")
]
BakeOpt = Annotated[str, typer.Option("--bake", help="How long the canaries bake before promotion (2m).")]
CheckOpt = Annotated[
    str | None, typer.Option("--canary-check", help="Probe each canary this often (default: the hub's).")
]
AutoOpt = Annotated[
    bool,
    typer.Option("--auto-rollback/--no-auto-rollback", help="Roll back by itself on a bad canary."),
]


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class CanaryOptions:
    """The canary options of ``config set`` / ``config patch``."""

    percent: float | None
    instances: str | None
    tags: str | None
    bake: str
    check: str | None
    auto_rollback: bool

    def selector(self) -> dict[str, Any] | None:
        """The request's ``canary``; ``None`` when no option is given (a plain write)."""
        given = [o for o in (self.percent, self.instances, self.tags) if o is not None]
        if not given:
            return None
        if len(given) > 1:
            fail("give one of --canary-percent, --canary-instances or --canary-tags", code=2)
        if self.percent is not None:
            return {"percent": self.percent}
        if self.instances is not None:
            return {"instances": _ids(self.instances)}
        assert self.tags is not None
        return {"tags": _ids(self.tags)}


def start_rollout(
    service: str,
    field: str,
    doc: Any,
    options: CanaryOptions,
    *,
    hub: str,
    tenant: str,
    message: str | None,
    actor: str | None,
) -> None:
    body: dict[str, Any] = {
        field: doc,
        "canary": options.selector(),
        "bake_seconds": seconds(options.bake, "--bake"),
        "auto_rollback": options.auto_rollback,
    }
    if options.check is not None:
        body["canary_check_seconds"] = seconds(options.check, "--canary-check")
    if message:
        body["message"] = message
    headers = {"X-Actor": actor} if actor else {}
    data = request(
        "POST", hub, f"/api/v1/config/{service}/rollouts", tenant=tenant, json=body, headers=headers
    )
    if wants_json(False):
        print_json(data)
        return
    typer.echo(
        f"rollout {data['rollout_id']}: {service} {data['version']} (revision {data['revision']}) "
        f"baking on {len(data['canary'])} canary instance(s) for {data['bake_seconds']:g}s: "
        + ", ".join(data["canary"])
    )


def _show(data: dict[str, Any]) -> None:
    typer.echo(f"rollout   {data['rollout_id']}")
    typer.echo(
        f"service   {data['service']}  {data['version']} (revision {data['revision']}, "
        f"from {data['base_revision']})"
    )
    line = f"state     {data['state']}"
    if data["state"] == "baking":
        line += f"  ({data['remaining_seconds']:g}s of {data['bake_seconds']:g}s left)"
    typer.echo(line)
    if data.get("reason"):
        typer.echo(f"reason    {data['reason']}")
    if data.get("held_reason"):
        typer.echo(f"held      {data['held_reason']} (auto rollback off: promote or abort)")
    typer.echo(f"\n{'CANARY':34} {'STATUS':9} {'APPLIED':>7}  {'OUTCOME':8} ERROR")
    for c in data["canaries"]:
        applied = "-" if c["applied_revision"] is None else str(c["applied_revision"])
        typer.echo(
            f"{c['instance_id']:34} {c['status']:9} {applied:>7}  {c['outcome']:8} {c.get('error') or ''}"
        )


@rollout_app.command("status")
def rollout_status(
    service: str, hub: HubOpt = DEFAULT_HUB, tenant: TenantOpt = "default", as_json: JsonOpt = False
) -> None:
    """Show SERVICE's latest rollout: state, reason, and what each canary reports."""
    data = request("GET", hub, f"/api/v1/config/{service}/rollout", tenant=tenant)
    if wants_json(as_json):
        print_json(data)
    else:
        _show(data)


def _act(action: str, service: str, hub: str, tenant: str, actor: str | None, as_json: bool) -> None:
    headers = {"X-Actor": actor} if actor else {}
    data = request("POST", hub, f"/api/v1/config/{service}/rollout/{action}", tenant=tenant, headers=headers)
    if wants_json(as_json):
        print_json(data)
    else:
        _show(data)


@rollout_app.command("promote")
def rollout_promote(
    service: str,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    actor: Annotated[str | None, typer.Option("--actor", help="Who acts (X-Actor).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Promote SERVICE's baking rollout to every instance now."""
    _act("promote", service, hub, tenant, actor, as_json)


@rollout_app.command("abort")
def rollout_abort(
    service: str,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    actor: Annotated[str | None, typer.Option("--actor", help="Who acts (X-Actor).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Abort SERVICE's baking rollout: its canaries return to the promoted configuration."""
    _act("abort", service, hub, tenant, actor, as_json)
