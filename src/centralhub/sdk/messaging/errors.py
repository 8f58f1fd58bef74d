"""Messaging errors, part of the kit's ``BaseServiceError`` hierarchy."""

from __future__ import annotations

from centralhub.kit.exceptions import BaseServiceError, ConnectionFailed

__all__ = [
    "EnvelopeDecodeError",
    "MessagingConnectionError",
    "MessagingError",
    "MessagingTimeout",
    "NoResponders",
    "UnsupportedOperation",
]


class MessagingError(BaseServiceError):
    default_code = "MESSAGING_ERROR"


class MessagingConnectionError(MessagingError, ConnectionFailed):
    """The transport is not connected or the broker cannot be reached."""

    default_code = "MESSAGING_CONNECTION_ERROR"


class MessagingTimeout(MessagingError, TimeoutError):
    """A request got no reply (or a fetch no message) within its timeout."""

    default_code = "MESSAGING_TIMEOUT"
    http_status = 504


class NoResponders(MessagingError):
    """Nobody listens on the subject a request was sent to."""

    default_code = "NO_RESPONDERS"
    http_status = 503


class UnsupportedOperation(MessagingError):
    """The transport cannot do this (e.g. subscribe over plain HTTP)."""

    default_code = "UNSUPPORTED_MESSAGING_OPERATION"
    http_status = 501


class EnvelopeDecodeError(MessagingError):
    """Bytes on the wire are not a valid ``MessageEnvelope``."""

    default_code = "ENVELOPE_DECODE_ERROR"
    http_status = 400
