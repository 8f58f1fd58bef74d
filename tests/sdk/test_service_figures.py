"""A BaseService reports its request latency, error rate and ErrorDNA error clusters with its
heartbeats, and a rule on the hub turns a spike of one kind of error into an alert (a real hub
process; the service in this process, its routes called through its own app)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from centralhub.sdk.base_service import BaseService, ServiceConfig
from tests.support import wait_until

pytestmark = pytest.mark.timeout(120)


async def test_error_spikes_by_kind_reach_the_hub_and_alert(hub_process_factory: Any) -> None:
    hub = hub_process_factory()
    name = f"orders-{uuid.uuid4().hex[:6]}"
    service = BaseService(
        ServiceConfig(service_name=name, hub_url=hub.url, ttl_seconds=3, enable_config=False, port=9)
    )

    async def boom() -> None:
        raise ConnectionError("connection refused by 10.0.0.7:5432 after 3 attempts")

    async def fine() -> dict[str, bool]:
        return {"ok": True}

    service.app.add_api_route("/boom", boom)
    service.app.add_api_route("/fine", fine)
    rule = {
        "name": "connection-errors", "metric": "errors.connection_error", "service": name,
        "condition": "rate_above", "threshold": 0.05, "per": "service", "window_seconds": 30,
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as api:
        assert (await api.post("/api/v1/alerts/rules", json=rule)).status_code == 201
        await service.start()
        try:
            transport = httpx.ASGITransport(app=service.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                for _ in range(4):
                    assert (await client.get("/fine")).status_code == 200

                async def measured() -> dict[str, float] | None:
                    rows = (await api.get("/api/v1/alerts/measurements", params={"service": name})).json()
                    found = {r["metric"]: r["value"] for r in rows["measurements"]}
                    return found if found.get("requests", 0) >= 4 else None

                first = await wait_until(measured, timeout=20, what="the first figures")
                assert first["errors"] == 0 and first["error_rate"] == 0
                for _ in range(6):
                    assert (await client.get("/boom")).status_code == 500

                async def spiked() -> dict[str, float] | None:
                    found = await measured()
                    return found if found and found.get("errors.connection_error", 0) >= 6 else None

                figures = await wait_until(spiked, timeout=20, what="the errors by kind")
                assert figures["errors"] >= 6 and figures["error_clusters"] == 1
                for _ in range(6):  # the counter keeps rising: a spike over the window
                    await client.get("/boom")

                async def alerted() -> list[dict[str, Any]]:
                    alerts = (await api.get("/api/v1/alerts", params={"target": name})).json()["alerts"]
                    return [a for a in alerts if a["event"] == "connection-errors"]

                [alert] = await wait_until(alerted, timeout=30, what="the error-spike alert")
                assert alert["kind"] == "metric" and "errors.connection_error" in alert["message"]
        finally:
            await service.stop()
