"""Status damping and flap detection of active checks, on an injected clock (no probing)."""

from __future__ import annotations

from centralhub.core.tasks import Supervisor
from centralhub.core.time import ManualClock
from centralhub.health.models import CheckState, HealthCheckResult
from centralhub.health.service import HealthChecker, effective_check, state_document
from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus, Registration

CHECK = {"type": "http", "interval_seconds": 10, "failures_before_critical": 3, "successes_before_passing": 2}


async def test_thresholds_and_flapping(hub: Hub) -> None:
    clock = ManualClock(1_000_000.0)
    # a checker of its own that is never started: results are applied by hand, time is the clock's
    checker = HealthChecker(hub.registry, supervisor=Supervisor(), clock=clock)
    inst, _ = await hub.registry.register(
        "default", Registration(name="damped", host="127.0.0.1", port=1, check=CHECK)
    )
    state = CheckState(inst.id, effective_check(inst), ("default", "damped"))

    async def probe(healthy: bool, expect: InstanceStatus) -> None:
        clock.advance(10)
        result = HealthCheckResult(healthy, 1.0, None if healthy else "HTTP 500", checked_at=clock())
        await checker.apply(inst, state, result)
        assert inst.status == expect, (healthy, state)

    assert inst.status == InstanceStatus.PASSING
    await probe(False, InstanceStatus.WARNING)  # the first failure only warns
    await probe(False, InstanceStatus.WARNING)
    await probe(False, InstanceStatus.CRITICAL)  # failures_before_critical
    await probe(True, InstanceStatus.WARNING)  # on the way back up
    await probe(True, InstanceStatus.PASSING)  # successes_before_passing

    # the same cycle again within ten intervals: the instance is flapping and held at warning
    await probe(False, InstanceStatus.WARNING)
    await probe(False, InstanceStatus.WARNING)
    await probe(False, InstanceStatus.CRITICAL)
    await probe(True, InstanceStatus.WARNING)
    await probe(True, InstanceStatus.WARNING)
    assert state.flapping(clock())
    doc = state_document(state, clock())
    assert doc["flapping"] is True and doc["consecutive_successes"] == 2

    clock.advance(100)  # calm for ten intervals: passing again
    await probe(True, InstanceStatus.PASSING)
    assert not state.flapping(clock())
    assert state_document(state, clock())["last_result"]["checked_at"] == "1970-01-12T13:50:10.000Z"
