"""Clients follow the global configuration: a ConfigClient (on /watch, and on NATS) calls back
with the merged document when the global one changes through ``update_global_config``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from centralhub.sdk import CentralHubClient, ConfigClient, ConfigRefused
from tests.support import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("bus", ["embedded", "nats"])
async def test_a_global_change_reaches_every_client(hub_process_factory: Any, bus: str) -> None:
    env = (
        {"NATS_URL": "nats://127.0.0.1:4222", "CENTRAL_HUB_CLUSTER": f"g{uuid.uuid4().hex[:8]}"}
        if bus == "nats"
        else {}
    )
    hub = hub_process_factory(**env)
    name = f"svc-{uuid.uuid4().hex[:6]}"
    admin = CentralHubClient("ops", hub_url=hub.url)
    client = ConfigClient(
        name,
        central_hub_url=hub.url,
        enable_nats_updates=bus == "nats",
        watch=bus != "nats",
        reconcile_seconds=60,
    )
    got: list[dict[str, Any]] = []
    client.on_config_update(got.append)
    try:
        stored = await admin.update_global_config(
            {"risk": {"halt": False}, "log_level": "INFO"}, message="first"
        )
        assert stored["version"] == "1.0.0"
        await client.init_async()
        assert client.following == ("nats" if bus == "nats" else "watch")
        assert (await client.get_config()) == {"risk": {"halt": False}, "log_level": "INFO"}
        assert client.global_revision == 1

        await admin.update_global_config({"risk": {"halt": True}, "log_level": "INFO"})
        await wait_until(
            lambda: got and got[-1]["risk"]["halt"] is True, timeout=20, what="the global change"
        )
        assert client.global_revision == 2 and client.revision == 0

        # the service's own document goes over it
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            assert (
                await http.post(f"/api/v1/config/{name}", json={"risk": {"halt": False}})
            ).status_code == 200
        await wait_until(
            lambda: got and got[-1] == {"risk": {"halt": False}, "log_level": "INFO"},
            timeout=20,
            what="own over global",
        )
        assert (client.revision, client.global_revision) == (1, 2)
        assert (await admin.get_global_config() or {})["config"]["risk"] == {"halt": True}
    finally:
        await client.shutdown()
        await admin.close()


async def test_a_refused_global_document_says_why(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    admin = CentralHubClient("ops", hub_url=hub.url)
    try:
        assert await admin.get_global_config() is None
        with pytest.raises(ConfigRefused, match="password"):
            await admin.update_global_config({"db": {"password": "hunter2"}})
    finally:
        await admin.close()
