"""Contracts as values: the stored record and the event a change publishes (no I/O, no imports of ours)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: message type -> JSON Schema
Schemas = dict[str, dict[str, Any]]


@dataclass(slots=True)
class Contract:
    """One stored contract version of a service; ``revision`` counts accepted versions from 1."""

    tenant_id: str
    service_name: str
    version: str
    revision: int
    schemas: Schemas
    #: epoch seconds
    updated_at: float

    @property
    def message_types(self) -> list[str]:
        return sorted(self.schemas)


@dataclass(frozen=True, slots=True)
class ContractChanged:
    """After commit: a service's contract was stored (``present``) or dropped."""

    tenant_id: str
    service_name: str
    present: bool
    revision: int | None = None
    version: str | None = None
