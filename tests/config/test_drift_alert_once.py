"""A drift is alerted once when it starts, not on every pass of the drift loop (each alert is a
database write), and alerted again when the instance drifts anew on a later revision."""

from __future__ import annotations

from typing import Any

import pytest

from centralhub.hub import Hub
from centralhub.registry.models import Registration

pytestmark = pytest.mark.timeout(60)


async def test_a_drift_is_alerted_when_it_starts_not_on_every_pass(hub: Hub) -> None:
    raised: list[dict[str, Any]] = []
    real = hub.alerts.raise_alert

    async def counting(**kwargs: Any) -> Any:
        raised.append(kwargs)
        return await real(**kwargs)

    hub.alerts.raise_alert = counting  # type: ignore[method-assign]
    drift = hub.config_drift
    drift.drift_seconds = 0.0
    inst, _ = await hub.registry.register("default", Registration(name="once", host="o", port=1))
    first = await hub.config_service.put("default", "once", {"a": 1}, author="t")
    await hub.config_service.put("default", "once", {"a": 2}, author="t")
    await drift.report("default", "once", inst.id, revision=first.revision, ok=True, error=None)

    for _ in range(3):
        assert (await drift.check())[("default", "once")] == 1
    assert [r["instance_id"] for r in raised if r["event"] == "drift"] == [inst.id]

    third = await hub.config_service.put("default", "once", {"a": 3}, author="t")
    await drift.report("default", "once", inst.id, revision=third.revision, ok=False, error="boom")
    await drift.check()
    await drift.check()
    drifts = [r for r in raised if r["event"] == "drift"]
    assert len(drifts) == 2 and "boom" in drifts[1]["message"]
