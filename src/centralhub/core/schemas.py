"""Shapes every capability's HTTP edge shares: names and the error body."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel

from centralhub.core.wire import NAME_PATTERN

__all__ = [
    "CONTROL_CHARACTERS",
    "NAME_PATTERN",
    "ErrorBody",
    "ErrorRead",
    "Text",
    "control_character_in",
    "refuse_control_characters",
]

#: C0 controls and DEL: PostgreSQL refuses NUL in text where SQLite stores it, and the others
#: corrupt logs and terminals; no name, label or free text the hub keeps needs them
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f]")


def refuse_control_characters(value: str) -> str:
    """``value`` unless it holds a control character (a ``ValueError`` naming it, for pydantic)."""
    found = CONTROL_CHARACTERS.search(value)
    if found is not None:
        raise ValueError(f"must not contain control characters (found {found.group()!r})")
    return value


def control_character_in(value: Any) -> str | None:
    """The first control character in any string (key or value) of a JSON value, else ``None``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            found = CONTROL_CHARACTERS.search(node)
            if found is not None:
                return found.group()
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


#: free text without control characters
Text = Annotated[str, AfterValidator(refuse_control_characters)]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorRead(BaseModel):
    """Every 4xx/5xx answer: ``{"error": {"code", "message"}}``."""

    error: ErrorBody


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring each status in ``codes`` with the error body."""
    return {code: {"model": ErrorRead} for code in codes}
