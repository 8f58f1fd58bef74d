"""Request and response bodies of the deployments API (…Create for input, …Read for output)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from centralhub.core.schemas import NAME_PATTERN

Rfc3339 = Field(..., description="RFC 3339 UTC with milliseconds; null until it happened")


class DeploymentCreate(BaseModel):
    """What to deploy: service, new version, instances per batch and the deadline of each batch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "service": "trading-engine",
                "version": "v2.1.0",
                "strategy": "rolling",
                "batch_size": 2,
            }
        },
    )

    service: str = Field(..., min_length=1, max_length=128, pattern=NAME_PATTERN)
    version: str = Field(..., min_length=1, max_length=64)
    strategy: str = Field("rolling", pattern=r"^rolling$", description="only 'rolling' for now")
    batch_size: int = Field(1, ge=1, le=1000)
    deadline_seconds: float = Field(300.0, gt=0, le=86400, description="per batch")
    drain_seconds: float | None = Field(
        None,
        ge=0,
        le=86400,
        description="after success, how long replaced instances stay draining (from when their batch "
        "drained) before they are deregistered; default CENTRAL_HUB_DEPLOYMENT_DRAIN_SECONDS",
    )


class DeploymentInstanceRead(BaseModel):
    instance_id: str
    status: str = Field(..., description="the instance's current status, or 'gone' once deregistered")
    version: str | None
    url: str | None


class BatchRead(BaseModel):
    index: int
    state: str = Field(..., description="pending|waiting|done|failed|cancelled")
    instances: list[DeploymentInstanceRead] = Field(..., description="old instances this batch drains")
    replacements: list[DeploymentInstanceRead] = Field(..., description="new-version instances counted")
    started_at: str | None = Rfc3339
    finished_at: str | None = Rfc3339
    error: str | None


class ProgressRead(BaseModel):
    batches_done: int
    batches_total: int


class DeploymentRead(BaseModel):
    id: str
    tenant_id: str
    service: str
    version: str
    strategy: str
    batch_size: int
    deadline_seconds: float
    drain_seconds: float
    state: str = Field(..., description="pending|running|succeeded|failed|cancelled")
    progress: ProgressRead
    batches: list[BatchRead]
    created_at: str = Field(..., description="RFC 3339 UTC with milliseconds")
    started_at: str | None = Rfc3339
    finished_at: str | None = Rfc3339
    error: str | None
    owner: str | None = Field(None, description="the hub replica running it (null while handed over)")
    lease_expires_at: str | None = Field(
        None, description="RFC 3339; another replica adopts it if the owner has not renewed by then"
    )
    cancel_requested_at: str | None = Field(None, description="RFC 3339; a cancel asked for")
    retire_at: str | None = Field(
        None, description="RFC 3339; after success, when replaced instances are deregistered (null once done)"
    )


class DeploymentList(BaseModel):
    tenant_id: str
    count: int
    deployments: list[DeploymentRead]
