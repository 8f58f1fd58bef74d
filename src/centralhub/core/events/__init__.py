"""Event bus: how committed changes reach in-memory views, watchers and other hub replicas."""

from centralhub.core.events.base import (
    EventBus,
    EventHandler,
    Subscription,
    check_subject,
    subject_matches,
)
from centralhub.core.events.memory import MemoryEventBus
from centralhub.core.wire import DEFAULT_CLUSTER

__all__ = [
    "EventBus",
    "EventHandler",
    "MemoryEventBus",
    "Subscription",
    "check_subject",
    "create_event_bus",
    "subject_matches",
]


def create_event_bus(nats_url: str | None, cluster: str = DEFAULT_CLUSTER) -> EventBus:
    """The NATS bus when ``nats_url`` is set (subjects under ``cluster``), else the in-process bus."""
    if nats_url:
        from centralhub.core.events.nats import NatsEventBus

        return NatsEventBus(nats_url, cluster=cluster)
    return MemoryEventBus()
