"""`reseed`: an empty log refilled from region archives, per-user order kept, nothing doubled."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import names
from schemas.envelope import Envelope
from schemas.epoch import epoch_ms
from services.devstack.broker import start_broker
from services.devstack.infra import RegionStores
from tests.integration.replay_harness import (
    engine_cli,
    number,
    one_error_line,
    publish,
    write_stack_file,
)
from tests.integration.test_projector_support import key_publication, registration, session_start


def _history() -> list[Envelope]:
    """Three users' events interleaved, plus a system event."""
    out: list[Envelope] = [key_publication("kid-1")]
    for i in range(4):
        for user in ("ann", "ben", "cy"):
            out.append(registration(user) if i == 0 else session_start(user, f"{user}-{i}"))
    return out


async def _corrupt(dsn: str, event_id: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        table = names.TABLE_EVENT_ARCHIVE
        sql = f"UPDATE {table} SET body = substring(body from 1 for 30) WHERE event_id = $1"  # noqa: S608
        await conn.execute(sql, event_id)
    finally:
        await conn.close()


async def _read_log(bootstrap: str, count: int) -> list[tuple[bytes, dict[str, object], int]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [
            TopicPartition(names.TOPIC_EVENTS, p)
            for p in consumer.partitions_for_topic(names.TOPIC_EVENTS) or ()
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning()
        out: list[tuple[bytes, dict[str, object], int]] = []
        while len(out) < count:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [(r.key, orjson.loads(r.value), r.timestamp) for r in records]
        return out
    finally:
        await consumer.stop()


def _per_user(events: list[Envelope]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for e in events:
        order[e.user_id].append(e.event_id)
    return dict(order)


async def test_reseed_republishes_in_order_skips_corrupt_rows_and_refuses_a_full_log(
    tmp_path: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> None:
    history = _history()
    await publish(fresh_broker, history)
    old = write_stack_file(tmp_path / "old.json", fresh_broker, fresh_region_stores)
    for region in ("eu", "us"):
        assert (await engine_cli(old, "replay", "--region", region)).returncode == 0
    damaged = history[4]
    await _corrupt(fresh_region_stores["eu"].postgres_dsn, damaged.event_id)
    brokers = [start_broker(tmp_path / f"b{i}", die_with_parent=True) for i in (1, 2)]
    try:
        new = write_stack_file(tmp_path / "new.json", brokers[0].address, fresh_region_stores)
        merged = write_stack_file(tmp_path / "m.json", brokers[1].address, fresh_region_stores)

        from_eu = await engine_cli(new, "reseed", "--from-region", "eu")
        again = await engine_cli(new, "reseed", "--from-region", "eu")
        from_both = await engine_cli(merged, "reseed", "--from-region", "eu,us")
        republished = await _read_log(brokers[0].address, len(history) - 1)
        both = await _read_log(brokers[1].address, len(history))
    finally:
        for broker in brokers:
            broker.stop()

    assert from_eu.returncode == 2, from_eu.stdout + from_eu.stderr
    assert number(from_eu.stdout, "events published") == str(len(history) - 1)
    assert number(from_eu.stdout, "corrupt rows skipped") == "1"
    assert damaged.event_id in from_eu.stdout
    intact = [e for e in history if e is not damaged]
    seen = _per_user([_envelope_of(doc) for _, doc, _ in republished])
    assert seen == _per_user(intact)  # each user's events, in their original order
    for key, doc, timestamp in republished:
        envelope = _envelope_of(doc)
        assert key == envelope.partition_key
        assert timestamp == epoch_ms(envelope.occurred_at)  # for --since (exact ms, no float)
    assert again.returncode == 1
    assert "already hold" in one_error_line(again.stderr)
    # Merged archives: us holds an intact copy of the damaged event; every event once.
    assert number(from_both.stdout, "events published") == str(len(history))
    assert number(from_both.stdout, "duplicates skipped") == str(len(history) - 1)
    assert sorted(str(doc["event_id"]) for _, doc, _ in both) == sorted(e.event_id for e in history)


def _envelope_of(doc: dict[str, object]) -> Envelope:
    from schemas.codec import decode

    return decode(orjson.dumps(doc))
