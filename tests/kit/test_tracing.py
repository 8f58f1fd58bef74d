"""Correlation ids across an httpx call into an ASGI app, and RequestTracer spans."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from centralhub.kit import (
    CORRELATION_HEADER,
    CorrelationIdMiddleware,
    RequestTracer,
    StandardResponse,
    async_correlation_hook,
    correlation_scope,
    get_correlation_id,
)

downstream_seen: list[str | None] = []


async def downstream(request: Request) -> JSONResponse:
    downstream_seen.append(get_correlation_id())
    return JSONResponse(StandardResponse.ok({"hello": "world"}).to_dict())


async def upstream(request: Request) -> JSONResponse:
    # The upstream service calls another one; its id must travel along untouched.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()),
        base_url="http://downstream",
        event_hooks={"request": [async_correlation_hook]},
        timeout=5,
    ) as client:
        reply = await client.get("/data")
    return JSONResponse({"mine": get_correlation_id(), "downstream": reply.json()})


def make_app() -> CorrelationIdMiddleware:
    app = Starlette(routes=[Route("/data", downstream), Route("/chain", upstream)])
    return CorrelationIdMiddleware(app)


@pytest.fixture
def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app()),
        base_url="http://svc",
        event_hooks={"request": [async_correlation_hook]},
        timeout=5,
    )


async def test_current_id_travels_through_two_services(client: httpx.AsyncClient) -> None:
    downstream_seen.clear()
    async with client, asyncio.timeout(10):
        with correlation_scope("req-12345"):
            reply = await client.get("/chain")
    assert reply.headers[CORRELATION_HEADER] == "req-12345"
    body = reply.json()
    assert body["mine"] == "req-12345"
    assert body["downstream"]["correlation_id"] == "req-12345"
    assert downstream_seen == ["req-12345"]
    assert get_correlation_id() is None, "the scope must not leak"


async def test_server_mints_an_id_when_none_is_sent(client: httpx.AsyncClient) -> None:
    async with client, asyncio.timeout(10):
        first = await client.get("/data")
        second = await client.get("/data")
    a, b = first.headers[CORRELATION_HEADER], second.headers[CORRELATION_HEADER]
    assert a and b and a != b
    assert first.json()["correlation_id"] == a


async def test_invalid_incoming_id_is_replaced(client: httpx.AsyncClient) -> None:
    async with client, asyncio.timeout(10):
        reply = await client.get("/data", headers={CORRELATION_HEADER: "x" * 500})
    assert reply.headers[CORRELATION_HEADER] != "x" * 500
    assert len(reply.headers[CORRELATION_HEADER]) == 32


async def test_ids_do_not_bleed_between_concurrent_tasks() -> None:
    async def work(cid: str) -> str | None:
        with correlation_scope(cid):
            await asyncio.sleep(0.01)
            return get_correlation_id()

    results = await asyncio.gather(*(work(f"id-{i}") for i in range(20)))
    assert results == [f"id-{i}" for i in range(20)]


def test_tracer_records_nested_spans_metadata_and_errors() -> None:
    tracer = RequestTracer(service_name="orders")
    with tracer.trace("process_order", "req-1") as outer:
        assert get_correlation_id() == "req-1"
        with tracer.trace("charge") as inner:
            tracer.add_metadata("req-1", {"order_id": "ORD-123"})
            tracer.add_error("req-1", "email failed")
        with pytest.raises(RuntimeError), tracer.trace("ship"):
            raise RuntimeError("no courier")
    spans = tracer.get_trace("req-1")
    assert [s.name for s in spans] == ["process_order", "charge", "ship"]
    assert inner.parent_id == outer.span_id and outer.parent_id is None
    assert inner.metadata == {"order_id": "ORD-123"} and inner.errors == ["email failed"]
    assert spans[2].errors == ["RuntimeError: no courier"] and not spans[2].ok
    assert all(s.duration_ms is not None and s.duration_ms >= 0 for s in spans)
    with pytest.raises(KeyError, match="unknown"):
        tracer.add_metadata("unknown", {})


def test_bad_correlation_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="correlation id"), correlation_scope("has space"):
        pass
