"""One exception hierarchy for the market data layer (names as in the data manager seed)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CacheError",
    "DataManagerError",
    "DatabaseConnectionError",
    "QueryExecutionError",
    "QueryTimeoutError",
    "ValidationError",
]


class DataManagerError(Exception):
    """Base class for every error raised by ``centralhub.market``."""


class DatabaseConnectionError(DataManagerError):
    """The database could not be reached or the pool is not initialised."""


class QueryTimeoutError(DataManagerError):
    """A query exceeded its timeout."""


class QueryExecutionError(DataManagerError):
    """The database rejected a statement (constraint, syntax, permissions, ...)."""


class CacheError(DataManagerError):
    """The cache could not be used (only raised where a cache is required, e.g. set-up)."""


class ValidationError(DataManagerError, ValueError):
    """Input data failed validation; ``errors`` lists every problem found, not just the first.

    For batches each message is prefixed with the item's position, e.g. ``"ticks[3].bid: ..."``.
    """

    def __init__(self, errors: Sequence[str], what: str = "data") -> None:
        self.errors: list[str] = list(errors)
        summary = "; ".join(self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"invalid {what}: {summary}{more}")
