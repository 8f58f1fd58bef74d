"""Group commit for heartbeats.

A heartbeat is acknowledged only once it is stored, yet storing each one alone would cost a
database write per request. Heartbeats arriving together wait for one batch: the writer stores
every instance's latest time in one statement, then releases all of their callers at once.

While the database is unreachable a batch cannot be stored: its callers are answered
:class:`~centralhub.core.errors.StorageUnavailable`, but the batch is kept (the newest time per
instance) and stored once the database answers again, tried every ``retry_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from centralhub.core.database import is_storage_failure
from centralhub.core.errors import StorageUnavailable, Unavailable

log = logging.getLogger(__name__)

#: heartbeats nobody waits for are written this long after the first of them arrived: soon
#: enough for a crash to lose only a fraction of any TTL, rare enough that a flood of them costs
#: the database one row per instance per interval
QUIET_FLUSH_SECONDS = 0.25
#: stores ``{instance id: last seen}`` in one transaction
StoreBatch = Callable[[dict[str, float]], Awaitable[None]]


class HeartbeatBatcher:
    """Collects heartbeats and stores them in batches; :meth:`run` is the writer loop."""

    def __init__(
        self,
        store: StoreBatch,
        *,
        after_store: StoreBatch,
        flush_interval: float,
        retry_interval: float = 1.0,
        quiet_interval: float = QUIET_FLUSH_SECONDS,
        on_outage: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._after_store = after_store
        self.flush_interval = flush_interval
        self.retry_interval = retry_interval
        #: how long heartbeats nobody waits for gather before they are written
        self.quiet_interval = quiet_interval
        #: called each time a batch could not be stored because the database is out of reach
        self._on_outage = on_outage
        #: a batch kept through an outage waits here to be stored
        self.outage = False
        self._pending: dict[str, float] = {}
        #: one future per waiting caller, so a caller that goes away cancels only its own wait
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        #: batches stored so far
        self.batches = 0

    def add(self, instance_id: str, seen: float) -> None:
        if not self._pending:
            # heartbeats nobody waits for (NATS messages) are written too, after quiet_interval
            self._wake.set()
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
        loop = asyncio.get_running_loop()
        first = True
        while True:
            await self._batch_due(loop, at_once=first)
            first = False
            self._wake.clear()
            # the interval runs from the start of one write to the start of the next: a write
            # that took longer than it is followed at once by the next batch, which gathered
            # meanwhile, so callers wait for one write rather than a write plus a pause
            started = loop.time()
            await self.flush()
            pause = self.flush_interval - (loop.time() - started)
            await asyncio.sleep(pause if pause > 0 else 0)

    async def _batch_due(self, loop: asyncio.AbstractEventLoop, *, at_once: bool) -> None:
        """Return when the next batch is to be written: at once when a caller waits for it;
        after ``quiet_interval`` when nobody does (a burst of fire-and-forget heartbeats is then
        one write per instance, not one per flush interval); after ``retry_interval`` for a batch
        kept through an outage, which is tried again without waiting for a new heartbeat."""
        deadline: float | None = None
        while True:
            if self._waiters or (at_once and self._pending):
                return
            remaining: float | None = None
            if self._pending:
                if deadline is None:
                    deadline = loop.time() + (self.retry_interval if self.outage else self.quiet_interval)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wake.wait()

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
            if is_storage_failure(exc):
                if not self.outage:
                    log.warning("heartbeats kept in memory until the database answers: %s", exc)
                self.outage = True
                self._on_outage()
                error = StorageUnavailable("the database is unreachable; the heartbeat is kept in memory")
            else:
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
            if self.outage:
                log.info("database answers again: %d kept heartbeats stored", len(batch))
                self.outage = False
            self.batches += 1
            await self._after_store(batch)
