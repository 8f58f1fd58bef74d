"""KafkaMessagingClient against a real broker; skipped unless KAFKA_BROKERS is set."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from centralhub.sdk.messaging import KafkaMessagingClient, StreamPattern, UnsupportedOperation

BROKERS = os.environ.get("KAFKA_BROKERS")
needs_kafka = pytest.mark.skipif(
    not BROKERS, reason="KAFKA_BROKERS not set (no Kafka broker on this machine)"
)


@pytest.mark.kafka
@needs_kafka
async def test_stream_resumes_after_restart_on_kafka() -> None:
    assert BROKERS
    topic, group = f"ticks_{uuid.uuid4().hex[:8]}", f"agg_{uuid.uuid4().hex[:8]}"
    async with asyncio.timeout(60):
        async with KafkaMessagingClient(BROKERS, service_name="producer") as producer:
            await StreamPattern(producer).produce(topic, [{"seq": i} for i in range(4)])
        async with KafkaMessagingClient(BROKERS) as first:
            got = await StreamPattern(first).consume(topic, group, max_messages=2, idle_timeout=10)
        async with KafkaMessagingClient(BROKERS) as second:
            rest = await StreamPattern(second).consume(topic, group, idle_timeout=5)
            with pytest.raises(UnsupportedOperation):
                await second.request(topic, {})
    assert [m.json()["seq"] for m in got] == [0, 1]
    assert [m.json()["seq"] for m in rest] == [2, 3]


def test_bad_bootstrap_servers_is_named() -> None:
    with pytest.raises(ValueError, match="bootstrap_servers"):
        KafkaMessagingClient("kafka://host:9092")
