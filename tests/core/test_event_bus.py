"""One contract for every event bus: the in-process bus and NATS must behave the same.

Code is written and tested against the in-process bus and runs on NATS once there are replicas,
so every test here runs on both. NATS is the real local server; the test fails when it is down.
Each test publishes under its own random subject prefix, so parallel runs sharing the server
cannot see each other's events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from centralhub.core.events import EventBus, MemoryEventBus, subject_matches
from centralhub.core.events.nats import NatsEventBus
from tests.support import wait_until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=["memory", "nats"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    """A started bus of each kind; closed after the test."""
    bus: EventBus = (
        MemoryEventBus() if request.param == "memory" else NatsEventBus(request.getfixturevalue("nats_url"))
    )
    await bus.start()
    assert bus.connected, f"{bus.name} bus did not connect"
    try:
        yield bus
    finally:
        await bus.close()


@pytest.fixture
def prefix() -> str:
    """A subject prefix no other test (or concurrent run) uses."""
    return f"test.{uuid.uuid4().hex}"


class Inbox:
    """Records what a subscription receives: ``(subject, payload)`` in arrival order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, subject: str, payload: dict[str, Any]) -> None:
        self.events.append((subject, payload))

    @property
    def subjects(self) -> list[str]:
        return [s for s, _ in self.events]

    async def wait_for(self, count: int) -> None:
        await wait_until(lambda: len(self.events) >= count, timeout=10, what=f"{count} event(s)")


async def test_round_trip_keeps_the_payload(bus: EventBus, prefix: str) -> None:
    inbox = Inbox()
    await bus.subscribe(f"{prefix}.changed", inbox)
    payload = {"name": "orders", "port": 8080, "ratio": 0.5, "tags": ["a", "ü"], "meta": {"x": None}}
    await bus.publish(f"{prefix}.changed", payload)
    await inbox.wait_for(1)
    assert inbox.events == [(f"{prefix}.changed", payload)]


async def test_events_on_one_subject_arrive_in_publish_order(bus: EventBus, prefix: str) -> None:
    inbox = Inbox()
    await bus.subscribe(f"{prefix}.seq", inbox)
    for i in range(50):
        await bus.publish(f"{prefix}.seq", {"i": i})
    await inbox.wait_for(50)
    assert [p["i"] for _, p in inbox.events] == list(range(50))


async def test_wildcards_match_like_nats(bus: EventBus, prefix: str) -> None:
    patterns = ["*", ">", "a.*", "*.c", "a.>", "a.b.c"]
    inboxes = {p: Inbox() for p in patterns}
    for pattern, inbox in inboxes.items():
        await bus.subscribe(f"{prefix}.{pattern}", inbox)
    published = ["a", "a.b", "a.c", "x.c", "a.b.c", "a.b.c.d"]
    for subject in published:
        await bus.publish(f"{prefix}.{subject}", {"s": subject})
    await bus.publish(prefix, {"s": ""})  # the prefix alone: "prefix.>" needs one more token
    # One marker per pattern, published last: once a subscription has its marker, everything
    # published before it that it would receive has arrived (delivery is in order).
    markers = {"*": "zz", ">": "zz", "a.*": "a.zz", "*.c": "zz.c", "a.>": "a.zz", "a.b.c": "a.b.c"}
    for pattern, marker in markers.items():
        await bus.publish(f"{prefix}.{marker}", {"marker": pattern})
    for pattern, inbox in inboxes.items():
        await wait_until(
            lambda inbox=inbox, pattern=pattern: any(p.get("marker") == pattern for _, p in inbox.events),
            timeout=10,
            what=f"marker for {pattern}",
        )
    got = {p: [e["s"] for _, e in inbox.events if "s" in e] for p, inbox in inboxes.items()}
    assert got == {
        "*": ["a"],
        ">": ["a", "a.b", "a.c", "x.c", "a.b.c", "a.b.c.d"],
        "a.*": ["a.b", "a.c"],
        "*.c": ["a.c", "x.c"],
        "a.>": ["a.b", "a.c", "a.b.c", "a.b.c.d"],
        "a.b.c": ["a.b.c"],
    }


@pytest.mark.parametrize("subject", ["", "a..b", "a.", ".a", "a b", "a.>.c", "a.b*", "a.>x"], ids=repr)
async def test_invalid_subscription_subjects_are_refused(bus: EventBus, subject: str) -> None:
    with pytest.raises(ValueError, match="invalid subject"):
        await bus.subscribe(subject, Inbox())


@pytest.mark.parametrize("subject", ["", "a..b", "a.", "a b", "a.*", "a.>"], ids=repr)
async def test_invalid_publish_subjects_are_refused(bus: EventBus, subject: str) -> None:
    with pytest.raises(ValueError, match="invalid subject"):
        await bus.publish(subject, {})
    assert bus.publish_failures == 0, "a caller's mistake is not a transport failure"


async def test_unsubscribe_stops_delivery(bus: EventBus, prefix: str) -> None:
    leaving, staying = Inbox(), Inbox()
    sub = await bus.subscribe(f"{prefix}.x", leaving)
    await bus.subscribe(f"{prefix}.x", staying)
    await bus.publish(f"{prefix}.x", {"n": 1})
    await leaving.wait_for(1)
    await staying.wait_for(1)

    await sub.unsubscribe()
    await bus.publish(f"{prefix}.x", {"n": 2})
    await staying.wait_for(2)  # the event went out; it only no longer reaches ``leaving``
    assert [p["n"] for _, p in leaving.events] == [1]
    await sub.unsubscribe()  # a second unsubscribe is harmless


async def test_every_subscriber_gets_each_event(bus: EventBus, prefix: str) -> None:
    inboxes = [Inbox() for _ in range(4)]
    for inbox in inboxes:
        await bus.subscribe(f"{prefix}.fan", inbox)
    await bus.publish(f"{prefix}.fan", {"k": "v"})
    for inbox in inboxes:
        await inbox.wait_for(1)
    assert all(inbox.events == [(f"{prefix}.fan", {"k": "v"})] for inbox in inboxes)


async def test_a_failing_handler_does_not_stop_later_deliveries(bus: EventBus, prefix: str) -> None:
    calls: list[int] = []

    async def flaky(subject: str, payload: dict[str, Any]) -> None:
        calls.append(payload["n"])
        if payload["n"] == 1:
            raise RuntimeError("handler bug")

    other = Inbox()
    await bus.subscribe(f"{prefix}.e", flaky)
    await bus.subscribe(f"{prefix}.e", other)
    for n in (1, 2, 3):
        await bus.publish(f"{prefix}.e", {"n": n})  # the publisher never sees the handler's error
    await other.wait_for(3)
    await wait_until(lambda: len(calls) == 3, timeout=10, what="three calls of the failing handler")
    assert calls == [1, 2, 3]
    assert [p["n"] for _, p in other.events] == [1, 2, 3]


async def test_start_and_close_are_idempotent(bus: EventBus, prefix: str) -> None:
    inbox = Inbox()
    await bus.subscribe(f"{prefix}.i", inbox)
    await bus.start()  # a second start neither reconnects nor loses subscriptions
    assert bus.connected
    await bus.publish(f"{prefix}.i", {"once": True})
    await inbox.wait_for(1)
    assert inbox.events == [(f"{prefix}.i", {"once": True})]

    await bus.close()
    await bus.close()
    assert not bus.connected
    with pytest.raises(ConnectionError):
        await bus.publish(f"{prefix}.i", {"after": "close"})
    with pytest.raises(ConnectionError):
        await bus.subscribe(f"{prefix}.i", inbox)


async def test_a_closed_bus_can_be_started_again(bus: EventBus, prefix: str) -> None:
    """A hub stopped and started in the same process reuses its bus."""
    await bus.close()
    await bus.start()
    assert bus.connected
    inbox = Inbox()
    await bus.subscribe(f"{prefix}.again", inbox)
    await bus.publish(f"{prefix}.again", {"n": 1})
    await inbox.wait_for(1)
    assert inbox.events == [(f"{prefix}.again", {"n": 1})]


async def test_name_and_connected(bus: EventBus) -> None:
    assert bus.name == ("memory" if isinstance(bus, MemoryEventBus) else "nats")
    assert bus.connected is True
    assert bus.publish_failures == 0


async def test_nats_replicas_see_each_others_events(nats_url: str, prefix: str) -> None:
    """What NATS is for: an event published by one hub replica reaches another."""
    first, second = NatsEventBus(nats_url), NatsEventBus(nats_url)
    await first.start()
    await second.start()
    try:
        inbox = Inbox()
        await second.subscribe(f"{prefix}.>", inbox)
        await second.client.flush(timeout=5)  # the server knows the subscription before we publish
        await first.publish(f"{prefix}.registry.upserted", {"id": "i-1"})
        await inbox.wait_for(1)
        assert inbox.events == [(f"{prefix}.registry.upserted", {"id": "i-1"})]
    finally:
        await first.close()
        await second.close()


async def test_nats_publish_before_connecting_is_a_counted_failure(prefix: str) -> None:
    bus = NatsEventBus("nats://127.0.0.1:1", connect_timeout=0.2)
    with pytest.raises(ConnectionError, match="not connected"):
        await bus.publish(f"{prefix}.x", {})
    assert bus.publish_failures == 1 and not bus.connected


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.b.c", False),
        ("a.*", "a.b", True),
        ("a.*", "a", False),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b", True),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        (">", "a", True),
        ("*.b", "a.b", True),
        ("*.b", "a.c", False),
    ],
)
def test_subject_matches(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches
