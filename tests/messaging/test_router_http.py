"""MessagingRouter routes by UseCase; the HTTP transport carries envelopes and correlation ids."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from centralhub.kit import CorrelationIdMiddleware, correlation_scope, get_correlation_id
from centralhub.sdk.messaging import (
    HTTPMessagingClient,
    Message,
    MessagingError,
    MessagingRouter,
    NATSMessagingClient,
    RequestReplyPattern,
    UnsupportedOperation,
    UseCase,
    envelope_endpoint,
)
from tests.support import wait_until

Factory = Callable[..., Awaitable[NATSMessagingClient]]


def rpc_app(calls: list[tuple[str, Any, str | None]]) -> CorrelationIdMiddleware:
    async def price(message: Message) -> dict[str, Any]:
        calls.append((message.subject, message.json(), get_correlation_id()))
        return {"price": 1.5}

    async def audit(message: Message) -> None:
        calls.append((message.subject, message.json(), get_correlation_id()))

    async def broken(message: Message) -> None:
        raise RuntimeError("pricing engine down")

    app = Starlette(
        routes=[
            Route("/pricing.quote", envelope_endpoint(price), methods=["POST"]),
            Route("/audit.log", envelope_endpoint(audit), methods=["POST"]),
            Route("/pricing.broken", envelope_endpoint(broken), methods=["POST"]),
        ]
    )
    return CorrelationIdMiddleware(app)


def http_client(calls: list[tuple[str, Any, str | None]]) -> HTTPMessagingClient:
    return HTTPMessagingClient(
        "http://pricing", service_name="gateway", transport=httpx.ASGITransport(app=rpc_app(calls))
    )


async def test_http_request_reply_and_publish_keep_correlation_id() -> None:
    calls: list[tuple[str, Any, str | None]] = []
    async with http_client(calls) as client, asyncio.timeout(10):
        with correlation_scope("req-http-1"):
            reply = await RequestReplyPattern(client).request("pricing.quote", {"symbol": "EURUSD"})
            await client.publish("audit.log", {"event": "quoted"})
        assert reply.json() == {"price": 1.5} and reply.correlation_id == "req-http-1"
        assert calls == [
            ("pricing.quote", {"symbol": "EURUSD"}, "req-http-1"),
            ("audit.log", {"event": "quoted"}, "req-http-1"),
        ]
        with pytest.raises(MessagingError, match="pricing engine down"):
            await RequestReplyPattern(client).request("pricing.broken", {})
        with pytest.raises(MessagingError, match="answered 404"):
            await client.publish("nowhere", {})
        with pytest.raises(UnsupportedOperation, match="does not support subscribe"):
            await client.subscribe("x", lambda m: None)


@pytest.mark.nats
async def test_router_routes_by_use_case(make_client: Factory, unique: Callable[[str], str]) -> None:
    nats_client = await make_client("router")
    calls: list[tuple[str, Any, str | None]] = []
    router = MessagingRouter()
    router.register_client(UseCase.REAL_TIME_EVENTS, nats_client)
    router.register_client("rpc_calls", http_client(calls))
    await router.connect_all()
    assert router.routes() == {UseCase.REAL_TIME_EVENTS: "nats", UseCase.RPC_CALLS: "http"}

    topic = unique("ticks")
    got: list[Any] = []
    await router.subscribe(UseCase.REAL_TIME_EVENTS, topic, lambda m: got.append(m.json()))
    await router.send(UseCase.REAL_TIME_EVENTS, topic, {"bid": 1})
    reply = await router.request(UseCase.RPC_CALLS, "pricing.quote", {"symbol": "X"}, timeout=5)
    await wait_until(lambda: got, timeout=10, what="the event over NATS")
    assert got == [{"bid": 1}], "the event went over NATS"
    assert [c[0] for c in calls] == ["pricing.quote"], "only the RPC went over HTTP"
    assert reply.json() == {"price": 1.5}

    with pytest.raises(MessagingError, match="batch_processing"):
        await router.send(UseCase.BATCH_PROCESSING, "t", {})
    with pytest.raises(ValueError, match="unknown use case 'carrier_pigeon'"):
        router.register_client("carrier_pigeon", nats_client)
    router.default = nats_client
    assert router.client_for(UseCase.BATCH_PROCESSING) is nats_client
    await router.close_all()
