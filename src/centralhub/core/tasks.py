"""Supervised background work: every long-running task of the hub is started here, by name.

A task that raises is logged with its traceback and started again after a backoff that grows
with consecutive failures (and resets once it has run a while), so one bad iteration never
silently ends a checker or a writer. :meth:`Supervisor.report` is what ``GET /health`` shows
under ``checks.tasks``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from centralhub.core.database import is_storage_failure

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Awaitable[None]]


@dataclass
class TaskState:
    name: str
    state: str = "starting"  # running | restarting | failed | stopped | finished
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    started_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        from centralhub.core.time import rfc3339

        out: dict[str, Any] = {"state": self.state, "restarts": self.restarts}
        if self.last_error is not None:
            out["last_error"] = self.last_error
            out["last_error_at"] = rfc3339(self.last_error_at)
        return out


class Supervisor:
    """Starts named coroutines, restarts them when they crash, stops them all on request."""

    def __init__(
        self,
        *,
        initial_backoff: float = 0.1,
        max_backoff: float = 30.0,
        healthy_after: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        #: a run this long counts as healthy: the next crash starts the backoff from the bottom
        self.healthy_after = healthy_after
        # injectable so tests can watch the backoff without waiting on the wall clock
        self._sleep = sleep
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._states: dict[str, TaskState] = {}

    def backoff(self, failures: int) -> float:
        """Delay before restarting after ``failures`` consecutive crashes: doubling, capped."""
        # the exponent is bounded so days of crashing cannot overflow the float
        return min(self.max_backoff, self.initial_backoff * 2.0 ** min(failures - 1, 64))

    def start(self, name: str, factory: TaskFactory, *, restart: bool = True) -> None:
        """Run ``factory()`` as task ``name``; with ``restart`` a crash starts it again."""
        if name in self._tasks and not self._tasks[name].done():
            raise RuntimeError(f"task {name!r} is already running")
        state = TaskState(name)
        self._states[name] = state
        self._tasks[name] = asyncio.create_task(self._run(state, factory, restart), name=name)

    async def _run(self, state: TaskState, factory: TaskFactory, restart: bool) -> None:
        failures = 0
        try:
            while True:
                state.state = "running"
                began = self._clock()
                error: BaseException
                try:
                    await factory()
                except asyncio.CancelledError as exc:
                    task = asyncio.current_task()
                    if task is None or task.cancelling():
                        raise
                    # nobody cancelled this task: a cancellation leaked out of work it awaited,
                    # and the loop has ended all the same, so it is a crash, not a stop
                    error = exc
                except Exception as exc:
                    error = exc
                else:
                    state.state = "finished"
                    return
                state.last_error = f"{type(error).__name__}: {error}"[:500]
                state.last_error_at = time.time()
                if is_storage_failure(error):
                    # an outage is not a bug: one line per failure, the restart tries again
                    log.warning("background task %r: database unreachable: %s", state.name, error)
                else:
                    log.error("background task %r crashed", state.name, exc_info=error)
                if not restart:
                    state.state = "failed"
                    return
                healthy_run = self._clock() - began >= self.healthy_after
                failures = 1 if healthy_run else failures + 1
                state.state = "restarting"
                state.restarts += 1
                await self._sleep(self.backoff(failures))
        except asyncio.CancelledError:
            # being cancelled (stop(), shutdown) is how a task ends, not a crash
            state.state = "stopped"
            raise

    def report(self) -> dict[str, dict[str, Any]]:
        """Each task by name: ``state``, ``restarts`` and the last error while it has one."""
        return {name: s.as_dict() for name, s in sorted(self._states.items())}

    @property
    def healthy(self) -> bool:
        """False while any task is restarting after a crash or has failed for good."""
        return all(s.state not in ("restarting", "failed") for s in self._states.values())

    async def stop(self, name: str | None = None) -> None:
        """Cancel one task (or all) and wait for it to finish; safe to call twice."""
        names = [name] if name is not None else list(self._tasks)
        tasks = [self._tasks.pop(n) for n in names if n in self._tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            # wait() rather than awaiting each task: it never raises the tasks' CancelledError,
            # so a cancellation of the caller itself is not swallowed here
            await asyncio.wait(tasks)
        for n in names:
            if n in self._states:
                self._states[n].state = "stopped"

    def forget(self, name: str) -> None:
        """Drop an ended task from the report: one-shot work (a deployment run) would otherwise
        pile up there for the life of the process. A task still running is kept."""
        task = self._tasks.get(name)
        if task is not None and not task.done():
            return
        self._tasks.pop(name, None)
        self._states.pop(name, None)
