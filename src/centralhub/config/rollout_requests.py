"""A rollout request, checked, and its candidate built exactly as a write would build it.

The candidate passes the same checks as a stored version (document limits, the service's
schema, credentials refused, ``x-secret`` values sealed) before any instance sees it, so a
promotion can only fail for reasons a plain write would fail too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from centralhub.config.documents import check_document, check_message, version_for
from centralhub.config.models import ConfigVersion
from centralhub.config.rollout_models import parse_canary
from centralhub.core.errors import InvalidInput, NotFound
from centralhub.core.wire import merge_patch

__all__ = ["RolloutRequest", "build_candidate", "parse_request"]

#: the longest bake a request may ask for (a week)
MAX_BAKE_SECONDS = 7 * 24 * 3600.0
SOURCES = ("config", "patch", "rollback_to")
FIELDS = {*SOURCES, "canary", "bake_seconds", "canary_check_seconds", "auto_rollback", "message"}


@dataclass(frozen=True, slots=True)
class RolloutRequest:
    source: str
    value: Any
    selector: dict[str, Any]
    bake_seconds: float
    check_seconds: float
    auto_rollback: bool
    message: str | None


def _seconds(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(
            f"{name}: a number of seconds from {low:g} to {high:g} is required (got {value!r})"
        )
    return float(value)


def parse_request(body: Any, *, check_seconds: float) -> RolloutRequest:
    """The request's fields, or ``InvalidInput`` naming the first one that is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput("body: a JSON object is required")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field (known: {', '.join(sorted(FIELDS))})")
    given = [k for k in SOURCES if body.get(k) is not None]
    if len(given) != 1:
        raise InvalidInput('body: give exactly one of "config", "patch" or "rollback_to"')
    source = given[0]
    value = body[source]
    if source in ("config", "patch") and not isinstance(value, dict):
        raise InvalidInput(f"{source}: a JSON object is required")
    if source == "rollback_to" and (not isinstance(value, str | int) or isinstance(value, bool)):
        raise InvalidInput("rollback_to: a version (1.2.0) or revision number is required")
    if "canary" not in body:
        raise InvalidInput('canary: required ({"instances": [...]}, {"tags": [...]} or {"percent": 10})')
    auto = body.get("auto_rollback", True)
    if not isinstance(auto, bool):
        raise InvalidInput(f"auto_rollback: true or false is required (got {auto!r})")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise InvalidInput("message: a string is required")
    return RolloutRequest(
        source=source,
        value=value,
        selector=parse_canary(body["canary"]),
        bake_seconds=_seconds(body, "bake_seconds", 120.0, 0.1, MAX_BAKE_SECONDS),
        check_seconds=_seconds(body, "canary_check_seconds", check_seconds, 0.1, 300.0),
        auto_rollback=auto,
        message=check_message(message),
    )


async def build_candidate(
    config: Any, tenant: str, service: str, request: RolloutRequest
) -> tuple[ConfigVersion, dict[str, Any]]:
    """(the current version as stored, the candidate document sealed for storing)."""
    try:
        current = await config.current_version(tenant, service)
    except NotFound:
        raise NotFound(
            f"no configuration stored for service {service!r}: store a first one, then roll changes out"
        ) from None
    plain = config.secrets.opened(current).config
    if request.source == "config":
        document = request.value
    elif request.source == "patch":
        document = merge_patch(plain, request.value)
    else:
        target = await config._stored_version(tenant, service, str(request.value))
        document = config.secrets.reveal(tenant, service, target.config)
    check_document(document, "config")
    if document == plain:
        raise InvalidInput(
            f"the candidate equals the current configuration of {service!r} "
            f"(version {current.version}): nothing to roll out"
        )
    schema = None
    with contextlib.suppress(NotFound):
        schema = await config.get_schema(tenant, service)
    config.validator.require_valid(service, document, schema)
    sealed = config.secrets.seal(tenant, service, document, schema, stored=current.config, plain=plain)
    return current, sealed


def candidate_version(current: ConfigVersion) -> tuple[int, str]:
    revision = current.revision + 1
    return revision, version_for(revision)
