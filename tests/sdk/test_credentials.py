"""Every client presents the credential on every request to the hub, and never logs it.

The hub here is a real HTTP server that records request headers (``tests/sdk/recorder.py``):
what is checked is what goes over the wire. A refused credential surfaces at once as
``HubAuthError`` carrying the hub's message, without a retry.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from centralhub.cli import app as cli_app
from centralhub.sdk import BaseService, ServiceConfig
from centralhub.sdk.client import CentralHubClient
from centralhub.sdk.config_client import ConfigClient
from centralhub.sdk.connection import HubAuthError, default_hub_url
from centralhub.sdk.messaging import HTTPMessagingClient
from tests.conftest import free_port
from tests.sdk.recorder import Recorder, only, serve_recorder
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

KEY = "chk_test_0123456789abcdef"
BEARER = f"Bearer {KEY}"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    for name in ("CENTRAL_HUB_API_KEY", "CENTRAL_HUB_URL", "CENTRAL_HUB_PORT", "CENTRAL_HUB_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield from serve_recorder()


async def test_hub_client_sends_the_key_on_every_request_and_never_logs_it(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = CentralHubClient("svc", hub_url=recorder.url, port=8123, api_key=KEY, health_endpoint=None)
    async with client:
        await wait_until(lambda: only(recorder, "POST /api/v1/services/svc/instances/i-1/heartbeat"))
        await client.get_service("peer")
        await client.get_load_balanced_endpoint("peer")
        await client.get_circuit_state("peer")
    assert client.has_credential
    paths = recorder.paths()
    for expected in (
        "POST /api/v1/services/register",
        "POST /api/v1/services/svc/instances/i-1/heartbeat",
        "GET /api/v1/services/peer",
        "GET /api/v1/services/peer/endpoint",
        "GET /api/v1/circuits/peer",
        "DELETE /api/v1/services/svc/instances/i-1",
    ):
        assert expected in paths
    assert recorder.authorizations() == {BEARER}
    assert KEY not in caplog.text


async def test_key_from_the_environment_and_none_without_one(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CENTRAL_HUB_API_KEY", KEY)
    monkeypatch.setenv("CENTRAL_HUB_URL", recorder.url)
    async with CentralHubClient("svc", port=8123, health_endpoint=None):
        pass
    assert recorder.authorizations() == {BEARER}

    recorder.seen.clear()
    monkeypatch.delenv("CENTRAL_HUB_API_KEY")
    async with CentralHubClient("svc", port=8123, health_endpoint=None) as anonymous:
        assert not anonymous.has_credential
    assert recorder.seen and recorder.authorizations() == {None}


async def test_config_client_sends_the_key_on_reads_and_watches(recorder: Recorder) -> None:
    async with ConfigClient("svc", recorder.url, api_key=KEY, watch=True) as config:
        assert config.get_value("a") == 1
        await wait_until(lambda: len(only(recorder, "GET /api/v1/config/svc/watch")) >= 2, what="watch")
        await config.get_config(force_refresh=True)
    assert "GET /api/v1/config/svc" in recorder.paths()
    assert recorder.authorizations() == {BEARER}


async def test_base_service_sends_the_key_for_registration_config_and_heartbeats(
    recorder: Recorder,
) -> None:
    cfg = ServiceConfig(
        service_name="svc", hub_url=recorder.url, port=free_port(), api_key=KEY, ttl_seconds=1
    )
    assert KEY not in repr(cfg)
    service = BaseService(cfg)
    await service.start()
    try:
        await wait_until(lambda: only(recorder, "POST /api/v1/services/svc/instances/i-1/heartbeat"))
        await wait_until(lambda: only(recorder, "GET /api/v1/config/svc/watch"), what="watch")
    finally:
        await service.stop()
    paths = recorder.paths()
    assert "POST /api/v1/services/register" in paths and "GET /api/v1/config/svc" in paths
    assert "DELETE /api/v1/services/svc/instances/i-1" in paths
    assert recorder.authorizations() == {BEARER}


async def test_messaging_http_transport_sends_the_key(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with HTTPMessagingClient(recorder.url, api_key=KEY) as explicit:
        await explicit.publish("orders.created", {"id": 1})
    assert recorder.authorizations() == {BEARER}

    # from the environment: sent to the hub itself, but the hub's key is not handed to peers
    monkeypatch.setenv("CENTRAL_HUB_API_KEY", KEY)
    monkeypatch.setenv("CENTRAL_HUB_URL", recorder.url)
    recorder.seen.clear()
    async with HTTPMessagingClient(recorder.url) as to_hub:
        await to_hub.publish("orders.created", {"id": 2})
    assert recorder.authorizations() == {BEARER}
    monkeypatch.setenv("CENTRAL_HUB_URL", "http://127.0.0.1:1")
    recorder.seen.clear()
    async with HTTPMessagingClient(recorder.url) as to_peer:
        await to_peer.publish("orders.created", {"id": 3})
    assert recorder.seen and recorder.authorizations() == {None}


async def test_refused_credential_raises_at_once_with_the_hubs_message(recorder: Recorder) -> None:
    recorder.require_key = KEY
    client = CentralHubClient("svc", hub_url=recorder.url, port=8123, health_endpoint=None)
    with pytest.raises(HubAuthError) as refused:
        await client.register(keep_trying=True)
    assert refused.value.status == 401
    assert "missing or unknown credential" in str(refused.value)
    assert "CENTRAL_HUB_API_KEY" in str(refused.value)  # says how to send one
    assert len(only(recorder, "POST /api/v1/services/register")) == 1  # no retry
    await client.close()

    with pytest.raises(HubAuthError, match="check the API key"):
        async with ConfigClient("svc", recorder.url, api_key="wrong", watch=True):
            pass
    assert len(only(recorder, "GET /api/v1/config/svc")) == 1
    assert not only(recorder, "GET /api/v1/config/svc/watch")


def test_cli_sends_the_key_from_the_option_and_the_environment(recorder: Recorder) -> None:
    runner = CliRunner()
    r = runner.invoke(cli_app, ["--api-key", KEY, "services", "ls", "--hub", recorder.url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli_app, ["config", "get", "svc", "--hub", recorder.url], env={"CENTRAL_HUB_API_KEY": KEY}
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli_app, ["deps", "--hub", recorder.url], env={"CENTRAL_HUB_API_KEY": KEY})
    assert r.exit_code == 0, r.output
    assert recorder.paths() == ["GET /api/v1/services", "GET /api/v1/config/svc", "GET /api/v1/dependencies"]
    assert recorder.authorizations() == {BEARER}

    recorder.require_key = KEY
    r = runner.invoke(cli_app, ["services", "ls", "--hub", recorder.url], env={"CENTRAL_HUB_API_KEY": ""})
    assert r.exit_code == 1
    assert "missing or unknown credential (401 unauthorized)" in r.output
    assert "--api-key" in r.output


def test_cli_default_hub_follows_central_hub_port(recorder: Recorder) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRAL_HUB")}
    env.update(CENTRAL_HUB_PORT=str(recorder.port), CENTRAL_HUB_API_KEY=KEY)
    r = subprocess.run(
        [sys.executable, "-m", "centralhub.cli", "services", "ls"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert recorder.paths() == ["GET /api/v1/services"] and recorder.authorizations() == {BEARER}


def test_default_hub_url() -> None:
    assert default_hub_url({}) == "http://127.0.0.1:7000"
    assert default_hub_url({"CENTRAL_HUB_PORT": "7100"}) == "http://127.0.0.1:7100"
    # the variables `centralhub serve` binds with reach that hub
    assert default_hub_url({"CENTRAL_HUB_HOST": "hub.internal", "CENTRAL_HUB_PORT": "7100"}) == (
        "http://hub.internal:7100"
    )
    assert default_hub_url({"CENTRAL_HUB_HOST": "0.0.0.0"}) == "http://127.0.0.1:7000"
    assert default_hub_url({"CENTRAL_HUB_HOST": "fd00::1"}) == "http://[fd00::1]:7000"
    assert (
        default_hub_url({"CENTRAL_HUB_URL": "https://hub:8443/", "CENTRAL_HUB_PORT": "1"})
        == "https://hub:8443"
    )
