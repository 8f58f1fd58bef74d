"""One exception hierarchy for everything Central Hub raises on purpose, and its HTTP statuses.

:class:`CentralHubError` is the single root: the hub's domain errors (:class:`HubError` and its
subclasses), the service kit's :class:`~centralhub.kit.exceptions.BaseServiceError` family and
the market data errors all derive from it, so ``except CentralHubError`` catches any of them.

The HTTP status of an error is looked up by class in :data:`HTTP_STATUS` with
:func:`status_for`, which walks the class's MRO, so a subclass answers like its nearest mapped
ancestor. A subclass declared elsewhere (the kit, the SDK, a capability) records its own status
by setting ``http_status`` in its class body; that declaration is written into the same table,
and ``cls.http_status`` always reads back what the table says.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "HTTP_STATUS",
    "CentralHubError",
    "Conflict",
    "HubError",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "StorageUnavailable",
    "Unavailable",
    "status_for",
]

#: The one mapping from error class to HTTP status; :func:`status_for` is how it is read.
HTTP_STATUS: dict[type[CentralHubError], int] = {}


class CentralHubError(Exception):
    """Root of every error Central Hub raises on purpose.

    ``code`` is stable and machine-readable, ``message`` is for humans, ``details`` is JSON-able
    context. A subclass sets ``code`` (or the kit's ``default_code``) in its body; a caller may
    override it per instance with ``code=``.
    """

    code: str = "internal_error"
    #: Read-only view of :data:`HTTP_STATUS` for this class; declare it in a subclass body to
    #: record that subclass's status in the table.
    http_status: ClassVar[int] = 500

    def __init__(self, message: str = "", *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message or type(self).__name__
        if code is not None:
            self.code = code
        self.details = details

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("http_status")
        if declared is not None:
            HTTP_STATUS[cls] = int(declared)
        else:
            # inherited: keep the attribute equal to what the table answers for this class
            cls.http_status = status_for(cls)


def status_for(error: BaseException | type[BaseException]) -> int:
    """The HTTP status for an error (instance or class): the nearest mapped class in its MRO.

    Anything outside the hierarchy is the server's fault: 500.
    """
    cls = error if isinstance(error, type) else type(error)
    for klass in cls.__mro__:
        status = HTTP_STATUS.get(klass)
        if status is not None:
            return status
    return 500


HTTP_STATUS[CentralHubError] = 500


class HubError(CentralHubError):
    """Base of every error the hub reports to a caller; a bare ``HubError`` is a bad request."""

    code = "hub_error"
    http_status = 400


class NotFound(HubError):
    code = "not_found"
    http_status = 404


class InvalidInput(HubError):
    code = "invalid_input"
    http_status = 400


class Conflict(HubError):
    code = "conflict"
    http_status = 409


class Unavailable(HubError):
    """Nothing can serve the request right now (e.g. no healthy instance)."""

    code = "unavailable"
    http_status = 503


class PayloadTooLarge(HubError):
    code = "payload_too_large"
    http_status = 413


class StorageUnavailable(Unavailable):
    """The database cannot be reached: a write (or a read memory cannot answer) must wait."""

    code = "storage_unavailable"
    http_status = 503
