"""``/docs`` and ``/redoc`` in headless Chromium with every request outside the hub refused:
the pages must list the hub's operations from the hub's own files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ops._util import require_tool
from tests.ops.test_dashboard import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]


async def test_docs_and_redoc_render_with_no_network(hub_process_factory: Any, tmp_path: Path) -> None:
    chromium = require_tool("/usr/bin/chromium", "chromium")
    from playwright.async_api import Route, async_playwright

    hub = hub_process_factory()
    refused: list[str] = []

    async def only_the_hub(route: Route) -> None:
        if route.request.url.startswith(hub.url):
            await route.continue_()
        else:  # what a machine without internet access does to a CDN request
            refused.append(route.request.url)
            await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: None if r.url.startswith(hub.url) else refused.append(r.url))
            page.set_default_timeout(30_000)
            await page.route("**/*", only_the_hub)

            resp = await page.goto(f"{hub.url}/docs")
            assert resp is not None and resp.status == 200
            # Swagger UI lists each operation by path and summary
            await page.get_by_text("Register (or update) a service instance").first.wait_for()
            await page.get_by_text("/v1/agent/service/register").first.wait_for()
            await page.screenshot(path=str(tmp_path / "docs.png"))

            resp = await page.goto(f"{hub.url}/redoc")
            assert resp is not None and resp.status == 200
            # ReDoc draws each operation as a section headed by its summary
            heading = page.locator("h2", has_text="Register (or update) a service instance").first
            await heading.wait_for()
            await page.screenshot(path=str(tmp_path / "redoc.png"))
        finally:
            await browser.close()
    assert refused == [], refused
    assert (tmp_path / "docs.png").stat().st_size > 10_000
