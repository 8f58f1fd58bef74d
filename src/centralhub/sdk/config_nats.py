"""How the config client follows its configuration over NATS: the service's subject, where
every change is broadcast, and, once the client knows its instance id, the instance's own
subject, where the hub sends a canary its candidate (and the way back).

Mixed into :class:`~centralhub.sdk.config_client.ConfigClient`; kept apart so the client module
holds the reading, watching and applying.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from centralhub.core.wire import config_instance_subject, config_update_subject
from centralhub.sdk.hub_link import HubInfo, close_nats, connect_nats, nats_servers

log = logging.getLogger("centralhub.sdk.config_client")
#: the global configuration's service name
GLOBAL_CONFIG = "_global"

__all__ = ["NatsFollowing"]


class NatsFollowing:
    service_name: str
    tenant_id: str
    hub_info: HubInfo | None
    _nats_url_given: str | None
    _nc: Any
    _nats_sub: Any
    _instance_sub: Any
    _nats_warned: bool
    _wake: asyncio.Event

    @property
    def instance_id(self) -> str | None:
        raise NotImplementedError

    async def _refresh(self, *, origin: str = "fetch") -> bool:
        raise NotImplementedError

    async def _apply(self, doc: dict[str, Any], *, origin: str) -> None:
        raise NotImplementedError

    def _nats_live(self) -> bool:
        return self._nc is not None and self._nats_sub is not None and bool(self._nc.is_connected)

    async def _connect_nats(self, hub: HubInfo) -> bool:
        servers = nats_servers(self._nats_url_given, hub)
        nc: Any = None
        try:
            nc = await asyncio.wait_for(
                connect_nats(servers, name=f"config-client:{self.service_name}", on_change=self._wake.set),
                5 * len(servers) + 5,
            )
            self._nats_sub = await nc.subscribe(
                hub.subject(config_update_subject(self.tenant_id, self.service_name)),
                cb=self._on_nats_message,
            )
            # the global configuration lies under every service's own: a change there is a new
            # effective configuration, read over HTTP (the hub merges the two)
            await nc.subscribe(
                hub.subject(config_update_subject(self.tenant_id, GLOBAL_CONFIG)), cb=self._on_global_change
            )
            await nc.flush(timeout=2)  # the server holds the subscription from here on
        except Exception as exc:
            (log.debug if self._nats_warned else log.warning)(
                "NATS at %s unreachable (%s); following %s through /watch",
                ",".join(servers),
                exc,
                self.service_name,
            )
            self._nats_warned = True
            self._nats_sub = None
            await close_nats(nc)
            return False
        self._nc = nc
        self._nats_warned = False
        log.info("following %s over NATS (%s)", self.service_name, hub.subject(""))
        await self._follow_instance()
        return True

    async def _follow_instance(self) -> None:
        """Listen on this instance's own subject (again, when the id changed)."""
        nc, hub, found = self._nc, self.hub_info, self.instance_id
        if nc is None or hub is None:
            return
        subject = (
            hub.subject(config_instance_subject(self.tenant_id, self.service_name, found)) if found else None
        )
        held = self._instance_sub
        if held is not None and getattr(held, "subject", None) == subject:
            return
        if held is not None:
            self._instance_sub = None
            try:
                await held.unsubscribe()
            except Exception as exc:
                log.debug("instance subscription not dropped: %s", exc)
        if subject is not None:
            try:
                self._instance_sub = await nc.subscribe(subject, cb=self._on_nats_message)
                await nc.flush(timeout=2)
            except Exception as exc:
                log.debug("instance subject %s not followed yet: %s", subject, exc)
                self._instance_sub = None

    async def _drop_nats(self) -> None:
        nc, self._nc, self._nats_sub, self._instance_sub = self._nc, None, None, None
        await close_nats(nc)

    async def _on_global_change(self, msg: Any) -> None:
        try:
            await self._refresh(origin="nats")
        except Exception:
            log.exception("global configuration change not followed (%s)", getattr(msg, "subject", "?"))

    async def _on_nats_message(self, msg: Any) -> None:
        try:
            payload = json.loads(msg.data)
            if payload.get("masked"):
                # the broadcast hides secret values ("***"): read them over HTTP with our credential
                await self._refresh(origin="nats")
                return
            await self._apply(payload, origin="nats")
        except Exception:
            log.exception("bad config update message on %s", getattr(msg, "subject", "?"))
