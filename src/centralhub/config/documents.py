"""Rules for configuration documents: names, revisions, size limits, schemas, diff and merge.

Pure functions over JSON values; no I/O. The service applies them before a version is stored,
the hot-reload directory and the API before a document reaches the service.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson

from centralhub.config.models import Change, ValidationIssue
from centralhub.core import json_schema
from centralhub.core.errors import HubError, InvalidInput
from centralhub.core.schemas import CONTROL_CHARACTERS
from centralhub.core.wire import NAME_RE
from centralhub.core.wire import deep_merge as deep_merge  # shared with the SDK, lives in wire

#: service names become NATS subject tokens and file stems, so no dots, slashes or spaces
#: the one service-name rule the registry, the SDK and NATS subjects share
SERVICE_RE = NAME_RE
SOURCES = ("api", "patch", "rollback", "hot_reload")
#: revisions fit a signed 64-bit column on every backend
MAX_REVISION = 2**62
#: how deeply a stored document may nest (responses are serialized by orjson, which stops at 254)
MAX_DEPTH = 64
MAX_MESSAGE = 2000


class ConfigValidationError(HubError):
    """A configuration breaks its service's JSON Schema; ``details`` lists ``{path, message}``.

    Answers 422: ``http_status`` records it in the one status table in ``core/errors.py``."""

    code = "config_invalid"
    http_status = 422


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


def require_document(value: Any, what: str = "body") -> dict[str, Any]:
    """``value`` when it is a JSON object; a configuration is never a list or a scalar."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: a configuration must be a JSON object (got {type(value).__name__})")
    return value


def check_service_name(name: str) -> str:
    """``name`` when it can name a configured service (a NATS token and a file stem), or
    ``_global``, the global configuration."""
    if name == "_global":
        return name
    if not SERVICE_RE.fullmatch(name):
        raise InvalidInput(
            "service: must be a letter or digit followed by up to 127 letters, digits, '-' or '_'"
            f" (got {name[:80]!r})"
        )
    return name


def check_message(message: str | None) -> str | None:
    """A change message fits its column and holds no control characters."""
    if message is not None and len(message) > MAX_MESSAGE:
        raise InvalidInput(f"message: at most {MAX_MESSAGE} characters")
    return check_label(message, "message")


def check_label(text: str | None, what: str) -> str | None:
    """``text`` unless it holds a control character, which no backend stores alike."""
    if text is not None:
        found = CONTROL_CHARACTERS.search(text)
        if found is not None:
            raise InvalidInput(f"{what}: must not contain control characters (found {found.group()!r})")
    return text


def version_for(revision: int) -> str:
    """The platform's version style: revision 1 is ``1.0.0``, each later change bumps the minor."""
    return f"1.{revision - 1}.0"


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


def check_schema(schema: Any) -> dict[str, Any]:
    """``schema`` when it is a usable JSON Schema; a broken one is refused (400) with its path,
    a pattern RE2 cannot run with 422 (:class:`~centralhub.core.json_schema.UnsupportedPattern`)."""
    if not isinstance(schema, dict):
        raise InvalidInput(f"schema: must be a JSON object (got {type(schema).__name__})")
    try:
        json_schema.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "$"
        raise InvalidInput(f"schema: not a valid JSON Schema at {where}: {exc.message}") from None
    return schema


class SchemaValidator:
    """Checks documents against JSON Schemas, compiling each distinct schema once (bounded cache)."""

    def __init__(self, max_cached: int = 256) -> None:
        self.max_cached = max_cached
        self._validators: dict[bytes, Any] = {}

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        validator = self._validators.get(key)
        if validator is None:
            # regular expressions on RE2: a user's pattern can never backtrack for minutes
            cls = json_schema.validator_for(schema)
            validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
            if len(self._validators) >= self.max_cached:
                self._validators.clear()
            self._validators[key] = validator
        return validator

    def issues(self, document: Any, schema: dict[str, Any] | None) -> list[ValidationIssue]:
        """Everything wrong with ``document`` under ``schema`` (none when no schema is registered)."""
        if not isinstance(document, dict):
            return [
                ValidationIssue("$", f"a configuration must be a JSON object, not {type(document).__name__}")
            ]
        if schema is None:
            return []
        validator = self._validator(schema)
        out = []
        for err in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
            path = ".".join(str(p) for p in err.absolute_path) or "$"
            out.append(ValidationIssue(path, err.message))
        return out

    def require_valid(self, service: str, document: Any, schema: dict[str, Any] | None) -> None:
        """Raise ``ConfigValidationError`` (422, every issue in ``details``) unless ``document`` passes."""
        issues = self.issues(document, schema)
        if issues:
            raise ConfigValidationError(
                f"configuration of {service!r} breaks its schema: "
                + "; ".join(f"{i.path}: {i.message}" for i in issues[:5]),
                details=[i.to_dict() for i in issues],
            )
