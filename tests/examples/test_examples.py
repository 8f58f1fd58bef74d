"""The two example services end to end: real hub process with auth required, real NATS, each
example a process holding its own API key (``CENTRAL_HUB_API_KEY``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.auth_support import SECRET
from tests.conftest import ROOT, free_port
from tests.key_cli import create_key
from tests.support import wait_until_sync

pytestmark = [pytest.mark.timeout(90), pytest.mark.nats]

#: The examples' fixed service names live in a tenant of their own: the registry and config events
#: of another run's hub on the shared NATS server (other tenant) can then never reach this run's.
TENANT = f"examples-{uuid.uuid4().hex[:8]}"
#: the test's own requests: the tenant, and (set by the fixture) an operator's admin key
HEADERS = {"X-Tenant-ID": TENANT}


def answered(check: Callable[[], Any]) -> Callable[[], Any]:
    """``check`` as a wait condition: an HTTP error (a process still starting) means "not yet"."""

    def condition() -> Any:
        try:
            return check()
        except httpx.HTTPError:
            return None

    return condition


class Example:
    def __init__(self, script: str, port: int, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / script)],
            env={**env, "SERVICE_PORT": str(port)},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=str(log.parent),
        )

    def get(self, path: str) -> httpx.Response:
        if self.proc.poll() is not None:
            pytest.fail(f"{self.log.name} exited: {self.log.read_text()[-3000:]}")
        return httpx.get(self.url + path, timeout=5)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


@pytest.fixture
def examples(
    hub_process_factory: Any, nats_url: str, tmp_path: Path
) -> Iterator[tuple[Any, Example, Example]]:
    hub = hub_process_factory(
        NATS_URL=nats_url, start=False, CENTRAL_HUB_AUTH="required", CENTRAL_HUB_SECRET=SECRET
    )
    hub.start(timeout=60)
    database_url = hub.env["DATABASE_URL"]
    HEADERS["Authorization"] = f"Bearer {create_key(database_url, 'examples-operator', 'admin')}"
    # what a service needs: register/heartbeat/contracts and reading its configuration, in its tenant
    service_key = create_key(database_url, "examples", "registry:write", "config:read", tenant=TENANT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVICE_", "NATS_URL", "CENTRAL_HUB"))}
    env.update(
        CENTRAL_HUB_URL=hub.url,
        CENTRAL_HUB_API_KEY=service_key,
        CENTRAL_HUB_TENANT=TENANT,
        NATS_URL=nats_url,
        EXAMPLE_TICK_SUBJECT=f"examples.{uuid.uuid4().hex[:8]}.tick",
        SERVICE_TTL_SECONDS="6",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    feed = Example("price_feed.py", free_port(), env, tmp_path / "price_feed.log")
    strategy = Example("strategy.py", free_port(), env, tmp_path / "strategy.log")
    try:
        yield hub, feed, strategy
    finally:
        for ex in (strategy, feed):
            if ex.proc.poll() is None:
                ex.proc.kill()
                ex.proc.wait(5)


def _instances(hub_url: str, name: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{hub_url}/api/v1/services/{name}", headers=HEADERS, timeout=5)
    return [] if resp.status_code == 404 else list(resp.json()["instances"])


def test_examples_end_to_end(examples: tuple[Any, Example, Example]) -> None:
    hub, feed, strategy = examples
    # both register with the hub, the feed with its contract on file
    wait_until_sync(
        answered(lambda: _instances(hub.url, "price-feed") and _instances(hub.url, "strategy")),
        timeout=45,  # two Python processes start on a shared 2-core machine: imports alone take a while
        what="registration",
    )
    [feed_inst] = wait_until_sync(
        answered(lambda: [i for i in _instances(hub.url, "price-feed") if i["contract_validated"]]),
        timeout=20,
        what="contract",
    )
    assert feed_inst["url"] == feed.url
    # auth is on: the examples got this far with their key, an anonymous caller gets nowhere
    anonymous = httpx.get(f"{hub.url}/api/v1/services/price-feed", headers={"X-Tenant-ID": TENANT}, timeout=5)
    assert anonymous.status_code == 401
    [strategy_inst] = _instances(hub.url, "strategy")
    assert strategy_inst["dependencies"] == ["price-feed"]
    contract = httpx.get(f"{hub.url}/api/v1/contracts/price-feed", headers=HEADERS, timeout=5).json()
    assert contract["message_types"] == ["price.tick"]

    # ticks flow over NATS and pass the contract check
    stats = wait_until_sync(
        answered(lambda: (s := strategy.get("/stats").json())["ticks_received"] >= 3 and s),
        timeout=20,
        what="ticks over NATS",
    )
    assert stats["ticks_rejected"] == 0 and stats["symbols"] == ["EURUSD"]
    health = strategy.get("/health").json()
    assert health["status"] == "healthy" and health["hub"]["registered"] is True
    assert health["checks"]["nats"] == "connected"

    # direct calls both ways, at the addresses the hub handed out
    signal_body = strategy.get("/signal/EURUSD").json()
    assert signal_body["quoted_by"] == f"{feed.url}/quote/EURUSD"
    assert signal_body["signal"] in ("buy", "sell", "hold")
    consumers = feed.get("/consumers").json()
    assert consumers["consumers"]["strategy"]["url"] == f"{strategy.url}/stats"
    assert consumers["consumers"]["strategy"]["ticks_received"] >= 3

    # configuration from the hub, applied while running
    r = httpx.post(
        f"{hub.url}/api/v1/config/strategy",
        json={"symbols": ["EURUSD", "USDJPY"], "threshold_bps": 5},
        headers=HEADERS,
        timeout=5,
    )
    assert r.status_code == 200, r.text
    wait_until_sync(
        answered(lambda: strategy.get("/stats").json()["threshold_bps"] == 5),
        timeout=20,
        what="strategy to apply its new config",
    )
    not_yet = strategy.get("/signal/USDJPY")  # followed now, but the feed does not publish it yet
    assert not_yet.status_code == 502 and "404" in not_yet.json()["detail"]
    r = httpx.post(
        f"{hub.url}/api/v1/config/price-feed",
        json={"symbols": ["EURUSD", "USDJPY"], "interval_seconds": 0.2},
        headers=HEADERS,
        timeout=5,
    )
    assert r.status_code == 200, r.text
    wait_until_sync(
        answered(lambda: "USDJPY" in strategy.get("/stats").json()["last_prices"]),
        timeout=20,
        what="USDJPY ticks after the feed reload",
    )
    assert strategy.get("/signal/USDJPY").json()["symbol"] == "USDJPY"

    # SIGTERM: each deregisters on the way out
    assert strategy.stop() in (0, -signal.SIGTERM)
    assert _instances(hub.url, "strategy") == []
    assert feed.stop() in (0, -signal.SIGTERM)
    assert _instances(hub.url, "price-feed") == []
