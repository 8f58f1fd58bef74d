"""Circuit breakers: fail fast while a dependency is down, probe it again after a pause.

States: ``CLOSED`` (calls pass; ``failure_threshold`` consecutive failures open it), ``OPEN``
(calls fail at once with :class:`CircuitOpenError` until ``recovery_timeout`` has passed),
``HALF_OPEN`` (a limited number of trial calls; ``success_threshold`` successes close it, any
failure opens it again and restarts the recovery timer).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from centralhub.kit.exceptions import ServiceUnavailable

__all__ = ["CircuitBreaker", "CircuitBreakerManager", "CircuitOpenError", "CircuitState"]

P = ParamSpec("P")
T = TypeVar("T")


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(ServiceUnavailable):
    """Raised instead of calling a dependency whose circuit is open."""

    default_code = "CIRCUIT_OPEN"

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(
            f"circuit {name!r} is open; retry in {retry_after:.1f}s",
            details={"circuit": name, "retry_after": retry_after},
        )
        self.name = name
        self.retry_after = retry_after


class CircuitBreaker:
    """One breaker guarding one dependency. Usable as ``async with``, decorator or via ``call``.

    Only exceptions matching ``expected_exceptions`` count as failures; others pass through
    and leave the breaker untouched. ``clock`` is injectable so tests need not sleep.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 60.0,
        success_threshold: int = 1,
        half_open_max_calls: int = 1,
        expected_exceptions: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not name:
            raise ValueError("CircuitBreaker needs a non-empty name")
        for label, value in (
            ("failure_threshold", failure_threshold),
            ("success_threshold", success_threshold),
            ("half_open_max_calls", half_open_max_calls),
        ):
            if value < 1:
                raise ValueError(f"CircuitBreaker {label} must be >= 1, got {value}")
        if recovery_timeout < 0:
            raise ValueError(f"CircuitBreaker recovery_timeout must be >= 0, got {recovery_timeout}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.success_threshold = success_threshold
        self.half_open_max_calls = half_open_max_calls
        self.expected_exceptions = expected_exceptions
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._half_open_successes = 0
        self._half_open_in_flight = 0
        self._opened_at = 0.0
        self.total_failures = 0
        self.total_successes = 0
        self.total_rejected = 0

    @property
    def state(self) -> CircuitState:
        """Current state; an open circuit turns half-open once the recovery timeout has passed."""
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self.recovery_timeout:
            self._to(CircuitState.HALF_OPEN)
        return self._state

    def is_open(self) -> bool:
        return self.state is CircuitState.OPEN

    def allow_request(self) -> bool:
        """Whether a call may go through now; reserves a trial slot when half-open."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and self._half_open_in_flight < self.half_open_max_calls:
            self._half_open_in_flight += 1
            return True
        self.total_rejected += 1
        return False

    def record_success(self) -> None:
        self.total_successes += 1
        if self._state is CircuitState.HALF_OPEN:
            self._half_open_in_flight = max(0, self._half_open_in_flight - 1)
            self._half_open_successes += 1
            if self._half_open_successes >= self.success_threshold:
                self._to(CircuitState.CLOSED)
        else:
            self._failures = 0

    def record_failure(self) -> None:
        self.total_failures += 1
        if self._state is CircuitState.HALF_OPEN:
            self._to(CircuitState.OPEN)
            return
        self._failures += 1
        if self._state is CircuitState.CLOSED and self._failures >= self.failure_threshold:
            self._to(CircuitState.OPEN)

    def reset(self) -> None:
        """Force the breaker closed and forget past failures."""
        self._to(CircuitState.CLOSED)

    def retry_after(self) -> float:
        """Seconds until an open circuit lets a trial call through (0 when not open)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.recovery_timeout - (self._clock() - self._opened_at))

    def _to(self, state: CircuitState) -> None:
        self._state = state
        self._failures = 0
        self._half_open_successes = 0
        self._half_open_in_flight = 0
        if state is CircuitState.OPEN:
            self._opened_at = self._clock()

    # --- usage forms -----------------------------------------------------------------------
    async def call(self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``func(*args, **kwargs)`` under the breaker."""
        async with self:
            return await func(*args, **kwargs)

    def __call__(self, func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorate an ``async def`` so every call goes through the breaker."""

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            async with self:
                return await func(*args, **kwargs)

        return wrapper

    async def __aenter__(self) -> CircuitBreaker:
        if not self.allow_request():
            raise CircuitOpenError(self.name, self.retry_after())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.record_success()
        elif isinstance(exc, self.expected_exceptions):
            self.record_failure()
        elif self._state is CircuitState.HALF_OPEN:
            # An unexpected error says nothing about the dependency; free the trial slot.
            self._half_open_in_flight = max(0, self._half_open_in_flight - 1)

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "consecutive_failures": self._failures,
            "failure_threshold": self.failure_threshold,
            "recovery_timeout": self.recovery_timeout,
            "total_failures": self.total_failures,
            "total_successes": self.total_successes,
            "total_rejected": self.total_rejected,
            "retry_after": self.retry_after(),
        }


class CircuitBreakerManager:
    """A per-service registry of named breakers (one per external dependency)."""

    def __init__(self, service_name: str, **defaults: Any) -> None:
        self.service_name = service_name
        self._defaults = defaults
        self._circuits: dict[str, CircuitBreaker] = {}

    def add_circuit(self, name: str, **options: Any) -> CircuitBreaker:
        """Create (or replace) the breaker called ``name``; options override the defaults."""
        breaker = CircuitBreaker(name, **{**self._defaults, **options})
        self._circuits[name] = breaker
        return breaker

    def get(self, name: str) -> CircuitBreaker:
        try:
            return self._circuits[name]
        except KeyError:
            known = ", ".join(sorted(self._circuits)) or "none"
            raise KeyError(f"no circuit named {name!r} (known: {known})") from None

    def get_or_create(self, name: str, **options: Any) -> CircuitBreaker:
        return self._circuits.get(name) or self.add_circuit(name, **options)

    def is_open(self, name: str) -> bool:
        return self.get(name).is_open()

    async def record_success(self, name: str) -> None:
        self.get(name).record_success()

    async def record_failure(self, name: str) -> None:
        self.get(name).record_failure()

    def states(self) -> dict[str, CircuitState]:
        return {name: cb.state for name, cb in self._circuits.items()}

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: cb.stats() for name, cb in self._circuits.items()}
