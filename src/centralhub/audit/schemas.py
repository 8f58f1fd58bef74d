"""HTTP shapes of the audit trail."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from centralhub.audit.models import AuditEntry
from centralhub.core.time import rfc3339


class AuditEntryRead(BaseModel):
    id: str
    at: str = Field(description="RFC 3339 UTC time of the write")
    actor: str = Field(description="key name, JWT subject, or anonymous when auth is off")
    address: str | None = Field(description="client address the write came from")
    tenant_id: str | None
    action: str = Field(examples=["config.set"])
    resource: str = Field(examples=["config/orders"])
    before: Any = None
    after: Any = None
    details: dict[str, Any] | None = None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryRead:
        return cls(
            id=entry.id,
            at=rfc3339(entry.at),
            actor=entry.actor,
            address=entry.address,
            tenant_id=entry.tenant_id,
            action=entry.action,
            resource=entry.resource,
            before=entry.before,
            after=entry.after,
            details=entry.details,
        )


class AuditListRead(BaseModel):
    count: int
    entries: list[AuditEntryRead]
