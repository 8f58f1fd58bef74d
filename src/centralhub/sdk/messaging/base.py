"""``MessagingClient``: the one interface every transport (NATS, Kafka, HTTP) implements.

Three families of operation, a transport implementing what it can and raising
:class:`UnsupportedOperation` (naming itself) for the rest:

* fire-and-forget: ``publish`` / ``subscribe`` (``queue=`` shares the load inside a group);
* request/reply: ``request``, answered by a ``subscribe`` handler that returns a value;
* durable streams: ``ensure_stream`` / ``append`` / ``fetch`` → :class:`Delivery` to ``ack``.

Handlers receive a :class:`Message` and run with its correlation id as the current one, so
anything they send or log joins the same trace.
"""

from __future__ import annotations

import inspect
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self

from centralhub.kit.tracing import correlation_scope
from centralhub.sdk.messaging.errors import UnsupportedOperation
from centralhub.sdk.messaging.message import Message, MessageType

__all__ = ["Delivery", "Handler", "MessagingClient", "Subscription", "check_name"]

logger = logging.getLogger(__name__)

Handler = Callable[[Message], Awaitable[Any] | Any]
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def check_name(kind: str, value: str) -> str:
    """Validate a stream / group / queue name (letters, digits, ``_`` and ``-``)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{kind} name must match [A-Za-z0-9_-]{{1,200}}, got {value!r}")
    return value


def check_topic(value: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(f"topic must be a non-empty string without spaces, got {value!r}")
    return value


class Subscription(ABC):
    """A live subscription; ``unsubscribe`` stops delivery."""

    topic: str

    @abstractmethod
    async def unsubscribe(self) -> None: ...


@dataclass
class Delivery:
    """A message fetched from a durable stream; call ``ack`` once it is processed.

    Not acking within the consumer's ack wait (or calling ``nak``) makes the broker deliver it
    again; ``attempt`` counts deliveries, starting at 1.
    """

    message: Message
    attempt: int
    _ack: Callable[[], Awaitable[None]]
    _nak: Callable[[float | None], Awaitable[None]]

    @property
    def data(self) -> Any:
        return self.message.data

    async def ack(self) -> None:
        await self._ack()

    async def nak(self, delay: float | None = None) -> None:
        """Hand the message back for redelivery (after ``delay`` seconds where supported)."""
        await self._nak(delay)


class MessagingClient(ABC):
    """Base class of every transport. Use ``async with client:`` or ``connect``/``close``."""

    transport: ClassVar[str] = "abstract"

    def __init__(self, *, service_name: str = "") -> None:
        self.service_name = service_name

    # --- lifecycle ---------------------------------------------------------------------------
    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- fire and forget ---------------------------------------------------------------------
    @abstractmethod
    async def publish(self, topic: str, data: Any, **fields: Any) -> Message:
        """Send ``data`` (see :meth:`Message.create`) to ``topic``; returns the message sent."""

    async def subscribe(self, topic: str, handler: Handler, *, queue: str | None = None) -> Subscription:
        """Call ``handler`` for each message on ``topic``; within a ``queue`` group each message
        goes to one member only. A handler's return value answers a request."""
        raise self._unsupported("subscribe")

    # --- request / reply ---------------------------------------------------------------------
    async def request(self, topic: str, data: Any, *, timeout: float = 5.0, **fields: Any) -> Message:
        """Send a request and wait up to ``timeout`` s for the reply (:class:`MessagingTimeout`)."""
        raise self._unsupported("request")

    # --- durable streams ---------------------------------------------------------------------
    async def ensure_stream(self, stream: str, *, work_queue: bool = False) -> None:
        """Create ``stream`` if missing; ``work_queue`` drops each message once acknowledged."""
        raise self._unsupported("ensure_stream")

    async def append(self, stream: str, data: Any, **fields: Any) -> Message:
        """Durably store a message in ``stream``."""
        raise self._unsupported("append")

    async def fetch(
        self,
        stream: str,
        group: str,
        *,
        batch: int = 10,
        timeout: float = 1.0,
        ack_wait: float | None = None,
    ) -> list[Delivery]:
        """Up to ``batch`` unacknowledged messages for consumer ``group`` (``[]`` after
        ``timeout`` s). The group's position survives restarts: it resumes where it stopped."""
        raise self._unsupported("fetch")

    async def delete_stream(self, stream: str) -> None:
        raise self._unsupported("delete_stream")

    # --- helpers for subclasses --------------------------------------------------------------
    def _unsupported(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(
            f"{type(self).__name__} ({self.transport}) does not support {operation}",
            details={"transport": self.transport, "operation": operation},
        )

    def _prepare(self, data: Any, fields: dict[str, Any]) -> Message:
        if self.service_name:
            fields.setdefault("service_source", self.service_name)
        message = Message.create(data, **fields)
        if not message.service_source and self.service_name:
            message.service_source = self.service_name
        return message

    async def _handle(self, handler: Handler, message: Message, *, wants_reply: bool) -> Message | None:
        """Run ``handler`` under the message's correlation id; build the reply if one is due.

        A failing handler is logged; a requester gets an ``error`` reply instead of a timeout.
        """
        with correlation_scope(message.correlation_id):
            try:
                result = handler(message)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                logger.exception("handler for %r failed", message.subject)
                if not wants_reply:
                    return None
                return message.reply(
                    {"error": str(exc) or type(exc).__name__, "type": type(exc).__name__},
                    message_type=MessageType.ERROR.value,
                    service_source=self.service_name,
                )
        if not wants_reply or result is None:
            return None
        if isinstance(result, Message):
            result.correlation_id = message.correlation_id
            return result
        return message.reply(result, service_source=self.service_name)
