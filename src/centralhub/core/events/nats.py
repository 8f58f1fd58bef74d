"""NATS event bus: how several hub replicas, and SDK clients, see the same changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSub

from centralhub.core import wire
from centralhub.core.events.base import EventBus, EventHandler, Subscription, check_subject

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from centralhub.core.tasks import Supervisor


class _NatsSubscription(Subscription):
    def __init__(self, sub: NatsSub | None) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        if self._sub is None:
            return
        try:
            await self._sub.unsubscribe()
        except Exception:  # connection already gone: nothing left to stop
            log.debug("unsubscribe after close", exc_info=True)


class NatsEventBus(EventBus):
    """JSON payloads on NATS core subjects.

    Start-up does not fail when NATS is down: the client keeps reconnecting and ``/health``
    reports ``nats`` as unhealthy meanwhile. A publish that cannot be handed over raises, and
    the caller counts it (the database already holds the change, so nothing is lost).

    Subjects are given and delivered without the cluster name; on the wire each one sits under
    ``<cluster>.``, so hubs with different cluster names on one NATS never see each other.
    """

    name = "nats"

    def __init__(
        self, url: str, *, connect_timeout: float = 2.0, cluster: str = wire.DEFAULT_CLUSTER
    ) -> None:
        self.url = url
        self.servers = wire.split_servers(url)
        self.cluster = cluster
        self._connect_timeout = connect_timeout
        self._nc: Client | None = None
        self._failures = 0
        self._pending: list[tuple[str, EventHandler, _NatsSubscription]] = []
        self._connector: asyncio.Task[None] | None = None
        self._supervisor: Supervisor | None = None

    async def start(self, supervisor: Supervisor | None = None) -> None:
        """Connect now if NATS answers, else keep trying in the background; idempotent."""
        if self._connector is not None or self._supervisor is not None:
            return
        if self._nc is not None and not self._nc.is_closed:
            return
        if not await self._try_connect():
            log.warning("NATS at %s unreachable; retrying in the background", self.url)
            if supervisor is not None:
                self._supervisor = supervisor
                supervisor.start("nats-connect", self._keep_connecting)
            else:
                self._connector = asyncio.create_task(self._keep_connecting(), name="nats-connect")

    async def _try_connect(self) -> bool:
        try:
            self._nc = await nats.connect(
                servers=self.servers,
                connect_timeout=self._connect_timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                name="centralhub",
            )
        except Exception as exc:
            log.debug("NATS connect failed: %s", exc)
            return False
        for subject, handler, holder in self._pending:
            holder._sub = await self._raw_subscribe(subject, handler)
        self._pending.clear()
        return True

    async def _keep_connecting(self) -> None:
        while not await self._try_connect():
            await asyncio.sleep(2.0)
        log.info("NATS at %s connected", self.url)

    @property
    def client(self) -> Client:
        if self._nc is None:
            raise RuntimeError("NATS event bus not started")
        return self._nc

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def publish_failures(self) -> int:
        return self._failures

    async def publish(self, subject: str, payload: dict[str, Any]) -> None:
        check_subject(subject, wildcards=False)
        if not self.connected:
            self._failures += 1
            raise ConnectionError(f"NATS at {self.url} is not connected")
        data = orjson.dumps(payload)
        try:
            await self.client.publish(wire.cluster_subject(self.cluster, subject), data)
        except Exception as exc:
            self._failures += 1
            raise ConnectionError(f"NATS publish on {subject} failed: {exc!r}") from exc

    async def subscribe(self, subject: str, handler: EventHandler) -> Subscription:
        check_subject(subject, wildcards=True)
        if self._nc is not None and self._nc.is_closed:
            raise ConnectionError("event bus is closed")
        if self._nc is None:
            holder = _NatsSubscription(None)
            self._pending.append((subject, handler, holder))
            return holder
        return _NatsSubscription(await self._raw_subscribe(subject, handler))

    async def _raw_subscribe(self, subject: str, handler: EventHandler) -> NatsSub:
        async def on_msg(msg: Msg) -> None:
            try:
                payload = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                log.warning("dropping non-JSON event on %s", msg.subject)
                return
            try:
                await handler(wire.strip_cluster(self.cluster, msg.subject), payload)
            except Exception:
                log.exception("event handler for %s failed", msg.subject)

        return await self.client.subscribe(wire.cluster_subject(self.cluster, subject), cb=on_msg)

    async def close(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop("nats-connect")
            self._supervisor = None
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.drain()
            except Exception:
                await self._nc.close()
