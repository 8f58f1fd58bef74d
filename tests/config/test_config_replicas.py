"""Two hub replicas on one PostgreSQL database and one NATS: configuration reads answer from each
replica's memory, yet a write acknowledged by one replica is read back from the other (after
the announcement crosses the bus), and writes on both build one contiguous history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from centralhub.config import repository
from centralhub.config.models import ConfigVersion
from centralhub.core.settings import load_settings
from centralhub.hub import Hub
from centralhub.server.app import create_app
from tests.support import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def replicas(fresh_pg: str, nats_url: str) -> AsyncIterator[list[tuple[Hub, httpx.AsyncClient]]]:
    cluster = f"cfgview_{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        env={},
        database_url=fresh_pg,
        nats_url=nats_url,
        cluster=cluster,
        rate_limit_per_minute=10**9,
        rate_limit_burst=10**9,
    )
    hubs = [Hub(settings), Hub(settings)]
    out: list[tuple[Hub, httpx.AsyncClient]] = []
    try:
        for hub in hubs:
            await hub.start()
            transport = httpx.ASGITransport(app=create_app(settings, hub=hub))
            out.append((hub, httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10)))
        for hub in hubs:
            await wait_until(lambda hub=hub: hub.bus.connected, timeout=10, what="replica on NATS")
        yield out
    finally:
        for _hub, client in out:
            await client.aclose()
        for hub in hubs:
            await hub.stop()


async def _read(client: httpx.AsyncClient, name: str) -> Any:
    resp = await client.get(f"/api/v1/config/{name}")
    return resp.json() if resp.status_code == 200 else resp.status_code


async def test_a_write_on_one_replica_is_read_back_on_the_other(
    replicas: list[tuple[Hub, httpx.AsyncClient]],
) -> None:
    (_a, a), (b_hub, b) = replicas
    name = f"svc-{uuid.uuid4().hex[:8]}"
    for i in range(1, 4):
        written = await a.post(f"/api/v1/config/{name}", json={"i": i})
        assert written.json()["revision"] == i
        await wait_until(
            lambda i=i: b_hub.config_service.watcher.known(("default", name)) >= i,
            timeout=5,
            what="the announcement on the other replica",
        )
        # once the announcement is in, the other replica never answers an older revision
        for _ in range(3):
            read = await _read(b, name)
            assert (read["revision"], read["config"]) == (i, {"i": i})
    # writes alternate between the replicas: one history, no revision lost or repeated
    for i in range(4, 10):
        writer = a if i % 2 else b
        written = await writer.post(f"/api/v1/config/{name}", json={"i": i})
        assert (written.status_code, written.json()["revision"]) == (200, i), written.text
    for hub, client in replicas:
        await wait_until(
            lambda hub=hub: hub.config_service.watcher.known(("default", name)) == 9, timeout=5, what="r9"
        )
        read = await _read(client, name)
        assert (read["revision"], read["config"]) == (9, {"i": 9})


async def test_a_change_whose_announcement_was_lost_is_found_by_the_revision_check(
    replicas: list[tuple[Hub, httpx.AsyncClient]],
) -> None:
    (a_hub, a), (b_hub, b) = replicas
    name = f"svc-{uuid.uuid4().hex[:8]}"
    assert (await a.post(f"/api/v1/config/{name}", json={"v": 1})).status_code == 200
    await wait_until(lambda: b_hub.config_service.watcher.known(("default", name)) == 1, timeout=5, what="r1")
    b_hub.config_service.watcher.poll_interval = 0.05
    b_hub.config_service.watcher.safety_poll_interval = 0.2
    # a replica stored revision 2 and died before announcing it
    async with a_hub.database.engine.begin() as conn:
        await repository.create(
            conn, version=ConfigVersion("default", name, 2, "1.0.1", {"v": 2}, "lost", 1.0e9)
        )

    async def fresh() -> bool:
        read = await _read(b, name)
        return isinstance(read, dict) and read["revision"] == 2

    await wait_until(fresh, timeout=10, what="the revision check finding the unannounced version")
    assert (await _read(b, name))["config"] == {"v": 2}
