"""When a replay's read of the log ends: at the exact end offsets on Kafka, whatever stalls on
the way; after quiet polls only on a broker whose end offsets cannot be trusted (Tansu)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from aiokafka import TopicPartition

from streams.replay import endpoints
from streams.replay.log import IDLE_POLLS_TO_END, LogReader

TP = TopicPartition("authplane.events.v1", 0)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int


class StallingLog:
    """Stands in for the consumer: ``quiet`` empty polls (a leader moving after a node came
    back), then the partition's ``size`` records."""

    def __init__(self, quiet: int, size: int) -> None:
        self.quiet = quiet
        self.size = size
        self.served = False

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        if self.quiet:
            self.quiet -= 1
            return {}
        if self.served:
            return {}
        self.served = True
        records = [Record(TP.topic, 0, n, b"k", b"v", 1_000 + n) for n in range(self.size)]
        return {TP: records}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.size if self.served else None


def _reader(log: StallingLog, exact: bool, ends: int | None) -> LogReader:
    reader = LogReader("127.0.0.1:9", batch_size=100, exact_end_offsets=exact)
    reader._consumer = cast(Any, log)
    reader._next = {TP: 0}
    if ends is not None:
        reader._ends = {TP: ends}  # what open() reads with ListOffsets on Kafka
    return reader


async def _read_all(reader: LogReader) -> int:
    return sum([len(batch) async for batch in reader.batches()])


async def test_kafka_reads_to_the_end_offsets_through_quiet_polls() -> None:
    log = StallingLog(quiet=IDLE_POLLS_TO_END + 3, size=7)
    assert await _read_all(_reader(log, exact=True, ends=7)) == 7


async def test_tansu_still_ends_after_quiet_polls() -> None:
    log = StallingLog(quiet=IDLE_POLLS_TO_END + 3, size=7)
    assert await _read_all(_reader(log, exact=False, ends=None)) == 0


def test_the_stack_file_names_the_broker_whose_end_offsets_replay_trusts(tmp_path: Path) -> None:
    regions = {"eu": {"redis_url": "redis://127.0.0.1:1/0", "postgres_dsn": "postgresql://x"}}
    doc: dict[str, Any] = {"kafka_bootstrap": "127.0.0.1:9", "regions": regions}
    path = tmp_path / "stack.json"
    path.write_bytes(orjson.dumps(doc | {"broker": {"kind": "kafka"}}))
    assert endpoints.load(path).broker.exact_end_offsets is True
    path.write_bytes(orjson.dumps(doc))  # a stack file from before brokers had kinds: Tansu
    assert endpoints.load(path).broker.exact_end_offsets is False
    path.write_bytes(orjson.dumps(doc | {"broker": {"kind": "redpanda"}}))
    with pytest.raises(endpoints.ReplayError, match="malformed"):
        endpoints.load(path)
