"""Heartbeats as NATS messages, for clients whose hub takes them there.

When the hub says it uses NATS and is connected (``GET /api/v1/info``), a client's periodic
heartbeat is one NATS message under the hub's cluster prefix (see
:mod:`centralhub.core.heartbeat_wire`) instead of an HTTP request: no connection, no response
and no wait for the hub's write per heartbeat. The message is signed when the client holds an
API key; a client holding a JWT keeps heartbeating over HTTP, as the hub has no stored secret
to check a JWT-signed message with.

The hub answers only a refused message, on the client's own inbox: ``unknown_instance`` makes
the client register again (as a 404 does over HTTP); an auth refusal, a stale clock or a
malformed message switch it to HTTP for good, where the refusal is reported as it always was.
Whenever NATS is not connected the heartbeat goes over HTTP, so a NATS outage never lets a
registration lapse.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from centralhub.core.heartbeat_wire import SigningKey, build_heartbeat, heartbeat_subject
from centralhub.sdk.hub_link import HubInfo, close_nats, connect_nats, nats_servers

__all__ = ["BeatOutcome", "NatsHeartbeatSender"]

log = logging.getLogger(__name__)

#: how often the client asks the hub again whether it takes heartbeats on NATS
INFO_RECHECK_SECONDS = 60.0
#: after a failed attempt to connect, heartbeats use HTTP this long before the next attempt
RECONNECT_AFTER_SECONDS = 30.0


class BeatOutcome(enum.Enum):
    #: handed to NATS
    SENT = "sent"
    #: not sent: use HTTP for this one
    USE_HTTP = "use_http"
    #: the hub said it does not know the instance: register again
    FORGOTTEN = "forgotten"


class NatsHeartbeatSender:
    """One client's heartbeat messages; :meth:`send` says whether HTTP must carry this one."""

    def __init__(
        self,
        *,
        tenant: str,
        service: str,
        api_key: str | None,
        nats_url: str | None,
        read_info: Callable[[], Awaitable[HubInfo | None]],
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self.tenant = tenant
        self.service = service
        self.nats_url = nats_url
        self._read_info = read_info
        #: called when the hub refuses a message (the caller's loop may act before its next turn)
        self._on_refused = on_refused
        self._key = SigningKey.of(api_key)
        #: False for good once a message was refused for a reason HTTP reports better
        self.usable = api_key is None or self._key is not None
        self._nc: Any = None
        self._inbox = ""
        self._subject = ""
        self._info_at = 0.0
        self._next_attempt = 0.0
        #: the instance the hub last said it does not know
        self._forgotten: str | None = None
        #: messages handed to NATS so far
        self.sent = 0

    async def send(self, instance_id: str, load: float | None) -> BeatOutcome:
        if self._forgotten == instance_id:
            self._forgotten = None
            return BeatOutcome.FORGOTTEN
        if not self.usable or not await self._ready():
            return BeatOutcome.USE_HTTP
        data = build_heartbeat(
            self.tenant, self.service, instance_id, now=time.time(), load=load, key=self._key
        )
        try:
            await self._nc.publish(self._subject, data, reply=self._inbox)
        except Exception as exc:
            log.debug("heartbeat message for %s not sent: %s", self.service, exc)
            return BeatOutcome.USE_HTTP
        self.sent += 1
        return BeatOutcome.SENT

    async def _ready(self) -> bool:
        """Connected to NATS, and the hub takes heartbeats there (asked again now and then)."""
        now = time.monotonic()
        if self._nc is not None and now - self._info_at < INFO_RECHECK_SECONDS:
            return bool(self._nc.is_connected)
        if now < self._next_attempt:
            return False
        self._info_at = now
        info = await self._read_info()
        if info is None or not info.publishes_on_nats or not info.nats_connected:
            self._next_attempt = now + RECONNECT_AFTER_SECONDS
            return False
        self._subject = info.subject(heartbeat_subject(self.tenant, self.service))
        if self._nc is None:
            try:
                self._nc = await connect_nats(
                    nats_servers(self.nats_url, info), name=f"{self.service}-heartbeats", on_change=_nothing
                )
                self._inbox = self._nc.new_inbox()
                await self._nc.subscribe(self._inbox, cb=self._on_reply)
            except Exception as exc:
                log.info("heartbeats of %s go over HTTP: NATS unreachable (%s)", self.service, exc)
                await close_nats(self._nc)
                self._nc = None
                self._next_attempt = now + RECONNECT_AFTER_SECONDS
                return False
        return bool(self._nc.is_connected)

    async def _on_reply(self, msg: Any) -> None:
        try:
            error = orjson.loads(msg.data).get("error") or {}
            code, message = str(error.get("code")), str(error.get("message"))
            instance_id = error.get("instance_id")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if code == "unknown_instance":
            self._forgotten = instance_id if isinstance(instance_id, str) else None
        elif code in ("unauthorized", "forbidden", "stale", "invalid"):
            if self.usable:
                log.warning("hub refused heartbeat messages of %s (%s); using HTTP", self.service, message)
            self.usable = False
        else:
            return
        self._on_refused()

    async def close(self) -> None:
        nc, self._nc = self._nc, None
        await close_nats(nc)


def _nothing() -> None:
    return None
