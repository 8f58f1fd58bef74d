"""What makes a contract valid, and what makes a new version break readers of the old one.

Pure functions shared by the hub (before storing a version) and the SDK (``sdk.contracts``
re-exports :func:`breaking_changes`), so both sides judge compatibility by the same rules.
"""

from __future__ import annotations

from typing import Any

from jsonschema.exceptions import SchemaError

from centralhub.contracts.models import Schemas
from centralhub.core.errors import InvalidInput
from centralhub.core.json_schema import check_patterns, check_schema

__all__ = ["breaking_changes", "check_schemas"]


def check_schemas(schemas: Schemas) -> None:
    """Raise ``InvalidInput`` naming ``schemas.<type>`` when a schema is not valid JSON Schema."""
    if not schemas:
        raise InvalidInput("schemas: at least one message type is required")
    for message_type, schema in schemas.items():
        if not message_type or len(message_type) > 128:
            raise InvalidInput("schemas: message type names must be 1-128 characters")
        if not isinstance(schema, dict):
            raise InvalidInput(f"schemas.{message_type}: must be a JSON Schema object")
        try:
            check_patterns(schema, f"schemas.{message_type}")
            check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            suffix = f" at {where}" if where else ""
            raise InvalidInput(
                f"schemas.{message_type}: not a valid JSON Schema{suffix}: {exc.message}"
            ) from None


def breaking_changes(old: Schemas, new: Schemas) -> list[str]:
    """What in ``new`` breaks peers written against ``old``: a message type or required field
    removed, a required field added, a field's type changed. Empty when compatible."""
    out: list[str] = []
    for message_type in sorted(old):
        if message_type not in new:
            out.append(f"{message_type}: message type removed")
            continue
        _diff(old[message_type], new[message_type], message_type, out)
    return out


def _types(schema: dict[str, Any]) -> frozenset[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset([declared])
    if isinstance(declared, list):
        # draft-03 allows schemas inside "type"; only the named types are compared
        return frozenset(t for t in declared if isinstance(t, str)) or None
    return None


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _required(schema: dict[str, Any]) -> set[str]:
    """Names listed in ``required`` (draft-03's boolean ``required`` names none)."""
    required = schema.get("required")
    if not isinstance(required, list):
        return set()
    return {r for r in required if isinstance(r, str)}


def _diff(old: dict[str, Any], new: dict[str, Any], where: str, out: list[str]) -> None:
    """Compare two schemas of one message type; nested objects and array items are walked with
    an explicit stack, so a deeply nested schema cannot exhaust the interpreter's recursion."""
    stack: list[tuple[dict[str, Any], dict[str, Any], str]] = [(old, new, where)]
    while stack:
        old_s, new_s, at = stack.pop()
        found: list[str] = []
        nested: list[tuple[dict[str, Any], dict[str, Any], str]] = []
        old_types, new_types = _types(old_s), _types(new_s)
        if old_types is not None and new_types is not None and old_types != new_types:
            out.append(
                f"{at}: type changed from {'|'.join(sorted(old_types))} to {'|'.join(sorted(new_types))}"
            )
            continue
        old_req, new_req = _required(old_s), _required(new_s)
        for name in sorted(new_req - old_req):
            found.append(f"{at}.{name}: required field added")
        old_props = _properties(old_s)
        new_props = _properties(new_s)
        for name in sorted(old_req - new_req):
            if name in new_props:
                found.append(f"{at}.{name}: no longer required")
            else:
                found.append(f"{at}.{name}: required field removed")
        for name in sorted(set(old_props) & set(new_props)):
            if isinstance(old_props[name], dict) and isinstance(new_props[name], dict):
                nested.append((old_props[name], new_props[name], f"{at}.{name}"))
        old_items, new_items = old_s.get("items"), new_s.get("items")
        if isinstance(old_items, dict) and isinstance(new_items, dict):
            nested.append((old_items, new_items, f"{at}[]"))
        out.extend(found)
        # reversed onto the stack so they are compared in the order the recursive walk used
        stack.extend(reversed(nested))
