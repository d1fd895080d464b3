"""Read every partition of the event topics, in batches, until the reader has caught up.

A plain consumer without a group: replay must not move the live projector's committed offsets.

Where the broker's end offsets are exact (Kafka, ``BrokerProfile.exact_end_offsets``), the end
of the read is fixed when it opens: ListOffsets per partition, and the read goes on until every
partition reached its end, however long a fetch stalls (a leader moving, a node just restarted);
only ``STALL_S`` s without a single record is an error. Quiet polls never end such a read: on a
cluster that had just lost a node, five quiet polls once ended a replay with most of the log
unread.

On Tansu, "caught up" is decided from the high watermark each *fetch* response carries, never
from ListOffsets: Tansu answers ListOffsets with the first offset of the newest batch + 1, which
would end a replay early. A broker that reported no high watermark at all is covered by a second
rule: several consecutive empty polls also end the read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from schemas import names
from schemas.broker import CONSUMER_METADATA_MAX_AGE_MS
from streams.record import LogPosition, RawEvent, log_time
from streams.replay.endpoints import ReplayError

POLL_MS = 200
IDLE_POLLS_TO_END = 5
STALL_S = 120.0
Offsets = dict[tuple[str, int], int]


@dataclass
class ReadCounts:
    read: int = 0
    older_than_since: int = 0


@dataclass
class LogReader:
    bootstrap: str
    batch_size: int
    since_ms: int | None = None
    exact_end_offsets: bool = False
    """Trust ListOffsets for the end of the read (``BrokerProfile.exact_end_offsets``)."""
    counts: ReadCounts = field(default_factory=ReadCounts)
    _consumer: AIOKafkaConsumer | None = None
    _next: dict[TopicPartition, int] = field(default_factory=dict)
    _ends: dict[TopicPartition, int] | None = None

    async def open(self, start: Mapping[tuple[str, int], int]) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Tansu does not wake a waiting fetch on new data: keep each wait short.
            fetch_max_wait_ms=10,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            request_timeout_ms=10_000,
            metadata_max_age_ms=CONSUMER_METADATA_MAX_AGE_MS,
        )
        try:
            await consumer.start()
            partitions = await event_partitions(consumer)
        except (KafkaError, OSError) as exc:
            await consumer.stop()
            raise ReplayError(f"cannot reach the broker at {self.bootstrap}: {exc}") from None
        self._consumer = consumer
        consumer.assign(partitions)
        for tp in partitions:
            offset = start.get((tp.topic, tp.partition))
            if offset is None:
                await consumer.seek_to_beginning(tp)
                offset = await consumer.position(tp)
            else:
                consumer.seek(tp, offset)
            self._next[tp] = offset
        if self.exact_end_offsets and partitions:
            try:
                self._ends = dict(await consumer.end_offsets(partitions))
            except KafkaError as exc:
                raise ReplayError(f"cannot read end offsets from {self.bootstrap}: {exc}") from None

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def positions(self) -> Offsets:
        """The next offset to read per partition: everything before it was handed out."""
        return {(tp.topic, tp.partition): offset for tp, offset in self._next.items()}

    def remaining(self) -> int | None:
        """Events left to read as far as the last fetches know; None until every partition
        has reported its high watermark."""
        assert self._consumer is not None
        if self._ends is not None:
            return sum(max(0, end - self._next[tp]) for tp, end in self._ends.items())
        left = 0
        for tp, offset in self._next.items():
            high = self._consumer.highwater(tp)
            if high is None:
                return None
            left += max(0, high - offset)
        return left

    async def batches(self) -> AsyncIterator[list[RawEvent]]:
        batch: list[RawEvent] = []
        idle = 0
        while True:
            fetched = await self._poll(self.batch_size - len(batch), batch)
            idle = 0 if fetched else idle + 1
            done = self.remaining() == 0 or (self._ends is None and idle >= IDLE_POLLS_TO_END)
            if self._ends is not None and idle * POLL_MS / 1000 >= STALL_S:
                raise ReplayError(
                    f"no record from {self.bootstrap} for {STALL_S:.0f}s with "
                    f"{self.remaining()} still to read"
                )
            if batch and (len(batch) >= self.batch_size or done or not fetched):
                yield batch
                batch = []
            if done:
                return

    async def _poll(self, room: int, into: list[RawEvent]) -> int:
        """Append up to ``room`` events to ``into``; returns how many records were fetched
        (events older than ``--since`` count as fetched, then are skipped)."""
        assert self._consumer is not None
        try:
            fetched = await self._consumer.getmany(timeout_ms=POLL_MS, max_records=room)
        except KafkaError as exc:
            raise ReplayError(f"reading the log from {self.bootstrap} failed: {exc}") from None
        count = 0
        for tp, records in fetched.items():
            count += len(records)
            for record in records:
                self._next[tp] = record.offset + 1
                if self.since_ms is not None and record.timestamp < self.since_ms:
                    self.counts.older_than_since += 1
                    continue
                into.append(_raw(record))
        self.counts.read += count
        return count


def _raw(record: ConsumerRecord) -> RawEvent:
    position = LogPosition(record.topic, record.partition, record.offset)
    return RawEvent(position, record.key, record.value, log_time(record.timestamp))


async def event_partitions(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """Every partition of the event topics that exist (empty list if none do).

    ``topics()`` reads the cluster's metadata into a copy; the consumer's own metadata, which
    ``partitions_for_topic`` reads, holds only topics it was told to track. Tansu answers a
    metadata request naming no topic with every topic, Kafka with none: without ``add_topic``
    a replay on Kafka found no partition and read nothing.
    """
    existing = await consumer.topics()
    wanted = [topic for topic in names.EVENT_TOPICS if topic in existing]
    for topic in wanted:
        await consumer._client.add_topic(topic)
    out: list[TopicPartition] = []
    for topic in wanted:
        numbers = consumer.partitions_for_topic(topic) or set()
        out.extend(TopicPartition(topic, p) for p in sorted(numbers))
    return out
