"""A canary rollout of a configuration, as stored and as shown.

A rollout holds a candidate document apart from the stored versions: the canary instances get
it, every other instance keeps the promoted (stored) version, and only a promotion writes it as
a new version. ``revision`` is the revision the candidate will have once promoted (one past the
version it was built on); canaries see that number while they bake it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from centralhub.config.models import ConfigVersion
from centralhub.core.errors import InvalidInput

__all__ = ["ACTIVE", "Rollout", "RolloutState", "choose_canaries", "parse_canary"]


class RolloutState(StrEnum):
    BAKING = "baking"
    #: the promotion is being written; canaries keep the candidate until it is stored
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


#: states in which the canaries run the candidate and other writes of the service wait
ACTIVE = frozenset({RolloutState.BAKING, RolloutState.PROMOTING})
#: the rollout request's canary selector keys
SELECTORS = ("instances", "tags", "percent")


@dataclass(slots=True)
class Rollout:
    id: str
    tenant_id: str
    service: str
    state: RolloutState
    base_revision: int
    revision: int
    version: str
    #: the candidate, sealed like a stored version (secrets encrypted)
    config: dict[str, Any]
    author: str
    created_at: float
    bake_until: float
    canary: list[str]
    selector: dict[str, Any]
    bake_seconds: float
    check_seconds: float
    auto_rollback: bool
    message: str | None = None
    reason: str | None = None
    finished_at: float | None = None
    promoted_revision: int | None = None
    owner: str | None = None
    lease_expires_at: float | None = None
    #: what the last look at the canaries found, per instance (not stored: the owner's view)
    last_checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: with auto_rollback off: the first bad sign seen (the rollout waits for a person)
    held_reason: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant_id, self.service)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def candidate(self) -> ConfigVersion:
        """The candidate as a version (sealed), for answers and for the promotion write."""
        return ConfigVersion(
            tenant_id=self.tenant_id,
            service_name=self.service,
            revision=self.revision,
            version=self.version,
            config=self.config,
            author=self.author,
            created_at=self.created_at,
            message=self.message,
            source="rollout",
        )

    def detail(self) -> dict[str, Any]:
        return {
            "canary": self.canary,
            "selector": self.selector,
            "bake_seconds": self.bake_seconds,
            "check_seconds": self.check_seconds,
            "auto_rollback": self.auto_rollback,
            "held_reason": self.held_reason,
        }


def parse_canary(raw: Any) -> dict[str, Any]:
    """The request's ``canary``: exactly one of ``instances``, ``tags`` or ``percent``."""
    if not isinstance(raw, dict):
        raise InvalidInput('canary: an object with one of "instances", "tags" or "percent" is required')
    given = [k for k in SELECTORS if raw.get(k) is not None]
    unknown = sorted(set(raw) - set(SELECTORS))
    if unknown:
        raise InvalidInput(f"canary: unknown field {unknown[0]!r} (use instances, tags or percent)")
    if len(given) != 1:
        raise InvalidInput('canary: give exactly one of "instances", "tags" or "percent"')
    kind = given[0]
    value = raw[kind]
    if kind == "percent":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
            raise InvalidInput(
                f"canary.percent: a number above 0 and at most 100 is required (got {value!r})"
            )
        return {"percent": float(value)}
    if (
        not isinstance(value, list)
        or not value
        or len(value) > 1000
        or not all(isinstance(v, str) and 0 < len(v) <= 255 for v in value)
    ):
        raise InvalidInput(f"canary.{kind}: a non-empty list of strings is required")
    return {kind: list(dict.fromkeys(value))}


def choose_canaries(selector: dict[str, Any], instances: list[Any]) -> list[str]:
    """The canary instance ids ``selector`` picks out of the service's ``instances``.

    By percent: that share of the passing instances (at least one), oldest first, so the same
    request on the same fleet picks the same canaries. By tags: every passing instance that
    carries all of them. By ids: exactly those, each of which must be registered."""
    from centralhub.registry.models import InstanceStatus

    ordered = sorted(instances, key=lambda i: (i.registered_at, i.id))
    passing = [i for i in ordered if i.status == InstanceStatus.PASSING]
    if "instances" in selector:
        known = {i.id for i in ordered}
        missing = [i for i in selector["instances"] if i not in known]
        if missing:
            raise InvalidInput(
                f"canary.instances: {missing[0]!r} is not a registered instance of this service"
            )
        return list(selector["instances"])
    if "tags" in selector:
        wanted = set(selector["tags"])
        chosen = [i.id for i in passing if wanted <= set(i.tags or [])]
        if not chosen:
            raise InvalidInput(f"canary.tags: no passing instance carries {sorted(wanted)}")
        return chosen
    if not passing:
        raise InvalidInput("canary.percent: the service has no passing instance to be a canary")
    count = max(1, math.floor(len(passing) * selector["percent"] / 100))
    return [i.id for i in passing[:count]]
