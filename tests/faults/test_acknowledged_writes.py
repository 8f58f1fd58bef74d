"""Nothing the hub acknowledged is lost when its process is killed with SIGKILL mid-write.

A hub process takes 500 concurrent configuration updates of one service, registrations and
heartbeats; it is killed with ``kill -9`` once about 150 updates have been answered, then
started again on the same database. Every acknowledged revision must be there with the body
that was sent, revisions must run 1..N without gaps or duplicates, every acknowledged
registration must be listed, and every answered heartbeat must be in the database. With two
replicas on one PostgreSQL sharing the updates, killing one leaves the other answering every
update it takes, and the history holds what both acknowledged.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from centralhub.core.database import Database
from centralhub.core.tables import service_instances
from centralhub.registry.heartbeats import HeartbeatBatcher
from tests.conftest import HubProcess
from tests.faults.durable_support import DatabaseFactory, fresh_database
from tests.support import wait_until

__all__ = ["fresh_database"]

UPDATES = 500
KILL_AFTER = 150
REGISTRATIONS = 200
BEATING = 20
SERVICE = "durable-config"


@dataclass
class Outcome:
    """What the clients saw: acknowledged writes, refusals and requests cut off by the kill."""

    revisions: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    cut_off: int = 0
    #: why requests got no answer (exception class -> count)
    errors: dict[str, int] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
    #: instance id -> wall time just before sending its last answered heartbeat
    beat_sent: dict[str, float] = field(default_factory=dict)


async def _config_update(
    client: httpx.AsyncClient, seq: int, outcome: Outcome, killed: asyncio.Event, kill: Any
) -> None:
    body = {"seq": seq, "nonce": uuid.uuid4().hex, "nested": {"list": [seq, str(seq)]}}
    try:
        r = await client.post(f"/api/v1/config/{SERVICE}", json=body)
    except httpx.HTTPError as exc:
        outcome.cut_off += 1
        outcome.errors[type(exc).__name__] = outcome.errors.get(type(exc).__name__, 0) + 1
        return
    outcome.statuses[r.status_code] = outcome.statuses.get(r.status_code, 0) + 1
    if r.is_success:
        revision = r.json()["revision"]
        assert revision not in outcome.revisions, f"revision {revision} acknowledged twice"
        outcome.revisions[revision] = body
        if len(outcome.revisions) >= KILL_AFTER and not killed.is_set():
            killed.set()
            kill()


async def _register(client: httpx.AsyncClient, n: int, outcome: Outcome) -> None:
    body = {"name": "durable-reg", "host": f"10.1.{n // 250}.{n % 250 + 1}", "port": 9000 + n}
    try:
        r = await client.post("/api/v1/services/register", json=body)
    except httpx.HTTPError:
        return
    if r.status_code == 201:
        outcome.registered.add(r.json()["instance_id"])


async def _beat_forever(client: httpx.AsyncClient, instance_id: str, outcome: Outcome) -> None:
    while True:
        sent = time.time()
        try:
            r = await client.post(f"/api/v1/services/durable-beat/instances/{instance_id}/heartbeat")
        except httpx.HTTPError:
            return
        if r.status_code == 200:
            outcome.beat_sent[instance_id] = sent


async def _stored_last_seen(database_url: str) -> dict[str, float]:
    """Read the dead hub's database directly: what a restart would find."""
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(service_instances.c.id, service_instances.c.last_seen))).all()
    finally:
        await db.close()
    return {r[0]: (r[1] if r[1].tzinfo else r[1].replace(tzinfo=UTC)).timestamp() for r in rows}


async def _revision_bodies(client: httpx.AsyncClient, revisions: list[int]) -> dict[int, Any]:
    sem = asyncio.Semaphore(20)

    async def one(rev: int) -> tuple[int, Any]:
        async with sem:
            r = await client.get(f"/api/v1/config/{SERVICE}/versions/{rev}")
            assert r.status_code == 200, (rev, r.text)
            return rev, r.json()["config"]

    return dict(await asyncio.gather(*(one(rev) for rev in revisions)))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_kill_9_loses_no_acknowledged_write(
    kind: str, fresh_database: DatabaseFactory, hub_process_factory: Any
) -> None:
    database_url = fresh_database(kind)
    hub: HubProcess = await asyncio.to_thread(hub_process_factory, database_url=database_url)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    outcome = Outcome()
    killed = asyncio.Event()

    def kill() -> None:
        assert hub.proc is not None
        hub.proc.send_signal(signal.SIGKILL)

    async with httpx.AsyncClient(base_url=hub.url, timeout=30, limits=limits) as client:
        beating = []
        for n in range(BEATING):
            reg = {"name": "durable-beat", "host": "10.2.0.1", "port": 7000 + n}
            r = await client.post("/api/v1/services/register", json=reg)
            assert r.status_code == 201, r.text
            beating.append(r.json()["instance_id"])
        beats = [asyncio.create_task(_beat_forever(client, i, outcome)) for i in beating]
        await wait_until(lambda: len(outcome.beat_sent) == BEATING, what="a first answered heartbeat each")
        # interleaved, so registrations are in flight alongside the updates when the kill comes
        writes: list[Any] = [_config_update(client, seq, outcome, killed, kill) for seq in range(UPDATES)]
        for n in range(REGISTRATIONS):
            writes.insert(n * UPDATES // REGISTRATIONS, _register(client, n, outcome))
        await asyncio.wait_for(asyncio.gather(*writes), timeout=40)
        await asyncio.wait_for(asyncio.gather(*beats), timeout=10)

    assert killed.is_set(), f"the hub answered fewer than {KILL_AFTER} updates: {outcome.statuses}"
    assert hub.proc is not None and hub.proc.wait(10) == -signal.SIGKILL
    print(
        f"\n{kind}: {len(outcome.revisions)} updates acknowledged, answers {outcome.statuses}, "
        f"{outcome.cut_off} cut off; {len(outcome.registered)} registrations acknowledged; "
        f"{len(outcome.beat_sent)} instances with answered heartbeats"
    )
    assert outcome.statuses.get(503, 0) == 0, f"concurrent writers were refused: {outcome.statuses}"
    assert set(outcome.statuses) <= {200}, outcome.statuses

    # heartbeats answered before the kill are in the database the next start loads
    stored = await _stored_last_seen(database_url)
    assert len(outcome.beat_sent) == BEATING
    late = {i: (stored.get(i), sent) for i, sent in outcome.beat_sent.items() if stored.get(i, 0) < sent}
    assert late == {}, f"answered heartbeats missing from the database: {late}"

    await asyncio.to_thread(hub.start)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30, limits=limits) as client:
        r = await client.get(f"/api/v1/config/history/{SERVICE}", params={"limit": 1000})
        assert r.status_code == 200, r.text
        revisions = [e["revision"] for e in r.json()["history"]]
        assert len(revisions) == len(set(revisions)), "duplicate revisions"
        assert sorted(revisions) == list(range(1, len(revisions) + 1)), "gaps in the revisions"
        assert len(revisions) >= len(outcome.revisions)
        bodies = await _revision_bodies(client, revisions)
        for revision, sent in outcome.revisions.items():
            assert bodies[revision] == sent, f"revision {revision} holds {bodies[revision]}, sent {sent}"
        # revisions stored but cut off before their answer hold bodies that were sent, each once
        nonces = [b["nonce"] for b in bodies.values()]
        assert len(nonces) == len(set(nonces)), "one update stored twice"
        assert all(0 <= b["seq"] < UPDATES for b in bodies.values())

        r = await client.get("/api/v1/services/durable-reg")
        assert r.status_code == 200, r.text
        listed = {i["instance_id"] for i in r.json()["instances"]}
        assert outcome.registered <= listed, f"acknowledged registrations lost: {outcome.registered - listed}"

        r = await client.get("/api/v1/services/durable-beat")
        assert r.status_code == 200, r.text
        alive = {i["instance_id"]: i["status"] for i in r.json()["instances"]}
        assert alive == {i: "passing" for i in beating}


async def test_a_heartbeat_whose_batch_failed_is_stored_before_its_caller_is_answered() -> None:
    """A caller adds its heartbeat, the writer takes the batch, and only then the caller starts
    waiting: if that batch fails, the next one must store the heartbeat before answering."""
    stored: list[dict[str, float]] = []
    taken = asyncio.Event()
    release = asyncio.Event()

    async def store(batch: dict[str, float]) -> None:
        if not stored and not release.is_set():
            taken.set()
            await release.wait()
            raise ConnectionError("database went away")
        stored.append(dict(batch))

    async def announce(_batch: dict[str, float]) -> None:
        return None

    batcher = HeartbeatBatcher(store, after_store=announce, flush_interval=0.001)
    batcher.add("instance-1", 1000.0)
    failing = asyncio.create_task(batcher.flush())
    await asyncio.wait_for(taken.wait(), 5)
    caller = asyncio.create_task(batcher.stored())
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(failing, 5)
    await batcher.flush()
    await asyncio.wait_for(caller, 5)
    assert stored == [{"instance-1": 1000.0}]


async def test_kill_9_of_one_replica_loses_nothing_and_the_other_carries_on(
    fresh_database: DatabaseFactory, hub_process_factory: Any
) -> None:
    """Two replicas on one PostgreSQL take the updates of one service together; one is killed."""
    database_url = fresh_database("postgres")
    doomed: HubProcess = await asyncio.to_thread(hub_process_factory, database_url=database_url)
    survivor: HubProcess = await asyncio.to_thread(hub_process_factory, database_url=database_url)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    doomed_outcome, survivor_outcome = Outcome(), Outcome()
    killed = asyncio.Event()
    acknowledged = doomed_outcome.revisions  # the kill counts the doomed replica's answers

    def kill() -> None:
        assert doomed.proc is not None
        doomed.proc.send_signal(signal.SIGKILL)

    async with (
        httpx.AsyncClient(base_url=doomed.url, timeout=30, limits=limits) as to_doomed,
        httpx.AsyncClient(base_url=survivor.url, timeout=30, limits=limits) as to_survivor,
    ):
        writes = [
            _config_update(to_doomed, seq, doomed_outcome, killed, kill)
            if seq % 2
            else _config_update(to_survivor, seq, survivor_outcome, asyncio.Event(), lambda: None)
            for seq in range(UPDATES)
        ]
        await asyncio.wait_for(asyncio.gather(*writes), timeout=45)
        print(
            f"\ndoomed replica: {len(acknowledged)} acknowledged, {doomed_outcome.statuses}, "
            f"{doomed_outcome.cut_off} cut off; surviving replica: {survivor_outcome.statuses} "
            f"{survivor_outcome.errors}"
        )
        assert killed.is_set(), f"the doomed replica answered fewer than {KILL_AFTER} updates"
        # the surviving replica refuses nothing (a connection error is no refusal, and no answer)
        assert set(survivor_outcome.statuses) == {200}, (survivor_outcome.statuses, survivor_outcome.errors)
        assert survivor_outcome.cut_off <= 2, survivor_outcome.errors
        assert set(doomed_outcome.statuses) <= {200}, doomed_outcome.statuses

        r = await to_survivor.get(f"/api/v1/config/history/{SERVICE}", params={"limit": 1000})
        assert r.status_code == 200, r.text
        revisions = [e["revision"] for e in r.json()["history"]]
        assert sorted(revisions) == list(range(1, len(revisions) + 1)), "gaps or duplicate revisions"
        bodies = await _revision_bodies(to_survivor, revisions)
    every = {**doomed_outcome.revisions, **survivor_outcome.revisions}
    assert len(every) == len(doomed_outcome.revisions) + len(survivor_outcome.revisions), "one revision twice"
    for revision, sent in every.items():
        assert bodies[revision] == sent, f"revision {revision} holds {bodies[revision]}, sent {sent}"
    nonces = [b["nonce"] for b in bodies.values()]
    assert len(nonces) == len(set(nonces)), "one update stored twice"
