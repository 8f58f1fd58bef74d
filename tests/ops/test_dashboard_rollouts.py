"""The dashboard's configuration rollouts, clicked in headless Chromium against a real hub: a
baking rollout shows its progress and canaries; Promote and Abort act through the hub's API; a
drifted instance is listed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops._util import require_tool
from tests.ops.test_dashboard import CHROMIUM_ARGS
from tests.ops.test_dashboard_actions import _config, _register
from tests.support import wait_until_sync

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def _rollout(url: str, service: str) -> dict[str, Any]:
    return httpx.get(f"{url}/api/v1/config/{service}/rollout", timeout=10).json()  # type: ignore[no-any-return]


def _post(url: str, body: dict[str, Any]) -> int:
    return httpx.post(url, json=body, timeout=10).status_code


def _start(url: str, service: str, value: int, canary: str) -> str:
    body = {"config": {"batch": value}, "canary": {"instances": [canary]}, "bake_seconds": 600}
    resp = httpx.post(f"{url}/api/v1/config/{service}/rollouts", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["rollout_id"])


async def test_rollout_progress_promote_abort_and_drift(hub_process_factory: Any, tmp_path: Path) -> None:
    chromium = require_tool("/usr/bin/chromium", "chromium")
    from playwright.async_api import async_playwright

    hub = hub_process_factory(CENTRAL_HUB_CONFIG_DRIFT_SECONDS="1")
    url, name = hub.url, f"feed-{uuid.uuid4().hex[:5]}"
    ids = [_register(url, name=name, port=p)["instance_id"] for p in (8001, 8002)]
    assert _post(f"{url}/api/v1/config/{name}", {"batch": 1}) == 200
    # the second instance cannot apply the first version: drifted after a second
    applied = f"{url}/api/v1/config/{name}/instances/{ids[1]}/applied"
    assert _post(applied, {"revision": 1, "ok": False, "error": "feed refused"}) == 200
    first = _start(url, name, 2, ids[0])

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            await page.goto(f"{url}/dashboard")
            row = page.locator(f'#rollouts li[data-rollout="{first}"][data-state="baking"]')
            await row.wait_for()
            assert "baking" in await row.inner_text() and "s left" in await row.inner_text()
            await row.locator(f'li[data-canary="{ids[0]}"]').wait_for()
            await page.locator(f'#drift li[data-drift="{ids[1]}"]', has_text="feed refused").wait_for(
                timeout=30_000
            )

            await row.locator('button[data-action="rollout-promote"]').click()
            wait_until_sync(
                lambda: _rollout(url, name)["state"] == "promoted", timeout=30, what="promoted by click"
            )
            await page.locator(f'#rollouts li[data-rollout="{first}"][data-state="promoted"]').wait_for()
            assert _config(url, name) == {"batch": 2}

            second = _start(url, name, 3, ids[1])
            row = page.locator(f'#rollouts li[data-rollout="{second}"][data-state="baking"]')
            await row.locator('button[data-action="rollout-abort"]').click()
            wait_until_sync(
                lambda: _rollout(url, name)["state"] == "aborted", timeout=30, what="aborted by click"
            )
            await page.locator(f'#rollouts li[data-rollout="{second}"][data-state="aborted"]').wait_for()
            assert _config(url, name) == {"batch": 2}
            await page.screenshot(path=str(tmp_path / "rollouts.png"), full_page=True)
            await page.screenshot(path="/tmp/centralhub-dashboard-rollouts.png", full_page=True)
        finally:
            await browser.close()
