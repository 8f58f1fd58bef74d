"""Group commit for heartbeats.

A heartbeat is acknowledged only once it is stored, yet storing each one alone would cost a
database write per request. Heartbeats arriving together wait for one batch: the writer stores
every instance's latest time in one statement, then releases all of their callers at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from centralhub.core.errors import Unavailable

log = logging.getLogger(__name__)

#: stores ``{instance id: last seen}`` in one transaction
StoreBatch = Callable[[dict[str, float]], Awaitable[None]]


class HeartbeatBatcher:
    """Collects heartbeats and stores them in batches; :meth:`run` is the writer loop."""

    def __init__(self, store: StoreBatch, *, after_store: StoreBatch, flush_interval: float) -> None:
        self._store = store
        self._after_store = after_store
        self.flush_interval = flush_interval
        self._pending: dict[str, float] = {}
        #: one future per waiting caller, so a caller that goes away cancels only its own wait
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        #: batches stored so far
        self.batches = 0

    def add(self, instance_id: str, seen: float) -> None:
        self._pending[instance_id] = seen

    def discard(self, instance_id: str) -> None:
        """Forget a pending heartbeat (the instance was removed)."""
        self._pending.pop(instance_id, None)

    async def stored(self) -> None:
        """Return once everything added so far is stored; ``Unavailable`` when it could not be."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    async def run(self) -> None:
        """The writer loop (supervised): a batch, then a short pause for the next to gather."""
        # a restarted writer stores at once whatever waited while it was down
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(self.flush_interval)

    async def flush(self) -> None:
        """Store what is pending now and release the callers waiting for it."""
        batch, self._pending = self._pending, {}
        waiters, self._waiters = self._waiters, []
        error: Exception | None = None
        try:
            if batch:
                await self._store(batch)
        except asyncio.CancelledError:
            # stopped mid-write: the final flush stores these (newer heartbeats win)
            self._pending = {**batch, **self._pending}
            self._waiters = waiters + self._waiters
            raise
        except Exception as exc:
            log.error("heartbeat batch of %d not stored: %s", len(batch), exc)
            error = Unavailable(f"heartbeat not stored: {exc}")
            # kept for the next batch: a caller that added to this batch but started waiting
            # only after it was taken is released by the next one, which must then store it
            self._pending = {**batch, **self._pending}
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        if batch and error is None:
            self.batches += 1
            await self._after_store(batch)
