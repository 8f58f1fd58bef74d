"""The private servers fault tests rely on really start, stop and route."""

from __future__ import annotations

import asyncio

import asyncpg
import nats

from tests.fault_support import NatsFactory, PrivatePostgres, port_open


async def test_nats_cluster_routes_messages_between_nodes(nats_server_factory: NatsFactory) -> None:
    a, b, _ = nats_server_factory.cluster(3)
    sub_nc = await nats.connect(b.url)
    pub_nc = await nats.connect(a.url)
    try:
        sub = await sub_nc.subscribe("fault.check")
        await sub_nc.flush()
        got = None
        for _ in range(50):  # interest crosses the route shortly after the subscription
            await pub_nc.publish("fault.check", b"hello")
            try:
                got = await sub.next_msg(timeout=0.2)
                break
            except nats.errors.TimeoutError:
                continue
        assert got is not None and got.data == b"hello"
    finally:
        await sub_nc.close()
        await pub_nc.close()
    a.kill()
    assert not port_open(a.port)


async def test_private_postgres_stops_and_starts(private_postgres: PrivatePostgres) -> None:
    conn = await asyncpg.connect(private_postgres.url)
    assert await conn.fetchval("SELECT 1") == 1
    await conn.close()
    await asyncio.to_thread(private_postgres.stop)
    assert not port_open(private_postgres.port)
    await asyncio.to_thread(private_postgres.start)
    conn = await asyncpg.connect(private_postgres.url)
    assert await conn.fetchval("SELECT 2") == 2
    await conn.close()
