"""DomainEvents: side effects run after the write, off the caller's path, and cannot stall it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from centralhub.core.events.dispatch import DomainEvents

pytestmark = pytest.mark.timeout(20)


@dataclass(frozen=True)
class InstanceEvent:
    instance_id: str


@dataclass(frozen=True)
class InstanceWentDown(InstanceEvent):
    reason: str = "ttl"


@dataclass(frozen=True)
class ConfigChanged:
    service: str


async def _consume(events: DomainEvents) -> AsyncIterator[DomainEvents]:
    consumer = asyncio.create_task(events.run())
    try:
        yield events
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)


@pytest.fixture
async def events() -> AsyncIterator[DomainEvents]:
    """A DomainEvents with its consumer running (the hub starts it under the supervisor)."""
    async for e in _consume(DomainEvents()):
        yield e


async def test_handlers_get_their_type_and_its_subclasses(events: DomainEvents) -> None:
    instance_events: list[object] = []
    down_events: list[object] = []
    config_events: list[object] = []

    async def on_instance(e: InstanceEvent) -> None:
        instance_events.append(e)

    async def on_down(e: InstanceWentDown) -> None:
        down_events.append(e)

    async def on_config(e: ConfigChanged) -> None:
        config_events.append(e)

    events.subscribe(InstanceEvent, on_instance)
    events.subscribe(InstanceWentDown, on_down)
    events.subscribe(ConfigChanged, on_config)
    events.emit(InstanceEvent("i-1"))
    events.emit(InstanceWentDown("i-2"))
    events.emit(ConfigChanged("orders"))
    await events.drain()
    assert instance_events == [InstanceEvent("i-1"), InstanceWentDown("i-2")]
    assert down_events == [InstanceWentDown("i-2")]
    assert config_events == [ConfigChanged("orders")]
    assert events.handled == 4 and events.failed == 0


async def test_an_event_nobody_subscribed_to_is_not_queued(events: DomainEvents) -> None:
    events.emit(ConfigChanged("orders"))
    assert events.backlog == 0


async def test_emit_returns_before_a_slow_handler_finishes(events: DomainEvents) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow(e: ConfigChanged) -> None:
        started.set()
        await release.wait()
        finished.append(e.service)

    events.subscribe(ConfigChanged, slow)
    result = events.emit(ConfigChanged("orders"))  # a plain call: nothing to await, nothing to wait for
    assert result is None and finished == []
    await asyncio.wait_for(started.wait(), 5)  # the handler runs on the consumer task...
    assert finished == []  # ...while the caller has long returned
    release.set()
    await events.drain()
    assert finished == ["orders"]


async def test_emit_never_blocks_even_without_a_consumer() -> None:
    events = DomainEvents(maxsize=3)

    async def handler(e: ConfigChanged) -> None:
        pass

    events.subscribe(ConfigChanged, handler)
    for i in range(100):  # nothing consumes: a blocking emit would hang here
        events.emit(ConfigChanged(f"s{i}"))
    assert events.backlog == 3


async def test_a_full_queue_drops_the_oldest_events_and_counts_them() -> None:
    events = DomainEvents(maxsize=3)
    seen: list[str] = []

    async def record(e: ConfigChanged) -> None:
        seen.append(e.service)

    events.subscribe(ConfigChanged, record)
    for name in ("a", "b", "c", "d", "e"):  # the consumer is not running yet: it fell behind
        events.emit(ConfigChanged(name))
    assert events.dropped == 2 and events.backlog == 3
    async for e in _consume(events):
        await asyncio.wait_for(e.drain(), 5)
    assert seen == ["c", "d", "e"], "the newest events survive"


async def test_a_failing_handler_is_counted_and_others_still_run(events: DomainEvents) -> None:
    seen: list[str] = []

    async def broken(e: ConfigChanged) -> None:
        raise RuntimeError("alert channel down")

    async def working(e: ConfigChanged) -> None:
        seen.append(e.service)

    events.subscribe(ConfigChanged, broken)
    events.subscribe(ConfigChanged, working)
    events.emit(ConfigChanged("a"))
    events.emit(ConfigChanged("b"))
    await events.drain()
    assert seen == ["a", "b"], "the failure cost only the failing handler's own work"
    assert events.failed == 2 and events.handled == 2


async def test_drain_waits_until_every_queued_event_is_handled(events: DomainEvents) -> None:
    done: list[int] = []

    async def slowish(e: InstanceEvent) -> None:
        await asyncio.sleep(0.01)
        done.append(int(e.instance_id))

    events.subscribe(InstanceEvent, slowish)
    for i in range(10):
        events.emit(InstanceEvent(str(i)))
    assert len(done) < 10
    await asyncio.wait_for(events.drain(), 5)
    assert done == list(range(10)) and events.backlog == 0
