"""Wire shapes of the keys API; a key's secret appears only in :class:`KeyCreated`, once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from centralhub.auth.models import ApiKey
from centralhub.core.schemas import NAME_PATTERN
from centralhub.core.time import rfc3339
from centralhub.core.wire import TENANT_PATTERN

ScopeName = Literal[
    "registry:read", "registry:write", "config:read", "config:write", "config:admin", "ops", "admin"
]
ServiceName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=128, description="unique name, shown as the actor")
    scopes: list[ScopeName] = Field(min_length=1, max_length=7)
    tenant: str | None = Field(None, pattern=TENANT_PATTERN, description="the key acts in this tenant only")
    services: list[ServiceName] | None = Field(
        None, max_length=1000, description="the key may write (register, heartbeat, config) only for these"
    )
    expires_in: str | Annotated[int, Field(gt=0)] | None = Field(
        None, max_length=32, description="lifetime: 30d, 12h, 15m or seconds; none = never expires"
    )
    rate_limit_per_minute: int | None = Field(None, ge=1, le=1_000_000)


class KeyRead(BaseModel):
    """A stored key, without its secret or hash."""

    name: str
    prefix: str
    scopes: list[str]
    tenant: str | None
    services: list[str] | None
    rate_limit_per_minute: int | None
    created_by: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyRead:
        return cls(
            name=key.name,
            prefix=key.prefix,
            scopes=sorted(key.scopes),
            tenant=key.tenant,
            services=None if key.services is None else sorted(key.services),
            rate_limit_per_minute=key.rate_limit_per_minute,
            created_by=key.created_by,
            created_at=rfc3339(key.created_at),
            expires_at=rfc3339(key.expires_at),
            revoked_at=rfc3339(key.revoked_at),
        )


class KeyCreated(KeyRead):
    #: the plaintext key: store it now, the hub keeps only a hash
    key: str


class KeyList(BaseModel):
    count: int
    keys: list[KeyRead]
