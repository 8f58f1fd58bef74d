"""What each instance is answered while a rollout bakes: the candidate for a canary, the
promoted version for everyone else.

An instance names itself with ``X-Instance-ID`` (or ``?instance_id=``) on ``GET`` and
``/watch``, and says which rollout's candidate it runs (``?rollout=``) when it runs one. A
canary's answer carries ``rollout_id``; the promoted version carries none, so a client that
ran a candidate sees from the marker alone that it must go back (its revision number may be
the same or lower). Over NATS the hub sends the candidate, and after a rollback or abort the
promoted version, on each canary's own subject (``config.instance.<service>.<id>``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from centralhub.config.broadcast import update_payload
from centralhub.config.global_layer import GLOBAL
from centralhub.config.models import ConfigVersion
from centralhub.config.rollout_models import Rollout
from centralhub.config.schemas import ConfigRead
from centralhub.core import wire
from centralhub.core.errors import InvalidInput

__all__ = ["Answer", "RolloutAnswers"]

log = logging.getLogger(__name__)

#: (the version to run as the caller may see it, the rollout whose candidate it is, or None)
Answer = tuple[ConfigVersion, str | None]


def answer_body(answer: Answer) -> dict[str, Any]:
    version, rollout_id = answer
    body = ConfigRead.of(version).model_dump(by_alias=True)
    if rollout_id is not None:
        body["rollout_id"] = rollout_id
        body["canary"] = True
    return body


def check_instance_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 128 or not value.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"instance_id: letters, digits, '-' or '_', at most 128 (got {value[:40]!r})")
    return value


class RolloutAnswers:
    """Mixed into :class:`~centralhub.config.rollouts.ConfigRollouts`."""

    active: dict[tuple[str, str], Rollout]
    config: Any
    bus: Any

    def assigned(self, tenant: str, service: str, instance_id: str | None) -> Rollout | None:
        """The active rollout whose candidate ``instance_id`` runs, if it is a canary."""
        if instance_id is None:
            return None
        rollout = self.active.get((tenant, service))
        if rollout is None or instance_id not in rollout.canary:
            return None
        return rollout

    async def answer(self, tenant: str, service: str, instance_id: str | None) -> Answer:
        """What ``GET /api/v1/config/{service}`` answers this instance."""
        rollout = self.assigned(tenant, service, instance_id)
        if rollout is not None:
            return await self._candidate(rollout), rollout.id
        return await self.config.get(tenant, service), None

    async def _candidate(self, rollout: Rollout) -> ConfigVersion:
        """The candidate as the canary runs it: over the global configuration, as the caller may
        see it."""
        return self.config.secrets.for_caller(await self.config.globals.over(rollout.candidate()))

    async def watch(
        self,
        tenant: str,
        service: str,
        instance_id: str,
        *,
        revision: int,
        have: str | None,
        timeout: float,
        global_revision: int | None = None,
    ) -> Answer | None:
        """``/watch`` for an instance that named itself: answer when what it should run differs
        from what it has (revision ``revision`` of rollout ``have``, or of the promoted line)."""
        key, keys = (tenant, service), [(tenant, service), (tenant, GLOBAL)]
        watcher = self.config.watcher
        deadline = time.monotonic() + timeout
        with watcher.holding(key):
            while not watcher.closed:
                rollout = self.assigned(tenant, service, instance_id)
                remaining = deadline - time.monotonic()
                if rollout is not None:
                    candidate = await self._candidate(rollout)
                    moved = global_revision is not None and candidate.global_revision > global_revision
                    if have != rollout.id or rollout.revision > revision or moved:
                        return candidate, rollout.id
                elif have is not None:
                    return await self.config.get(tenant, service), None  # back from a candidate
                else:
                    found = await self.config.watch(
                        tenant,
                        service,
                        revision=revision,
                        timeout=max(0.0, remaining),
                        interrupt=lambda: self.assigned(tenant, service, instance_id) is not None,
                        global_revision=global_revision,
                    )
                    if found is not None:
                        return found, None
                    if self.assigned(tenant, service, instance_id) is None:
                        return None  # the time is up (or the hub is stopping)
                    continue
                if remaining <= 0:
                    return None
                await watcher.wait_any(keys, remaining)
        return None

    async def send_candidate(self, rollout: Rollout) -> None:
        """Tell each canary over NATS to run the candidate."""
        payload = update_payload(await self.config.globals.over(rollout.candidate()), origin="rollout")
        payload["rollout_id"] = rollout.id
        payload["canary"] = True
        await self._send(rollout, payload)

    async def send_promoted(self, rollout: Rollout) -> None:
        """Tell each canary over NATS to return to the promoted version."""
        with contextlib.suppress(Exception):
            current = await self.config.globals.effective(rollout.tenant_id, rollout.service)
            await self._send(rollout, update_payload(current, origin="rollout"))

    async def _send(self, rollout: Rollout, payload: dict[str, Any]) -> None:
        for instance_id in rollout.canary:
            subject = wire.config_instance_subject(rollout.tenant_id, rollout.service, instance_id)
            try:
                await self.bus.publish(subject, payload)
            except Exception as exc:  # the canary's watch or reconcile still finds it
                log.warning("rollout %s: not sent to %s: %s", rollout.id, instance_id, exc)
