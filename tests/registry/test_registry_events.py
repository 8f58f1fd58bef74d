"""What the registry does around its writes: events off the write path, supervised background
work, transactions owned by the caller, and one timestamp format in its answers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from centralhub.core.time import ManualClock, parse_rfc3339
from centralhub.hub import Hub
from centralhub.registry import repository
from centralhub.registry.models import Instance, InstanceStatus, InstanceStatusChanged, Registration
from centralhub.sdk.client import ServiceView, _pick_locally
from tests.support import wait_until

RFC3339_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


async def test_a_blocked_status_listener_delays_neither_expiry_nor_removal(
    hub: Hub, clock: ManualClock
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    seen: list[tuple[str, str]] = []

    async def blocked(inst: Instance, old: InstanceStatus, new: InstanceStatus) -> None:
        seen.append((old.value, new.value))
        entered.set()
        await release.wait()

    hub.registry.add_status_listener(blocked)
    inst, _ = await hub.registry.register(
        "default", Registration(name="slow-alerts", host="h", port=1, ttl_seconds=5)
    )
    try:
        clock.advance(6)
        async with asyncio.timeout(5):
            await hub.registry.expire()  # marks it critical and returns though the listener blocks
        assert inst.status == InstanceStatus.CRITICAL
        stored = await hub.registry.get_stored(inst.id)
        assert stored is not None and stored.status == InstanceStatus.CRITICAL
        await wait_until(entered.is_set, what="the listener was called")
        assert seen == [("passing", "critical")]

        clock.advance(2)  # past the 1 s removal grace of these tests
        async with asyncio.timeout(5):
            await hub.registry.expire()
        assert await hub.registry.get_stored(inst.id) is None
        assert hub.registry.instances("default", "slow-alerts") == []
    finally:
        release.set()


async def test_status_changes_are_emitted_as_domain_events(hub: Hub, clock: ManualClock) -> None:
    got: list[InstanceStatusChanged] = []

    async def on_change(event: InstanceStatusChanged) -> None:
        got.append(event)

    hub.events.subscribe(InstanceStatusChanged, on_change)
    inst, _ = await hub.registry.register(
        "default", Registration(name="evented", host="h", port=1, ttl_seconds=1)
    )
    await hub.registry.set_status(inst, InstanceStatus.WARNING)
    clock.advance(2)
    await wait_until(lambda: len(got) >= 2, what="two status events")
    assert [(e.instance.id, e.old, e.new) for e in got[:2]] == [
        (inst.id, InstanceStatus.PASSING, InstanceStatus.WARNING),
        (inst.id, InstanceStatus.WARNING, InstanceStatus.CRITICAL),
    ]
    await hub.registry.heartbeat("default", "evented", inst.id)
    await wait_until(lambda: len(got) == 3, what="the revival event")
    assert (got[2].old, got[2].new) == (InstanceStatus.CRITICAL, InstanceStatus.PASSING)


async def test_a_crashed_reaper_is_restarted_and_reported(
    hub: Hub, client: httpx.AsyncClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_expire = hub.registry.expire
    crashes = 0

    async def crash_once() -> None:
        nonlocal crashes
        if crashes == 0:
            crashes += 1
            raise RuntimeError("injected reaper failure")
        await real_expire()

    monkeypatch.setattr(hub.registry, "expire", crash_once)
    await wait_until(lambda: hub.supervisor.report()["registry-reaper"]["restarts"] >= 1, what="a restart")
    tasks = (await client.get("/health")).json()["checks"]["tasks"]
    assert tasks["registry-reaper"]["restarts"] >= 1
    assert "injected reaper failure" in tasks["registry-reaper"]["last_error"]
    assert tasks["registry-heartbeats"]["state"] == "running"

    # the restarted reaper does its job
    reg = (
        await client.post(
            "/api/v1/services/register", json={"name": "reaped", "host": "h", "port": 1, "ttl_seconds": 1}
        )
    ).json()
    clock.advance(2)
    inst = hub.registry.get_instance("default", "reaped", reg["instance_id"])
    await wait_until(lambda: inst.status == InstanceStatus.CRITICAL, what="expiry after the restart")


async def test_registry_writes_join_the_callers_transaction(hub: Hub) -> None:
    inst, _ = await hub.registry.register("default", Registration(name="flagged", host="h", port=1))

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with hub.database.engine.begin() as conn:
            await repository.set_contract_validated(conn, tenant="default", service="flagged", value=True)
            assert (await repository.get(conn, inst.id)).contract_validated is True  # type: ignore[union-attr]
            raise Abort  # the caller's transaction rolls back, the repository committed nothing
    stored = await hub.registry.get_stored(inst.id)
    assert stored is not None and stored.contract_validated is False

    async with hub.database.engine.begin() as conn:
        await repository.set_contract_validated(conn, tenant="default", service="flagged", value=True)
    await hub.registry.contract_validated_changed("default", "flagged", True)
    assert hub.registry.get_instance("default", "flagged", inst.id).contract_validated is True
    assert (await hub.registry.get_stored(inst.id)).contract_validated is True  # type: ignore[union-attr]


async def test_every_time_in_registry_answers_is_rfc3339_ms_utc(
    client: httpx.AsyncClient, hub: Hub, clock: ManualClock
) -> None:
    reg = await client.post("/api/v1/services/register", json={"name": "timed", "host": "h", "port": 1})
    body = reg.json()
    answers: list[dict[str, Any]] = [body["instance"]]
    answers += (await client.get("/api/v1/services/timed")).json()["instances"]
    answers += (await client.get("/api/v1/services/timed?status=healthy")).json()["instances"]
    answers += (await client.get("/api/v1/services")).json()["services"][0]["instances"]
    for inst in answers:
        for key in ("registered_at", "last_seen"):
            assert inst[key] is not None and re.match(RFC3339_MS, inst[key]), (key, inst[key])
            assert parse_rfc3339(inst[key]) == pytest.approx(clock.now, abs=0.001)
        assert inst["critical_since"] is None
    # the bus between replicas keeps epoch seconds
    [stored] = hub.registry.instances("default", "timed")
    assert isinstance(stored.to_dict()["last_seen"], float)


def _view(*loads: float) -> ServiceView:
    instances = [
        {"instance_id": f"i{n}", "status": "passing", "load": load, "weight": 1, "url": f"http://h:{n}"}
        for n, load in enumerate(loads)
    ]
    return ServiceView("svc", instances, 0.0)


async def test_sdk_and_hub_choose_the_same_instances(hub: Hub) -> None:
    """The SDK's choice from its cached view follows the hub's rule, least-load ties included."""
    loads = (0.5, 0.1, 0.1, 0.9, 0.1)
    for n, load in enumerate(loads):
        inst, _ = await hub.registry.register("default", Registration(name="tied", host="h", port=n + 1))
        inst.load = load
    ids = sorted(i.id for i in hub.registry.instances("default", "tied"))
    by_id = {i.id: i for i in hub.registry.instances("default", "tied")}
    view = ServiceView(
        "tied",
        [{"instance_id": i, "status": "passing", "load": by_id[i].load, "weight": 1} for i in ids],
        0.0,
    )
    for strategy in ("least_load", "round_robin"):
        hub_picks = [hub.registry.select_endpoint("default", "tied", strategy).id for _ in range(6)]
        sdk_picks = [_pick_locally(view, strategy)["instance_id"] for _ in range(6)]
        assert hub_picks == sdk_picks, strategy
    view = _view(0.5, 0.1, 0.1)
    assert [_pick_locally(view, "least_load")["instance_id"] for _ in range(3)] == ["i1", "i2", "i1"]
    with pytest.raises(ValueError, match="strategy"):
        _pick_locally(_view(0.1), "fastest")
