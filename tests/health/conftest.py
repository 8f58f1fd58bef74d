"""Real local servers for the health tests: a toggleable HTTP target / webhook receiver, SMTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from health_support import LocalHTTPServer

from centralhub.core.settings import Settings
from centralhub.hub import Hub
from centralhub.server.app import create_app


@pytest.fixture
async def http_server() -> AsyncIterator[LocalHTTPServer]:
    server = LocalHTTPServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http_server_factory() -> AsyncIterator[Callable[[], Awaitable[LocalHTTPServer]]]:
    """Start as many local HTTP servers as a test needs; all are stopped afterwards."""
    servers: list[LocalHTTPServer] = []

    async def make() -> LocalHTTPServer:
        server = LocalHTTPServer()
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def infra_hub_factory(hub_settings: Settings, tmp_path: Path) -> AsyncIterator[Any]:
    """``await factory(doc)`` → (hub, client) for a started hub reading ``doc`` as infrastructure.yaml."""
    started: list[tuple[Hub, httpx.AsyncClient]] = []

    async def factory(doc: dict[str, Any]) -> tuple[Hub, httpx.AsyncClient]:
        path = tmp_path / f"infrastructure-{len(started)}.yaml"
        path.write_text(yaml.safe_dump(doc))
        hub = Hub(hub_settings.with_overrides(infrastructure_file=str(path)))
        await hub.start()
        transport = httpx.ASGITransport(app=create_app(hub.settings, hub=hub))
        client = httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10)
        started.append((hub, client))
        return hub, client

    yield factory
    for hub, client in started:
        await client.aclose()
        await hub.stop()
