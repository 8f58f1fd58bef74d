"""SIGTERM ends a hub process quickly and cleanly, and no error answer drops a keep-alive
connection."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from centralhub.server.app import create_app
from tests.conftest import free_port, make_settings, reset_database
from tests.support import wait_until_sync


def test_sigterm_answers_open_watch_and_exits_within_2s(hub_process_factory: Any) -> None:
    hp = hub_process_factory()
    assert httpx.post(f"{hp.url}/api/v1/config/billing", json={"rate": 1}, timeout=10).status_code == 200
    answers: list[httpx.Response | BaseException] = []

    def watch() -> None:
        try:
            answers.append(
                httpx.get(f"{hp.url}/api/v1/config/billing/watch?revision=1&timeout=120", timeout=30)
            )
        except BaseException as exc:
            answers.append(exc)

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(1.0)  # the watch is held by now
    assert answers == []
    began = time.monotonic()
    hp.proc.send_signal(signal.SIGTERM)
    code = hp.proc.wait(10)
    took = time.monotonic() - began
    watcher.join(10)

    assert code == 0
    assert took < 2.0, f"took {took:.2f}s to exit"
    assert len(answers) == 1 and isinstance(answers[0], httpx.Response), answers
    assert answers[0].status_code == 304
    log = hp.log_path.read_text()
    assert "Traceback" not in log and "CancelledError" not in log, log[-3000:]
    assert "Application shutdown complete" in log


@pytest.fixture
def server_with_a_bug(tmp_path: Path) -> Iterator[str]:
    """The hub app on a real uvicorn socket, plus one route that fails with an unexpected error."""
    url = f"sqlite:///{tmp_path / 'bug.db'}"
    asyncio.run(reset_database(url))
    app: FastAPI = create_app(make_settings(url))

    @app.get("/test/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_sync(lambda: server.started, timeout=30, what="server started")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)


def test_unhandled_500_keeps_the_keep_alive_connection_usable(server_with_a_bug: str) -> None:
    with httpx.Client(base_url=server_with_a_bug, timeout=10) as client:
        ports = []
        for _ in range(3):
            bug = client.get("/test/bug")
            assert bug.status_code == 500
            assert bug.json() == {
                "error": {"code": "internal_error", "message": "internal error: RuntimeError"}
            }
            ok = client.get("/health")
            assert ok.status_code == 200
            missing = client.get("/api/v1/config/nothing-here")
            assert missing.status_code == 404
            ports += [
                r.extensions["network_stream"].get_extra_info("client_addr")[1] for r in (bug, ok, missing)
            ]
    # one connection carried every request: none was closed under the client
    assert len(set(ports)) == 1
