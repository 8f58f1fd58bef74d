"""MessageEnvelope: protobuf round trip, and the envelope as it really travels over NATS."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import nats
import pytest

from centralhub.kit import correlation_scope
from centralhub.sdk.messaging import (
    EnvelopeDecodeError,
    Message,
    MessageEnvelope,
    MessageType,
    MessagingConnectionError,
    NATSMessagingClient,
)

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def test_round_trip_keeps_every_field() -> None:
    message = Message.create(
        {"symbol": "EURUSD", "bid": 1.0845},
        message_type="tick_data",
        user_id="user-1",
        service_source="data-bridge",
        correlation_id="req-42",
        headers={"schema": "v2"},
    )
    back = Message.from_bytes(message.to_bytes())
    assert back.json() == {"symbol": "EURUSD", "bid": 1.0845}
    assert back.data == {"symbol": "EURUSD", "bid": 1.0845}
    for name in ("message_type", "user_id", "service_source", "correlation_id", "timestamp"):
        assert getattr(back, name) == getattr(message, name)
    assert back.message_id == message.message_id and back.headers == {"schema": "v2"}


def test_nested_protobuf_payload_and_raw_bytes() -> None:
    inner = MessageEnvelope(message_type="inner", payload=b"\x00\x01")
    outer = Message.create(inner)
    assert outer.content_type == "application/x-protobuf"
    assert outer.headers["proto_type"] == "centralhub.messaging.MessageEnvelope"
    parsed = MessageEnvelope.FromString(Message.from_bytes(outer.to_bytes()).payload)
    assert parsed.payload == b"\x00\x01"
    assert Message.create(b"raw").data == b"raw"


def test_correlation_id_defaults_to_current_trace() -> None:
    with correlation_scope("trace-7"):
        assert Message.create({}).correlation_id == "trace-7"
    assert len(Message.create({}).correlation_id) == 32


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="payload must be bytes"):
        Message(payload="text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON-serializable"):
        Message.create({"x": object()})
    with pytest.raises(EnvelopeDecodeError, match="orders"):
        Message.from_bytes(b"\xff\xff\xff", subject="orders")


@pytest.mark.nats
async def test_the_wire_carries_a_protobuf_envelope(
    nats_client: NATSMessagingClient, unique: Callable[[str], str]
) -> None:
    subject = unique("wire")
    raw_conn = await nats.connect(NATS_URL, connect_timeout=3)
    try:
        sub = await raw_conn.subscribe(subject)
        await raw_conn.flush()
        sent = await nats_client.publish(subject, {"hello": 1}, message_type="user_event", user_id="u9")
        raw = await sub.next_msg(timeout=5)
    finally:
        await raw_conn.close()
    envelope = MessageEnvelope.FromString(raw.data)
    assert envelope.message_type == "user_event" and envelope.user_id == "u9"
    assert envelope.correlation_id == sent.correlation_id
    assert envelope.service_source == "test"
    assert raw.headers is not None and raw.headers["X-Correlation-ID"] == sent.correlation_id
    assert Message.from_envelope(envelope).json() == {"hello": 1}
    assert MessageType.EVENT == "event"


async def test_unreachable_server_is_a_clear_error() -> None:
    client = NATSMessagingClient("nats://127.0.0.1:1", connect_timeout=1, max_reconnect_attempts=0)
    with pytest.raises(MessagingConnectionError, match="cannot connect to NATS at nats://127.0.0.1:1"):
        async with asyncio.timeout(10):
            await client.connect()
    with pytest.raises(ValueError, match="NATS server must be"):
        NATSMessagingClient("http://127.0.0.1:4222")
