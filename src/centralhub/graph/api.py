"""The dependency graph: export, startup order, impact analysis (issue 4.4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import PlainTextResponse, Response

from centralhub.core.schemas import ErrorRead
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["dependencies"])
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorRead}, 409: {"model": ErrorRead}}


@router.get(
    "/api/v1/dependencies",
    responses=ERRORS,
    summary="The graph as JSON, Graphviz DOT or Mermaid",
    response_model=None,
)
async def dependencies(
    hub: HubDep,
    tenant: TenantDep,
    format: Annotated[Literal["json", "dot", "mermaid"], Query(description="json|dot|mermaid")] = "json",
) -> dict[str, Any] | Response:
    graph = hub.dependency_graph.build(tenant)
    if format == "dot":
        return PlainTextResponse(graph.to_dot(), media_type="text/vnd.graphviz")
    if format == "mermaid":
        return PlainTextResponse(graph.to_mermaid())
    return graph.to_json()


@router.get(
    "/api/v1/dependencies/order",
    responses=ERRORS,
    summary="Startup order (dependencies first); 409 naming the cycle if there is one",
)
async def startup_order(hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    graph = hub.dependency_graph.build(tenant)
    return {"order": graph.startup_order(), "levels": graph.startup_levels()}


@router.get(
    "/api/v1/dependencies/{name}/impact",
    responses=ERRORS,
    summary="Everything transitively affected if NAME is down",
)
async def impact(name: str, hub: HubDep, tenant: TenantDep) -> dict[str, Any]:
    return hub.dependency_graph.build(tenant).impact(name)
