"""Registry tests run on a clock they move themselves, so TTL expiry never waits on wall time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from centralhub.core.settings import Settings
from centralhub.core.time import ManualClock
from centralhub.hub import Hub
from centralhub.server.app import create_app


@pytest.fixture
def clock() -> ManualClock:
    """The registry's clock: instances expire when a test advances it (the reaper polls every
    0.2 s of real time in these tests, and sees only the time the test has moved)."""
    return ManualClock()


def clocked_hub(settings: Settings, clock: ManualClock) -> Hub:
    hub = Hub(settings)
    hub.registry.clock = clock
    return hub


@pytest.fixture
async def hub(hub_settings: Settings, clock: ManualClock) -> AsyncIterator[Hub]:
    """The shared ``hub`` fixture, with the registry on :func:`clock`."""
    h = clocked_hub(hub_settings, clock)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def plain_client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, but the app answers every request through its FastAPI routes only."""
    app = create_app(hub.settings, hub=hub, hot_paths=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=10) as c:
        yield c
