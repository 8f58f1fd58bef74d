"""Heartbeats arriving as NATS messages, applied with the same group commit as HTTP ones.

Every hub replica subscribes to ``heartbeats.>`` in one queue group, so each message is applied
by exactly one replica; the batch it joins is announced to the others as HTTP heartbeats are.
A message is fire-and-forget: nobody waits for its batch to be stored, and the sender hears back
only when the message is refused (and only when it gave a reply subject), with
``{"error": {"code", "message", "instance_id"}}``: ``unknown_instance`` (register again),
``unauthorized``, ``forbidden``, ``stale``, ``invalid``, ``unavailable`` or ``busy``.

This path runs tens of thousands of times a second, so a message is handled synchronously in the
NATS read loop (:meth:`~centralhub.core.events.nats.NatsEventBus.subscribe_direct`): orjson
straight from the bytes, fields checked by hand, an HMAC against a key held in memory, a
dictionary lookup and a dictionary write. Whatever needs the database or the network (a key not
seen for a few seconds, an instance another replica registered a moment ago, a revival, a reply)
is queued for one supervised task, :data:`SLOW_TASK`; when that queue is full the message is
refused as ``busy`` rather than held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

import orjson

from centralhub.auth.heartbeat_keys import HeartbeatRefused, HeartbeatSigners, authorize
from centralhub.core.database import is_storage_failure
from centralhub.core.errors import NotFound
from centralhub.core.events import EventBus, Subscription
from centralhub.core.events.nats import NatsEventBus
from centralhub.core.heartbeat_wire import (
    HEARTBEATS_ALL_SUBJECTS,
    HEARTBEATS_QUEUE,
    MAX_AGE_SECONDS,
    error_reply,
    split_signature,
)
from centralhub.core.tasks import Supervisor
from centralhub.core.time import Clock
from centralhub.registry.models import Instance
from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

#: supervised task finishing the messages that need the database, and sending refusals
SLOW_TASK = "registry-nats-heartbeats"
#: messages waiting for that task at most; beyond it a message is refused as ``busy``
SLOW_QUEUE_SIZE = 10_000
_loads = orjson.loads
_JSONError = orjson.JSONDecodeError


class _Later(Exception):
    """Raised by the synchronous path: this message needs :meth:`NatsHeartbeats._apply_slowly`."""


class NatsHeartbeats:
    """The hub's consumer of heartbeat messages; a no-op on a hub without NATS.

    ``signers`` given (auth on): every message must be signed by a key allowed to write for its
    tenant and service, and be at most :data:`MAX_AGE_SECONDS` old."""

    def __init__(
        self,
        registry: InstanceRegistry,
        bus: EventBus,
        *,
        signers: HeartbeatSigners | None,
        supervisor: Supervisor,
        clock: Clock = time.time,
    ) -> None:
        self.registry = registry
        self.bus = bus
        self.signers = signers
        self.supervisor = supervisor
        self.clock = clock
        #: messages applied (each one a heartbeat of a known instance)
        self.applied = 0
        #: messages refused, by the code the sender is told
        self.rejected: Counter[str] = Counter()
        self._subscription: Subscription | None = None
        #: ("apply", payload, reply) | ("revive", instance, reply) | ("refuse", refusal, reply)
        #: | ("key", key prefix, b"")
        self._slow: asyncio.Queue[tuple[str, Any, bytes]] = asyncio.Queue(SLOW_QUEUE_SIZE)
        if signers is not None:
            signers.on_stale = self._refresh_key

    async def start(self) -> None:
        if self.signers is not None:
            await self.signers.start()
        if isinstance(self.bus, NatsEventBus):
            self.supervisor.start(SLOW_TASK, self._run_slow)
            self._subscription = await self.bus.subscribe_direct(
                HEARTBEATS_ALL_SUBJECTS, self.on_message, queue=HEARTBEATS_QUEUE
            )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
            await self.supervisor.stop(SLOW_TASK)
        if self.signers is not None:
            await self.signers.stop()

    # ------------------------------------------------------------------ the fast path
    def on_message(self, subject: bytes, reply: bytes, data: bytes) -> None:
        """One message, in the NATS read loop: applied now, or queued for the slow task."""
        try:
            inst, load = self._check(data, cached_only=True)
            if self.registry.note_heartbeat(inst, load):
                self._defer("revive", inst, reply)
            self.applied += 1
        except _Later:
            self._defer("apply", data, reply)
        except HeartbeatRefused as refused:
            self._refuse(refused, reply)

    def _refresh_key(self, prefix: str) -> None:
        # a full queue: the entry runs out instead and the next message reads the key anew
        with contextlib.suppress(asyncio.QueueFull):
            self._slow.put_nowait(("key", prefix, b""))

    def _defer(self, kind: str, item: Any, reply: bytes) -> None:
        try:
            self._slow.put_nowait((kind, item, reply))
        except asyncio.QueueFull:
            self.rejected["busy"] += 1

    def _refuse(self, refused: HeartbeatRefused, reply: bytes) -> None:
        self.rejected[refused.code] += 1
        if reply:
            self._defer("refuse", refused, reply)

    def _check(self, data: bytes, *, cached_only: bool) -> tuple[Instance, float | None]:
        """The instance a message is for and the load it reports; :class:`HeartbeatRefused` when
        it is refused, :class:`_Later` when deciding needs the database (``cached_only``)."""
        signers = self.signers
        sig = ""
        if signers is not None:
            split = split_signature(data)
            if split is None:
                raise HeartbeatRefused("unauthorized", "the hub requires signed heartbeats")
            data, sig = split
        try:
            doc: Any = _loads(data)
        except _JSONError:
            raise HeartbeatRefused("invalid", "the message is not JSON") from None
        if type(doc) is not dict:
            raise HeartbeatRefused("invalid", "the message is not a JSON object")
        tenant = doc.get("tenant")
        service = doc.get("service")
        instance_id = doc.get("instance_id")
        if type(tenant) is not str or type(service) is not str or type(instance_id) is not str:
            raise HeartbeatRefused("invalid", "tenant, service and instance_id must be strings")
        load = doc.get("load")
        if load is not None:
            if type(load) is int:
                load = float(load)
            if type(load) is not float or not load >= 0:
                raise HeartbeatRefused("invalid", "load must be a number >= 0 or null")
        if signers is not None:
            ts = doc.get("ts")
            if not isinstance(ts, float | int) or abs(self.clock() - ts) > MAX_AGE_SECONDS:
                raise HeartbeatRefused("stale", f"ts must be within {MAX_AGE_SECONDS:g}s of the hub's clock")
            candidates = signers.cached(doc.get("key"))
            if candidates is None:
                if cached_only:
                    raise _Later
                raise HeartbeatRefused("unavailable", "the key could not be read; send again")
            authorize(signers.principal(candidates, data, sig), tenant, service)
        inst = self.registry.held(tenant, service, instance_id)
        if inst is None:
            if cached_only:
                raise _Later
            raise HeartbeatRefused(
                "unknown_instance",
                f"no instance {instance_id[:128]!r} of service {service[:128]!r}",
                instance_id=instance_id,
            )
        return inst, load

    # ------------------------------------------------------------------ the slow path
    async def _run_slow(self) -> None:
        while True:
            kind, item, reply = await self._slow.get()
            try:
                if kind == "apply":
                    await self._apply_slowly(item, reply)
                elif kind == "revive":
                    await self.registry.store_revival(item)
                elif kind == "key":
                    if self.signers is not None:
                        await self.signers.load(item)
                else:
                    await self._answer(item, reply)
            except Exception as exc:
                if not is_storage_failure(exc):
                    raise
                log.warning("heartbeat message not applied: the database is unreachable")

    async def _apply_slowly(self, data: bytes, reply: bytes) -> None:
        """What the fast path could not decide: read the key or the instance, then apply."""
        try:
            await self._load_key(data)
            try:
                inst, load = self._check(data, cached_only=True)
            except _Later:
                inst, load = await self._with_stored_instance(data)
        except HeartbeatRefused as refused:
            self._refuse(refused, reply)
            return
        if self.registry.note_heartbeat(inst, load):
            await self.registry.store_revival(inst)
        self.applied += 1

    async def _load_key(self, data: bytes) -> None:
        if self.signers is None:
            return
        split = split_signature(data)
        doc = _loads(split[0]) if split is not None else None
        if isinstance(doc, dict) and self.signers.cached(doc.get("key")) is None:
            await self.signers.load(doc.get("key"))

    async def _with_stored_instance(self, data: bytes) -> tuple[Instance, float | None]:
        split = split_signature(data) if self.signers is not None else None
        doc = _loads(split[0] if split is not None else data)
        tenant, service, instance_id = doc["tenant"], doc["service"], doc["instance_id"]
        try:
            await self.registry.load_unheld(tenant, service, instance_id)
        except NotFound:
            pass  # refused as unknown_instance by the check below
        except Exception as exc:
            if is_storage_failure(exc):
                raise HeartbeatRefused("unavailable", "the database is unreachable") from None
            raise
        return self._check(data, cached_only=False)

    async def _answer(self, refused: HeartbeatRefused, reply: bytes) -> None:
        if not isinstance(self.bus, NatsEventBus):
            return
        body = error_reply(refused.code, refused.message, refused.instance_id)
        try:
            await self.bus.publish_reply(reply.decode("ascii", "replace"), body)
        except Exception as exc:  # the sender or the connection went away: nothing left to tell
            log.debug("heartbeat refusal not sent: %s", exc)
