"""The dashboard in headless Chromium against the real hub on a socket: what a person sees."""

from __future__ import annotations

import shutil
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
