"""The dashboard in headless Chromium against the real hub on a socket: what a person sees."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops._util import require_tool

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: a copy of the last screenshot, for people to look at
SCREENSHOT_COPY = Path("/tmp/centralhub-dashboard.png")


def _register(url: str, **body: Any) -> None:
    resp = httpx.post(f"{url}/api/v1/services/register", json=body, timeout=10)
    assert resp.status_code == 201, resp.text


async def test_dashboard_shows_services_live_and_draws_the_graph(
    hub_process_factory: Any, tmp_path: Path
) -> None:
    chromium = require_tool("/usr/bin/chromium", "chromium")
    from playwright.async_api import async_playwright

    hub = hub_process_factory()
    suffix = uuid.uuid4().hex[:6]
    gateway, engine, db = f"gateway-{suffix}", f"engine-{suffix}", f"postgres-{suffix}"
    _register(hub.url, name=gateway, host="127.0.0.1", port=8000, version="v1", dependencies=[engine])
    _register(hub.url, name=gateway, host="127.0.0.1", port=8001, version="v1", dependencies=[engine])

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            external: list[str] = []
            page.on(
                "request",
                lambda r: external.append(r.url) if not r.url.startswith(hub.url) else None,
            )
            resp = await page.goto(f"{hub.url}/dashboard")
            assert resp is not None and resp.status == 200

            row = page.locator(f'tr[data-service="{gateway}"]')
            await row.wait_for()
            assert "127.0.0.1:8000" in await row.inner_text()
            assert "degraded" not in await row.inner_text()
            # the dependency it names but nobody registered yet is drawn as missing
            await page.locator(f'#graph g.node[data-name="{engine}"][data-status="missing"]').wait_for()

            # a marker on window survives only if the page is never reloaded
            await page.evaluate("window.__sameDocument = true")
            _register(hub.url, name=engine, host="127.0.0.1", port=9000, version="v3", dependencies=[db])
            _register(hub.url, name=db, host="127.0.0.1", port=5432)
            await page.locator(f'tr[data-service="{engine}"]').wait_for()
            await page.locator(f'tr[data-service="{db}"]').wait_for()
            assert await page.evaluate("window.__sameDocument === true")

            nodes = page.locator("#graph g.node")
            await page.locator(f'#graph g.node[data-name="{engine}"][data-status="healthy"]').wait_for()
            names = set(await nodes.evaluate_all("ns => ns.map(n => n.dataset.name)"))
            assert {gateway, engine, db} <= names
            edges = await page.locator("#graph path.edge").evaluate_all(
                "es => es.map(e => [e.dataset.from, e.dataset.to])"
            )
            assert [gateway, engine] in edges and [engine, db] in edges
            # layered left to right: a dependency sits left of what depends on it
            xs = {
                n: (await page.locator(f'#graph g.node[data-name="{n}"]').bounding_box() or {"x": 0})["x"]
                for n in (gateway, engine, db)
            }
            assert xs[db] < xs[engine] < xs[gateway]

            assert await page.locator('[data-figure="services"] .n').inner_text() != "0"
            assert external == [], external
            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            shutil.copyfile(shot, SCREENSHOT_COPY)
        finally:
            await browser.close()


def _create_key(hub: Any, name: str, *args: str) -> str:
    """A key made with ``centralhub keys create`` against the hub's database: its last line."""
    out = subprocess.run(
        [sys.executable, "-m", "centralhub.cli", "keys", "create", name, *args],
        env=hub.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


async def test_dashboard_with_auth_on_takes_a_pasted_key_and_shows_its_tenant_only(
    hub_process_factory: Any,
) -> None:
    chromium = require_tool("/usr/bin/chromium", "chromium")
    from playwright.async_api import async_playwright

    hub = hub_process_factory(start=False, CENTRAL_HUB_AUTH="required", CENTRAL_HUB_SECRET="x" * 32)
    suffix = uuid.uuid4().hex[:6]
    mine, theirs = f"pay-{suffix}", f"ledger-{suffix}"
    writer1 = _create_key(hub, f"w1-{suffix}", "--scope", "registry:write", "--tenant", "desk-one")
    writer2 = _create_key(hub, f"w2-{suffix}", "--scope", "registry:write", "--tenant", "desk-two")
    reader = _create_key(hub, f"r1-{suffix}", "--scope", "registry:read", "--tenant", "desk-one")
    hub.start()
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        for key, name, port in ((writer1, mine, 8100), (writer2, theirs, 8200)):
            resp = await http.post(
                "/api/v1/services/register",
                json={"name": name, "host": "127.0.0.1", "port": port},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert resp.status_code == 201, resp.text

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            sent: list[str | None] = []
            page.on(
                "request",
                lambda r: sent.append(r.headers.get("authorization")) if "/dashboard/data" in r.url else None,
            )
            await page.goto(f"{hub.url}/dashboard")
            await page.locator("#hub-status", has_text="API key needed").wait_for()

            await page.fill("#apikey", reader)
            await page.dispatch_event("#apikey", "change")
            await page.locator(f'tr[data-service="{mine}"]').wait_for()
            assert f"Bearer {reader}" in sent
            assert await page.locator(f'tr[data-service="{theirs}"]').count() == 0
            assert await page.locator("#tenant-label").is_hidden()  # not an admin: no tenant choice

            # the key is kept in this browser: a reload needs no pasting
            await page.reload()
            await page.locator(f'tr[data-service="{mine}"]').wait_for()
            assert await page.locator(f'tr[data-service="{theirs}"]').count() == 0
        finally:
            await browser.close()
