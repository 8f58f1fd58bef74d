"""Sharing out checks and status writes between replicas, without processes: the rendezvous rule,
and the conditional status write that lets one of several replicas announce a change."""

from __future__ import annotations

import asyncio
from typing import Any

from centralhub.core.events.memory import MemoryEventBus
from centralhub.hub import Hub
from centralhub.registry.models import (
    InstanceStatus,
    InstanceStatusChanged,
    InstanceStatusSynced,
    Registration,
)
from centralhub.replicas.models import owner_of
from tests.conftest import make_settings, reset_database


def test_rendezvous_gives_each_key_one_owner_and_moves_only_the_departed_ones() -> None:
    replicas = ["r-a", "r-b", "r-c"]
    keys = [f"default/svc/{i:04d}" for i in range(3000)]
    owners = {k: owner_of(k, replicas) for k in keys}
    # the order replicas are listed in does not matter: every replica computes the same owner
    assert owners == {k: owner_of(k, list(reversed(replicas))) for k in keys}
    shares = {r: sum(1 for o in owners.values() if o == r) for r in replicas}
    assert all(800 <= n <= 1200 for n in shares.values()), shares
    after = {k: owner_of(k, ["r-a", "r-c"]) for k in keys}
    moved = {k for k in keys if after[k] != owners[k]}
    # only r-b's keys move, and they spread over both survivors
    assert moved == {k for k, o in owners.items() if o == "r-b"}
    assert {after[k] for k in moved} == {"r-a", "r-c"}
    assert owner_of("x", []) is None


async def test_two_replicas_expiring_one_instance_announce_it_once(pg_database: str) -> None:
    # replicas share PostgreSQL (one SQLite file serves one hub)
    database_url = pg_database
    await reset_database(database_url)
    # separate in-process buses: neither replica hears of the other's write, as in a race
    settings = make_settings(database_url, reaper_interval_seconds=3600)
    a = Hub(settings, bus=MemoryEventBus())
    await a.start()
    reg = Registration(name="lapsed", host="h", port=1, ttl_seconds=1)
    inst, _ = await a.registry.register("default", reg)
    b = Hub(settings, bus=MemoryEventBus())
    await b.start()
    changed: list[Any] = []
    synced: list[Any] = []
    for hub in (a, b):

        async def on_changed(event: InstanceStatusChanged, hub: Hub = hub) -> None:
            changed.append((hub.registry.replica_id, event.new))

        async def on_synced(event: InstanceStatusSynced, hub: Hub = hub) -> None:
            synced.append((hub.registry.replica_id, event.new))

        hub.events.subscribe(InstanceStatusChanged, on_changed)
        hub.events.subscribe(InstanceStatusSynced, on_synced)
    try:
        await asyncio.sleep(1.2)
        await asyncio.gather(a.registry.expire(), b.registry.expire())
        await a.events.drain()
        await b.events.drain()
        assert len(changed) == 1 and changed[0][1] == InstanceStatus.CRITICAL, changed
        loser = ({a.registry.replica_id, b.registry.replica_id} - {changed[0][0]}).pop()
        assert synced == [(loser, InstanceStatus.CRITICAL)]
        for hub in (a, b):
            assert hub.registry.get_instance("default", "lapsed", inst.id).status == InstanceStatus.CRITICAL
        assert (await a.registry.get_stored(inst.id)).status == InstanceStatus.CRITICAL  # type: ignore[union-attr]
    finally:
        await b.stop()
        await a.stop()
