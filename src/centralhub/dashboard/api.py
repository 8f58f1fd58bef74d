"""``GET /dashboard`` (a self-contained page) and the JSON it polls, ``/api/v1/dashboard/data``.

The page loads no third-party code and makes no outside requests: it draws the dependency
graph itself as inline SVG from the ``graph.layers`` computed here. Parts owned by optional
components (infrastructure monitor, alerts, config service, dependency graph) are read with
``getattr`` and reported as ``null``/``error`` when missing or failing, so the page shows
what it can instead of failing whole.

The document shows the caller's tenant: with auth on that is its credential's tenant (or the
``X-Tenant-ID`` it sends); ``?tenant=`` picks another one, or ``all``, for a principal with
``admin`` and no tenant limit (the anonymous caller when auth is off) and is 403 for anyone
else. Global infrastructure alerts appear only for a caller without a tenant limit.

Every time in the document is RFC 3339 UTC with milliseconds (``2026-12-01T21:22:42.123Z``),
including those inside the documents borrowed from other capabilities: :func:`wire_times`
converts any epoch number still found under a time-named key.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from centralhub.auth.context import current_principal
from centralhub.auth.tenancy import may_choose_tenant, view_tenant
from centralhub.config.schemas import history_entry
from centralhub.core.errors import NotFound
from centralhub.core.schemas import ErrorRead
from centralhub.core.time import parse_rfc3339, rfc3339
from centralhub.dashboard.schemas import DashboardData
from centralhub.registry.models import Instance
from centralhub.registry.service import service_status
from centralhub.server.deps import HubDep, TenantDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["dashboard"])
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    # the graph's layout library, served from the package: the page works without internet
    "vendor/dagre.min.js": "text/javascript",
}
_NO_CACHE = {"Cache-Control": "no-cache"}
#: keys (besides ``*_at``) whose epoch-number values are times
TIME_KEYS = frozenset({"timestamp", "last_seen", "last_check", "status_since", "since", "until"})


@router.get("/dashboard", include_in_schema=False, response_class=FileResponse)
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html", headers=_NO_CACHE)


@router.get(
    "/dashboard/static/{name:path}",
    include_in_schema=False,
    response_class=FileResponse,
    responses={404: {"model": ErrorRead, "description": "No such dashboard file"}},
)
async def dashboard_asset(name: str) -> FileResponse:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFound(f"no dashboard file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=_NO_CACHE)


@router.get(
    "/api/v1/dashboard/data",
    summary="Everything the dashboard shows, in one document",
    response_model=DashboardData,
    responses={
        400: {"model": ErrorRead, "description": "The tenant is not a valid tenant name"},
        403: {"model": ErrorRead, "description": "Another tenant asked for without scope admin"},
        422: {"model": ErrorRead, "description": "A query parameter has the wrong type"},
    },
)
async def dashboard_data(hub: HubDep, caller: TenantDep, tenant: str | None = None) -> dict[str, Any]:
    chosen = view_tenant(tenant, caller)
    instances = hub.registry.all_instances(chosen)
    health = await _optional(hub.check_health)
    if isinstance(health, dict) and isinstance(health.get("timestamp"), int | float):
        # /health keeps epoch milliseconds at its top level; inside this document it is RFC 3339
        health["timestamp"] = rfc3339(health["timestamp"] / 1000)
    doc: dict[str, Any] = {
        "generated_at": rfc3339(time.time()),
        "tenant": chosen,
        "may_choose_tenant": may_choose_tenant(),
        "hub": {
            "version": hub.version,
            "uptime_seconds": round(time.time() - hub.started_at, 1),
            "storage": "sqlite" if hub.settings.is_sqlite else "postgresql",
            "event_bus": hub.bus.name,
            "health": health,
        },
        "caller": _caller(),
        "tenants": _tenants(hub) if may_choose_tenant() else None,
        "figures": hub.registry.figures(chosen),
        "services": services_of(instances),
        "graph": _graph(hub, chosen, instances),
        "infrastructure": await _optional(_attr_call(hub, "infrastructure", "status")),
        "alerts": await _optional(_attr_call(hub, "alerts", "recent", limit=20, tenant_id=chosen)),
        "config": await _recent_config(hub, chosen),
        "drift": await _optional(lambda: _drifted(hub, chosen)),
        "rollouts": await _optional(lambda: _rollouts(hub, chosen)),
        "deployments": [
            hub.deployments.describe(d) for d in await hub.deployments.get_all(chosen or "default", limit=10)
        ]
        if getattr(hub, "deployments", None) is not None
        else None,
    }
    return wire_times(doc)


def services_of(instances: list[Instance]) -> list[dict[str, Any]]:
    """Services with their instances, sorted by tenant and name."""
    groups: dict[tuple[str, str], list[Instance]] = {}
    for inst in instances:
        groups.setdefault((inst.tenant_id, inst.service_name), []).append(inst)
    out = []
    for (tenant, name), group in sorted(groups.items()):
        group.sort(key=lambda i: (i.registered_at, i.id))
        out.append(
            {
                "tenant_id": tenant,
                "name": name,
                "status": service_status(group),
                "instances": [
                    {
                        "instance_id": i.id,
                        "url": i.url,
                        "status": i.status.value,
                        "version": i.version,
                        "load": i.load,
                        "last_seen": rfc3339(i.last_seen),
                    }
                    for i in group
                ],
                "dependencies": sorted({d for i in group for d in i.dependencies}),
            }
        )
    return out


def layered(nodes: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Layers for drawing: a node sits one layer right of everything it depends on.

    Layer 0 holds what depends on nothing (start these first). Cycles are tolerated: a node
    on a cycle is placed once its depth stops changing or after ``len(nodes)`` rounds.
    """
    deps: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        deps.setdefault(a, set()).add(b)
        deps.setdefault(b, set())
    depth = dict.fromkeys(deps, 0)
    for _ in range(len(deps)):
        changed = False
        for n, targets in deps.items():
            want = max((depth[t] + 1 for t in targets), default=0)
            if want > depth[n] and want < len(deps):
                depth[n] = want
                changed = True
        if not changed:
            break
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in sorted(depth):
        layers[depth[n]].append(n)
    return [layer for layer in layers if layer]


def _graph(hub: Any, tenant: str | None, instances: list[Instance]) -> dict[str, Any]:
    status = {}
    for svc in services_of(instances):
        status[svc["name"]] = svc["status"]
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[tuple[str, str]] = []
    cycle = None
    source = "registry"
    builder = getattr(hub, "dependency_graph", None)
    if builder is not None:
        try:
            doc = builder.build(tenant).to_json()
            for n in doc["nodes"]:
                nodes[n["name"]] = {"name": n["name"], "kind": n.get("kind", "service")}
            edges = [(e["from"], e["to"]) for e in doc["edges"]]
            cycle = doc.get("cycle")
            source = "dependency_graph"
        except Exception as exc:  # show the registry's view rather than nothing
            log.warning("dependency graph unavailable for the dashboard: %s", exc)
            nodes, edges = {}, []
    if source == "registry":
        for inst in instances:
            nodes.setdefault(inst.service_name, {"name": inst.service_name, "kind": "service"})
            for dep in inst.dependencies:
                edges.append((inst.service_name, dep))
        edges = sorted(set(edges))
        for _, dep in edges:
            nodes.setdefault(dep, {"name": dep, "kind": "service"})
    infra = _infrastructure_status(hub)
    for name, node in nodes.items():
        if node["kind"] == "infrastructure":
            # the monitor's verdict, as the infrastructure panel shows it
            node["status"] = infra.get(name, status.get(name, "unknown"))
        else:
            node["status"] = status.get(name, "missing")
    return {
        "source": source,
        "nodes": [nodes[n] for n in sorted(nodes)],
        "edges": [{"from": a, "to": b} for a, b in edges],
        "layers": layered(sorted(nodes), edges),
        "cycle": cycle,
    }


async def _rollouts(hub: Any, tenant: str | None) -> list[dict[str, Any]] | None:
    """Configuration rollouts: every active one (with what each canary reports), then the
    latest that ended."""
    rollouts = getattr(hub, "config_rollouts", None)
    if rollouts is None:
        return None
    active = [r for r in rollouts.active.values() if tenant is None or r.tenant_id == tenant]
    ended = [r for r in await rollouts.recent(tenant or "default", limit=5) if not r.active]
    return [await rollouts.view(r) for r in sorted(active, key=lambda r: r.created_at) + ended]


async def _drifted(hub: Any, tenant: str | None) -> list[dict[str, Any]]:
    """Instances flagged by the last drift pass, with what they run and why."""
    drift = getattr(hub, "config_drift", None)
    if drift is None:
        return []
    found = []
    for (t, service), count in sorted(drift.drifted.items()):
        if count and (tenant is None or t == tenant):
            view = await drift.view(t, service)
            found += [{"tenant_id": t, "service": service, **i} for i in view["instances"] if i["drifted"]]
    return found


def _infrastructure_status(hub: Any) -> dict[str, str]:
    monitor = getattr(hub, "infrastructure", None)
    health = getattr(monitor, "health", None) or {}
    return {name: str(getattr(h, "status", "unknown")) for name, h in health.items()}


def _caller() -> dict[str, Any]:
    """Who the page acts as: its buttons show only what this caller may do."""
    principal = current_principal.get()
    return {"name": principal.name, "scopes": sorted(principal.scopes), "tenant": principal.tenant}


def _tenants(hub: Any) -> list[str]:
    """Tenants an admin may pick: every tenant with a registered instance, and the default."""
    return sorted({*hub.registry.service_index.tenants(), "default"})


async def _recent_config(hub: Any, tenant: str | None) -> list[dict[str, Any]] | None:
    service = getattr(hub, "config_service", None)
    if service is None:
        return None
    t = tenant or "default"
    out: list[dict[str, Any]] = []
    try:
        for name in (await service.services(t))[:50]:
            for version in await service.history(t, name, limit=3):
                out.append(history_entry(version))
    except Exception as exc:
        return [{"error": f"{type(exc).__name__}: {exc}"}]
    out.sort(key=lambda v: str(v.get("updated_at")), reverse=True)
    return out[:15]


def _attr_call(hub: Any, attr: str, method: str, **kwargs: Any) -> Callable[[], Any] | None:
    target = getattr(hub, attr, None)
    fn = getattr(target, method, None) if target is not None else None
    if fn is None:
        return None
    return lambda: fn(**kwargs)


async def _optional(fn: Callable[[], Any] | None) -> Any:
    """Call a maybe-async, maybe-missing source; ``None`` when missing, ``{"error"}`` when failing."""
    if fn is None:
        return None
    try:
        value = fn()
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        log.warning("dashboard source failed: %s", exc)
        return {"error": f"{type(exc).__name__}: {exc}"}
    return plain(value)


def wire_times(value: Any, key: str = "") -> Any:
    """``value`` with every time under a time-named key (``*_at``, ``timestamp``, ...) in RFC 3339
    with milliseconds and ``Z``: epoch seconds and other ISO 8601 spellings are converted, anything
    that does not read as a time is left alone."""
    if isinstance(value, dict):
        return {k: wire_times(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_times(v, key) for v in value]
    if not (key.endswith("_at") or key in TIME_KEYS) or isinstance(value, bool):
        return value
    try:
        if isinstance(value, int | float):
            return rfc3339(value)
        if isinstance(value, str):
            return rfc3339(parse_rfc3339(value))
    except (OverflowError, OSError, ValueError):
        pass  # not a time after all: pass it on as it came
    return value


def plain(value: Any) -> Any:
    """JSON-friendly copy of dataclasses, enums and objects with ``to_dict``."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return plain(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    return str(value)
