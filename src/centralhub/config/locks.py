"""One writer at a time per (tenant, service) within a replica.

Writes of one service are optimistic: each reads the current revision and inserts the next,
and a collision is retried a few times before the caller gets 503. Hundreds of concurrent
writers of one service on one replica would keep colliding with each other and exhaust those
retries although nothing is wrong. Queued here, they take one database connection per service
at a time; across replicas, a PostgreSQL advisory lock taken in the write's transaction
(``repository.lock_service``) does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable


class KeyedLocks:
    """An :class:`asyncio.Lock` per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
