"""NATS event bus: how several hub replicas, and SDK clients, see the same changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from nats import errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSub

from centralhub.core import wire
from centralhub.core.events.base import EventBus, EventHandler, Subscription, check_subject

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from centralhub.core.tasks import Supervisor

#: supervised task name of the background connection loop (shown in ``/health``)
CONNECT_TASK = "nats-connect"
#: once connected, nats-py reconnects by itself; it waits this long before trying a server again,
#: doubled after each failed attempt up to the cap (a long outage costs a line every few seconds)
RECONNECT_WAIT_SECONDS = 1.0
RECONNECT_WAIT_MAX_SECONDS = 5.0
#: the start-up attempt never holds the hub back longer than this: it serves from the database
#: and keeps trying in the background
STARTUP_ATTEMPT_LIMIT = 4.0


def _describe(exc: BaseException | None) -> str:
    """One line for a connection error (no traceback: the cause is all an operator needs)."""
    if exc is None:
        return "no server answered"
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


#: called synchronously with each message's ``(subject, reply, payload)`` bytes, undecoded
DirectHandler = Callable[[bytes, bytes, bytes], None]
#: direct messages handled between two returns to the event loop
DIRECT_YIELD_EVERY = 200


class _DirectClient(Client):
    """nats-py's client, handing messages of "direct" subscriptions straight to a plain function.

    For each message nats-py builds a ``Msg``, parses headers and queues it for a task that awaits
    the callback; at tens of thousands of messages a second that is most of the cost. A direct
    subscription skips all of it: its handler runs inside the read loop, must not block, and
    takes whatever slow work it has elsewhere. This overrides a method nats-py does not document
    (``_process_msg``, called by its parser for every message); everything else is unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self.direct: dict[int, DirectHandler] = {}
        self._direct_turn = 0

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        handler = self.direct.get(sid)
        if handler is None:
            await super()._process_msg(sid, subject, reply, data, headers)
            return
        try:
            handler(subject, reply, data)
        except Exception:
            log.exception("direct handler for %r failed", subject)
        # the read loop does not return to the event loop while data is buffered: under a
        # flood it would starve every other task (HTTP requests included) without this
        self._direct_turn += 1
        if self._direct_turn >= DIRECT_YIELD_EVERY:
            self._direct_turn = 0
            await asyncio.sleep(0)


class _NatsSubscription(Subscription):
    """A subscription the bus keeps so it can be made again on a new connection.

    ``direct`` set: a direct subscription (:meth:`NatsEventBus.subscribe_direct`), in queue group
    ``queue`` when one is given."""

    def __init__(
        self,
        bus: NatsEventBus,
        subject: str,
        handler: EventHandler | None,
        *,
        direct: DirectHandler | None = None,
        queue: str = "",
    ) -> None:
        self._bus = bus
        self.subject = subject
        self.handler = handler
        self.direct = direct
        self.queue = queue
        self._sub: NatsSub | None = None

    async def unsubscribe(self) -> None:
        self._bus._forget(self)
        sub, self._sub = self._sub, None
        if sub is None:
            return
        if self.direct is not None and isinstance(self._bus._nc, _DirectClient):
            self._bus._nc.direct.pop(sub._id, None)
        try:
            await sub.unsubscribe()
        except Exception:  # connection already gone: nothing left to stop
            log.debug("unsubscribe after close", exc_info=True)


class NatsEventBus(EventBus):
    """JSON payloads on NATS core subjects.

    Start-up does not wait for NATS: one bounded attempt, then a background loop retries with a
    capped exponential backoff (one log line per attempt) while ``/health`` reports ``nats`` as
    unhealthy. Subscriptions made meanwhile take effect once connected. After a connection is
    established, nats-py moves to another server of ``NATS_URL`` (or the cluster's advertised
    ones) by itself when the current one is lost. A publish that cannot be handed over raises,
    and the caller counts it (the database already holds the change, so nothing is lost).

    Subjects are given and delivered without the cluster name; on the wire each one sits under
    ``<cluster>.``, so hubs with different cluster names on one NATS never see each other.
    """

    name = "nats"

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 2.0,
        cluster: str = wire.DEFAULT_CLUSTER,
        retry_initial_seconds: float = 0.5,
        retry_max_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.servers = wire.split_servers(url)
        self.cluster = cluster
        self._connect_timeout = connect_timeout
        self._retry_initial = retry_initial_seconds
        self._retry_max = retry_max_seconds
        self._nc: Client | None = None
        self._failures = 0
        self._subscriptions: list[_NatsSubscription] = []
        self._connector: asyncio.Task[None] | None = None
        self._supervisor: Supervisor | None = None
        #: the background loop is running (so a second start does not start another)
        self._connecting = False
        self._closed = False
        self._last_error: BaseException | None = None
        #: the server of the current (or last) connection, for the line saying it was lost
        self._server_url: str | None = None
        self._shown_url = ",".join(_without_credentials(u) for u in self.servers)

    # ------------------------------------------------------------------ connection
    async def start(self, supervisor: Supervisor | None = None) -> None:
        """Connect now if NATS answers, else keep trying in the background; idempotent."""
        if self._connecting:
            return
        if self._nc is not None and not self._nc.is_closed:
            return
        self._closed = False
        self._supervisor = supervisor
        if await self._try_connect(limit=STARTUP_ATTEMPT_LIMIT):
            log.info("NATS connected to %s", self.connected_url)
            return
        self._connect_in_background()

    def _connect_in_background(self) -> None:
        if self._connecting:
            return
        self._connecting = True
        if self._supervisor is not None:
            self._supervisor.start(CONNECT_TASK, self._keep_connecting)
        else:
            self._connector = asyncio.create_task(self._keep_connecting(), name=CONNECT_TASK)

    def _attempt_limit(self) -> float:
        # each server may be tried twice within one attempt (see _try_connect)
        return self._connect_timeout * 2 * max(1, len(self.servers)) + 0.5

    async def _try_connect(self, *, limit: float | None = None) -> bool:
        """One bounded attempt over every server; on success, make every subscription."""
        nc = _DirectClient()
        self._last_error = None

        async def on_error(exc: Exception) -> None:
            if nc is not self._nc:  # within an attempt: the attempt's own line reports the last error
                self._last_error = exc
            elif isinstance(exc, (errors.UnexpectedEOF, errors.StaleConnectionError)):
                self._last_error = exc  # the disconnection's line names it
            elif nc.is_reconnecting:
                wait = min(float(nc.options["reconnect_time_wait"]) * 2, RECONNECT_WAIT_MAX_SECONDS)
                nc.options["reconnect_time_wait"] = wait
                log.warning("NATS reconnection attempt failed: %s; next within %.0fs", _describe(exc), wait)
            else:
                log.warning("NATS error: %s", _describe(exc))

        async def on_disconnected() -> None:
            if nc is self._nc and not self._closed:
                reason = _describe(self._last_error) if self._last_error else "connection closed"
                log.warning(
                    "NATS connection to %s lost (%s); reconnecting to one of %s",
                    self._server_url,
                    reason,
                    self._shown_url,
                )
                self._last_error = None
                nc.options["reconnect_time_wait"] = RECONNECT_WAIT_SECONDS

        async def on_reconnected() -> None:
            if nc is self._nc:
                nc.options["reconnect_time_wait"] = RECONNECT_WAIT_SECONDS
                self._server_url = self.connected_url
                log.info("NATS reconnected to %s", self._server_url)

        async def on_closed() -> None:
            if nc is self._nc and not self._closed:
                # the client gave up (e.g. the server refused it): start over on a new connection
                log.warning("NATS connection closed by the client library; connecting again")
                self._nc = None
                for holder in self._subscriptions:
                    holder._sub = None
                self._connect_in_background()

        bound = min(limit, self._attempt_limit()) if limit is not None else self._attempt_limit()
        try:
            async with asyncio.timeout(bound):
                # a bounded attempt: each server is tried at most twice, then NoServersError; the
                # endless reconnection is switched on below, once a server has answered
                await nc.connect(
                    servers=self.servers,
                    connect_timeout=max(1, round(self._connect_timeout)),
                    allow_reconnect=True,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
                    error_cb=on_error,
                    disconnected_cb=on_disconnected,
                    reconnected_cb=on_reconnected,
                    closed_cb=on_closed,
                    name="centralhub",
                )
        except asyncio.CancelledError:
            await self._discard(nc)
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                self._last_error = TimeoutError(f"no server answered within {bound:.1f}s")
            elif self._last_error is None:
                self._last_error = exc
            await self._discard(nc)
            return False
        nc.options["max_reconnect_attempts"] = -1
        nc.options["reconnect_time_wait"] = RECONNECT_WAIT_SECONDS
        self._nc = nc
        self._server_url = self.connected_url
        for holder in list(self._subscriptions):
            if self._nc is not nc:  # lost again at once: on_closed has started over
                break
            if holder._sub is None:
                holder._sub = await self._make(holder)
        return True

    @staticmethod
    async def _discard(nc: Client) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await nc.close()

    async def _keep_connecting(self) -> None:
        """Retry with a capped exponential backoff, one log line per failed attempt."""
        delay = self._retry_initial
        attempt = 1
        while True:
            wait = delay * random.uniform(0.8, 1.2)
            log.warning(
                "NATS at %s unreachable (attempt %d: %s); next attempt in %.1fs",
                self._shown_url,
                attempt,
                _describe(self._last_error),
                wait,
            )
            await asyncio.sleep(wait)
            attempt += 1
            if await self._try_connect():
                log.info("NATS connected to %s (attempt %d)", self.connected_url, attempt)
                self._connecting = False
                return
            delay = min(delay * 2, self._retry_max)

    @property
    def client(self) -> Client:
        if self._nc is None:
            raise RuntimeError("NATS event bus not started")
        return self._nc

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def connected_url(self) -> str | None:
        if self._nc is None or not self._nc.is_connected or self._nc.connected_url is None:
            return None
        return _without_credentials(self._nc.connected_url.geturl())

    @property
    def publish_failures(self) -> int:
        return self._failures

    # ------------------------------------------------------------------ events
    async def publish(self, subject: str, payload: dict[str, Any]) -> None:
        check_subject(subject, wildcards=False)
        if not self.connected:
            self._failures += 1
            raise ConnectionError(f"NATS at {self._shown_url} is not connected")
        data = orjson.dumps(payload)
        try:
            await self.client.publish(wire.cluster_subject(self.cluster, subject), data)
        except Exception as exc:
            self._failures += 1
            raise ConnectionError(f"NATS publish on {subject} failed: {exc!r}") from exc

    async def subscribe(self, subject: str, handler: EventHandler) -> Subscription:
        check_subject(subject, wildcards=True)
        if self._closed:
            raise ConnectionError("event bus is closed")
        holder = _NatsSubscription(self, subject, handler)
        self._subscriptions.append(holder)
        # not connected yet: made as soon as a connection is (see _try_connect)
        if self._nc is not None and not self._nc.is_closed:
            holder._sub = await self._make(holder)
        return holder

    async def subscribe_direct(
        self, subject: str, handler: DirectHandler, *, queue: str = ""
    ) -> Subscription:
        """Call ``handler(subject, reply, payload)`` (raw bytes; the subject with the cluster
        prefix) for each message on ``subject``, in queue group ``queue`` when given (each message
        then goes to one member of the group), kept across reconnections like :meth:`subscribe`.

        For high-rate traffic only: the handler runs synchronously in the connection's read loop
        (no ``Msg``, no queue, no task per message), so it must be quick and never block."""
        check_subject(subject, wildcards=True)
        if self._closed:
            raise ConnectionError("event bus is closed")
        holder = _NatsSubscription(self, subject, None, direct=handler, queue=queue)
        self._subscriptions.append(holder)
        if self._nc is not None and not self._nc.is_closed:
            holder._sub = await self._make(holder)
        return holder

    async def publish_reply(self, reply: str, data: bytes) -> None:
        """Answer a message on its reply subject (as given, no cluster prefix added)."""
        if not self.connected:
            raise ConnectionError(f"NATS at {self._shown_url} is not connected")
        await self.client.publish(reply, data)

    async def _make(self, holder: _NatsSubscription) -> NatsSub:
        if holder.direct is None:
            assert holder.handler is not None
            return await self._raw_subscribe(holder.subject, holder.handler)
        nc = self.client
        sub = await nc.subscribe(
            wire.cluster_subject(self.cluster, holder.subject), queue=holder.queue, cb=_unused
        )
        assert isinstance(nc, _DirectClient)
        nc.direct[sub._id] = holder.direct
        return sub

    def _forget(self, holder: _NatsSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(holder)

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
        self._closed = True
        if self._connecting and self._supervisor is not None:
            await self._supervisor.stop(CONNECT_TASK)
        self._connecting = False
        self._supervisor = None
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        self._subscriptions.clear()
        nc = self._nc
        if nc is not None and not nc.is_closed:
            try:
                # a connected client hands over what it buffered; a dead server must not hold
                # up shutdown
                async with asyncio.timeout(2):
                    await nc.drain()
            except Exception:
                await self._discard(nc)


async def _unused(msg: Msg) -> None:
    """The callback nats-py requires of a direct subscription; its messages never reach it."""
