"""``KafkaMessagingClient``: the messaging interface on Kafka (aiokafka).

A topic is both a pub/sub topic and a durable stream; a consumer group is a Kafka consumer
group with manual commits, so acking a :class:`Delivery` commits its offset and a restarted
group resumes after the last commit. ``user_id`` is the partition key, keeping one user's
messages in order. Kafka has no request/reply or per-message redelivery timer: ``request``
raises :class:`UnsupportedOperation` and ``nak`` rewinds the partition to the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from centralhub.sdk.messaging.base import Delivery, Handler, MessagingClient, Subscription, check_name
from centralhub.sdk.messaging.errors import EnvelopeDecodeError, MessagingConnectionError, MessagingError
from centralhub.sdk.messaging.message import Message, MessageType

__all__ = ["KafkaMessagingClient"]

logger = logging.getLogger(__name__)


class _Subscription(Subscription):
    def __init__(self, topic: str, consumer: AIOKafkaConsumer, task: asyncio.Task[None]) -> None:
        self.topic = topic
        self._consumer = consumer
        self._task = task

    async def unsubscribe(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()


class KafkaMessagingClient(MessagingClient):
    """Messaging over Kafka; ``bootstrap_servers`` like ``"host1:9092,host2:9092"``."""

    transport = "kafka"

    def __init__(
        self,
        bootstrap_servers: str = "127.0.0.1:9092",
        *,
        service_name: str = "",
        request_timeout: float = 10.0,
    ) -> None:
        super().__init__(service_name=service_name)
        if not bootstrap_servers or "://" in bootstrap_servers:
            raise ValueError(
                f"Kafka bootstrap_servers must be 'host:port[,host:port]', got {bootstrap_servers!r}"
            )
        self.bootstrap_servers = bootstrap_servers
        self.request_timeout = request_timeout
        self._producer: AIOKafkaProducer | None = None
        self._consumers: dict[tuple[str, str], AIOKafkaConsumer] = {}
        self._subscriptions: list[_Subscription] = []

    async def connect(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.service_name or "centralhub",
            request_timeout_ms=int(self.request_timeout * 1000),
            acks="all",
        )
        try:
            await asyncio.wait_for(producer.start(), timeout=self.request_timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            await producer.stop()
            raise MessagingConnectionError(
                f"cannot connect to Kafka at {self.bootstrap_servers}: {type(exc).__name__}: {exc}"
            ) from exc
        self._producer = producer

    async def close(self) -> None:
        for sub in self._subscriptions:
            await sub.unsubscribe()
        self._subscriptions.clear()
        for consumer in self._consumers.values():
            await consumer.stop()
        self._consumers.clear()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    @property
    def is_connected(self) -> bool:
        return self._producer is not None

    def _require(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise MessagingConnectionError("KafkaMessagingClient is not connected; call connect() first")
        return self._producer

    async def publish(self, topic: str, data: Any, **fields: Any) -> Message:
        check_name("topic", topic)
        message = self._prepare(data, fields)
        try:
            await self._require().send_and_wait(
                topic, message.to_bytes(), key=message.user_id.encode() or None
            )
        except KafkaError as exc:
            raise MessagingError(f"Kafka publish to {topic!r} failed: {exc}") from exc
        return message

    async def _consumer(self, topic: str, group: str | None) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if group else "latest",
        )
        try:
            await asyncio.wait_for(consumer.start(), timeout=self.request_timeout)
        except (KafkaConnectionError, OSError, TimeoutError) as exc:
            await consumer.stop()
            raise MessagingConnectionError(f"cannot consume {topic!r} from Kafka: {exc}") from exc
        return consumer

    async def subscribe(self, topic: str, handler: Handler, *, queue: str | None = None) -> Subscription:
        check_name("topic", topic)
        self._require()
        consumer = await self._consumer(topic, queue)

        async def pump() -> None:
            async for record in consumer:
                try:
                    message = Message.from_bytes(record.value or b"", subject=record.topic)
                except EnvelopeDecodeError as exc:
                    logger.warning("dropping message on %r: %s", record.topic, exc)
                    continue
                await self._handle(handler, message, wants_reply=False)
                if queue:
                    await consumer.commit()

        sub = _Subscription(topic, consumer, asyncio.create_task(pump()))
        self._subscriptions.append(sub)
        return sub

    async def ensure_stream(self, stream: str, *, work_queue: bool = False) -> None:
        # Topics are auto-created on first use by default brokers; creation with explicit
        # partition counts belongs to the platform's Kafka administration, not the client.
        check_name("stream", stream)
        self._require()

    async def append(self, stream: str, data: Any, **fields: Any) -> Message:
        fields.setdefault("message_type", MessageType.STREAM.value)
        return await self.publish(stream, data, **fields)

    async def fetch(
        self,
        stream: str,
        group: str,
        *,
        batch: int = 10,
        timeout: float = 1.0,
        ack_wait: float | None = None,
    ) -> list[Delivery]:
        check_name("stream", stream)
        check_name("consumer group", group)
        self._require()
        consumer = self._consumers.get((stream, group))
        if consumer is None:
            consumer = self._consumers[(stream, group)] = await self._consumer(stream, group)
        records = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=batch)
        deliveries = []
        for tp, items in records.items():
            for record in items:
                try:
                    message = Message.from_bytes(record.value or b"", subject=record.topic)
                except EnvelopeDecodeError as exc:
                    logger.warning("skipping undecodable record in %r: %s", stream, exc)
                    continue
                deliveries.append(
                    Delivery(
                        message, 1, _commit(consumer, tp, record.offset), _rewind(consumer, tp, record.offset)
                    )
                )
        return deliveries

    async def delete_stream(self, stream: str) -> None:
        raise self._unsupported("delete_stream (use Kafka administration tooling)")


def _commit(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> Any:
    async def ack() -> None:
        await consumer.commit({tp: offset + 1})

    return ack


def _rewind(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> Any:
    async def nak(delay: float | None) -> None:
        if delay:
            await asyncio.sleep(delay)
        consumer.seek(tp, offset)

    return nak
