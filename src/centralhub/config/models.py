"""Configuration versions as values: the stored record, version numbering, diff and merge patch.

Nothing here does I/O; ``ConfigService`` (``domain/config.py``) and the repository build on it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from centralhub.core.errors import HubError, InvalidInput

#: service names become NATS subject tokens and file stems, so no dots, slashes or spaces
SERVICE_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
SOURCES = ("api", "patch", "rollback", "hot_reload")
#: revisions fit a signed 64-bit column on every backend
MAX_REVISION = 2**62
#: how deeply a stored document may nest (responses are serialized by orjson, which stops at 254)
MAX_DEPTH = 64


def parse_revision(text: str) -> int | None:
    """``text`` as a revision number, or ``None`` when it is not one (``str.isdigit`` also
    accepts characters such as ``²`` that ``int`` refuses, hence the ASCII check)."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_REVISION else None


def check_document(document: Any, what: str = "body") -> None:
    """Refuse JSON that the hub could store but not serve back: deep nesting, huge integers."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{what}: nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, int) and not isinstance(node, bool) and not -(2**63) <= node < 2**64:
            raise InvalidInput(f"{what}: integer {str(node)[:20]}… does not fit in 64 bits")


class ConfigValidationError(HubError):
    """A configuration breaks its service's JSON Schema; ``details`` lists ``{path, message}``.

    Answers 422: ``http_status`` records it in the one status table in ``core/errors.py``."""

    code = "config_invalid"
    http_status = 422


@dataclass(slots=True)
class ConfigVersion:
    """One immutable stored version of a (tenant, service) configuration document."""

    tenant_id: str
    service_name: str
    revision: int
    version: str
    config: dict[str, Any]
    author: str
    created_at: float
    message: str | None = None
    source: str = "api"

    @property
    def updated_at_iso(self) -> str:
        return datetime.fromtimestamp(self.created_at, tz=UTC).isoformat()

    def to_read(self) -> dict[str, Any]:
        """The ``GET /api/v1/config/{service}`` body."""
        return {
            "service_name": self.service_name,
            "tenant_id": self.tenant_id,
            "version": self.version,
            "revision": self.revision,
            "config": self.config,
            "updated_at": self.updated_at_iso,
            "updated_by": self.author,
            "message": self.message,
            "source": self.source,
        }

    def to_history(self) -> dict[str, Any]:
        """A history entry: everything but the document itself."""
        body = self.to_read()
        del body["config"]
        return body


@dataclass(slots=True)
class ValidationIssue:
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
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.op != "added":
            out["old"] = self.old
        if self.op != "removed":
            out["new"] = self.new
        return out


def check_service_name(name: str) -> str:
    if not SERVICE_RE.fullmatch(name):
        raise InvalidInput(f"service: must be 1-128 letters, digits, '-' or '_' (got {name[:80]!r})")
    return name


def version_for(revision: int) -> str:
    """The seed's version style: revision 1 is ``1.0.0``, each later change bumps the minor."""
    return f"1.{revision - 1}.0"


def require_document(value: Any, what: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: a configuration must be a JSON object (got {type(value).__name__})")
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge where ``overrides`` wins; unlike a merge patch ``None`` is kept as a value."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """Leaf-level differences from ``old`` to ``new`` (objects recurse, lists compare whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                changes.append(Change(sub, "removed", old=old[key]))
            elif key not in old:
                changes.append(Change(sub, "added", new=new[key]))
            else:
                changes.extend(diff(old[key], new[key], sub))
        return changes
    if old == new and type(old) is type(new):
        return []
    return [Change(path or "$", "changed", old=old, new=new)]
