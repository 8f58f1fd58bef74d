"""Health probes: one coroutine per method, each returning a :class:`HealthCheckResult`.

A probe never raises for an unhealthy target (that is a result, not an error) and always
finishes within its ``timeout``; callers schedule, the probes only look.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from centralhub.health.models import HealthCheckResult

__all__ = [
    "HealthCheckResult",
    "check_http",
    "check_kafka_admin",
    "check_nats",
    "check_postgres",
    "check_redis_ping",
    "check_tcp",
]


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


async def check_http(
    client: httpx.AsyncClient, url: str, *, timeout: float, expect_status: tuple[int, int] = (200, 399)
) -> HealthCheckResult:
    """GET ``url``: healthy when the status code is within ``expect_status`` (inclusive)."""
    start = time.perf_counter()
    try:
        resp = await asyncio.wait_for(client.get(url, timeout=timeout), timeout + 0.5)
    except Exception as exc:
        return HealthCheckResult(False, _elapsed_ms(start), _describe(exc))
    elapsed = _elapsed_ms(start)
    low, high = expect_status
    meta = {"status_code": resp.status_code}
    if low <= resp.status_code <= high:
        return HealthCheckResult(True, elapsed, None, meta)
    return HealthCheckResult(False, elapsed, f"HTTP {resp.status_code}", meta)


async def check_tcp(host: str, port: int, *, timeout: float) -> HealthCheckResult:
    """Healthy when ``host:port`` accepts a TCP connection within ``timeout``."""
    start = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except Exception as exc:
        return HealthCheckResult(False, _elapsed_ms(start), _describe(exc))
    elapsed = _elapsed_ms(start)
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1)
    return HealthCheckResult(True, elapsed)


async def check_redis_ping(url: str, *, timeout: float) -> HealthCheckResult:
    """Redis / DragonflyDB: ``PING`` must answer ``PONG``."""
    import redis.asyncio as aioredis

    start = time.perf_counter()
    client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        await asyncio.wait_for(client.ping(), timeout + 0.5)
        return HealthCheckResult(True, _elapsed_ms(start))
    except Exception as exc:
        return HealthCheckResult(False, _elapsed_ms(start), _describe(exc))
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()


async def check_postgres(dsn: str, *, timeout: float, query: str = "SELECT 1") -> HealthCheckResult:
    """PostgreSQL: connect with asyncpg and run ``query`` (a real round trip, not just a socket)."""
    import asyncpg

    start = time.perf_counter()
    conn = None
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn, timeout=timeout), timeout + 0.5)
        value = await asyncio.wait_for(conn.fetchval(query), timeout)
        return HealthCheckResult(True, _elapsed_ms(start), metadata={"result": str(value)[:100]})
    except Exception as exc:
        return HealthCheckResult(False, _elapsed_ms(start), _describe(exc))
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)


async def check_nats(url: str, *, timeout: float) -> HealthCheckResult:
    """NATS: connect and ``flush`` (a PING/PONG round trip with the server). ``url`` may list a
    cluster's servers, comma-separated: healthy when one of them answers."""
    from nats.aio.client import Client

    from centralhub.core.wire import split_servers

    start = time.perf_counter()
    nc = Client()
    failures: list[Exception] = []

    async def record(exc: Exception) -> None:
        # the result carries the cause; nats-py would otherwise log a traceback per attempt
        failures.append(exc)

    try:
        # each server is tried once (max_reconnect_attempts=0 would retry for ever)
        await asyncio.wait_for(
            nc.connect(
                split_servers(url) or url,
                connect_timeout=max(1, round(timeout)),
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                error_cb=record,
                dont_randomize=True,
            ),
            timeout + 0.5,
        )
        await nc.flush(timeout=max(1, int(timeout)))
        return HealthCheckResult(
            True,
            _elapsed_ms(start),
            metadata={"server": nc.connected_url.netloc if nc.connected_url else None},
        )
    except Exception as exc:
        return HealthCheckResult(False, _elapsed_ms(start), _describe(failures[-1] if failures else exc))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 2)


async def check_kafka_admin(bootstrap: str, *, timeout: float) -> HealthCheckResult:
    """Kafka: an admin client lists topics (the broker answers metadata requests)."""
    try:
        from aiokafka.admin import AIOKafkaAdminClient
    except ImportError:  # aiokafka comes with the optional `kafka` extra, not with the hub
        return HealthCheckResult(False, 0.0, "kafka_admin needs aiokafka: install centralhub[kafka]")

    start = time.perf_counter()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    started = False
    try:
        await asyncio.wait_for(admin.start(), timeout + 0.5)
        started = True
        topics = await asyncio.wait_for(admin.list_topics(), timeout)
        return HealthCheckResult(True, _elapsed_ms(start), metadata={"topics": len(topics)})
    except Exception as exc:
        return HealthCheckResult(False, _elapsed_ms(start), _describe(exc))
    finally:
        if started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 2)
