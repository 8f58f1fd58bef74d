"""Pub/sub, request/reply, fan-out, streams and work queues against the real NATS + JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from centralhub.kit import correlation_scope, get_correlation_id
from centralhub.sdk.messaging import (
    FanOutPattern,
    Message,
    MessagingError,
    MessagingTimeout,
    NATSMessagingClient,
    NoResponders,
    PubSubPattern,
    RequestReplyPattern,
    StreamPattern,
    WorkQueuePattern,
)
from tests.support import wait_until

pytestmark = pytest.mark.nats
Factory = Callable[..., Any]


async def test_pubsub_delivers_with_correlation_id(
    make_client: Factory, unique: Callable[[str], str]
) -> None:
    publisher, subscriber = await make_client("pub"), await make_client("sub")
    topic = unique("prices")
    seen: list[tuple[Any, str | None, str]] = []

    async def handler(message: Message) -> None:
        seen.append((message.json(), get_correlation_id(), message.service_source))

    await PubSubPattern(subscriber).subscribe(topic, handler)
    with correlation_scope("req-pub-1"):
        await PubSubPattern(publisher).publish(topic, {"bid": 1.1})
    await wait_until(lambda: len(seen) == 1, timeout=10, what="the published event")
    assert seen == [({"bid": 1.1}, "req-pub-1", "pub")]
    for client in (publisher, subscriber):
        await client.close()


async def test_request_reply_carries_correlation_id(
    make_client: Factory, unique: Callable[[str], str]
) -> None:
    server, caller = await make_client("pricing"), await make_client("gateway")
    subject = unique("pricing.quote")
    handler_ids: list[str | None] = []

    async def quote(message: Message) -> dict[str, Any]:
        handler_ids.append(get_correlation_id())
        return {"symbol": message.json()["symbol"], "price": 1.2}

    await RequestReplyPattern(server).serve(subject, quote)
    rpc = RequestReplyPattern(caller, default_timeout=5)
    with correlation_scope("req-rpc-9"):
        reply = await rpc.request(subject, {"symbol": "EURUSD"})
    assert reply.json() == {"symbol": "EURUSD", "price": 1.2}
    assert reply.correlation_id == "req-rpc-9" and handler_ids == ["req-rpc-9"]
    assert reply.message_type == "reply" and reply.service_source == "pricing"

    # Without an ambient trace a fresh id is minted and still comes back.
    reply = await rpc.request(subject, {"symbol": "GBPUSD"}, correlation_id="explicit-1")
    assert reply.correlation_id == "explicit-1"
    for client in (server, caller):
        await client.close()


async def test_request_timeout_no_responders_and_remote_error(
    make_client: Factory, unique: Callable[[str], str]
) -> None:
    server, caller = await make_client("slow"), await make_client("caller")
    slow, broken = unique("slow"), unique("broken")

    async def too_slow(message: Message) -> str:
        await asyncio.sleep(1.0)
        return "late"

    async def fails(message: Message) -> str:
        raise ValueError("symbol must be 6 letters")

    await server.subscribe(slow, too_slow)
    await server.subscribe(broken, fails)
    rpc = RequestReplyPattern(caller)
    with pytest.raises(MessagingTimeout, match=f"no reply on '{slow}' within 0.2s"):
        await rpc.request(slow, {}, timeout=0.2)
    with pytest.raises(NoResponders, match=unique("nobody")):
        await rpc.request(unique("nobody"), {}, timeout=2)
    with pytest.raises(MessagingError, match="ValueError: symbol must be 6 letters"):
        await rpc.request(broken, {}, timeout=5)
    with pytest.raises(ValueError, match="timeout"):
        await rpc.request(slow, {}, timeout=0)
    for client in (server, caller):
        await client.close()


async def test_fan_out_reaches_every_subscriber(make_client: Factory, unique: Callable[[str], str]) -> None:
    event = unique("config_changed")
    received: dict[str, list[str]] = {"risk": [], "ml": [], "audit": []}
    listeners = []
    for name in received:
        client = await make_client(name)
        listeners.append(client)

        async def handler(message: Message, name: str = name) -> None:
            received[name].append(message.correlation_id)

        await FanOutPattern(client).subscribe(event, name, handler)
    sender = await make_client("hub")
    fanout = FanOutPattern(sender)

    (everyone,) = await fanout.broadcast(event, {"key": "rate_limit"})
    await wait_until(
        lambda: all(len(ids) == 1 for ids in received.values()), timeout=10, what="the broadcast everywhere"
    )
    assert all(ids == [everyone.correlation_id] for ids in received.values())

    targeted = await fanout.broadcast(event, {"key": "x"}, ["risk", "audit"])
    await wait_until(
        lambda: len(received["risk"]) == 2 and len(received["audit"]) == 2, timeout=10, what="targeted copies"
    )
    # Markers on both of "ml"'s subscriptions, sent after the targeted broadcast: once "ml" has
    # them, anything wrongly sent its way earlier would have arrived too (delivery is in order).
    markers = [*await fanout.broadcast(event, {"key": "marker"}), *await fanout.broadcast(event, {}, ["ml"])]
    marker_ids = {m.correlation_id for m in markers}
    await wait_until(lambda: marker_ids <= set(received["ml"]), timeout=10, what="markers at ml")
    assert [c for c in received["ml"] if c not in marker_ids] == [everyone.correlation_id]
    assert len({m.correlation_id for m in targeted}) == 1
    for client in [*listeners, sender]:
        await client.close()


async def test_stream_consumer_resumes_after_restart(
    make_client: Factory, unique: Callable[[str], str], stream_cleanup: list[str]
) -> None:
    stream, group = unique("ticks"), unique("aggregator")
    stream_cleanup.append(stream)
    producer = await make_client("producer")
    await StreamPattern(producer).produce(stream, [{"seq": i} for i in range(5)])

    first = await make_client("consumer-1")
    handled: list[int] = []
    got = await StreamPattern(first).consume(
        stream, group, lambda m: handled.append(m.json()["seq"]), max_messages=3, idle_timeout=2
    )
    assert [m.json()["seq"] for m in got] == [0, 1, 2] == handled
    await first.close()  # the consumer process "restarts"

    await StreamPattern(producer).produce(stream, [{"seq": 5}])
    second = await make_client("consumer-1")
    rest = await StreamPattern(second).consume(stream, group, idle_timeout=3)
    assert [m.json()["seq"] for m in rest] == [3, 4, 5]

    # Another group has its own position and replays from the start.
    other = await StreamPattern(second).consume(stream, unique("audit"), idle_timeout=3)
    assert [m.json()["seq"] for m in other] == [0, 1, 2, 3, 4, 5]
    for client in (producer, second):
        await client.close()


async def test_work_queue_each_task_processed_by_exactly_one_worker(
    make_client: Factory, unique: Callable[[str], str], stream_cleanup: list[str]
) -> None:
    queue = unique("emails")
    stream_cleanup.append(queue)
    producer = await make_client("producer")
    producer_queue = WorkQueuePattern(producer, ack_wait=10)
    for i in range(20):
        await producer_queue.add_task(queue, {"task": i})

    done: dict[str, list[int]] = {"w1": [], "w2": []}

    async def run_worker(name: str) -> int:
        client = await make_client(name)

        async def handle(message: Message) -> None:
            done[name].append(message.json()["task"])
            await asyncio.sleep(0.02)  # real work takes time, letting the other worker in

        return await WorkQueuePattern(client, ack_wait=10).process(queue, handle, idle_timeout=1)

    async with asyncio.timeout(30):
        counts = await asyncio.gather(run_worker("w1"), run_worker("w2"))
    everything = done["w1"] + done["w2"]
    assert sorted(everything) == list(range(20)), "every task exactly once"
    assert sum(counts) == 20 and done["w1"] and done["w2"]
    # Acked tasks are gone from a work queue.
    assert await producer_queue.get_task(queue, timeout=0.3) is None


async def test_work_queue_redelivers_when_worker_dies_before_ack(
    make_client: Factory, unique: Callable[[str], str], stream_cleanup: list[str]
) -> None:
    queue = unique("jobs")
    stream_cleanup.append(queue)
    dying = await make_client("dying-worker")
    wq = WorkQueuePattern(dying, ack_wait=1.0)
    sent = await wq.add_task(queue, {"job": "rebuild-index"})
    task = await wq.get_task(queue, timeout=2)
    assert task is not None and task.attempt == 1
    await dying.close()  # dies without acking

    survivor = await make_client("survivor")
    wq2 = WorkQueuePattern(survivor, ack_wait=1.0)
    again = await wq2.get_task(queue, timeout=10)
    assert again is not None, "the unacked task must come back after ack_wait"
    assert again.data == {"job": "rebuild-index"} and again.attempt == 2
    assert again.message.correlation_id == sent.correlation_id
    await again.ack()
    assert await wq2.get_task(queue, timeout=1.5) is None, "acked: never delivered again"
    await survivor.close()


async def test_not_connected_and_bad_names_are_clear(nats_client: NATSMessagingClient) -> None:
    with pytest.raises(ValueError, match="stream name"):
        await nats_client.ensure_stream("has.dot")
    with pytest.raises(ValueError, match="topic"):
        await nats_client.publish("has space", {})
    idle = NATSMessagingClient()
    with pytest.raises(MessagingError, match="not connected"):
        await idle.publish("x", {})
