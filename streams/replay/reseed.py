"""``reseed``: refill an empty log from one or more regions' event archives.

Each archived body is republished byte for byte to its original topic, keyed by the envelope's
user id, partition by partition in original offset order; so every user's events keep their
order. Merging several archives dedupes by event id (the first copy seen wins). Each record keeps
the event's own time as its timestamp, so ``replay --since`` works on the new log too.

Progress counts archive rows against their total. Where end offsets are exact (Kafka), the log is
counted again afterwards: it must hold what it held before plus exactly what was published (the
idempotent producer writes a retried batch once), else the exit code is 2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import names
from schemas.broker import CONSUMER_METADATA_MAX_AGE_MS, BrokerProfile
from schemas.dsn import redact
from schemas.epoch import epoch_ms
from schemas.settings import Settings
from schemas.topics import TopicError, ensure_topics
from streams.replay.endpoints import Endpoints, RegionStores, ReplayError
from streams.replay.log import event_partitions
from streams.replay.progress import Reporter, reporter

_T = names.TABLE_EVENT_ARCHIVE
_PARTITIONS = f"SELECT DISTINCT topic, log_partition FROM {_T}"  # noqa: S608
_COUNT = f"SELECT count(*) FROM {_T}"  # noqa: S608
_ROWS = (
    f"SELECT event_id::text, type, user_id, occurred_at, log_offset, body FROM {_T} "  # noqa: S608
    "WHERE topic = $1 AND log_partition = $2 ORDER BY log_offset"
)


@dataclass
class ReseedSummary:
    published: int = 0
    duplicates: int = 0
    corrupt: list[str] = field(default_factory=list)
    seconds: float = 0.0
    held_before: int = 0
    """Events the log held before (non-zero only with ``--force``)."""
    in_log: int | None = None
    """Events the log holds afterwards, from its end offsets; None where those are wrong."""

    @property
    def rows(self) -> int:
        """Archive rows handled so far, whatever became of them."""
        return self.published + self.duplicates + len(self.corrupt)

    @property
    def miscounted(self) -> bool:
        """The log does not hold exactly what it held plus what was published."""
        return self.in_log is not None and self.in_log != self.held_before + self.published


async def run(endpoints: Endpoints, regions: Sequence[str], force: bool, settings: Settings) -> int:
    sources = [endpoints.region(r) for r in regions]
    if not sources:
        raise ReplayError("--from-region names no region")
    bootstrap = endpoints.kafka_bootstrap
    started = time.perf_counter()
    held = await _prepare_topics(bootstrap, settings, force)
    connections = [await _connect(source) for source in sources]
    try:
        summary = await _republish(bootstrap, connections, endpoints.broker)
    finally:
        for conn in connections:
            await conn.close()
    summary.held_before = held
    if endpoints.broker.exact_end_offsets:
        summary.in_log = await _events_held(bootstrap)
    summary.seconds = time.perf_counter() - started
    print(render(regions, bootstrap, summary))
    return 2 if summary.corrupt or summary.miscounted else 0


def render(regions: Sequence[str], bootstrap: str, summary: ReseedSummary) -> str:
    lines = [
        f"reseed from {', '.join(regions)} into {bootstrap} finished in {summary.seconds:.1f} s",
        f"  events published       {summary.published:>10,}",
        f"  duplicates skipped     {summary.duplicates:>10,}",
        f"  corrupt rows skipped   {len(summary.corrupt):>10,}",
    ]
    if summary.in_log is not None:
        lines.append(f"  events now in the log  {summary.in_log:>10,}")
    lines.extend(f"  corrupt: {text}" for text in summary.corrupt)
    if summary.corrupt:
        lines.append(f"exit 2: {len(summary.corrupt)} archive row(s) could not be republished")
    if summary.miscounted:
        expected = summary.held_before + summary.published
        lines.append(f"exit 2: the log holds {summary.in_log:,} events, not {expected:,}")
    return "\n".join(lines)


async def _prepare_topics(bootstrap: str, settings: Settings, force: bool) -> int:
    """Create missing topics; returns how many events the log holds (see ``_events_held``).

    Raises ReplayError if the broker is unreachable, or the log is not empty and not ``force``.
    """
    try:
        await ensure_topics(bootstrap, settings.topic_partitions, settings.topic_replication)
        held = await _events_held(bootstrap)
    except (KafkaError, OSError, TopicError) as exc:
        raise ReplayError(f"cannot reach the broker at {bootstrap}: {exc}") from None
    if held and not force:
        raise ReplayError(
            f"the event topics on {bootstrap} already hold events: reseeding would add a "
            "second copy (pass --force to publish anyway)"
        )
    return held


async def _events_held(bootstrap: str) -> int:
    # Of Tansu's ListOffsets only "empty or not" is used: its end offset is wrong (first offset
    # of the newest batch + 1) but still non-zero exactly when a partition holds something.
    # Kafka's is exact, so there the sum is the number of events held.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        metadata_max_age_ms=CONSUMER_METADATA_MAX_AGE_MS,
    )
    await consumer.start()
    try:
        parts = await event_partitions(consumer)
        if not parts:
            return 0
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        return sum(max(0, ends[tp] - starts[tp]) for tp in parts)
    finally:
        await consumer.stop()


async def _connect(source: RegionStores) -> Any:
    try:
        return await asyncpg.connect(source.postgres_dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ReplayError(
            f"cannot reach region {source.name}'s Postgres at {redact(source.postgres_dsn)}: {exc}"
        ) from None


async def _republish(
    bootstrap: str, connections: list[Any], broker: BrokerProfile
) -> ReseedSummary:
    summary = ReseedSummary()
    seen: set[str] = set()
    total = sum([int(await conn.fetchval(_COUNT)) for conn in connections])
    progress = reporter("reseed")
    progress.update(0, total)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=1024 * 1024,
        **broker.producer_options(),  # idempotent on Kafka: a retried batch is not written twice
    )
    try:
        await producer.start()
        for topic, partition in await _partitions(connections):
            rows = await _partition_rows(connections, topic, partition)
            for row in rows:
                await _publish_row(producer, topic, row, seen, summary)
                _tell(progress, summary, total)
        await producer.flush()
    except KafkaError as exc:
        raise ReplayError(f"publishing to {bootstrap} failed: {exc}") from None
    finally:
        progress.close()
        await producer.stop()
    return summary


def _tell(progress: Reporter, summary: ReseedSummary, total: int) -> None:
    # Every 1,000 rows and the last: a bar redrawn per row costs more than publishing the row.
    if summary.rows % 1000 == 0 or summary.rows == total:
        progress.update(summary.rows, total - summary.rows)


async def _partitions(connections: list[Any]) -> list[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for conn in connections:
        found.update((r["topic"], r["log_partition"]) for r in await conn.fetch(_PARTITIONS))
    return sorted(found)


async def _partition_rows(connections: list[Any], topic: str, partition: int) -> list[Any]:
    # Archives of regions that consumed the same log agree on positions; merging them by
    # offset keeps the original order. One partition at a time bounds memory.
    rows = [row for conn in connections for row in await conn.fetch(_ROWS, topic, partition)]
    rows.sort(key=lambda r: (r["log_offset"], r["event_id"]))
    return rows


async def _publish_row(
    producer: AIOKafkaProducer, topic: str, row: Any, seen: set[str], summary: ReseedSummary
) -> None:
    event_id = row["event_id"]
    if event_id in seen:
        summary.duplicates += 1
        return
    problem = _corruption(row)
    if problem:
        # Not marked as seen: another region's intact copy of the event can still be used.
        summary.corrupt.append(f"{event_id} ({topic}/{row['log_offset']}): {problem}")
        return
    seen.add(event_id)
    timestamp_ms = epoch_ms(row["occurred_at"])
    await producer.send(
        topic, value=bytes(row["body"]), key=row["user_id"].encode(), timestamp_ms=timestamp_ms
    )
    summary.published += 1


def _corruption(row: Any) -> str:
    """Why an archived body cannot be the event its row describes ('' if it can).

    Structure only, not the codec: an event type this version cannot read is still republished,
    so a newer projector can read it from the rebuilt log.
    """
    try:
        doc = orjson.loads(row["body"])
    except orjson.JSONDecodeError:
        return "body is not valid JSON (truncated or corrupted)"
    if not isinstance(doc, dict):
        return "body is not a JSON object"
    for name in ("event_id", "user_id", "type"):
        if doc.get(name) != row[name]:
            return f"body {name} does not match the archive row"
    return ""
