"""Heartbeats arriving as NATS messages, applied with the same group commit as HTTP ones.

Every hub replica subscribes to ``heartbeats.>`` in one queue group, so each message is applied
by exactly one replica; the batch it joins is announced to the others as HTTP heartbeats are.
A message is fire-and-forget: nobody waits for its batch to be stored, and the sender hears back
only when the message is refused (and only when it gave a reply subject), with
``{"error": {"code", "message"}}``: ``unknown_instance`` (register again), ``unauthorized``,
``forbidden``, ``stale``, ``invalid`` or ``unavailable``.

This path runs tens of thousands of times a second, so it decodes with orjson straight from the
message bytes, checks fields by hand rather than through a model, and starts no task per message;
only the rare cases (an instance another replica registered a moment ago, a revival, a key not
seen for a few seconds) await the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import orjson
from nats.aio.msg import Msg

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
from centralhub.core.time import Clock
from centralhub.registry.service import InstanceRegistry

log = logging.getLogger(__name__)

#: messages handled between two returns to the event loop
YIELD_EVERY = 50
_loads = orjson.loads
_JSONError = orjson.JSONDecodeError


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
        clock: Clock = time.time,
    ) -> None:
        self.registry = registry
        self.bus = bus
        self.signers = signers
        self.clock = clock
        #: messages applied (each one a heartbeat of a known instance)
        self.applied = 0
        #: messages refused, by the code the sender is told
        self.rejected: Counter[str] = Counter()
        self._subscription: Subscription | None = None
        self._turn = 0

    @property
    def enabled(self) -> bool:
        return isinstance(self.bus, NatsEventBus)

    async def start(self) -> None:
        if self.signers is not None:
            await self.signers.start()
        if isinstance(self.bus, NatsEventBus):
            self._subscription = await self.bus.subscribe_raw(
                HEARTBEATS_ALL_SUBJECTS, self.on_message, queue=HEARTBEATS_QUEUE
            )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self.signers is not None:
            await self.signers.stop()

    async def on_message(self, msg: Msg) -> None:
        # nats-py hands over queued messages without returning to the event loop: under a
        # backlog this loop would starve every HTTP request, so it steps aside now and then
        self._turn += 1
        if self._turn >= YIELD_EVERY:
            self._turn = 0
            await asyncio.sleep(0)
        try:
            await self._apply(msg.data)
        except HeartbeatRefused as refused:
            self.rejected[refused.code] += 1
            if msg.reply:
                try:
                    await msg.respond(error_reply(refused.code, refused.message, refused.instance_id))
                except Exception as exc:  # the sender went away: nothing left to tell
                    log.debug("heartbeat refusal not sent: %s", exc)
        except Exception:
            self.rejected["internal"] += 1
            log.exception("heartbeat message not applied")

    async def _apply(self, data: bytes) -> None:
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
            key = doc.get("key")
            candidates = signers.cached(key)
            if candidates is None:
                candidates = await signers.load(key)
            authorize(signers.principal(candidates, data, sig), tenant, service)
        registry = self.registry
        inst = registry.held(tenant, service, instance_id)
        if inst is None:
            inst = await self._load(tenant, service, instance_id)
        if registry.note_heartbeat(inst, load):
            await registry.store_revival(inst)
        self.applied += 1

    async def _load(self, tenant: str, service: str, instance_id: str) -> Any:
        try:
            return await self.registry.load_unheld(tenant, service, instance_id)
        except NotFound:
            raise HeartbeatRefused(
                "unknown_instance",
                f"no instance {instance_id[:128]!r} of service {service[:128]!r}",
                instance_id=instance_id,
            ) from None
        except Exception as exc:
            if is_storage_failure(exc):
                raise HeartbeatRefused("unavailable", "the database is unreachable") from None
            raise
