"""The webhook channel against a real HTTP receiver on 127.0.0.1: retries, backoff, giving up."""

from __future__ import annotations

import socket
import time

import pytest
from health_support import LocalHTTPServer

from centralhub.alerts.channels import WebhookChannel
from centralhub.alerts.models import Alert
from centralhub.core.time import parse_rfc3339


def alert() -> Alert:
    return Alert(
        id="a1",
        kind="service",
        target="orders",
        event="down",
        severity="critical",
        message="instance is critical",
        created_at=1_790_000_000.25,
        last_seen_at=1_790_000_000.25,
    )


async def test_fails_twice_then_accepts(http_server: LocalHTTPServer) -> None:
    http_server.script = [500, 503]
    channel = WebhookChannel(http_server.url + "/hook", retries=3, backoff_seconds=0.05)
    started = time.monotonic()
    try:
        await channel.send(alert())
    finally:
        await channel.close()
    assert [r["status"] for r in http_server.requests] == [500, 503, 200]
    assert time.monotonic() - started >= 0.05 + 0.1  # exponential backoff between the attempts
    body = http_server.requests[-1]["json"]
    assert body["alert"]["target"] == "orders"
    assert body["alert"]["created_at"] == "2026-09-21T14:13:20.250Z"
    assert parse_rfc3339(body["alert"]["created_at"]) == 1_790_000_000.25
    assert body["text"].startswith("[CRITICAL] service orders down")


async def test_429_is_retried_but_a_rejection_is_not(http_server: LocalHTTPServer) -> None:
    channel = WebhookChannel(http_server.url + "/hook", retries=3, backoff_seconds=0.01)
    try:
        http_server.script = [429]
        await channel.send(alert())
        assert [r["status"] for r in http_server.requests] == [429, 200]

        http_server.requests.clear()
        http_server.status = 400
        with pytest.raises(ConnectionError, match="HTTP 400"):
            await channel.send(alert())
        assert len(http_server.requests) == 1
    finally:
        await channel.close()


async def test_gives_up_after_the_retries(http_server: LocalHTTPServer) -> None:
    http_server.status = 502
    channel = WebhookChannel(http_server.url + "/hook", retries=2, backoff_seconds=0.01)
    try:
        with pytest.raises(ConnectionError, match="HTTP 502"):
            await channel.send(alert())
    finally:
        await channel.close()
    assert len(http_server.requests) == 3


async def test_unreachable_receiver_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = WebhookChannel(f"http://127.0.0.1:{port}/hook", retries=1, backoff_seconds=0.01)
    try:
        with pytest.raises(ConnectionError, match=f"webhook http://127.0.0.1:{port}/hook: ConnectError"):
            await channel.send(alert())
    finally:
        await channel.close()
