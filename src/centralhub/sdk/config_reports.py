"""The hub client's configuration calls: the report of which revision this instance applied
(and whether that worked, for the hub's drift view), and the global configuration every service's
own is merged over.

Kept apart from :mod:`centralhub.sdk.client` so the client module holds registration and
discovery; the methods only need the client's ``_call``, ``service_name`` and ``instance_id``.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from centralhub.kit.exceptions import ServiceUnavailable
from centralhub.sdk.connection import error_message as _error_message

log = logging.getLogger("centralhub.sdk.client")


class ConfigReports:
    """Mixed into :class:`~centralhub.sdk.client.CentralHubClient`."""

    service_name: str
    instance_id: str | None

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        raise NotImplementedError

    async def report_config_applied(
        self, revision: int, *, ok: bool = True, error: str | None = None
    ) -> bool:
        """Tell the hub which configuration revision this instance applied and whether that
        worked (the hub's drift view). Best effort: False when not registered or not delivered."""
        if self.instance_id is None:
            return False
        body = {"revision": revision, "ok": ok, "error": error[:1000] if error else None}
        path = f"/api/v1/config/{self.service_name}/instances/{self.instance_id}/applied"
        try:
            resp = await self._call("POST", path, json=body)
        except ServiceUnavailable as exc:  # HubUnavailable: the hub is out of reach
            log.debug("configuration report not delivered: %s", exc)
            return False
        if resp.status_code >= 400:
            log.warning("configuration report refused: %s", _error_message(resp))
            return False
        return True

    async def update_global_config(
        self, config: dict[str, Any], *, message: str | None = None
    ) -> dict[str, Any]:
        """Store ``config`` as the tenant's global configuration (every service's effective
        configuration is it with the service's own merged over it; every client is told).
        Returns the hub's answer (``version``, ``revision``); raises on a refusal."""
        params = {"message": message} if message else None
        resp = await self._call("PUT", "/api/v1/config/_global", json=config, params=params)
        if resp.status_code >= 400:
            raise ConfigRefused(_error_message(resp), status=resp.status_code)
        return dict(resp.json())

    async def get_global_config(self) -> dict[str, Any] | None:
        """The tenant's global configuration (``None`` when none is stored)."""
        resp = await self._call("GET", "/api/v1/config/_global")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise ConfigRefused(_error_message(resp), status=resp.status_code)
        return dict(resp.json())


class ConfigRefused(Exception):
    """The hub refused a configuration call (the message is the hub's)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
