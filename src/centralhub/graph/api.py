"""The dependency graph: export, startup order, impact analysis."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import PlainTextResponse

from centralhub.core.schemas import ErrorRead
from centralhub.graph.schemas import GraphRead, ImpactRead, StartupOrderRead
from centralhub.server.deps import HubDep, TenantDep

router = APIRouter(tags=["dependencies"])
BAD_REQUEST: dict[int | str, dict[str, Any]] = {400: {"model": ErrorRead}, 422: {"model": ErrorRead}}


@router.get(
    "/api/v1/dependencies",
    response_model=GraphRead,
    response_model_by_alias=True,
    responses={
        200: {"content": {"text/vnd.graphviz": {}, "text/plain": {}}, "description": "JSON, DOT or Mermaid"},
        **BAD_REQUEST,
    },
    summary="The graph as JSON, Graphviz DOT or Mermaid",
)
async def dependencies(
    hub: HubDep,
    tenant: TenantDep,
    format: Annotated[Literal["json", "dot", "mermaid"], Query(description="json|dot|mermaid")] = "json",
) -> Any:
    graph = hub.dependency_graph.build(tenant)
    if format == "dot":
        return PlainTextResponse(graph.to_dot(), media_type="text/vnd.graphviz")
    if format == "mermaid":
        return PlainTextResponse(graph.to_mermaid())
    return graph.to_json()


@router.get(
    "/api/v1/dependencies/order",
    response_model=StartupOrderRead,
    responses={**BAD_REQUEST, 409: {"model": ErrorRead, "description": "the dependencies contain a cycle"}},
    summary="Startup order (dependencies first); 409 naming the cycle if there is one",
)
async def startup_order(hub: HubDep, tenant: TenantDep) -> StartupOrderRead:
    graph = hub.dependency_graph.build(tenant)
    order = graph.startup_order()
    return StartupOrderRead(order=order, levels=graph.startup_levels(order))


@router.get(
    "/api/v1/dependencies/{name}/impact",
    response_model=ImpactRead,
    responses={**BAD_REQUEST, 404: {"model": ErrorRead}},
    summary="Everything transitively affected if NAME is down",
)
async def impact(name: str, hub: HubDep, tenant: TenantDep) -> ImpactRead:
    return ImpactRead(**hub.dependency_graph.build(tenant).impact(name))
