"""Storage: one schema for SQLite and PostgreSQL, behind small repository classes."""

from centralhub.storage.database import Database

__all__ = ["Database"]
