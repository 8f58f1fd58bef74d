"""The backup file: one versioned JSON document, and the checks a document must pass to be restored.

A backup holds one section per stored table, each a list of rows with the table's columns as
keys. Times are RFC 3339 UTC with microseconds (so a restore stores exactly what was read),
JSON columns are kept as they are, and API keys carry only their SHA-256 hash. Every row is
checked against its table before anything is written; an error names the section, the row
and the field (``config_versions[12].revision: must be an integer``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Table

from centralhub.auth.models import ALL_SCOPES
from centralhub.core import tables, wire
from centralhub.core.errors import InvalidInput

FORMAT = "centralhub-backup"
VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
_STATUSES = frozenset({"passing", "warning", "critical", "draining"})


class InvalidBackup(InvalidInput):
    """The document is not a backup this hub can restore; nothing was written."""

    code = "invalid_backup"
    http_status = 422


@dataclass(frozen=True, slots=True)
class Section:
    """One table in the document: its rows sorted by ``order`` and told apart by ``key``."""

    name: str
    table: Table
    key: tuple[str, ...]
    order: tuple[str, ...]
    #: columns the database assigns (left out of the file)
    skip: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [str(c.name) for c in self.table.columns if c.name not in self.skip]


#: in restore order; every section holds data, except ``api_keys``, which a hub may already have
SECTIONS: tuple[Section, ...] = (
    Section(
        "config_versions",
        tables.config_versions,
        ("tenant_id", "service_name", "revision"),
        ("tenant_id", "service_name", "revision"),
        skip=("id",),
    ),
    Section(
        "config_schemas",
        tables.config_schemas,
        ("tenant_id", "service_name"),
        ("tenant_id", "service_name"),
    ),
    Section(
        "contracts", tables.service_contracts, ("tenant_id", "service_name"), ("tenant_id", "service_name")
    ),
    Section("alerts", tables.alerts, ("id",), ("created_at", "id")),
    Section("silences", tables.alert_silences, ("id",), ("created_at", "id")),
    # after the others: a registry the database refuses (two instances on one endpoint) shows
    # that a restore is all or nothing
    Section("registry", tables.service_instances, ("id",), ("tenant_id", "service_name", "id")),
    Section("api_keys", tables.api_keys, ("name",), ("name",)),
)
DATA_SECTIONS = tuple(s for s in SECTIONS if s.name != "api_keys")
BY_NAME = {s.name: s for s in SECTIONS}


def format_time(value: datetime) -> str:
    """``2026-12-01T21:22:42.123456Z``: UTC with microseconds, so a restore loses nothing."""
    if value.tzinfo is None:  # SQLite hands aware columns back naive; they were written as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_row(section: Section, row: Any) -> dict[str, Any]:
    """A table row as the file holds it."""
    out: dict[str, Any] = {}
    for name in section.columns:
        value = row._mapping[name]
        out[name] = format_time(value) if isinstance(value, datetime) else value
    return out


# ---------------------------------------------------------------- reading a document
def _decode_value(where: str, column: Any, value: Any) -> Any:
    if value is None:
        if not column.nullable:
            raise InvalidBackup(f"{where}: must not be null")
        return None
    kind = column.type
    if isinstance(kind, Boolean):
        if not isinstance(value, bool):
            raise InvalidBackup(f"{where}: must be true or false")
    elif isinstance(kind, Integer):
        # the columns are 32-bit on PostgreSQL
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
            raise InvalidBackup(f"{where}: must be an integer (32-bit)")
    elif isinstance(kind, DateTime):
        if not isinstance(value, str):
            raise InvalidBackup(f"{where}: must be an RFC 3339 time")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidBackup(f"{where}: must be an RFC 3339 time (got {value[:40]!r})") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    elif isinstance(kind, String):
        if not isinstance(value, str):
            raise InvalidBackup(f"{where}: must be a string")
        if kind.length is not None and len(value) > kind.length:
            raise InvalidBackup(f"{where}: longer than {kind.length} characters")
        if "\x00" in value:
            raise InvalidBackup(f"{where}: must not hold NUL characters")
    elif isinstance(kind, JSON):
        return value
    return value


def decode_row(section: Section, index: int, raw: Any) -> dict[str, Any]:
    """A row of the file as values for its table; ``InvalidBackup`` naming the first problem."""
    where = f"{section.name}[{index}]"
    if not isinstance(raw, dict):
        raise InvalidBackup(f"{where}: must be an object")
    unknown = sorted(set(raw) - set(section.columns))
    if unknown:
        raise InvalidBackup(f"{where}: unknown field {unknown[0]!r}")
    row: dict[str, Any] = {}
    for name in section.columns:
        column = section.table.columns[name]
        if name not in raw and not column.nullable:
            raise InvalidBackup(f"{where}.{name}: required")
        row[name] = _decode_value(f"{where}.{name}", column, raw.get(name))
    _check_meaning(section.name, where, row)
    return row


def _check_meaning(name: str, where: str, row: dict[str, Any]) -> None:
    """What the columns' types cannot say but the hub relies on."""
    if "service_name" in row and not wire.is_service_name(row["service_name"]):
        raise InvalidBackup(f"{where}.service_name: {row['service_name']!r} is not a valid service name")
    if name == "registry" and row["status"] not in _STATUSES:
        raise InvalidBackup(f"{where}.status: must be one of {', '.join(sorted(_STATUSES))}")
    if name in ("config_versions", "config_schemas", "contracts"):
        document = row.get("config", row.get("json_schema", row.get("schemas")))
        if not isinstance(document, dict):
            raise InvalidBackup(f"{where}: the document must be a JSON object")
    if name == "config_versions" and row["revision"] < 1:
        raise InvalidBackup(f"{where}.revision: must be 1 or more")
    if name == "api_keys":
        if not _HEX64.fullmatch(row["key_hash"]):
            raise InvalidBackup(f"{where}.key_hash: must be a SHA-256 hash (64 lowercase hex digits)")
        scopes = row["scopes"]
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s in ALL_SCOPES for s in scopes):
            raise InvalidBackup(f"{where}.scopes: must be a list of {', '.join(sorted(ALL_SCOPES))}")


def check_revisions(rows: list[dict[str, Any]]) -> None:
    """Every service's revisions must run 1..N: the hub numbers versions without gaps."""
    seen: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        seen.setdefault((row["tenant_id"], row["service_name"]), []).append(row["revision"])
    for (tenant, service), revisions in seen.items():
        if sorted(revisions) != list(range(1, len(revisions) + 1)):
            raise InvalidBackup(
                f"config_versions: the revisions of {tenant}/{service} must run 1..{len(revisions)} "
                "without gaps or repeats"
            )


def read_document(document: Any) -> dict[str, list[dict[str, Any]]]:
    """Every section of a backup document as table rows, checked; ``InvalidBackup`` otherwise."""
    if not isinstance(document, dict):
        raise InvalidBackup("the backup must be a JSON object")
    if document.get("format") != FORMAT:
        raise InvalidBackup(f"format: must be {FORMAT!r} (got {str(document.get('format'))[:60]!r})")
    if document.get("version") != VERSION:
        raise InvalidBackup(
            f"version: this hub restores version {VERSION} (got {str(document.get('version'))[:20]!r})"
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for section in SECTIONS:
        raw = document.get(section.name, [])
        if not isinstance(raw, list):
            raise InvalidBackup(f"{section.name}: must be a list")
        rows = [decode_row(section, i, r) for i, r in enumerate(raw)]
        keys = [tuple(r[k] for k in section.key) for r in rows]
        if len(set(keys)) != len(keys):
            first = next(k for k in keys if keys.count(k) > 1)
            raise InvalidBackup(f"{section.name}: {'/'.join(map(str, first))} appears more than once")
        out[section.name] = rows
    check_revisions(out["config_versions"])
    hashes = [r["key_hash"] for r in out["api_keys"]]
    if len(set(hashes)) != len(hashes):
        raise InvalidBackup("api_keys: two keys have the same key_hash")
    return out


# ---------------------------------------------------------------- answers
class RestoreResult(BaseModel):
    """``POST /api/v1/admin/restore``: what was written, in one transaction."""

    status: str = "restored"
    replaced: bool = Field(description="Whether the hub's data was replaced (replace=true)")
    restored: dict[str, int] = Field(description="Rows written per section")
    kept_keys: list[str] = Field(description="API keys already on this hub with the same name and hash")
    alert_rules_match: bool = Field(
        description="Whether this hub's alert rules (from its infrastructure file) equal the backup's; "
        "rules are configuration files and are not restored"
    )
    source_created_at: str | None = None
