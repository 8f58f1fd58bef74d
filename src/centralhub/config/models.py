"""Configuration values as plain dataclasses: a stored version, a validation issue, a change.

A leaf module: it imports nothing of ours, so every other part of the capability (and any
consumer of :class:`ConfigChanged`) can use it without pulling in storage or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ConfigVersion:
    """One immutable stored version of a (tenant, service) configuration document.

    ``created_at`` is epoch seconds; the API shows it as ``updated_at`` (RFC 3339) because the
    newest version's creation is when the configuration was last updated."""

    tenant_id: str
    service_name: str
    revision: int
    version: str
    config: dict[str, Any]
    author: str
    created_at: float
    message: str | None = None
    source: str = "api"
    #: dotted paths of the values stored encrypted (``x-secret``), whether shown plain or masked
    secrets: tuple[str, ...] = ()
    #: in an effective configuration: the global document's revision it was merged with
    global_revision: int = 0


@dataclass(slots=True)
class ValidationIssue:
    """One reason a document breaks its service's JSON Schema; ``path`` is dotted (``$`` = root)."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(slots=True)
class Change:
    """One difference between two documents, addressed by a dotted path."""

    path: str
    op: str  # added | removed | changed
    old: Any = None
    new: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``old`` is left out of an addition and ``new`` out of a removal."""
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.op != "added":
            out["old"] = self.old
        if self.op != "removed":
            out["new"] = self.new
        return out


@dataclass(slots=True)
class ConfigDiff:
    """The leaf changes from one stored version to another of the same service."""

    service_name: str
    old: ConfigVersion
    new: ConfigVersion
    changes: list[Change]


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """Emitted after a new configuration version is committed (metrics, dashboard feed).

    ``broadcast`` says whether the change also went out on the event bus to other replicas
    and clients."""

    version: ConfigVersion
    broadcast: bool
