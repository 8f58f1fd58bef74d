"""Request and response bodies of the configuration API, as ``/openapi.json`` documents them.

A stored document is any JSON object, so it appears as ``dict[str, Any]``; timestamps are RFC 3339
UTC with milliseconds (``core.time.rfc3339``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from centralhub.config.models import ConfigVersion, ValidationIssue
from centralhub.core.time import rfc3339

#: the OpenAPI description of a body that is itself the configuration document
DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "The configuration document itself: a JSON object, at most 64 levels deep",
                }
            }
        },
    }
}

_PATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "description": "A JSON merge patch (RFC 7396): objects merge recursively, null deletes a key",
}
PATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _PATCH_SCHEMA},
            "application/merge-patch+json": {"schema": _PATCH_SCHEMA},
        },
    }
}


class ConfigHistoryEntry(BaseModel):
    """One stored version without its document."""

    service_name: str
    tenant_id: str
    version: str
    revision: int
    updated_at: str = Field(description="RFC 3339 UTC, e.g. 2026-12-01T21:22:42.123Z")
    updated_by: str
    message: str | None
    source: str

    @classmethod
    def of(cls, version: ConfigVersion) -> ConfigHistoryEntry:
        return cls(
            service_name=version.service_name,
            tenant_id=version.tenant_id,
            version=version.version,
            revision=version.revision,
            updated_at=rfc3339(version.created_at),
            updated_by=version.author,
            message=version.message,
            source=version.source,
        )


class ConfigRead(BaseModel):
    """A stored version with its document (``GET /api/v1/config/{service}``)."""

    service_name: str
    tenant_id: str
    version: str
    revision: int
    config: dict[str, Any]
    updated_at: str = Field(description="RFC 3339 UTC, e.g. 2026-12-01T21:22:42.123Z")
    updated_by: str
    message: str | None
    source: str
    secrets: list[str] = Field(
        default_factory=list,
        description='Paths of "x-secret" values: encrypted at rest, plain only to config:read on the service',
    )
    global_revision: int = Field(
        0, description="the global configuration's revision merged under the service's own (0: none)"
    )

    @classmethod
    def of(cls, version: ConfigVersion) -> ConfigRead:
        return cls(
            config=version.config,
            secrets=list(version.secrets),
            global_revision=version.global_revision,
            **ConfigHistoryEntry.of(version).model_dump(),
        )


def history_entry(version: ConfigVersion) -> dict[str, Any]:
    """A history entry as plain JSON-ready data (the dashboard's recent changes)."""
    return ConfigHistoryEntry.of(version).model_dump()


class ConfigHistoryRead(BaseModel):
    service_name: str
    count: int
    history: list[ConfigHistoryEntry]


class ConfigListRead(BaseModel):
    tenant_id: str
    count: int
    services: list[str]


class VersionRef(BaseModel):
    version: str
    revision: int


class ConfigWritten(BaseModel):
    """The answer to a stored change; ``broadcast`` says whether the bus carried it."""

    status: str = "success"
    message: str
    service_name: str
    version: str
    revision: int
    broadcast: bool


class ConfigRolledBack(ConfigWritten):
    rolled_back_to: VersionRef


class RollbackRequest(BaseModel):
    """``POST .../rollback``: the version (``1.0.0``) or revision (``1``) to make current again."""

    model_config = ConfigDict(extra="allow")

    version: str | int
    message: str | None = None


class ChangeRead(BaseModel):
    """One leaf change; ``old`` is absent from an addition, ``new`` from a removal."""

    path: str
    op: str = Field(description="added | removed | changed")
    old: Any = None
    new: Any = None


class ConfigDiffRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    service_name: str
    from_: VersionRef = Field(alias="from")
    to: VersionRef
    changes: list[ChangeRead]


class IssueRead(BaseModel):
    path: str
    message: str


def issues_read(issues: list[ValidationIssue]) -> list[IssueRead]:
    return [IssueRead(path=i.path, message=i.message) for i in issues]


class ValidationRead(BaseModel):
    valid: bool
    errors: list[IssueRead]


class SchemaSet(BaseModel):
    """The schema is stored; ``errors`` lists what the current version breaks under it."""

    service_name: str
    status: str = "success"
    current_version_valid: bool
    errors: list[IssueRead]


class FileRef(BaseModel):
    file: str
    service_name: str


class FileLoaded(FileRef):
    version: str
    revision: int


class FileRejectedRead(BaseModel):
    file: str
    line: int | None
    service_name: str | None
    message: str


class ReloadResult(BaseModel):
    directory: str
    reloaded_at: str = Field(description="RFC 3339 UTC")
    loaded: list[FileLoaded]
    unchanged: list[FileRef]
    rejected: list[FileRejectedRead]


class ReloadStatus(BaseModel):
    enabled: bool
    watching: bool
    directory: str
    reloads: int
    last_result: ReloadResult | None
    rejected: list[FileRejectedRead]
