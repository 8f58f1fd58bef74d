"""Fixtures for the messaging tests: clients on the real local NATS server (JetStream on).

A test needing NATS fails, never skips, when the server is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from centralhub.sdk.messaging import NATSMessagingClient

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
ClientFactory = Callable[..., Awaitable[NATSMessagingClient]]


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique subject / stream names so repeated and concurrent runs never collide."""
    suffix = uuid.uuid4().hex[:10]
    return lambda prefix: f"{prefix}_{suffix}"


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Factory of connected NATS clients; any still open are closed at teardown."""
    clients: list[NATSMessagingClient] = []

    async def factory(service_name: str = "test") -> NATSMessagingClient:
        client = NATSMessagingClient(NATS_URL, service_name=service_name, connect_timeout=3)
        await client.connect()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def nats_client(make_client: ClientFactory) -> NATSMessagingClient:
    return await make_client()


@pytest.fixture
async def stream_cleanup(make_client: ClientFactory) -> AsyncIterator[list[str]]:
    """Append stream names here; they are deleted after the test."""
    names: list[str] = []
    yield names
    admin = await make_client("cleanup")
    for name in names:
        await admin.delete_stream(name)
