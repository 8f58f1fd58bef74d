"""Response bodies of the dependency graph API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class NodeRead(BaseModel):
    name: str
    kind: str = Field(..., description="service|infrastructure|unknown")


class EdgeRead(BaseModel):
    """``from`` depends on ``to``."""

    model_config = {"populate_by_name": True}

    from_: str = Field(..., alias="from")
    to: str


class GraphRead(BaseModel):
    nodes: list[NodeRead]
    edges: list[EdgeRead]
    cycle: list[str] | None = Field(..., description="one dependency cycle, first node repeated last")
    startup_order: list[str] | None = Field(..., description="null while there is a cycle")


class StartupOrderRead(BaseModel):
    order: list[str] = Field(..., description="dependencies first, ties alphabetical")
    levels: list[list[str]] = Field(..., description="waves that may each start in parallel")


class ImpactRead(BaseModel):
    name: str
    kind: str
    direct: list[str] = Field(..., description="what depends on NAME directly")
    affected: list[str] = Field(..., description="everything affected, nearest first")
    depth: dict[str, int] = Field(..., description="distance of each affected node from NAME")
