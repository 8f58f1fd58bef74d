"""Request and response bodies of the contracts API (…Create for input, …Read for output)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from centralhub.contracts.models import Contract
from centralhub.core.time import rfc3339

SchemasField = Field(..., min_length=1, max_length=256, description="message type -> JSON Schema")


class ContractCreate(BaseModel):
    """A new contract version: ``schemas`` maps message types to JSON Schemas."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "version": "1.0.0",
                "schemas": {
                    "price.tick": {
                        "type": "object",
                        "required": ["symbol", "price"],
                        "properties": {"symbol": {"type": "string"}, "price": {"type": "number"}},
                    }
                },
            }
        }
    )

    version: str | None = Field(None, min_length=1, max_length=64, description="defaults to the revision")
    schemas: dict[str, dict[str, Any]] = SchemasField
    force: bool = Field(False, description="store it even when it breaks the current version")


class CompatibilityCheck(BaseModel):
    """Schemas to compare with the current contract, without storing them."""

    schemas: dict[str, dict[str, Any]] = SchemasField


class ContractRead(BaseModel):
    service_name: str
    tenant_id: str
    version: str
    revision: int = Field(..., description="accepted versions counted from 1")
    message_types: list[str]
    schemas: dict[str, dict[str, Any]]
    updated_at: str = Field(..., description="RFC 3339 UTC, milliseconds")

    @classmethod
    def of(cls, contract: Contract) -> ContractRead:
        return cls(
            service_name=contract.service_name,
            tenant_id=contract.tenant_id,
            version=contract.version,
            revision=contract.revision,
            message_types=contract.message_types,
            schemas=contract.schemas,
            updated_at=rfc3339(contract.updated_at),
        )


class ContractStored(ContractRead):
    """The stored version, with the breaking changes a forced put accepted."""

    breaking_changes: list[str]


class ContractList(BaseModel):
    tenant_id: str
    count: int
    contracts: list[ContractRead]


class CompatibilityRead(BaseModel):
    service_name: str
    compatible: bool
    breaking_changes: list[str]
    current_version: str | None = Field(..., description="null when the service has no contract yet")
