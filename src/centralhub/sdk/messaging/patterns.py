"""The five messaging patterns, each a thin, intention-revealing layer over a ``MessagingClient``.

* :class:`PubSubPattern` — every subscriber of a topic gets every message.
* :class:`RequestReplyPattern` — RPC with a timeout; the reply carries the request's correlation id.
* :class:`FanOutPattern` — one event to all listeners, or to a named list of consumers.
* :class:`StreamPattern` — durable, replayable streams; a consumer group resumes after restarts.
* :class:`WorkQueuePattern` — each task goes to exactly one worker and is removed once acked;
  a task whose worker dies before acking is redelivered after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable
from typing import Any

from centralhub.sdk.messaging.base import Delivery, Handler, MessagingClient, Subscription, check_name
from centralhub.sdk.messaging.errors import MessagingError
from centralhub.sdk.messaging.message import Message, MessageType

__all__ = [
    "FanOutPattern",
    "PubSubPattern",
    "RequestReplyPattern",
    "StreamPattern",
    "WorkQueuePattern",
]

logger = logging.getLogger(__name__)


async def _call(handler: Handler, message: Message) -> Any:
    result = handler(message)
    return await result if inspect.isawaitable(result) else result


class PubSubPattern:
    """Publish/subscribe: ``publish(topic, data)``; ``subscribe(topic, handler)``."""

    def __init__(self, client: MessagingClient) -> None:
        self.client = client

    async def publish(self, topic: str, data: Any, **fields: Any) -> Message:
        return await self.client.publish(topic, data, **fields)

    async def subscribe(self, topic: str, handler: Handler) -> Subscription:
        return await self.client.subscribe(topic, handler)


class RequestReplyPattern:
    """RPC over messaging. ``serve`` answers with the handler's return value; ``request`` waits
    for it, raising :class:`MessagingTimeout` after ``timeout`` s and :class:`MessagingError`
    when the remote handler failed."""

    def __init__(self, client: MessagingClient, *, default_timeout: float = 5.0) -> None:
        self.client = client
        self.default_timeout = default_timeout

    async def request(
        self, subject: str, data: Any, *, timeout: float | None = None, **fields: Any
    ) -> Message:
        timeout = self.default_timeout if timeout is None else timeout
        if timeout <= 0:
            raise ValueError(f"request timeout must be > 0 seconds, got {timeout}")
        request = Message.create(data, message_type=MessageType.REQUEST.value, **fields)
        reply = await self.client.request(subject, request, timeout=timeout)
        if reply.correlation_id != request.correlation_id:
            raise MessagingError(
                f"reply on {subject!r} has correlation id {reply.correlation_id!r}, "
                f"expected {request.correlation_id!r}"
            )
        if reply.message_type == MessageType.ERROR.value:
            body = reply.json()
            raise MessagingError(
                f"{subject!r} handler failed: {body.get('type')}: {body.get('error')}",
                details={"subject": subject, **body},
            )
        return reply

    async def serve(self, subject: str, handler: Handler, *, queue: str | None = None) -> Subscription:
        """Answer requests on ``subject``; several servers sharing ``queue`` split the load."""
        return await self.client.subscribe(subject, handler, queue=queue)


class FanOutPattern:
    """Broadcast one event. Consumers listen on ``event`` (all broadcasts) and on
    ``event.<consumer>`` (broadcasts naming them)."""

    def __init__(self, client: MessagingClient) -> None:
        self.client = client

    async def broadcast(
        self, event: str, data: Any, consumers: Iterable[str] | None = None, **fields: Any
    ) -> list[Message]:
        """Send to every listener, or only to ``consumers``; all copies share one correlation id."""
        template = Message.create(data, message_type=MessageType.BROADCAST.value, **fields)
        if consumers is None:
            return [await self.client.publish(event, template)]
        sent = []
        for consumer in consumers:
            check_name("consumer", consumer)
            copy = Message(
                payload=template.payload,
                message_type=template.message_type,
                correlation_id=template.correlation_id,
                user_id=template.user_id,
                service_source=template.service_source,
                content_type=template.content_type,
                headers=dict(template.headers),
            )
            sent.append(await self.client.publish(f"{event}.{consumer}", copy))
        return sent

    async def subscribe(self, event: str, consumer: str, handler: Handler) -> list[Subscription]:
        check_name("consumer", consumer)
        return [
            await self.client.subscribe(event, handler),
            await self.client.subscribe(f"{event}.{consumer}", handler),
        ]


class StreamPattern:
    """Durable streams: ``produce`` appends; ``consume`` reads as a consumer group, acking what
    the handler processed, so the next ``consume`` of that group (in any process) continues after
    it."""

    def __init__(self, client: MessagingClient, *, ack_wait: float | None = None) -> None:
        self.client = client
        self.ack_wait = ack_wait

    async def create(self, stream: str) -> None:
        await self.client.ensure_stream(stream)

    async def produce(self, stream: str, events: Iterable[Any], **fields: Any) -> list[Message]:
        await self.client.ensure_stream(stream)
        return [await self.client.append(stream, event, **fields) for event in events]

    async def consume(
        self,
        stream: str,
        consumer_group: str,
        handler: Handler | None = None,
        *,
        max_messages: int | None = None,
        batch: int = 50,
        idle_timeout: float = 1.0,
    ) -> list[Message]:
        """Process messages until ``max_messages`` or until none arrives for ``idle_timeout`` s.

        A message is acked after ``handler`` returns; if it raises, the message is handed back
        for redelivery and consumption stops with the error.
        """
        processed: list[Message] = []
        while max_messages is None or len(processed) < max_messages:
            # Never fetch more than we will process: unacked extras would wait out ack_wait.
            size = batch if max_messages is None else min(batch, max_messages - len(processed))
            deliveries = await self.client.fetch(
                stream, consumer_group, batch=size, timeout=idle_timeout, ack_wait=self.ack_wait
            )
            if not deliveries:
                break
            for index, delivery in enumerate(deliveries):
                try:
                    if handler is not None:
                        await _call(handler, delivery.message)
                except Exception:
                    for pending in deliveries[index:]:
                        await pending.nak()
                    raise
                await delivery.ack()
                processed.append(delivery.message)
        return processed


class WorkQueuePattern:
    """Task distribution: each task is processed by exactly one worker and removed once acked.

    All workers of a queue share one durable consumer; a task not acked within ``ack_wait``
    seconds (the worker died or hung) is delivered again to some worker.
    """

    def __init__(self, client: MessagingClient, *, ack_wait: float = 30.0) -> None:
        if ack_wait <= 0:
            raise ValueError(f"WorkQueuePattern ack_wait must be > 0 seconds, got {ack_wait}")
        self.client = client
        self.ack_wait = ack_wait
        self._ready: set[str] = set()

    @staticmethod
    def group_for(queue: str) -> str:
        return f"{check_name('queue', queue)}-workers"

    async def _ensure(self, queue: str) -> None:
        if queue not in self._ready:
            await self.client.ensure_stream(queue, work_queue=True)
            self._ready.add(queue)

    async def add_task(self, queue: str, task_data: Any, **fields: Any) -> Message:
        await self._ensure(queue)
        fields.setdefault("message_type", MessageType.TASK.value)
        return await self.client.append(queue, task_data, **fields)

    async def get_task(self, queue: str, *, timeout: float = 1.0) -> Delivery | None:
        """The next task (call ``ack`` when done), or ``None`` if none arrives within ``timeout``."""
        await self._ensure(queue)
        deliveries = await self.client.fetch(
            queue, self.group_for(queue), batch=1, timeout=timeout, ack_wait=self.ack_wait
        )
        return deliveries[0] if deliveries else None

    async def process(
        self,
        queue: str,
        handler: Handler,
        *,
        max_tasks: int | None = None,
        idle_timeout: float = 1.0,
    ) -> int:
        """Run ``handler`` on tasks until ``max_tasks`` or the queue stays empty for
        ``idle_timeout`` s; acks each success, naks each failure. Returns tasks completed."""
        done = 0
        while max_tasks is None or done < max_tasks:
            task = await self.get_task(queue, timeout=idle_timeout)
            if task is None:
                break
            try:
                await _call(handler, task.message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("task %s on %r failed; handing it back", task.message.message_id, queue)
                await task.nak()
                continue
            await task.ack()
            done += 1
        return done
