"""``connect_with_retry``: keep trying to open a connection with capped exponential backoff.

Attempt 1 runs at once; later attempts wait ``base_delay``, then double it each time
(1 s, 2 s, 4 s, ... with the defaults), never more than ``max_delay`` (32 s). Built on tenacity.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from centralhub.kit.exceptions import ConnectionFailed

__all__ = ["backoff_delays", "connect_with_retry"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


def backoff_delays(attempts: int, *, base_delay: float = 1.0, max_delay: float = 32.0) -> list[float]:
    """The waits between ``attempts`` tries: ``[base, 2*base, 4*base, ...]`` capped at max."""
    return [min(base_delay * 2**i, max_delay) for i in range(max(0, attempts - 1))]


async def connect_with_retry(
    factory: Callable[[], Awaitable[T] | T],
    name: str,
    max_retries: int = 10,
    *,
    base_delay: float = 1.0,
    max_delay: float = 32.0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call ``factory`` until it succeeds, at most ``max_retries`` attempts in total.

    ``factory`` may be sync or return an awaitable. Exceptions outside ``retry_on`` propagate
    at once. When every attempt fails, :class:`ConnectionFailed` naming ``name`` is raised
    from the last error.
    """
    if max_retries < 1:
        raise ValueError(f"connect_with_retry max_retries must be >= 1, got {max_retries}")
    if base_delay < 0 or max_delay < 0:
        raise ValueError(
            f"connect_with_retry delays must be >= 0, got base_delay={base_delay}, max_delay={max_delay}"
        )

    def log_retry(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s: attempt %d/%d failed (%s); retrying in %.1fs",
            name,
            state.attempt_number,
            max_retries,
            error,
            wait,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(max_retries),
        wait=wait_exponential(multiplier=base_delay, exp_base=2, min=0, max=max_delay),
        retry=retry_if_exception_type(retry_on),
        sleep=sleep,
        before_sleep=log_retry,
    )
    try:
        async for attempt in retrying:
            with attempt:
                result = factory()
                if inspect.isawaitable(result):
                    result = await result
                if attempt.retry_state.attempt_number > 1:
                    logger.info("%s: connected on attempt %d", name, attempt.retry_state.attempt_number)
                return result  # type: ignore[return-value]
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise ConnectionFailed(
            f"{name}: could not connect after {max_retries} attempts: {type(last).__name__}: {last}",
            details={"name": name, "attempts": max_retries},
        ) from last
    raise AssertionError("unreachable")  # pragma: no cover
