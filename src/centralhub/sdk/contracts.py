"""Checking messages against a peer's contract (the JSON Schemas it registered with the hub).

``ContractValidator`` fetches a peer's contract once, compiles one validator per message type
and reuses it; ``refresh(peer)`` (or ``max_age_seconds``) picks up a new contract version.
The hub-side rules for what makes a new version breaking live in
:mod:`centralhub.contracts.compatibility` and are re-exported here as ``breaking_changes``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from centralhub.contracts.compatibility import breaking_changes
from centralhub.core.json_schema import validator_for
from centralhub.kit.exceptions import BaseServiceError

__all__ = ["ContractConflict", "ContractValidator", "ContractViolation", "breaking_changes"]

ContractFetcher = Callable[[str], Awaitable[dict[str, Any]]]


class ContractViolation(BaseServiceError):
    """A message does not follow the contract; ``details["errors"]`` says where and why."""

    default_code = "CONTRACT_VIOLATION"
    http_status = 422

    @property
    def errors(self) -> list[str]:
        return list(self.details.get("errors", []))


class ContractConflict(BaseServiceError):
    """The hub refused a contract version that breaks the current one."""

    default_code = "CONTRACT_CONFLICT"
    http_status = 409

    @property
    def breaking_changes(self) -> list[str]:
        return list(self.details.get("breaking_changes", []))


@dataclass(slots=True)
class _Compiled:
    version: str
    validators: dict[str, Any]
    fetched_at: float


class ContractValidator:
    """Validates payloads against peers' contracts, fetched through ``fetch(peer)``.

    ``fetch`` is usually ``CentralHubClient.get_contract``; a peer without a contract raises the
    fetcher's error (``ServiceNotFound``).
    """

    def __init__(self, fetch: ContractFetcher, *, max_age_seconds: float = 60.0) -> None:
        self._fetch = fetch
        self.max_age_seconds = max_age_seconds
        self._peers: dict[str, _Compiled] = {}

    async def _compiled(self, peer: str) -> _Compiled:
        compiled = self._peers.get(peer)
        if compiled is not None and time.monotonic() - compiled.fetched_at < self.max_age_seconds:
            return compiled
        contract = await self._fetch(peer)
        validators = {}
        for message_type, schema in (contract.get("schemas") or {}).items():
            cls = validator_for(schema)
            validators[message_type] = cls(schema, format_checker=cls.FORMAT_CHECKER)
        compiled = _Compiled(str(contract.get("version")), validators, time.monotonic())
        self._peers[peer] = compiled
        return compiled

    def refresh(self, peer: str | None = None) -> None:
        """Forget the cached contract of ``peer`` (or of every peer)."""
        if peer is None:
            self._peers.clear()
        else:
            self._peers.pop(peer, None)

    async def errors(self, peer: str, message_type: str, payload: Any) -> list[str]:
        """Every way ``payload`` breaks the contract (empty when it follows it)."""
        compiled = await self._compiled(peer)
        validator = compiled.validators.get(message_type)
        if validator is None:
            known = ", ".join(sorted(compiled.validators)) or "none"
            return [
                f"{peer} has no message type {message_type!r} in contract {compiled.version} (known: {known})"
            ]
        found = []
        for err in sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in err.absolute_path) or "(message)"
            found.append(f"{where}: {err.message}")
        return found

    async def validate(self, peer: str, message_type: str, payload: Any) -> None:
        """Raise ``ContractViolation`` unless ``payload`` follows ``peer``'s schema for the type."""
        found = await self.errors(peer, message_type, payload)
        if found:
            raise ContractViolation(
                f"{message_type} message breaks {peer}'s contract: " + "; ".join(found[:5]),
                details={"errors": found, "peer": peer, "message_type": message_type},
            )
