"""A minimal BaseService run as a process by test_base_service.py (not a test module).

It writes its lifecycle to ``$LIFECYCLE_FILE`` so the test can see the hooks ran in order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from centralhub.sdk.base_service import BaseService, ServiceConfig

LIFECYCLE = Path(os.environ["LIFECYCLE_FILE"])


class Probe(BaseService):
    def __init__(self) -> None:
        super().__init__(
            ServiceConfig(
                service_name=os.environ["PROBE_NAME"],
                version="2.0.0",
                service_type="probe",
                config_defaults={"greeting": "hello", "limits": {"rps": 10}},
                ttl_seconds=6,
            )
        )
        self.queue_size = 3
        self.app.add_api_route("/greet", self.greet, methods=["GET"])

    def _mark(self, event: str) -> None:
        with LIFECYCLE.open("a") as f:
            f.write(f"{event} registered={self.hub.registered}\n")

    async def on_startup(self) -> None:
        self._mark("startup")

    async def on_shutdown(self) -> None:
        self._mark("shutdown")

    async def on_config_change(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        self._mark(f"config greeting={new.get('greeting')}")
        # an instance that cannot take a value (PROBE_REFUSE): its report says it failed
        refused = os.environ.get("PROBE_REFUSE")
        if refused and new.get("greeting") == refused:
            raise ValueError(f"cannot greet with {refused!r}")

    async def custom_health_checks(self) -> dict[str, Any]:
        # a configuration can make the instance unhealthy ("healthy": false): a bad value
        if self.config_value("healthy", True) is False:
            return {"status": "unhealthy", "reason": "configured unhealthy"}
        return {"queue_size": self.queue_size, "worker_count": 2}

    async def greet(self) -> dict[str, Any]:
        return {"greeting": self.config_value("greeting"), "rps": await self.get_config("limits.rps")}


if __name__ == "__main__":
    Probe().run()
