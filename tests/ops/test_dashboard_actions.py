"""Every dashboard action clicked in headless Chromium against a real hub, the hub's state
checked through its API after each click; the graph checked for edges through unrelated boxes."""

from __future__ import annotations

import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops._util import require_tool
from tests.ops.test_dashboard import CHROMIUM_ARGS
from tests.support import wait_until_sync

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]
SCREENSHOT_COPY = Path("/tmp/centralhub-dashboard-actions.png")

#: for every drawn edge, the boxes it passes through that are neither of its two ends
CROSSINGS_JS = """
() => {
  const boxes = [...document.querySelectorAll('#graph g.node')].map((g) => {
    const m = g.getCTM(), r = g.querySelector('rect').getBBox();
    return { name: g.dataset.name, x: m.e + r.x, y: m.f + r.y, w: r.width, h: r.height };
  });
  const found = [];
  for (const p of document.querySelectorAll('#graph path.edge')) {
    const length = p.getTotalLength();
    for (let s = 0; s <= length; s += 2) {
      const pt = p.getPointAtLength(s);
      for (const b of boxes) {
        if (b.name === p.dataset.from || b.name === p.dataset.to) continue;
        if (pt.x > b.x + 1 && pt.x < b.x + b.w - 1 && pt.y > b.y + 1 && pt.y < b.y + b.h - 1) {
          found.push([p.dataset.from, p.dataset.to, b.name]);
        }
      }
    }
  }
  return found;
}
"""


def _register(url: str, tenant: str = "default", **body: Any) -> dict[str, Any]:
    body.setdefault("host", "127.0.0.1")
    body.setdefault("ttl_seconds", 600)
    resp = httpx.post(
        f"{url}/api/v1/services/register", json=body, headers={"X-Tenant-ID": tenant}, timeout=10
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_every_action_by_click(hub_process_factory: Any, tmp_path: Path) -> None:
    chromium = require_tool("/usr/bin/chromium", "chromium")
    from playwright.async_api import async_playwright

    s = uuid.uuid4().hex[:5]
    gateway, engine, db, orders, reports = (
        f"{n}-{s}" for n in ("gateway", "engine", "db", "orders", "reports")
    )
    cache_up, cache_down = f"cache-{s}", f"olddb-{s}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    infra = tmp_path / "infrastructure.yaml"
    infra.write_text(
        "databases:\n"
        f"  {cache_up}:\n    type: redis\n    host: 127.0.0.1\n    port: {listener.getsockname()[1]}\n"
        "    health_check: {method: tcp, timeout: 1, interval: 1}\n"
        f"  {cache_down}:\n    type: postgres\n    host: 127.0.0.1\n    port: {closed_port}\n"
        "    health_check: {method: tcp, timeout: 1, interval: 1}\n"
        f"service_dependencies:\n  {engine}:\n    requires: [{cache_up}, {cache_down}]\n"
    )
    hub = hub_process_factory(INFRASTRUCTURE_FILE=str(infra))
    url = hub.url
    # gateway -> engine -> db, reports -> db, and orders beside them: a curve from gateway to
    # db must not run through orders or reports
    _register(url, name=gateway, port=8000, dependencies=[engine])
    _register(url, name=engine, port=8100, dependencies=[db])
    _register(url, name=db, port=5432)
    _register(url, name=reports, port=8300, dependencies=[db, engine])
    inst = _register(url, name=orders, port=8200, version="v4", tags=["eu"], metadata={"team": "fx"})
    order_id = inst["instance_id"]
    _register(url, tenant=f"other{s}", name=f"elsewhere-{s}", port=9000)
    deployment_id = _config_and_cancelled_deployment(url, orders, reports)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(20_000)
            external: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(url) else external.append(r.url))
            page.on("dialog", lambda d: d.accept())
            await page.goto(f"{url}/dashboard")
            await page.locator(f'tr[data-service="{orders}"]').wait_for()
            assert await page.locator("#legend").is_visible()
            # tenants are not mixed: only the default tenant's services until another is chosen
            assert await page.locator(f'tr[data-service="elsewhere-{s}"]').count() == 0

            # the graph: laid out by dagre, no edge through an unrelated box
            for name in (gateway, engine, db, reports, orders):
                await page.locator(f'#graph g.node[data-name="{name}"]').wait_for()
            await page.locator(f'#graph g.node[data-name="{cache_up}"][data-status="healthy"]').wait_for()
            await page.locator(f'#graph g.node[data-name="{cache_down}"][data-status="unhealthy"]').wait_for()
            fill = await page.locator(f'#graph g.node[data-name="{cache_up}"] circle').get_attribute("fill")
            assert fill == "#1f9d55"  # green, as the infrastructure panel's "healthy"
            assert await page.evaluate(CROSSINGS_JS) == []
            edges = await page.locator("#graph path.edge").evaluate_all(
                "es => es.map(e => [e.dataset.from, e.dataset.to])"
            )
            assert [gateway, engine] in edges and [reports, db] in edges and [engine, cache_down] in edges

            # the cancelled deployment says why, not just the word
            reason = page.locator(f'li[data-deployment="{deployment_id}"] .reason')
            await reason.wait_for()
            assert "cancelled on request" in await reason.inner_text()

            # instance page: drain, undrain
            await page.locator(f'tr[data-service="{orders}"] [data-instance="{order_id}"]').click()
            await page.locator("#detail dd[data-field='metadata']", has_text='"team":"fx"').wait_for()
            assert "/instances/" in page.url
            await page.locator('#detail button[data-action="drain"]').click()
            wait_until_sync(
                lambda: _status(url, orders, order_id) == "draining", timeout=30, what="drained by click"
            )
            await page.locator('#detail button[data-action="undrain"]').click()
            wait_until_sync(
                lambda: _status(url, orders, order_id) == "passing", timeout=30, what="undrained by click"
            )

            # configuration: inline schema error, a new version, diff, rollback
            await page.locator(f'#config li[data-config="{orders}"] strong').first.click()
            editor = page.locator("#config-editor")
            await editor.fill('{"spread": -5}')
            await page.locator('#detail button[data-action="save"]').click()
            await page.locator("#config-errors .field-error", has_text="spread").wait_for()
            assert _config(url, orders) == {"spread": 2}  # refused: nothing stored
            await editor.fill('{"spread": 7}')
            await page.locator('#detail button[data-action="save"]').click()
            wait_until_sync(lambda: _config(url, orders) == {"spread": 7}, timeout=30, what="saved by click")
            await page.locator('#config-history li[data-version="1.0.0"] button[data-action="diff"]').click()
            await page.locator("#config-diff li", has_text="spread").wait_for()
            await page.locator(
                '#config-history li[data-version="1.0.0"] button[data-action="rollback"]'
            ).click()
            wait_until_sync(
                lambda: _config(url, orders) == {"spread": 2}, timeout=30, what="rolled back by click"
            )

            # alerts: the unreachable component raised one; acknowledge it, silence its target
            ack = page.locator(f'#alerts li:has-text("{cache_down}") button[data-action="ack"]').first
            await ack.wait_for(timeout=30_000)
            alert_id = await page.locator(f'#alerts li:has-text("{cache_down}")').first.get_attribute(
                "data-alert"
            )
            await ack.click()
            wait_until_sync(
                lambda: _alert(url, alert_id)["acknowledged"], timeout=30, what="acknowledged by click"
            )
            await page.locator(f'#alerts li[data-alert="{alert_id}"] button[data-action="silence"]').click()
            wait_until_sync(
                lambda: cache_down in [x["target"] for x in _silences(url)],
                timeout=30,
                what="silenced by click",
            )

            # another tenant, chosen explicitly
            await page.select_option("#tenant", f"other{s}")
            await page.locator(f'tr[data-service="elsewhere-{s}"]').wait_for()
            assert await page.locator(f'tr[data-service="{orders}"]').count() == 0
            await page.select_option("#tenant", "")
            await page.locator(f'tr[data-service="{orders}"]').wait_for()

            # deregister from the instance page (the confirmation is accepted)
            await page.locator(f'tr[data-service="{orders}"] [data-instance="{order_id}"]').click()
            await page.locator('#detail button[data-action="deregister"]').click()
            wait_until_sync(
                lambda: httpx.get(f"{url}/api/v1/services/{orders}", timeout=10).status_code == 404,
                timeout=30,
                what="deregistered by click",
            )
            shot = tmp_path / "actions.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            shutil.copyfile(shot, SCREENSHOT_COPY)
            assert external == [], external
        finally:
            await browser.close()
            listener.close()


def _status(url: str, service: str, instance_id: str) -> str:
    doc = httpx.get(f"{url}/api/v1/services/{service}", timeout=10).json()
    return next(i["status"] for i in doc["instances"] if i["instance_id"] == instance_id)


def _config(url: str, service: str) -> Any:
    return httpx.get(f"{url}/api/v1/config/{service}", timeout=10).json()["config"]


def _alert(url: str, alert_id: str | None) -> dict[str, Any]:
    alerts = httpx.get(f"{url}/api/v1/alerts", params={"limit": 1000}, timeout=10).json()["alerts"]
    return next(a for a in alerts if a["id"] == alert_id)


def _silences(url: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/api/v1/alerts/silences", timeout=10).json()["silences"]  # type: ignore[no-any-return]


def _config_and_cancelled_deployment(url: str, service: str, deployed: str) -> str:
    """A schema and a first version for ``service``; a deployment of ``deployed``, cancelled."""
    schema = {"type": "object", "properties": {"spread": {"type": "integer", "minimum": 0}}}
    assert httpx.put(f"{url}/api/v1/config/{service}/schema", json=schema, timeout=10).status_code == 200
    assert httpx.post(f"{url}/api/v1/config/{service}", json={"spread": 2}, timeout=10).status_code == 200
    made = httpx.post(
        f"{url}/api/v1/deployments",
        json={"service": deployed, "version": "v9", "deadline_seconds": 600},
        timeout=10,
    ).json()
    assert httpx.post(f"{url}/api/v1/deployments/{made['id']}/cancel", timeout=10).status_code == 200
    return str(made["id"])
