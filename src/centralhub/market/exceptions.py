"""The market data layer's errors: the service kit's data-manager family, exported under
the names the data manager has always used.

They are the kit's classes themselves, not copies, so ``except centralhub.kit.ValidationError``
catches what ``centralhub.market`` raises and the other way round; ``ValidationError`` is also a
``ValueError`` and keeps the full list of problems in ``errors``.
"""

from __future__ import annotations

from centralhub.kit.exceptions import (
    CacheError,
    DatabaseConnectionError,
    DataManagerError,
    QueryExecutionError,
    QueryTimeoutError,
    ValidationError,
)

__all__ = [
    "CacheError",
    "DataManagerError",
    "DatabaseConnectionError",
    "QueryExecutionError",
    "QueryTimeoutError",
    "ValidationError",
]
