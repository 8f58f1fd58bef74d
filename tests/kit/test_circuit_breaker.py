"""Circuit breaker state machine, driven by an injected clock so no test sleeps."""

from __future__ import annotations

import pytest

from centralhub.kit import CircuitBreaker, CircuitBreakerManager, CircuitOpenError, CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Boom(Exception):
    pass


async def fail() -> None:
    raise Boom("dependency down")


async def succeed() -> str:
    return "ok"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("ext-api", failure_threshold=3, recovery_timeout=30, clock=clock)


async def test_opens_after_threshold_then_fails_fast(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call(fail)
    assert breaker.state is CircuitState.CLOSED
    with pytest.raises(Boom):
        await breaker.call(fail)
    assert breaker.state is CircuitState.OPEN

    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(counted)
    assert calls == 0, "an open circuit must not call the dependency"
    assert "ext-api" in str(info.value)
    assert info.value.retry_after == pytest.approx(30)


async def test_success_resets_consecutive_failures(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call(fail)
    await breaker.call(succeed)
    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call(fail)
    assert breaker.state is CircuitState.CLOSED


async def test_half_open_after_recovery_then_closed_on_success(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(3):
        with pytest.raises(Boom):
            await breaker.call(fail)
    clock.now += 29.9
    assert breaker.state is CircuitState.OPEN
    clock.now += 0.2
    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED


async def test_half_open_failure_opens_again_and_restarts_timer(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(3):
        with pytest.raises(Boom):
            await breaker.call(fail)
    clock.now += 31
    assert breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(Boom):
        await breaker.call(fail)
    assert breaker.state is CircuitState.OPEN
    clock.now += 29
    assert breaker.state is CircuitState.OPEN
    clock.now += 2
    assert breaker.state is CircuitState.HALF_OPEN


async def test_half_open_limits_trial_calls(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now += 31
    async with breaker:
        # While the single trial call is in flight, others are rejected.
        with pytest.raises(CircuitOpenError):
            async with breaker:
                pass
    assert breaker.state is CircuitState.CLOSED


async def test_decorator_and_unexpected_exceptions(clock: FakeClock) -> None:
    cb = CircuitBreaker("db", failure_threshold=1, expected_exceptions=(ConnectionError,), clock=clock)

    @cb
    async def query(kind: str) -> str:
        if kind == "bad-input":
            raise ValueError("bad input")
        if kind == "down":
            raise ConnectionError("refused")
        return kind

    assert await query("fine") == "fine"
    with pytest.raises(ValueError):
        await query("bad-input")
    assert cb.state is CircuitState.CLOSED, "a caller bug is not a dependency failure"
    with pytest.raises(ConnectionError):
        await query("down")
    assert cb.state is CircuitState.OPEN


async def test_manager_registry_per_name(clock: FakeClock) -> None:
    manager = CircuitBreakerManager("my-service", clock=clock)
    manager.add_circuit("external-api", failure_threshold=2, recovery_timeout=60)
    manager.add_circuit("db", failure_threshold=5)
    assert not manager.is_open("external-api")
    await manager.record_failure("external-api")
    await manager.record_failure("external-api")
    assert manager.is_open("external-api")
    assert not manager.is_open("db")
    assert manager.states() == {"external-api": CircuitState.OPEN, "db": CircuitState.CLOSED}
    assert manager.get_or_create("db") is manager.get("db")
    with pytest.raises(KeyError, match="nope"):
        manager.get("nope")


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError, match="recovery_timeout"):
        CircuitBreaker("x", recovery_timeout=-1)
