"""``centralhub config ls|get|set|patch|history|diff|rollback|validate|schema|reload|export|import``
(and ``config rollout ...``) over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from centralhub.cli.config_rollout import (
    AutoOpt,
    BakeOpt,
    CanaryInstancesOpt,
    CanaryOptions,
    CanaryPercentOpt,
    CanaryTagsOpt,
    CheckOpt,
    rollout_app,
    start_rollout,
)
from centralhub.cli.http import (
    DEFAULT_HUB,
    HubOpt,
    JsonOpt,
    TenantOpt,
    fail,
    print_json,
    request,
    wants_json,
)
from centralhub.config.secrets import mask_paths

config_app = typer.Typer(
    help="Service configuration: versions, history, rollback, schemas, canary rollouts.", no_args_is_help=True
)
config_app.add_typer(rollout_app, name="rollout")

DataOpt = Annotated[str | None, typer.Option("--data", help="The JSON document inline.")]
FileArg = Annotated[Path | None, typer.Argument(help="JSON file with the document ('-' for stdin).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who makes the change (X-Actor).")]
MessageOpt = Annotated[str | None, typer.Option("--message", "-m", help="Change message.")]
IfMatchOpt = Annotated[
    int | None, typer.Option("--if-match", help="Fail (409) unless this is the current revision.")
]


def _document(file: Path | None, data: str | None) -> Any:
    if (file is None) == (data is None):
        fail("give either a JSON file or --data JSON")
    try:
        if data is not None:
            return json.loads(data)
        assert file is not None
        text = typer.get_text_stream("stdin").read() if str(file) == "-" else file.read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"{'--data' if data is not None else file}: not valid JSON: {exc}")


def _headers(actor: str | None, if_match: int | None) -> dict[str, str]:
    headers = {}
    if actor:
        headers["X-Actor"] = actor
    if if_match is not None:
        headers["If-Match"] = str(if_match)
    return headers


@config_app.command("get")
def config_get(
    service: str,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    version: Annotated[str | None, typer.Option("--version", help="A stored version or revision.")] = None,
    only_config: Annotated[bool, typer.Option("--config-only", help="Print just the document.")] = False,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help='Print "x-secret" values instead of "***".')
    ] = False,
) -> None:
    """Show the current (or a given) version of SERVICE's configuration (secrets as "***")."""
    path = f"/api/v1/config/{service}" + (f"/versions/{version}" if version else "")
    data = request("GET", hub, path, tenant=tenant)
    if not show_secrets and data.get("secrets"):
        data["config"] = mask_paths(data["config"], data["secrets"])
    print_json(data["config"] if only_config else data)


def _write(
    method: str,
    service: str,
    doc: Any,
    hub: str,
    tenant: str,
    actor: str | None,
    message: str | None,
    if_match: int | None,
    *,
    canary: CanaryOptions | None = None,
    field: str = "config",
) -> None:
    """A plain write; with a canary option given, a rollout of the document as ``field``."""
    if canary is not None and canary.selector() is not None:
        start_rollout(service, field, doc, canary, hub=hub, tenant=tenant, message=message, actor=actor)
        return
    print_json(
        request(
            method,
            hub,
            f"/api/v1/config/{service}",
            tenant=tenant,
            json=doc,
            params={"message": message} if message else None,
            headers=_headers(actor, if_match),
        )
    )


@config_app.command("set")
def config_set(
    service: str,
    file: FileArg = None,
    data: DataOpt = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    actor: ActorOpt = None,
    message: MessageOpt = None,
    if_match: IfMatchOpt = None,
    canary_percent: CanaryPercentOpt = None,
    canary_instances: CanaryInstancesOpt = None,
    canary_tags: CanaryTagsOpt = None,
    bake: BakeOpt = "2m",
    canary_check: CheckOpt = None,
    auto_rollback: AutoOpt = True,
) -> None:
    """Store a whole new document for SERVICE (from FILE or --data) and broadcast it; with a
    --canary-* option, roll it out to those canaries first and promote it after --bake."""
    canary = CanaryOptions(canary_percent, canary_instances, canary_tags, bake, canary_check, auto_rollback)
    doc = _document(file, data)
    _write("POST", service, doc, hub, tenant, actor, message, if_match, canary=canary, field="config")


@config_app.command("patch")
def config_patch(
    service: str,
    file: FileArg = None,
    data: DataOpt = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    actor: ActorOpt = None,
    message: MessageOpt = None,
    if_match: IfMatchOpt = None,
    canary_percent: CanaryPercentOpt = None,
    canary_instances: CanaryInstancesOpt = None,
    canary_tags: CanaryTagsOpt = None,
    bake: BakeOpt = "2m",
    canary_check: CheckOpt = None,
    auto_rollback: AutoOpt = True,
) -> None:
    """Change part of SERVICE's document with a JSON merge patch (null deletes a key); with a
    --canary-* option, as a canary rollout (see ``config set``)."""
    canary = CanaryOptions(canary_percent, canary_instances, canary_tags, bake, canary_check, auto_rollback)
    doc = _document(file, data)
    _write("PATCH", service, doc, hub, tenant, actor, message, if_match, canary=canary, field="patch")


@config_app.command("history")
def config_history(
    service: str,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    limit: Annotated[int, typer.Option(help="How many versions.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print raw JSON.")] = False,
) -> None:
    """List SERVICE's versions, newest first."""
    data = request("GET", hub, f"/api/v1/config/history/{service}", tenant=tenant, params={"limit": limit})
    if as_json:
        print_json(data)
        return
    typer.echo(f"{'VERSION':10} {'REV':>5}  {'UPDATED_AT':24} {'BY':20} {'SOURCE':10} MESSAGE")
    for h in data["history"]:
        typer.echo(
            f"{h['version']:10} {h['revision']:>5}  {h['updated_at']:24} {h['updated_by'][:20]:20} "
            f"{h['source']:10} {h.get('message') or ''}"
        )


@config_app.command("diff")
def config_diff(
    service: str,
    from_: Annotated[str, typer.Option("--from", help="Version or revision.")],
    to: Annotated[str | None, typer.Option("--to", help="Version or revision (default current).")] = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
) -> None:
    """Show what changed between two versions of SERVICE."""
    params = {"from": from_} | ({"to": to} if to else {})
    print_json(request("GET", hub, f"/api/v1/config/{service}/diff", tenant=tenant, params=params))


@config_app.command("rollback")
def config_rollback(
    service: str,
    version: Annotated[str, typer.Argument(help="The version (or revision) to restore.")],
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    actor: ActorOpt = None,
    message: MessageOpt = None,
    if_match: IfMatchOpt = None,
) -> None:
    """Make an old VERSION of SERVICE current again (stored as a new version)."""
    body: dict[str, Any] = {"version": version} | ({"message": message} if message else {})
    print_json(
        request(
            "POST",
            hub,
            f"/api/v1/config/{service}/rollback",
            tenant=tenant,
            json=body,
            headers=_headers(actor, if_match),
        )
    )


@config_app.command("validate")
def config_validate(
    service: str,
    file: FileArg = None,
    data: DataOpt = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
) -> None:
    """Check a document against SERVICE's schema without storing it (exit 1 when invalid)."""
    result = request(
        "POST", hub, f"/api/v1/config/{service}/validate", tenant=tenant, json=_document(file, data)
    )
    print_json(result)
    if not result["valid"]:
        raise typer.Exit(1)


@config_app.command("schema")
def config_schema(
    service: str,
    file: FileArg = None,
    data: DataOpt = None,
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    actor: ActorOpt = None,
) -> None:
    """Show SERVICE's JSON Schema, or register one from FILE / --data."""
    if file is None and data is None:
        print_json(request("GET", hub, f"/api/v1/config/{service}/schema", tenant=tenant))
        return
    print_json(
        request(
            "PUT",
            hub,
            f"/api/v1/config/{service}/schema",
            tenant=tenant,
            json=_document(file, data),
            headers=_headers(actor, None),
        )
    )


@config_app.command("reload")
def config_reload(
    service: Annotated[
        str | None, typer.Argument(help="Show only what the reload did for this service.")
    ] = None,
    hub: HubOpt = DEFAULT_HUB,
) -> None:
    """Re-read the hub's hot-reload directory and show what was loaded or rejected."""
    result = request("POST", hub, "/api/v1/config/reload")
    if service is not None:
        for part in ("loaded", "unchanged", "rejected"):
            result[part] = [item for item in result.get(part, []) if _names_service(item, service)]
    print_json(result)


def _names_service(item: Any, service: str) -> bool:
    if not isinstance(item, dict):
        return False
    named = item.get("service") or item.get("service_name")
    if named is not None:
        return bool(named == service)
    return Path(str(item.get("path") or item.get("file") or "")).stem == service


_SUMMARY = ("service_name", "version", "revision", "updated_at", "updated_by")


@config_app.command("ls")
def config_ls(hub: HubOpt = DEFAULT_HUB, tenant: TenantOpt = "default", as_json: JsonOpt = False) -> None:
    """List the services with a stored configuration and their current version."""
    names = request("GET", hub, "/api/v1/config", tenant=tenant)["services"]
    rows = []
    for name in names:
        current = request("GET", hub, f"/api/v1/config/{name}", tenant=tenant)
        rows.append(
            {k: current[k] for k in ("service_name", "version", "revision", "updated_at", "updated_by")}
        )
    if wants_json(as_json):
        print_json({"count": len(rows), "services": rows})
        return
    if not rows:
        typer.echo("no configurations stored")
        return
    typer.echo(f"{'SERVICE':30} {'VERSION':12} {'REVISION':>8}  {'UPDATED':25} BY")
    for r in rows:
        line = f"{r['service_name']:30} {r['version']:12} {r['revision']:>8}  {r['updated_at']:25}"
        typer.echo(f"{line} {r['updated_by']}")


#: what an export file says it is, so an import can refuse anything else
EXPORT_FORMAT = "centralhub-config-export/1"


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


@config_app.command("export")
def config_export(
    file: Annotated[
        Path, typer.Argument(help="Where to write: .json, or .yaml/.yml; '-' for stdout (JSON).")
    ],
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
) -> None:
    """Write every service's current configuration and schema to one file."""
    services: dict[str, Any] = {}
    for name in request("GET", hub, "/api/v1/config", tenant=tenant)["services"]:
        current = request("GET", hub, f"/api/v1/config/{name}", tenant=tenant)
        schema = request("GET", hub, f"/api/v1/config/{name}/schema", tenant=tenant, allow_missing=True)
        services[name] = {"version": current["version"], "config": current["config"], "schema": schema}
    doc = {"format": EXPORT_FORMAT, "tenant": tenant, "services": services}
    if str(file) == "-":
        print_json(doc)
        return
    if _is_yaml(file):
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(doc, indent=2) + "\n"
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror}")
    typer.echo(f"{len(services)} service(s) exported to {file}")


@config_app.command("import")
def config_import(
    file: Annotated[Path, typer.Argument(help="A file written by 'centralhub config export' ('-': stdin).")],
    hub: HubOpt = DEFAULT_HUB,
    tenant: TenantOpt = "default",
    actor: ActorOpt = None,
    message: MessageOpt = "imported",
) -> None:
    """Store each service's schema, then its configuration, from an export file; one line per
    service, and exit 1 if any was refused (the others are stored)."""
    try:
        text = typer.get_text_stream("stdin").read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    try:
        if _is_yaml(file):
            import yaml

            doc = yaml.safe_load(text)
        else:
            doc = json.loads(text)
    except (ValueError, ImportError) as exc:
        fail(f"{file}: not a readable export: {exc}")
    if (
        not isinstance(doc, dict)
        or doc.get("format") != EXPORT_FORMAT
        or not isinstance(doc.get("services"), dict)
    ):
        fail(f"{file}: not a 'centralhub config export' file (format {EXPORT_FORMAT})")
    refused = 0
    for name, entry in doc["services"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            typer.echo(f"{name}: refused: no config object", err=True)
            refused += 1
            continue
        headers = _headers(actor, None)
        try:
            if entry.get("schema"):
                request("PUT", hub, f"/api/v1/config/{name}/schema", tenant=tenant, json=entry["schema"],
                        headers=headers)  # fmt: skip
            written = request(
                "POST",
                hub,
                f"/api/v1/config/{name}",
                tenant=tenant,
                json=entry["config"],
                headers=headers,
                params={"message": message} if message else None,
            )
        except typer.Exit:  # request() printed why
            typer.echo(f"{name}: refused", err=True)
            refused += 1
            continue
        typer.echo(f"{name}: stored as version {written['version']}")
    if refused:
        raise typer.Exit(1)
