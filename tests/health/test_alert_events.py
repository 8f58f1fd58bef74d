"""Alerting runs off the write path, on bounded memory, with time taken from an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from centralhub.alerts.models import Alert
from centralhub.alerts.service import AlertManager
from centralhub.core.database import Database
from centralhub.core.events.dispatch import DomainEvents
from centralhub.core.tasks import Supervisor
from centralhub.core.time import ManualClock
from centralhub.health.models import ComponentConfig, ComponentStatusChanged
from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus, Registration


class StuckChannel:
    """A channel whose first send never returns (a receiver that accepts and never answers)."""

    name = "stuck"
    min_severity = "info"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls == 1:
            await asyncio.Event().wait()

    async def close(self) -> None:
        return None


async def test_status_changes_never_wait_for_alerting(hub: Hub) -> None:
    instances = []
    for i in range(60):
        reg = Registration(name=f"storm-{i % 6}", host="127.0.0.1", port=20_000 + i)
        instances.append((await hub.registry.register("default", reg))[0])
    # hold every alert until released, and add a channel that hangs: neither may touch the writes
    release = asyncio.Event()
    raise_alert = hub.alerts.raise_alert

    async def held(**kwargs: Any) -> Alert | None:
        await release.wait()
        return await raise_alert(**kwargs)

    hub.alerts.raise_alert = held  # type: ignore[method-assign]
    stuck = StuckChannel()
    hub.alerts.channels.append(stuck)
    hub.alerts.delivery_timeout = 0.3

    async with asyncio.timeout(20):
        for inst in instances:
            await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
    assert all(i.status == InstanceStatus.CRITICAL for i in instances)
    assert hub.alerts.history() == []  # every write returned while alerting had not even started

    release.set()
    await hub.alerts.wait_delivered(timeout=30)
    stored = await hub.alerts.search(limit=1000)
    assert len(stored) == 60 and {a.event for a in stored} == {"down"}
    assert stuck.calls == 60
    failed = [a for a in stored if a.deliveries.get("stuck", "").startswith("failed: timed out")]
    assert len(failed) == 1 and all(a.deliveries["log"] == "sent" for a in stored)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    db = Database(f"sqlite:///{tmp_path / 'alerts.db'}")
    await db.start()
    yield db.engine
    await db.close()


def manager(engine: Any, clock: ManualClock, **config: Any) -> AlertManager:
    return AlertManager(
        engine,
        {"channels": [], **config},
        events=DomainEvents(),
        supervisor=Supervisor(),
        clock=clock,
        max_tracked=50,
    )


def component_down(name: str, *, at: float) -> ComponentStatusChanged:
    config = ComponentConfig(name=name, type="redis", host="127.0.0.1", port=6379, method="tcp")
    return ComponentStatusChanged(config, "healthy", "unhealthy", error="refused", at=at)


async def test_tracking_maps_stay_bounded_over_many_targets(engine: Any) -> None:
    clock = ManualClock(1_000_000.0)
    alerts = manager(engine, clock)
    for i in range(300):
        await alerts.on_component_status(component_down(f"cache-{i}", at=clock()))
    assert len(await alerts.search(limit=1000)) == 300
    assert alerts.tracked == {"open": 50, "rate_limited": 50, "down": 50}


async def test_dedup_window_and_rate_limit_follow_the_clock(engine: Any) -> None:
    clock = ManualClock(1_000_000.0)
    alerts = manager(
        engine, clock, dedup_window_seconds=60, rate_limit={"max_alerts": 2, "window_seconds": 600}
    )

    await alerts.on_component_status(component_down("redis", at=clock()))
    first = alerts.history()[0]
    clock.advance(59)
    await alerts.on_component_status(component_down("redis", at=clock()))
    (only,) = await alerts.search(target="redis")
    assert only.count == 2 and only.id == first["id"]

    clock.advance(61)  # past the window: a new alert, the second send of the rate budget
    await alerts.on_component_status(component_down("redis", at=clock()))
    clock.advance(61)  # a third within the rate window is recorded but suppressed
    await alerts.on_component_status(component_down("redis", at=clock()))
    newest = await alerts.search(target="redis")
    assert [a.suppressed for a in newest] == [True, False, False]

    clock.advance(600)  # the rate window has passed: sending again
    await alerts.on_component_status(component_down("redis", at=clock()))
    assert (await alerts.search(target="redis", limit=1))[0].suppressed is False
