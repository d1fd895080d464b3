"""What authplane relies on from its broker, checked on Tansu and on Apache Kafka alike.

Ordering per key, redelivery of uncommitted records after a consumer is SIGKILLed, a group that
hands a departed member's partitions to the survivor, explicit topic creation, and the producer
the broker profile prescribes (idempotent on Kafka) writing each record exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections import defaultdict
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord

from schemas import names
from schemas.topics import ensure_topics, min_insync_for, replication_for
from streams.replay.log import LogReader
from tests.integration.contract.conftest import BrokerUnderTest

PARTITIONS = 4
TIMEOUT_S = 60.0


async def new_topic(broker: BrokerUnderTest) -> str:
    topic = f"contract-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        from aiokafka.admin import NewTopic

        replication = replication_for(broker.nodes)
        await admin.create_topics([NewTopic(topic, PARTITIONS, replication)])
    finally:
        await admin.close()
    return topic


async def produce(broker: BrokerUnderTest, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap, linger_ms=2, **broker.profile.producer_options()
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def consume(
    broker: BrokerUnderTest, topic: str, count: int, group: str | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=broker.profile.fetch_max_wait_ms,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    got: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=200)
                got += [r for records in batch.values() for r in records]
        if group is not None:
            await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def test_topics_are_created_with_the_asked_partitions_and_replication(
    any_broker: BrokerUnderTest,
) -> None:
    replication = replication_for(any_broker.nodes)
    await ensure_topics(any_broker.bootstrap, PARTITIONS, replication)
    await ensure_topics(any_broker.bootstrap, PARTITIONS, replication)  # again: a no-op
    admin = AIOKafkaAdminClient(bootstrap_servers=any_broker.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([names.TOPIC_EVENTS])
        partitions = described[0]["partitions"]
        assert len(partitions) == PARTITIONS
        assert {len(p["replicas"]) for p in partitions} == {replication}
        if any_broker.profile.exact_end_offsets:  # Kafka: the topic settings are enforced
            resource = ConfigResource(ConfigResourceType.TOPIC, names.TOPIC_EVENTS)
            entries = (await admin.describe_configs([resource]))[0].resources[0][4]
            configs = {entry[0]: entry[1] for entry in entries}
            assert configs["min.insync.replicas"] == str(min_insync_for(replication))
            assert configs["unclean.leader.election.enable"] == "false"
    finally:
        await admin.close()


async def test_records_of_one_key_arrive_in_the_order_they_were_produced(
    any_broker: BrokerUnderTest,
) -> None:
    topic = await new_topic(any_broker)
    keys = [f"user-{i}".encode() for i in range(6)]
    records = [(key, f"{key.decode()}:{n}".encode()) for n in range(40) for key in keys]
    await produce(any_broker, topic, records)

    got = await consume(any_broker, topic, len(records))

    per_key: dict[bytes, list[int]] = defaultdict(list)
    for record in got:
        assert record.key is not None
        assert record.value is not None
        per_key[record.key].append(int(record.value.split(b":")[1]))
    assert per_key == {key: list(range(40)) for key in keys}


async def test_records_after_the_last_commit_are_redelivered_after_a_sigkill(
    any_broker: BrokerUnderTest,
) -> None:
    topic = await new_topic(any_broker)
    # One key: one partition, so "after the commit" is a single offset range.
    records = [(b"one-user", str(n).encode()) for n in range(30)]
    await produce(any_broker, topic, records)
    group = f"g-{uuid.uuid4().hex[:8]}"
    script = str(Path(__file__).with_name("killed_consumer.py"))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        *(any_broker.bootstrap, topic, group, "10"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), TIMEOUT_S)
        assert line.strip() == b"committed"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    got = await consume(any_broker, topic, 20, group=group)

    assert [int(r.value or b"") for r in got] == list(range(10, 30))


async def test_a_group_hands_a_departed_members_partitions_to_the_survivor(
    any_broker: BrokerUnderTest,
) -> None:
    topic = await new_topic(any_broker)
    group = f"g-{uuid.uuid4().hex[:8]}"
    first, second = (
        AIOKafkaConsumer(
            topic,
            bootstrap_servers=any_broker.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=any_broker.profile.fetch_max_wait_ms,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        )
        for _ in range(2)
    )
    await first.start()
    await second.start()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while len(first.assignment()) + len(second.assignment()) < PARTITIONS or not (
                first.assignment() and second.assignment()
            ):
                await asyncio.gather(first.getmany(timeout_ms=100), second.getmany(timeout_ms=100))
        await second.stop()  # leaves the group

        records = [(f"user-{i}".encode(), b"after") for i in range(40)]
        await produce(any_broker, topic, records)
        got: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(TIMEOUT_S):
            while len(got) < len(records):
                batch = await first.getmany(timeout_ms=200)
                got += [r for part in batch.values() for r in part]
        assert len(first.assignment()) == PARTITIONS
        assert sorted(r.key or b"" for r in got) == sorted(key for key, _ in records)
    finally:
        await first.stop()


async def test_the_profiles_producer_writes_each_record_exactly_once(
    any_broker: BrokerUnderTest,
) -> None:
    topic = await new_topic(any_broker)
    producer = AIOKafkaProducer(
        bootstrap_servers=any_broker.bootstrap, **any_broker.profile.producer_options()
    )
    await producer.start()
    try:
        for n in range(50):
            await producer.send_and_wait(topic, str(n).encode(), key=b"k")
        # On Kafka the producer really is idempotent: the broker gave it a producer id.
        producer_id = producer._txn_manager.producer_id if producer._txn_manager else -1
        assert (producer_id >= 0) == any_broker.profile.idempotent_producer
    finally:
        await producer.stop()

    got = await consume(any_broker, topic, 50)
    assert [int(r.value or b"") for r in got] == list(range(50))


async def _replay_read(broker: BrokerUnderTest) -> int:
    """Events the replay tool's reader reads from the event topics, start to end."""
    reader = LogReader(
        broker.bootstrap, batch_size=50, exact_end_offsets=broker.profile.exact_end_offsets
    )
    await reader.open({})
    try:
        return sum([len(batch) async for batch in reader.batches()])
    finally:
        await reader.close()


async def test_the_replay_reader_reads_every_event_of_the_log(any_broker: BrokerUnderTest) -> None:
    await ensure_topics(any_broker.bootstrap, PARTITIONS, replication_for(any_broker.nodes))
    before = await _replay_read(any_broker)
    records = [(f"user-{n % 7}".encode(), f"event {n}".encode()) for n in range(30)]
    await produce(any_broker, names.TOPIC_EVENTS, records)
    assert await _replay_read(any_broker) == before + len(records)
