"""The hub served over TLS (``serve --ssl-certfile/--ssl-keyfile``) with a throwaway CA.

Clients trusting that CA (``ca_file=`` / ``CENTRAL_HUB_CA_FILE`` / ``--ca-file``) work over https;
clients that do not trust it refuse the hub, loudly, and never fall back to an unverified
connection.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from centralhub.sdk.client import CentralHubClient, HubUnavailable
from centralhub.sdk.config_client import ConfigClient
from centralhub.sdk.connection import tls_verify
from tests.conftest import free_port
from tests.tls_support import TlsFiles, make_tls_files

pytestmark = pytest.mark.timeout(90)


@dataclass
class TlsHub:
    url: str
    tls: TlsFiles
    env: dict[str, str]

    def trusting(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls.ca_file))


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CENTRAL_HUB", "DATABASE_URL", "NATS_URL", "SSL_CERT"))
    }


@pytest.fixture(scope="module")
def tls_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHub]:
    """``centralhub serve`` over https on a free port, its certificate signed by a throwaway CA."""
    directory = tmp_path_factory.mktemp("tls")
    tls = make_tls_files(directory)
    port = free_port()
    env = _clean_env() | {
        "DATABASE_URL": f"sqlite:///{directory / 'hub.db'}",
        "CENTRAL_HUB_HOST": "127.0.0.1",
    }
    log = directory / "hub.log"
    args = ["--ssl-certfile", str(tls.certfile), "--ssl-keyfile", str(tls.keyfile)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralhub.cli", "serve", "--port", str(port), *args],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=str(directory),
    )
    hub = TlsHub(url=f"https://127.0.0.1:{port}", tls=tls, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"hub exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(hub.url + "/health", verify=hub.trusting(), timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"hub not ready over https: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield hub
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_sdk_with_the_ca_registers_discovers_and_reads_config(tls_hub: TlsHub) -> None:
    name, peer = _name("tls"), _name("peer")
    ca = tls_hub.tls.ca_file
    async with httpx.AsyncClient(base_url=tls_hub.url, verify=tls_hub.trusting(), timeout=10) as http:
        stored = await http.post(f"/api/v1/config/{name}", json={"batch_size": 7})
        assert stored.status_code == 200, stored.text

    async with (
        CentralHubClient(peer, hub_url=tls_hub.url, port=9001, ca_file=ca, health_endpoint=None),
        CentralHubClient(name, hub_url=tls_hub.url, port=9002, ca_file=ca, health_endpoint=None) as client,
    ):
        assert await client.discover_service(peer) == "http://127.0.0.1:9001"
        assert await client.heartbeat()

    async with ConfigClient(name, tls_hub.url, ca_file=ca, watch=True) as config:
        assert config.source == "hub" and config.get_value("batch_size") == 7


async def test_ca_from_the_environment(tls_hub: TlsHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTRAL_HUB_CA_FILE", str(tls_hub.tls.ca_file))
    monkeypatch.setenv("CENTRAL_HUB_URL", tls_hub.url)
    async with CentralHubClient(_name("env"), port=9003, health_endpoint=None) as client:
        assert client.registered


async def test_sdk_without_the_ca_refuses_the_hub(tls_hub: TlsHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CENTRAL_HUB_CA_FILE", raising=False)
    client = CentralHubClient(_name("untrusting"), hub_url=tls_hub.url, port=9004, health_endpoint=None)
    try:
        with pytest.raises(HubUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await client.register()
        assert not client.registered
    finally:
        await client.close()

    name = _name("untrusting")
    async with ConfigClient(name, tls_hub.url, safe_defaults={"mode": "safe"}, retry_interval=0.2) as config:
        # the hub's answer is never taken over an unverified connection: the safe defaults stay
        assert not config.hub_available and config.source == "defaults"
        assert await config.get_config(force_refresh=True) == {"mode": "safe"}

    with pytest.raises(ValueError, match="CA file"):
        ConfigClient(name, tls_hub.url, ca_file=tls_hub.tls.ca_file.parent / "missing.pem")


def test_cli_with_and_without_the_ca(tls_hub: TlsHub) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "centralhub.cli", *args],
            env=_clean_env() | {"CENTRAL_HUB_URL": tls_hub.url},
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = cli("--ca-file", str(tls_hub.tls.ca_file), "services", "ls", "--json")
    assert ok.returncode == 0, ok.stderr
    assert "services" in ok.stdout
    refused = cli("services", "ls")
    assert refused.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr and "--ca-file" in refused.stderr


def test_serve_refuses_an_unusable_certificate(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "centralhub.cli",
            "serve",
            "--port",
            str(free_port()),
            "--database-url",
            f"sqlite:///{tmp_path / 'hub.db'}",
            "--ssl-certfile",
            str(tls.certfile),
            "--ssl-keyfile",
            str(tmp_path / "missing-key.pem"),
        ],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "CENTRAL_HUB_SSL_CERTFILE/KEYFILE" in r.stderr and "Traceback" not in r.stderr


def test_what_the_clients_verify_with(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    assert tls_verify(None, None, env={}) is True  # the system's CAs by default
    assert tls_verify(False, tls.ca_file, env={}) is False  # only an explicit caller turns it off
    context = ssl.create_default_context()
    assert tls_verify(context, env={}) is context
    from_env = tls_verify(None, None, env={"CENTRAL_HUB_CA_FILE": str(tls.ca_file)})
    assert isinstance(from_env, ssl.SSLContext) and from_env.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ValueError, match="missing.pem"):
        tls_verify(None, tmp_path / "missing.pem", env={})
