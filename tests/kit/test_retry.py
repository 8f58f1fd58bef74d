"""connect_with_retry: the backoff sequence, success after failures, giving up."""

from __future__ import annotations

import pytest

from centralhub.kit import ConnectionFailed, backoff_delays, connect_with_retry


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_backoff_doubles_from_one_second_and_caps_at_32() -> None:
    sleep = RecordingSleep()
    attempts = 0

    def factory() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionFailed) as info:
        await connect_with_retry(factory, "PostgreSQL Database", max_retries=9, sleep=sleep)
    assert attempts == 9
    assert sleep.waits == [1, 2, 4, 8, 16, 32, 32, 32]
    assert sleep.waits == backoff_delays(9)
    assert "PostgreSQL Database" in str(info.value)
    assert "9 attempts" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


async def test_succeeds_after_failures_with_real_short_base_delay() -> None:
    results = iter([OSError("down"), OSError("down"), "pool"])

    async def factory() -> str:
        item = next(results)
        if isinstance(item, Exception):
            raise item
        return item

    pool = await connect_with_retry(factory, "pool", max_retries=5, base_delay=0.001)
    assert pool == "pool"


async def test_first_attempt_is_immediate() -> None:
    sleep = RecordingSleep()
    assert await connect_with_retry(lambda: 42, "x", max_retries=3, sleep=sleep) == 42
    assert sleep.waits == []


async def test_non_retryable_error_propagates_at_once() -> None:
    sleep = RecordingSleep()

    def factory() -> None:
        raise KeyError("config missing")

    with pytest.raises(KeyError):
        await connect_with_retry(factory, "x", max_retries=5, retry_on=(ConnectionError,), sleep=sleep)
    assert sleep.waits == []


async def test_bad_max_retries_is_named() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        await connect_with_retry(lambda: 1, "x", max_retries=0)
