"""Records the projector fetched but did not process are read again, on Tansu and on Kafka.

faust drops records it fetched while its flow was stopped for a rebalance (or after the group's
generation changed) and seeks back to the committed offsets to read them again. A partition the
group never committed must go back too: otherwise its first records are never projected (the
broker-outage drill lost a revocation that way; see ``streams.faust_transport``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams.faust_transport import ConsumerThread
from tests.integration.contract.conftest import BrokerUnderTest
from tests.integration.contract.test_broker_contract import TIMEOUT_S, new_topic, produce

ONE_KEY = b"one-user"  # one key: one partition, so offsets are one sequence


def projector_thread(consumer: AIOKafkaConsumer) -> ConsumerThread:
    """The projector's consumer thread over ``consumer``, with only what a seek uses: the
    consumer, and ``call_thread`` running on this loop (the thread's loop in production)."""
    thread = object.__new__(ConsumerThread)

    async def on_this_loop(fun: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return await fun(*args)

    thread._ensure_consumer = lambda: consumer  # type: ignore[method-assign]
    thread.call_thread = on_this_loop  # type: ignore[method-assign]
    return thread


async def fetch(consumer: AIOKafkaConsumer, count: int) -> list[bytes]:
    """The values of the next ``count`` records (fetched, not committed)."""
    got: list[bytes] = []
    async with asyncio.timeout(TIMEOUT_S):
        while len(got) < count:
            batch = await consumer.getmany(timeout_ms=200, max_records=count - len(got))
            got += [r.value or b"" for records in batch.values() for r in records]
    return got


async def group_member(broker: BrokerUnderTest, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=broker.profile.fetch_max_wait_ms,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    return consumer


async def test_dropped_records_of_a_partition_never_committed_are_read_again(
    any_broker: BrokerUnderTest,
) -> None:
    topic = await new_topic(any_broker)
    await produce(any_broker, topic, [(ONE_KEY, b"revoked"), (ONE_KEY, b"started")])
    consumer = await group_member(any_broker, topic)
    try:
        assert await fetch(consumer, 2) == [b"revoked", b"started"]  # then dropped, as faust does
        committed = await projector_thread(consumer).seek_to_committed()
        assert set(committed.values()) == {None}, "the group never committed this topic"
        assert await fetch(consumer, 2) == [b"revoked", b"started"]
    finally:
        await consumer.stop()


async def test_dropped_records_after_the_last_commit_are_read_again(
    any_broker: BrokerUnderTest,
) -> None:
    topic = await new_topic(any_broker)
    await produce(any_broker, topic, [(ONE_KEY, b"one"), (ONE_KEY, b"two"), (ONE_KEY, b"three")])
    consumer = await group_member(any_broker, topic)
    try:
        assert await fetch(consumer, 1) == [b"one"]
        await consumer.commit()  # offset 1 committed, so "one" is never read again
        assert await fetch(consumer, 2) == [b"two", b"three"]  # then dropped
        await projector_thread(consumer).seek_to_committed()
        assert await fetch(consumer, 2) == [b"two", b"three"]
    finally:
        await consumer.stop()
