"""Two hub replicas in one process on one database (SQLite and PostgreSQL) and one event bus:
alerts are stored and sent once, silences, acknowledgements and circuits are the same on both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from centralhub.alerts.models import Alert
from centralhub.core.events.memory import MemoryEventBus
from centralhub.core.settings import Settings
from centralhub.health.models import ComponentConfig, ComponentStatusChanged
from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus, Registration
from centralhub.server.app import create_app


class CountingChannel:
    """Keeps every alert it is asked to send; ``hold`` keeps a send open until set."""

    name = "counting"
    min_severity = "info"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.hold: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def send(self, alert: Alert) -> None:
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        self.sent.append(alert.id)

    async def close(self) -> None:
        return None


Replica = tuple[Hub, httpx.AsyncClient, CountingChannel]


@pytest.fixture
async def pair(hub_settings: Settings) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two started hubs sharing the database and an in-process bus, each with a counting channel."""
    bus = MemoryEventBus()
    async with AsyncExitStack() as stack:
        replicas = []
        for _ in range(2):
            hub = Hub(hub_settings, bus=bus)
            await hub.start()
            stack.push_async_callback(hub.stop)
            channel = CountingChannel()
            hub.alerts.channels = [channel]
            transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
            client = httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10)
            stack.push_async_callback(client.aclose)
            replicas.append((hub, client, channel))
        yield replicas[0], replicas[1]


def component(name: str) -> ComponentConfig:
    return ComponentConfig(name=name, type="redis", host="127.0.0.1", port=6379, method="tcp")


def timeless(circuit: dict[str, Any]) -> dict[str, Any]:
    """A circuit without the countdown, which moves between two reads."""
    return {k: v for k, v in circuit.items() if k != "retry_after_seconds"}


async def settled(*hubs: Hub) -> None:
    for hub in hubs:
        await hub.alerts.wait_delivered()


async def test_one_status_change_is_one_alert_sent_once(pair: tuple[Replica, Replica]) -> None:
    (a, _, sent_a), (b, _, sent_b) = pair
    inst, _ = await a.registry.register("default", Registration(name="orders", host="127.0.0.1", port=1))
    await a.registry.set_status(inst, InstanceStatus.CRITICAL)
    await settled(a, b)
    (alert,) = await b.alerts.search(target="orders")
    assert alert.event == "down" and alert.count == 1
    # B learned the change from A through the bus: it follows, it does not alert again
    assert (sent_a.sent, sent_b.sent) == ([alert.id], [])
    assert b.alerts.history()[0]["id"] == alert.id


async def test_the_same_alert_raised_on_both_at_once_is_stored_and_sent_once(
    pair: tuple[Replica, Replica],
) -> None:
    (a, _, sent_a), (b, _, sent_b) = pair
    down = ComponentStatusChanged(component("cache"), "healthy", "unhealthy", error="refused")
    await asyncio.gather(a.alerts.on_component_status(down), b.alerts.on_component_status(down))
    await settled(a, b)
    (alert,) = await a.alerts.search(target="cache")
    assert alert.count == 2
    assert sorted(sent_a.sent + sent_b.sent) == [alert.id]

    # a replica that did not see a target go down still raises its recovery (from the history)
    await a.alerts.on_component_status(ComponentStatusChanged(component("mq"), "healthy", "unhealthy"))
    await b.alerts.on_component_status(ComponentStatusChanged(component("mq"), "unhealthy", "healthy"))
    await settled(a, b)
    down, recovery = sorted(await a.alerts.search(target="mq"), key=lambda x: x.event)
    assert (down.event, recovery.event) == ("down", "recovery")
    assert sent_a.sent[-1] == down.id and sent_b.sent[-1] == recovery.id
    assert (sent_a.sent + sent_b.sent).count(recovery.id) == 1


async def test_the_rate_limit_counts_what_every_replica_sent(pair: tuple[Replica, Replica]) -> None:
    (a, _, sent_a), (b, _, sent_b) = pair
    a.alerts.rate_max = b.alerts.rate_max = 1
    first = await a.alerts.raise_alert(kind="infrastructure", target="kafka", event="down", message="down")
    second = await b.alerts.raise_alert(kind="infrastructure", target="kafka", event="recovery", message="up")
    await settled(a, b)
    assert first is not None and second is not None
    assert (first.suppressed, second.suppressed) == (False, True)
    assert (sent_a.sent, sent_b.sent) == ([first.id], [])


async def test_silence_and_acknowledgement_are_the_same_on_both(pair: tuple[Replica, Replica]) -> None:
    (a, client_a, sent_a), (b, client_b, sent_b) = pair
    resp = await client_a.post(
        "/api/v1/alerts/silences", json={"target": "db-*", "duration_seconds": 60, "global": True}
    )
    assert resp.status_code == 201, resp.text
    silence_id = resp.json()["id"]
    listed = (await client_b.get("/api/v1/alerts/silences")).json()["silences"]
    assert [s["id"] for s in listed] == [silence_id]
    assert [s.id for s in b.alerts.silences()] == [silence_id]  # B's view followed the event

    await b.alerts.on_component_status(ComponentStatusChanged(component("db-main"), "healthy", "unhealthy"))
    await settled(a, b)
    (muted,) = await a.alerts.search(target="db-main")
    assert muted.silenced is True and sent_a.sent == sent_b.sent == []

    acked = await client_b.post(f"/api/v1/alerts/{muted.id}/acknowledge", json={"by": "oncall"})
    assert acked.status_code == 200 and acked.json()["acknowledged"] is True
    on_a = (await client_a.get("/api/v1/alerts", params={"target": "db-main"})).json()["alerts"]
    assert (on_a[0]["acknowledged"], on_a[0]["acknowledged_by"]) == (True, "oncall")
    assert a.alerts.history()[0]["acknowledged"] is True
    dashboard = (await client_a.get("/api/v1/dashboard/data")).json()["alerts"]
    assert [(x["id"], x["acknowledged"]) for x in dashboard] == [(muted.id, True)]

    assert (await client_b.delete(f"/api/v1/alerts/silences/{silence_id}")).status_code == 204
    assert (await client_a.get("/api/v1/alerts/silences")).json()["silences"] == []
    assert a.alerts.silences() == []


async def test_acknowledgement_is_kept_when_a_delivery_ends_later(pair: tuple[Replica, Replica]) -> None:
    (a, _, sent_a), (b, client_b, _) = pair
    sent_a.hold = asyncio.Event()
    await a.alerts.on_component_status(ComponentStatusChanged(component("queue"), "healthy", "unhealthy"))
    await asyncio.wait_for(sent_a.started.wait(), 10)
    (alert,) = await b.alerts.search(target="queue")
    assert (await client_b.post(f"/api/v1/alerts/{alert.id}/acknowledge")).status_code == 200
    sent_a.hold.set()
    await settled(a)
    (stored,) = await a.alerts.search(target="queue")
    assert stored.acknowledged is True and stored.deliveries == {"counting": "sent"}


async def test_circuit_state_is_shared_and_stored(pair: tuple[Replica, Replica]) -> None:
    (a, client_a, _), (b, client_b, _) = pair
    await a.registry.register("default", Registration(name="ml", host="127.0.0.1", port=1))
    for i in range(5):
        client = client_a if i % 2 else client_b
        resp = await client.post("/api/v1/circuits/ml/report", json={"success": False, "error": f"e{i}"})
        assert resp.status_code == 200, resp.text
    on_a = (await client_a.get("/api/v1/circuits/ml")).json()
    assert on_a["state"] == "OPEN" and on_a["failures_reported"] == 5 and on_a["last_error"] == "e4"
    assert timeless(b.circuits.get("default", "ml")) == timeless(on_a)  # B's view followed the event
    listed = (await client_b.get("/api/v1/circuits")).json()["circuits"]
    assert [timeless(c) for c in listed] == [timeless(on_a)]

    # reports racing on both replicas all count (one locked transaction each)
    outcomes = await asyncio.gather(
        *(
            (client_a if i % 2 else client_b).post("/api/v1/circuits/ml/report", json={"success": True})
            for i in range(10)
        )
    )
    assert [r.status_code for r in outcomes] == [200] * 10
    counted = (await client_b.get("/api/v1/circuits/ml")).json()
    assert counted["successes_reported"] == 10 and counted["failures_reported"] == 5
    on_a = (await client_a.get("/api/v1/circuits/ml")).json()

    # a fresh replica (a restart) reads the same circuit from the database
    fresh = Hub(a.settings, bus=MemoryEventBus())
    await fresh.start()
    try:
        assert timeless(fresh.circuits.get("default", "ml")) == timeless(on_a)
    finally:
        await fresh.stop()


async def test_a_status_change_moves_the_circuit_once(pair: tuple[Replica, Replica]) -> None:
    (a, client_a, _), (b, client_b, _) = pair
    inst, _ = await a.registry.register("default", Registration(name="pay", host="127.0.0.1", port=1))
    await a.registry.set_status(inst, InstanceStatus.CRITICAL)
    await settled(a, b)
    on_b = (await client_b.get("/api/v1/circuits/pay")).json()
    assert on_b["state"] == "OPEN" and on_b["reason"] == "health checks: no healthy instance"
    assert timeless(on_b) == timeless((await client_a.get("/api/v1/circuits/pay")).json())
    assert b.circuits._circuits[("default", "pay")].version == 1
