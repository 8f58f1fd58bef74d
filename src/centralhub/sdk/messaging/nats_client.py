"""``NATSMessagingClient``: the messaging interface on NATS core and JetStream (nats-py).

Core NATS carries publish/subscribe and request/reply; JetStream carries the durable streams:
a stream named ``orders`` stores subject ``orders``, and a consumer group is a durable pull
consumer, so a restarted consumer resumes after the last message it acknowledged and an
unacknowledged message is redelivered once its ack wait expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATSConnection
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NATSSubscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig

from centralhub.core import wire
from centralhub.kit.tracing import CORRELATION_HEADER
from centralhub.sdk.messaging.base import (
    Delivery,
    Handler,
    MessagingClient,
    Subscription,
    check_name,
    check_topic,
)
from centralhub.sdk.messaging.errors import (
    EnvelopeDecodeError,
    MessagingConnectionError,
    MessagingError,
    MessagingTimeout,
    NoResponders,
)
from centralhub.sdk.messaging.message import Message, MessageType

__all__ = ["NATSMessagingClient"]

logger = logging.getLogger(__name__)


class _Subscription(Subscription):
    def __init__(self, topic: str, sub: NATSSubscription) -> None:
        self.topic = topic
        self._sub = sub

    async def unsubscribe(self) -> None:
        with contextlib.suppress(nats.errors.ConnectionClosedError):
            await self._sub.unsubscribe()


class NATSMessagingClient(MessagingClient):
    """Messaging over NATS (``servers`` a URL, a comma-separated list like ``NATS_URL``, or a list)."""

    transport = "nats"

    def __init__(
        self,
        servers: str | list[str] = "nats://127.0.0.1:4222",
        *,
        service_name: str = "",
        connect_timeout: float = 5.0,
        request_timeout: float = 5.0,
        **options: Any,
    ) -> None:
        super().__init__(service_name=service_name)
        self.servers = wire.split_servers(servers) if isinstance(servers, str) else list(servers)
        if not self.servers:
            raise ValueError("NATS servers: give at least one nats:// URL (got none)")
        for url in self.servers:
            if not url.startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ValueError(f"NATS server must be a nats://, tls:// or ws:// URL, got {url!r}")
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._options = options
        self._nc: NATSConnection | None = None
        self._js: JetStreamContext | None = None
        self._pull: dict[tuple[str, str], JetStreamContext.PullSubscription] = {}

    # --- lifecycle ---------------------------------------------------------------------------
    async def connect(self) -> None:
        if self.is_connected:
            return
        try:
            async with asyncio.timeout(self.connect_timeout + 1):
                self._nc = await nats.connect(
                    servers=self.servers,
                    name=self.service_name or None,
                    connect_timeout=self.connect_timeout,
                    max_reconnect_attempts=self._options.pop("max_reconnect_attempts", 60),
                    allow_reconnect=True,
                    **self._options,
                )
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            raise MessagingConnectionError(
                f"cannot connect to NATS at {', '.join(self.servers)}: {type(exc).__name__}: {exc}",
                details={"servers": self.servers},
            ) from exc
        self._js = self._nc.jetstream(timeout=self.request_timeout)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        pulls, self._pull = list(self._pull.values()), {}
        if nc is not None and not nc.is_closed:
            # Pull subscriptions hold no in-flight handlers; dropping them first keeps drain
            # from waiting on their idle inboxes. Unacked messages go back after ack_wait.
            for psub in pulls:
                with contextlib.suppress(nats.errors.Error):
                    await psub.unsubscribe()
            try:
                await asyncio.wait_for(nc.drain(), timeout=self.connect_timeout)
            except (TimeoutError, nats.errors.Error):
                await nc.close()

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def connection(self) -> NATSConnection:
        """The underlying nats-py connection (raises when not connected)."""
        if self._nc is None or self._nc.is_closed:
            raise MessagingConnectionError("NATSMessagingClient is not connected; call connect() first")
        return self._nc

    @property
    def jetstream(self) -> JetStreamContext:
        self.connection  # noqa: B018 - raises the clear "not connected" error
        assert self._js is not None
        return self._js

    # --- core NATS ---------------------------------------------------------------------------
    async def publish(self, topic: str, data: Any, **fields: Any) -> Message:
        check_topic(topic)
        message = self._prepare(data, fields)
        await self.connection.publish(topic, message.to_bytes(), headers=_headers(message))
        return message

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until the server has processed everything sent so far."""
        await self.connection.flush(timeout=int(timeout or self.request_timeout))

    async def subscribe(self, topic: str, handler: Handler, *, queue: str | None = None) -> Subscription:
        check_topic(topic)
        nc = self.connection

        async def on_message(raw: Msg) -> None:
            try:
                message = Message.from_bytes(raw.data, subject=raw.subject)
            except EnvelopeDecodeError as exc:
                logger.warning("dropping message on %r: %s", raw.subject, exc)
                return
            reply = await self._handle(handler, message, wants_reply=bool(raw.reply))
            if reply is not None and raw.reply:
                await nc.publish(raw.reply, reply.to_bytes(), headers=_headers(reply))

        sub = await nc.subscribe(topic, queue=queue or "", cb=on_message)
        # Make sure the server knows the subscription before the caller publishes elsewhere.
        await nc.flush(timeout=int(max(1, self.request_timeout)))
        return _Subscription(topic, sub)

    async def request(self, topic: str, data: Any, *, timeout: float = 5.0, **fields: Any) -> Message:
        check_topic(topic)
        fields.setdefault("message_type", MessageType.REQUEST.value)
        message = self._prepare(data, fields)
        try:
            raw = await self.connection.request(
                topic, message.to_bytes(), timeout=timeout, headers=_headers(message)
            )
        except nats.errors.NoRespondersError as exc:
            raise NoResponders(f"no service is listening on {topic!r}", details={"topic": topic}) from exc
        except (nats.errors.TimeoutError, TimeoutError) as exc:
            raise MessagingTimeout(
                f"no reply on {topic!r} within {timeout}s (correlation id {message.correlation_id})",
                details={"topic": topic, "timeout": timeout, "correlation_id": message.correlation_id},
            ) from exc
        return Message.from_bytes(raw.data, subject=topic)

    # --- JetStream ---------------------------------------------------------------------------
    async def ensure_stream(self, stream: str, *, work_queue: bool = False) -> None:
        check_name("stream", stream)
        js = self.jetstream
        try:
            await js.stream_info(stream)
            return
        except nats.js.errors.NotFoundError:
            pass
        config = StreamConfig(
            name=stream,
            subjects=[stream],
            retention=RetentionPolicy.WORK_QUEUE if work_queue else RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as exc:
            raise MessagingError(f"cannot create JetStream stream {stream!r}: {exc}") from exc

    async def append(self, stream: str, data: Any, **fields: Any) -> Message:
        check_name("stream", stream)
        fields.setdefault("message_type", MessageType.STREAM.value)
        message = self._prepare(data, fields)
        try:
            await self.jetstream.publish(stream, message.to_bytes(), stream=stream, headers=_headers(message))
        except nats.js.errors.NoStreamResponseError as exc:
            raise MessagingError(
                f"JetStream stream {stream!r} does not exist; call ensure_stream first"
            ) from exc
        except (nats.errors.TimeoutError, TimeoutError) as exc:
            raise MessagingTimeout(f"JetStream did not acknowledge the append to {stream!r}") from exc
        return message

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
        if batch < 1:
            raise ValueError(f"fetch batch must be >= 1, got {batch}")
        psub = self._pull.get((stream, group))
        if psub is None:
            config = ConsumerConfig(
                durable_name=group,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ack_wait,
            )
            try:
                psub = await self.jetstream.pull_subscribe(
                    stream, durable=group, stream=stream, config=config
                )
            except nats.js.errors.NotFoundError as exc:
                raise MessagingError(f"JetStream stream {stream!r} does not exist") from exc
            self._pull[(stream, group)] = psub
        try:
            raws = await psub.fetch(batch, timeout=timeout)
        except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
            return []
        deliveries = []
        for raw in raws:
            try:
                message = Message.from_bytes(raw.data, subject=raw.subject)
            except EnvelopeDecodeError as exc:
                logger.warning("terminating undecodable message in %r: %s", stream, exc)
                await raw.term()
                continue
            deliveries.append(
                Delivery(
                    message=message,
                    attempt=raw.metadata.num_delivered or 1,
                    _ack=raw.ack,
                    _nak=_nak_for(raw),
                )
            )
        return deliveries

    async def delete_stream(self, stream: str) -> None:
        """Delete ``stream`` and its consumers (no error when it does not exist)."""
        check_name("stream", stream)
        self._pull = {k: v for k, v in self._pull.items() if k[0] != stream}
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.jetstream.delete_stream(stream)


def _headers(message: Message) -> dict[str, str]:
    # Duplicated outside the envelope so plain NATS tooling can see the trace id too.
    return {CORRELATION_HEADER: message.correlation_id}


def _nak_for(raw: Msg) -> Any:
    async def nak(delay: float | None) -> None:
        await raw.nak(delay=delay)

    return nak
