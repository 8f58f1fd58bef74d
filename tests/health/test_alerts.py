"""Alerts: real webhook receiver, real SMTP server (aiosmtpd), dedup, rate limit, ack, silence."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from health_support import LocalHTTPServer

from centralhub.hub import Hub
from centralhub.registry.models import InstanceStatus
from tests.support import wait_until


class SMTPInbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[SMTPInbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = SMTPInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def alerts_doc(webhook: LocalHTTPServer | None = None, **alerts: Any) -> dict[str, Any]:
    channels: list[Any] = ["log"]
    if webhook is not None:
        channels.append(
            {"type": "webhook", "url": webhook.url + "/hook", "retries": 3, "backoff_seconds": 0.05}
        )
    return {
        "service_dependencies": {"gateway": {"requires": ["orders"]}},
        "alerts": {"channels": channels, **alerts},
    }


async def register(hub: Hub, client: httpx.AsyncClient, name: str) -> Any:
    resp = await client.post("/api/v1/services/register", json={"name": name, "host": "127.0.0.1", "port": 1})
    assert resp.status_code == 201, resp.text
    return hub.registry.get_instance("default", name, resp.json()["instance_id"])


async def test_down_and_recovery_reach_webhook_with_retries(
    infra_hub_factory: Any, http_server: LocalHTTPServer
) -> None:
    hub, client = await infra_hub_factory(alerts_doc(http_server))
    name = "orders"
    inst = await register(hub, client, name)
    http_server.script = [500, 503]  # two failures, then the retry succeeds
    await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
    await hub.alerts.wait_delivered()
    posts = [r for r in http_server.requests if r["path"] == "/hook"]
    assert [p["status"] for p in posts] == [500, 503, 200]
    sent = posts[-1]["json"]["alert"]
    assert sent["target"] == name and sent["event"] == "down" and sent["severity"] == "critical"
    assert sent["dependents"] == ["gateway"]
    assert sent["instance_id"] == inst.id

    await hub.registry.set_status(inst, InstanceStatus.PASSING)
    await hub.alerts.wait_delivered()
    body = (await client.get("/api/v1/alerts", params={"target": name})).json()
    assert [a["event"] for a in body["alerts"]] == ["recovery", "down"]
    assert body["alerts"][0]["severity"] == "info"
    assert body["alerts"][1]["deliveries"]["webhook"] == "sent"


async def test_webhook_gives_up_after_retries(infra_hub_factory: Any, http_server: LocalHTTPServer) -> None:
    hub, client = await infra_hub_factory(alerts_doc(http_server))
    inst = await register(hub, client, f"w-{uuid.uuid4().hex[:6]}")
    http_server.status = 500
    await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
    await hub.alerts.wait_delivered()
    assert len([r for r in http_server.requests if r["path"] == "/hook"]) == 4  # 1 + 3 retries
    alert = (await client.get("/api/v1/alerts")).json()["alerts"][0]
    assert alert["deliveries"]["webhook"].startswith("failed: ")


async def test_email_through_real_smtp(infra_hub_factory: Any, smtp_server: tuple[SMTPInbox, int]) -> None:
    inbox, port = smtp_server
    email = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "hub@example.org",
        "recipients": ["ops@example.org"],
    }
    hub, client = await infra_hub_factory({"alerts": {"channels": ["log", "email"], "email": email}})
    inst = await register(hub, client, "payments")
    await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
    await hub.alerts.wait_delivered()
    await wait_until(lambda: inbox.messages)
    rcpts, msg = inbox.messages[0]
    assert rcpts == ["ops@example.org"]
    assert "CRITICAL" in msg["Subject"] and "payments" in msg["Subject"]
    assert "payments" in msg.get_payload()
    # recovery is "info", below the email channel's default min_severity (warning)
    await hub.registry.set_status(inst, InstanceStatus.PASSING)
    await hub.alerts.wait_delivered()
    assert len(inbox.messages) == 1


async def test_flapping_target_is_deduplicated(infra_hub_factory: Any, http_server: LocalHTTPServer) -> None:
    hub, client = await infra_hub_factory(alerts_doc(http_server, dedup_window_seconds=300))
    inst = await register(hub, client, "flappy")
    for _ in range(10):
        await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
        await hub.registry.set_status(inst, InstanceStatus.PASSING)
    await hub.alerts.wait_delivered()
    alerts = (await client.get("/api/v1/alerts", params={"target": "flappy"})).json()["alerts"]
    assert sorted((a["event"], a["count"]) for a in alerts) == [("down", 10), ("recovery", 10)]
    assert len([r for r in http_server.requests if r["path"] == "/hook"]) == 2


async def test_rate_limit_suppresses_beyond_the_budget(
    infra_hub_factory: Any, http_server: LocalHTTPServer
) -> None:
    doc = alerts_doc(
        http_server, dedup_window_seconds=0.0001, rate_limit={"max_alerts": 3, "window_seconds": 600}
    )
    hub, client = await infra_hub_factory(doc)
    inst = await register(hub, client, "stormy")
    for _ in range(5):
        await hub.registry.set_status(inst, InstanceStatus.CRITICAL)
        await asyncio.sleep(0.01)
        await hub.registry.set_status(inst, InstanceStatus.PASSING)
        await asyncio.sleep(0.01)
    await hub.alerts.wait_delivered()
    alerts = (await client.get("/api/v1/alerts", params={"target": "stormy", "limit": 50})).json()["alerts"]
    assert len(alerts) == 10
    assert sum(1 for a in alerts if not a["suppressed"]) == 3
    assert len([r for r in http_server.requests if r["path"] == "/hook"]) == 3


async def test_acknowledge_silence_filters_and_persistence(
    infra_hub_factory: Any, http_server: LocalHTTPServer
) -> None:
    hub, client = await infra_hub_factory(alerts_doc(http_server))
    before = time.time() - 1
    quiet = await register(hub, client, "quiet-1")
    loud = await register(hub, client, "loud")

    resp = await client.post("/api/v1/alerts/silences", json={"target": "quiet-*", "duration_seconds": 60})
    assert resp.status_code == 201, resp.text
    silence_id = resp.json()["id"]
    assert [s["target"] for s in (await client.get("/api/v1/alerts/silences")).json()["silences"]] == [
        "quiet-*"
    ]

    await hub.registry.set_status(quiet, InstanceStatus.CRITICAL)
    await hub.registry.set_status(loud, InstanceStatus.CRITICAL)
    await hub.alerts.wait_delivered()
    hooks = [r["json"]["alert"]["target"] for r in http_server.requests if r["path"] == "/hook"]
    assert hooks == ["loud"]
    silenced = (await client.get("/api/v1/alerts", params={"target": "quiet-1"})).json()["alerts"]
    assert silenced[0]["silenced"] is True

    alert_id = (await client.get("/api/v1/alerts", params={"target": "loud"})).json()["alerts"][0]["id"]
    ack = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"by": "alice"})
    assert (
        ack.status_code == 200
        and ack.json()["acknowledged"] is True
        and ack.json()["acknowledged_by"] == "alice"
    )
    assert (await client.post("/api/v1/alerts/nope/acknowledge")).status_code == 404

    unacked = (await client.get("/api/v1/alerts", params={"acknowledged": "false"})).json()["alerts"]
    assert [a["target"] for a in unacked] == ["quiet-1"]
    crit = (await client.get("/api/v1/alerts", params={"severity": "critical", "since": str(before)})).json()
    assert {a["target"] for a in crit["alerts"]} == {"quiet-1", "loud"}
    assert (await client.get("/api/v1/alerts", params={"since": "2999-01-01T00:00:00Z"})).json()["count"] == 0
    assert hub.alerts.history(limit=1)[0]["target"] in ("quiet-1", "loud")

    # bad input names the field
    bad = await client.get("/api/v1/alerts", params={"severity": "huge"})
    assert bad.status_code == 400 and "severity" in bad.json()["error"]["message"]
    bad = await client.get("/api/v1/alerts", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["message"]
    bad = await client.post("/api/v1/alerts/silences", json={"target": "x", "duration_seconds": -5})
    assert bad.status_code == 422 and "duration_seconds" in bad.json()["error"]["message"]

    assert (await client.delete(f"/api/v1/alerts/silences/{silence_id}")).status_code == 204
    assert (await client.get("/api/v1/alerts/silences")).json()["silences"] == []

    # the history is stored: a second hub on the same database sees it, acknowledgement included
    hub2, client2 = await infra_hub_factory(alerts_doc())
    stored = (await client2.get("/api/v1/alerts", params={"target": "loud"})).json()["alerts"]
    assert stored[0]["id"] == alert_id and stored[0]["acknowledged"] is True
