"""Response models of the replica membership API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReplicaRead(BaseModel):
    """One hub replica as the membership table holds it."""

    replica_id: str
    hostname: str
    pid: int
    started_at: str = Field(description="RFC 3339, UTC")
    last_seen: str = Field(description="when it last renewed its lease (RFC 3339, UTC)")
    lease_expires_at: str = Field(description="RFC 3339, UTC; past it, the replica counts as dead")
    live: bool = Field(description="whether it takes a share of the health checks now")
    this_replica: bool = Field(description="whether this is the replica that answered")


class ReplicaList(BaseModel):
    """The replicas sharing this hub's database, live and recently dead."""

    replica_id: str = Field(description="the replica that answered")
    lease_seconds: float
    replicas: list[ReplicaRead]
