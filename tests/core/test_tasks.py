"""Supervised background work: a crashed task is restarted, reported, and stoppable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from centralhub.core.tasks import Supervisor
from centralhub.hub import Hub
from tests.support import wait_until

pytestmark = pytest.mark.timeout(20)


class RecordedSleep:
    """Stands in for ``asyncio.sleep`` in the supervisor: records each backoff, waits no time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
async def supervisor() -> AsyncIterator[Supervisor]:
    sup = Supervisor(initial_backoff=0.01, max_backoff=0.05)
    try:
        yield sup
    finally:
        await sup.stop()


async def test_a_crashing_task_is_restarted_and_reported(supervisor: Supervisor) -> None:
    runs = 0
    steady = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError(f"boom {runs}")
        steady.set()
        await asyncio.Event().wait()  # then it runs for good

    supervisor.start("flaky", flaky)
    await asyncio.wait_for(steady.wait(), 5)
    report = supervisor.report()["flaky"]
    assert report["state"] == "running"
    assert report["restarts"] == 2
    assert report["last_error"] == "RuntimeError: boom 2"
    assert report["last_error_at"].endswith("Z")
    assert supervisor.healthy


async def test_report_shows_restarting_during_the_backoff() -> None:
    sup = Supervisor(initial_backoff=30.0, max_backoff=30.0)

    async def crash() -> None:
        raise ValueError("bad config row")

    sup.start("writer", crash)
    try:
        await wait_until(lambda: sup.report()["writer"]["state"] == "restarting", timeout=5)
        assert sup.report()["writer"] == {
            "state": "restarting",
            "restarts": 1,
            "last_error": "ValueError: bad config row",
            "last_error_at": sup.report()["writer"]["last_error_at"],
        }
        assert not sup.healthy
    finally:
        await sup.stop()
    assert sup.report()["writer"]["state"] == "stopped"


async def test_without_restart_a_crash_is_failed(supervisor: Supervisor) -> None:
    async def once() -> None:
        raise KeyError("gone")

    supervisor.start("one-shot", once, restart=False)
    report = await wait_until(
        lambda: supervisor.report()["one-shot"]["state"] == "failed" and supervisor.report()["one-shot"],
        timeout=5,
    )
    assert report["restarts"] == 0 and report["last_error"] == "KeyError: 'gone'"
    assert not supervisor.healthy


async def test_a_task_that_returns_is_finished_not_restarted(supervisor: Supervisor) -> None:
    calls: list[int] = []

    async def job() -> None:
        calls.append(1)

    supervisor.start("job", job)
    await wait_until(lambda: supervisor.report()["job"]["state"] == "finished", timeout=5)
    assert calls == [1] and supervisor.healthy


async def test_stop_cancels_waits_and_is_not_a_crash(supervisor: Supervisor) -> None:
    started = asyncio.Event()
    cleaned_up: list[str] = []

    async def loop() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # cleanup that takes a moment: stop() must wait for it
            cleaned_up.append("done")

    supervisor.start("loop", loop)
    await asyncio.wait_for(started.wait(), 5)
    await supervisor.stop("loop")
    assert cleaned_up == ["done"], "stop() returned before the task had finished"
    assert supervisor.report()["loop"] == {"state": "stopped", "restarts": 0}
    assert supervisor.healthy
    await supervisor.stop("loop")  # twice is harmless
    supervisor.start("loop", loop)  # and the name can be started again
    await asyncio.wait_for(started.wait(), 5)


async def test_the_same_name_cannot_run_twice(supervisor: Supervisor) -> None:
    supervisor.start("x", asyncio.Event().wait)
    with pytest.raises(RuntimeError, match="already running"):
        supervisor.start("x", asyncio.Event().wait)


async def test_a_cancellation_nobody_asked_for_is_a_crash(supervisor: Supervisor) -> None:
    """A CancelledError leaking out of awaited work ends the loop just as an exception does."""
    runs = 0
    steady = asyncio.Event()

    async def leaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            inner = asyncio.create_task(asyncio.sleep(10))
            inner.cancel()
            await inner  # raises CancelledError into this task, which nobody cancelled
        steady.set()
        await asyncio.Event().wait()

    supervisor.start("leaky", leaky)
    await asyncio.wait_for(steady.wait(), 5)
    report = supervisor.report()["leaky"]
    assert report["state"] == "running" and report["restarts"] == 1
    assert report["last_error"].startswith("CancelledError")


async def test_stop_does_not_swallow_the_callers_own_cancellation(supervisor: Supervisor) -> None:
    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.5)

    supervisor.start("slow", slow_to_stop)
    await asyncio.sleep(0)
    stopper = asyncio.create_task(supervisor.stop())
    await asyncio.sleep(0.05)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    # the task itself still ends, and says so
    await wait_until(lambda: supervisor.report()["slow"]["state"] == "stopped", timeout=5)


async def test_backoff_doubles_per_consecutive_crash_and_is_capped() -> None:
    sleep = RecordedSleep()
    sup = Supervisor(initial_backoff=0.1, max_backoff=1.0, sleep=sleep)
    runs = 0

    async def always_crashes() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("still broken")

    sup.start("broken", always_crashes)
    try:
        await wait_until(lambda: len(sleep.delays) >= 7, timeout=5)
    finally:
        await sup.stop()
    assert sleep.delays[:7] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert sup.backoff(10_000) == 1.0, "days of crashing neither overflow nor exceed the cap"


async def test_backoff_starts_over_after_a_healthy_run() -> None:
    now = [0.0]
    sleep = RecordedSleep()
    sup = Supervisor(
        initial_backoff=0.1, max_backoff=10.0, healthy_after=60.0, sleep=sleep, clock=lambda: now[0]
    )
    runs = 0

    async def crashes_after_running_a_while() -> None:
        nonlocal runs
        runs += 1
        if runs == 4:
            now[0] += 120.0  # this run lasted two minutes before it crashed
        raise RuntimeError("crash")

    sup.start("checker", crashes_after_running_a_while)
    try:
        await wait_until(lambda: len(sleep.delays) >= 5, timeout=5)
    finally:
        await sup.stop()
    assert sleep.delays[:5] == pytest.approx([0.1, 0.2, 0.4, 0.1, 0.2])


@dataclass(frozen=True)
class Probe:
    """An event only this test subscribes to."""

    n: int


async def test_the_hub_restarts_a_crashed_task_and_reports_it_in_health(
    hub: Hub, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: kill a real supervised task of a running hub; /health shows the restart."""
    handled: list[int] = []

    async def on_probe(event: Probe) -> None:
        handled.append(event.n)

    hub.events.subscribe(Probe, on_probe)
    before = (await client.get("/health")).json()
    assert before["checks"]["tasks"]["domain-events"] == {"state": "running", "restarts": 0}

    # The consumer's next read from its queue raises once, as a bug in the loop would.
    queue = hub.events._queue
    real_get = queue.get
    injected = False

    async def get_once_broken() -> Any:
        nonlocal injected
        if not injected:
            injected = True
            raise RuntimeError("injected consumer failure")
        return await real_get()

    monkeypatch.setattr(queue, "get", get_once_broken)
    monkeypatch.setattr(hub.supervisor, "initial_backoff", 1.0)  # long enough to observe
    hub.events.emit(Probe(1))  # wakes the consumer; its next iteration hits the fault

    async def degraded() -> dict[str, Any]:
        body: dict[str, Any] = (await client.get("/health")).json()
        return body if body["checks"]["tasks"]["domain-events"]["state"] == "restarting" else {}

    during = await wait_until(degraded, timeout=5, what="domain-events reported restarting")
    assert during["status"] == "degraded"
    assert during["checks"]["tasks"]["domain-events"]["restarts"] == 1

    async def tasks_report() -> dict[str, Any]:
        body = (await client.get("/health")).json()
        report: dict[str, Any] = body["checks"]["tasks"]["domain-events"]
        return report if report["restarts"] >= 1 and report["state"] == "running" else {}

    report = await wait_until(tasks_report, timeout=10, what="domain-events restarted")
    assert "RuntimeError: injected consumer failure" in report["last_error"]
    assert report["last_error_at"].endswith("Z")

    hub.events.emit(Probe(2))  # the restarted consumer handles events again
    await wait_until(lambda: handled == [1, 2], timeout=5, what="both probes handled")
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy", health.json()
