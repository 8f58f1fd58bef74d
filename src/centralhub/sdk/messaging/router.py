"""``MessagingRouter``: pick the transport by what the message is for, not by name.

Register a client per :class:`UseCase` (real-time events on NATS, batch on Kafka, RPC over
HTTP, ...) and send through the router; callers never hard-code a transport.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from centralhub.sdk.messaging.base import Handler, MessagingClient, Subscription
from centralhub.sdk.messaging.errors import MessagingError
from centralhub.sdk.messaging.message import Message

__all__ = ["MessagingRouter", "UseCase"]


class UseCase(StrEnum):
    REAL_TIME_EVENTS = "real_time_events"
    BATCH_PROCESSING = "batch_processing"
    RPC_CALLS = "rpc_calls"
    TASK_DISTRIBUTION = "task_distribution"
    EVENT_STREAMING = "event_streaming"
    BROADCAST = "broadcast"
    NOTIFICATIONS = "notifications"


def _use_case(value: UseCase | str) -> UseCase:
    try:
        return UseCase(value)
    except ValueError:
        known = ", ".join(u.value for u in UseCase)
        raise ValueError(f"unknown use case {value!r}; expected one of: {known}") from None


class MessagingRouter:
    """Routes each operation to the client registered for its use case (else ``default``)."""

    def __init__(self, *, default: MessagingClient | None = None) -> None:
        self.default = default
        self._clients: dict[UseCase, MessagingClient] = {}

    def register_client(self, use_case: UseCase | str, client: MessagingClient) -> None:
        if not isinstance(client, MessagingClient):
            raise TypeError(f"expected a MessagingClient, got {type(client).__name__}")
        self._clients[_use_case(use_case)] = client

    def client_for(self, use_case: UseCase | str) -> MessagingClient:
        case = _use_case(use_case)
        client = self._clients.get(case, self.default)
        if client is None:
            registered = ", ".join(u.value for u in self._clients) or "none"
            raise MessagingError(
                f"no messaging client registered for use case {case.value!r} "
                f"(registered: {registered}) and no default client",
                details={"use_case": case.value},
            )
        return client

    def routes(self) -> dict[UseCase, str]:
        """Which transport serves each registered use case."""
        return {case: client.transport for case, client in self._clients.items()}

    async def send(self, use_case: UseCase | str, topic: str, data: Any, **fields: Any) -> Message:
        return await self.client_for(use_case).publish(topic, data, **fields)

    async def request(
        self, use_case: UseCase | str, topic: str, data: Any, *, timeout: float = 5.0, **fields: Any
    ) -> Message:
        return await self.client_for(use_case).request(topic, data, timeout=timeout, **fields)

    async def subscribe(
        self, use_case: UseCase | str, topic: str, handler: Handler, *, queue: str | None = None
    ) -> Subscription:
        return await self.client_for(use_case).subscribe(topic, handler, queue=queue)

    def _distinct_clients(self) -> list[MessagingClient]:
        seen: dict[int, MessagingClient] = {}
        for client in [*self._clients.values(), *([self.default] if self.default else [])]:
            seen.setdefault(id(client), client)
        return list(seen.values())

    async def connect_all(self) -> None:
        for client in self._distinct_clients():
            await client.connect()

    async def close_all(self) -> None:
        for client in self._distinct_clients():
            await client.close()
