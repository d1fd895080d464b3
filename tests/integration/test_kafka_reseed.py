"""`reseed` and `replay` on Apache Kafka (a one-node KRaft cluster for the module): every archived
event republished exactly once by the idempotent producer, a full log refused, and the totals
both commands print taken from the log's real end offsets.

The archive is filled the quick way: the history goes onto a Tansu broker and is replayed into
eu's stores; Kafka's log starts empty, as after losing a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from schemas.broker import KAFKA
from schemas.envelope import Envelope
from services.devstack.infra import RegionStores
from services.devstack.kafka import KafkaCluster
from streams.replay.log import event_partitions
from tests.integration.replay_harness import (
    engine_cli,
    number,
    one_error_line,
    publish,
    write_stack_file,
)
from tests.integration.test_projector_support import registration, session_start
from tests.kafka_support import start_test_cluster

USERS = 400  # 1,600 events: more than one progress step of reseed (every 1,000 rows)


@pytest.fixture(scope="module")
def kafka_bootstrap_one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster: KafkaCluster = start_test_cluster(["eu"], tmp_path_factory.mktemp("kafka-reseed"))
    try:
        yield cluster.bootstrap("eu")
    finally:
        cluster.stop()


def _history() -> list[Envelope]:
    out: list[Envelope] = []
    for i in range(USERS):
        user = f"kr-{i:04d}"
        out.append(registration(user))
        out.extend(session_start(user, f"{user}-{n}") for n in range(3))
    return out


def _kafka_stack_file(path: Path, bootstrap: str, stores: dict[str, RegionStores]) -> Path:
    write_stack_file(path, bootstrap, stores)
    doc = orjson.loads(path.read_bytes())
    doc["broker"] = {"kind": KAFKA}
    path.write_bytes(orjson.dumps(doc))
    return path


async def _event_ids_in_log(bootstrap: str) -> list[str]:
    """Every event id on the event topics, read to the end offsets (exact on Kafka)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = await event_partitions(consumer)
        consumer.assign(parts)
        await consumer.seek_to_beginning()
        ends = await consumer.end_offsets(parts)
        ids: list[str] = []
        left = sum(ends.values())  # Kafka's offsets start at 0 on a new log
        while len(ids) < left:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                ids += [str(orjson.loads(r.value)["event_id"]) for r in records]
        return ids
    finally:
        await consumer.stop()


def _totals(stderr: str, label: str) -> list[int]:
    """The N of every progress line ``<label>: <done> events of <N>...`` on stderr."""
    pattern = re.compile(rf"^{re.escape(label)}: [\d,]+ events of ([\d,]+)")
    return [int(m.group(1).replace(",", "")) for m in map(pattern.match, stderr.splitlines()) if m]


async def test_reseed_on_kafka_publishes_each_event_once_and_replay_counts_from_end_offsets(
    tmp_path: Path,
    fresh_broker: str,
    fresh_region_stores: dict[str, RegionStores],
    kafka_bootstrap_one: str,
) -> None:
    history = _history()
    await publish(fresh_broker, history)
    tansu = write_stack_file(tmp_path / "tansu.json", fresh_broker, fresh_region_stores)
    filled = await engine_cli(tansu, "replay", "--region", "eu")
    assert filled.returncode == 0, filled.stdout + filled.stderr
    kafka = _kafka_stack_file(tmp_path / "kafka.json", kafka_bootstrap_one, fresh_region_stores)

    seeded = await engine_cli(kafka, "reseed", "--from-region", "eu")
    again = await engine_cli(kafka, "reseed", "--from-region", "eu")
    in_log = await _event_ids_in_log(kafka_bootstrap_one)
    rebuilt = await engine_cli(kafka, "replay", "--region", "us")
    forced = await engine_cli(kafka, "reseed", "--from-region", "eu", "--force")

    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert number(seeded.stdout, "events published") == f"{len(history):,}"
    assert number(seeded.stdout, "events now in the log") == f"{len(history):,}"
    assert _totals(seeded.stderr, "reseed")[0] == len(history)  # rows of the archive
    assert sorted(in_log) == sorted(e.event_id for e in history)  # each exactly once
    assert again.returncode == 1
    assert "already hold" in one_error_line(again.stderr)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert _totals(rebuilt.stderr, "replay us")[0] == len(in_log)  # from the end offsets
    assert number(rebuilt.stdout, "events read") == f"{len(in_log):,}"
    # --force onto the full log: what it held before plus what was published, nothing else.
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert number(forced.stdout, "events now in the log") == f"{2 * len(history):,}"
