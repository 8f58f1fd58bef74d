"""One exception hierarchy for the domain; the HTTP layer maps it to status codes in one place."""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Base of every error the hub reports to a caller; ``code`` is stable, ``message`` human."""

    code = "hub_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(HubError):
    code = "not_found"


class InvalidInput(HubError):
    code = "invalid_input"


class Conflict(HubError):
    code = "conflict"


class Unavailable(HubError):
    """Nothing can serve the request right now (e.g. no healthy instance)."""

    code = "unavailable"


class PayloadTooLarge(HubError):
    code = "payload_too_large"
