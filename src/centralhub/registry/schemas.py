"""Request and response models at the HTTP edge (…Create for input, …Read for output)."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from centralhub.core.schemas import Text, control_character_in
from centralhub.core.wire import NAME_PATTERN
from centralhub.registry.models import Registration

MAX_METADATA_BYTES = 64 * 1024
#: most heartbeats one batch may carry; each may cost a lookup, so the batch is bounded
MAX_BATCH_HEARTBEATS = 1000
PROTOCOLS = ("http", "https", "grpc", "tcp", "udp", "ws", "wss", "nats", "kafka")


class CheckSpec(BaseModel):
    """How the hub checks an instance; absent means ``http`` with a health endpoint, else ``ttl``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["http", "tcp", "ttl"] = "ttl"
    #: at least a second: a tighter loop is load on the hub and the instance, not information
    interval_seconds: float = Field(10.0, ge=1, le=3600)
    timeout_seconds: float = Field(2.0, gt=0, le=60)
    failures_before_critical: int = Field(3, ge=1, le=100)
    successes_before_passing: int = Field(2, ge=1, le=100)

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> CheckSpec:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds:g}) must not exceed interval_seconds"
                f" ({self.interval_seconds:g})"
            )
        return self


class RegistrationCreate(BaseModel):
    """The registration body the README shows, plus optional extras.

    A field the hub does not know is refused rather than dropped: a misspelt ``healthcheck`` or
    ``ttl`` silently ignored would leave the instance unchecked or on the default TTL, which the
    caller finds out only when it matters."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "api-gateway",
                "host": "suho-api-gateway",
                "port": 8000,
                "protocol": "http",
                "health_endpoint": "/health",
                "metadata": {"type": "api-gateway", "capabilities": ["http", "websocket"]},
            }
        },
    )

    name: str = Field(..., min_length=1, max_length=128, pattern=NAME_PATTERN)
    host: str = Field(..., min_length=1, max_length=255)
    port: int = Field(..., ge=1, le=65535)
    protocol: str = "http"
    health_endpoint: Text | None = Field(None, max_length=1024)
    version: Text | None = Field(None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[Text] = Field(default_factory=list, max_length=64)
    weight: int = Field(1, ge=0, le=1000)
    ttl_seconds: int = Field(30, ge=1, le=86400)
    transport_preferences: list[Text] = Field(default_factory=list, max_length=8)
    dependencies: list[Text] = Field(default_factory=list, max_length=256)
    check: CheckSpec | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip()
        if not v or any(c.isspace() or not c.isprintable() for c in v) or "/" in v:
            raise ValueError(
                "host must be a hostname or IP address without spaces, slashes or control characters"
            )
        return v

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, v: str) -> str:
        v = v.lower()
        if v not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(orjson.dumps(v))
        except orjson.JSONEncodeError:
            raise ValueError(
                "metadata must hold integers within 64 bits and nest fewer than 250 levels"
            ) from None
        if size > MAX_METADATA_BYTES:
            # its own error type, so the error handler answers 413 without reading the message
            raise PydanticCustomError(
                "payload_too_large",
                "metadata is larger than {limit} KiB",
                {"limit": MAX_METADATA_BYTES // 1024},
            )
        found = control_character_in(v)
        if found is not None:
            raise ValueError(f"metadata must not contain control characters (found {found!r})")
        return v

    def to_domain(self) -> Registration:
        deps = list(self.dependencies)
        meta_deps = self.metadata.get("dependencies")
        if isinstance(meta_deps, list):
            deps += [d for d in meta_deps if isinstance(d, str) and d not in deps]
        check = self.check.model_dump() if self.check is not None else None
        if check is None and self.health_endpoint and self.metadata.get("check_type") in ("http", "tcp"):
            check = CheckSpec(type=self.metadata["check_type"]).model_dump()
        return Registration(
            name=self.name,
            host=self.host,
            port=self.port,
            protocol=self.protocol,
            health_endpoint=self.health_endpoint,
            version=self.version,
            metadata=self.metadata,
            tags=self.tags,
            weight=self.weight,
            ttl_seconds=self.ttl_seconds,
            transport_preferences=self.transport_preferences,
            dependencies=deps,
            check=check,
        )


class InstanceRead(BaseModel):
    """One registered instance; times are RFC 3339 UTC with milliseconds."""

    instance_id: str
    service_name: str
    tenant_id: str
    host: str
    port: int
    protocol: str
    url: str
    health_endpoint: str | None
    version: str | None
    metadata: dict[str, Any]
    tags: list[str]
    status: Literal["passing", "warning", "critical", "draining"]
    weight: int
    load: float
    ttl_seconds: int
    registered_at: str = Field(..., examples=["2026-12-01T21:22:42.123Z"])
    last_seen: str = Field(..., description="time of the last heartbeat (or registration)")
    critical_since: str | None = Field(None, description="when TTL expiry made it critical")
    transport_preferences: list[str]
    contract_validated: bool
    dependencies: list[str]
    check: dict[str, Any] | None


class RegistrationRead(BaseModel):
    status: str = "registered"
    instance_id: str
    service_name: str
    tenant_id: str
    created: bool
    ttl_seconds: int
    heartbeat_interval_seconds: float
    instance: InstanceRead


class ServiceRead(BaseModel):
    """A service with its instances (those in the requested status when filtered)."""

    name: str
    tenant_id: str
    status: Literal["healthy", "degraded", "critical"]
    instance_count: int
    healthy_count: int
    instances: list[InstanceRead]


class ServiceListRead(BaseModel):
    tenant_id: str
    count: int = Field(..., description="services on this page")
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on the last")
    services: list[ServiceRead]


class HeartbeatBody(BaseModel):
    """Optional body of a heartbeat; an empty body (or ``null``) reports no load."""

    model_config = ConfigDict(extra="ignore")

    load: float | None = Field(None, ge=0)
    metrics: dict[str, float] | None = Field(
        None,
        description="measurements for the alert rules: name -> number (latency_ms, error_rate, ...)",
    )


class HeartbeatRead(BaseModel):
    status: str
    instance_id: str
    ttl_seconds: int


class EndpointRead(BaseModel):
    instance_id: str
    service_name: str
    host: str
    port: int
    url: str
    weight: int
    load: float
    protocol: str
    status: str
    version: str | None


class BatchHeartbeat(BaseModel):
    service: Text = Field(..., min_length=1, max_length=128)
    instance_id: Text = Field(..., min_length=1, max_length=64)
    load: float | None = Field(None, ge=0)


class BatchHeartbeatBody(BaseModel):
    heartbeats: list[BatchHeartbeat] = Field(
        ...,
        max_length=MAX_BATCH_HEARTBEATS,
        description=f"at most {MAX_BATCH_HEARTBEATS} heartbeats; a larger batch is refused with 422",
    )


class BatchHeartbeatResult(BaseModel):
    instance_id: str
    status: str = Field(..., description="the instance's status, or ``unknown``")


class BatchHeartbeatRead(BaseModel):
    stored: int
    results: list[BatchHeartbeatResult]


class RegistryFiguresRead(BaseModel):
    status: str
    tenant_id: str
    services: int
    instances: int
    instances_by_status: dict[str, int]


#: most registrations one batch may carry: each is a row of one statement and an event
MAX_BATCH_REGISTRATIONS = 1000


class RegistrationBatchCreate(BaseModel):
    """Many registrations in one request (a process hosting many instances, or a fleet's agent)."""

    instances: list[RegistrationCreate] = Field(
        ...,
        min_length=1,
        max_length=MAX_BATCH_REGISTRATIONS,
        description=f"1 to {MAX_BATCH_REGISTRATIONS} registrations; a larger batch is refused with 422",
    )


class ItemError(BaseModel):
    code: str
    message: str


class RegistrationBatchItem(BaseModel):
    """One item's outcome: the registration answer, or the error that kept it from being stored."""

    index: int
    status: Literal["registered", "error"]
    instance_id: str | None = None
    service_name: str
    created: bool | None = None
    ttl_seconds: int | None = None
    heartbeat_interval_seconds: float | None = None
    instance: InstanceRead | None = None
    error: ItemError | None = None


class RegistrationBatchRead(BaseModel):
    tenant_id: str
    stored: int
    failed: int
    results: list[RegistrationBatchItem]
