"""``replay``: rebuild a region's projections from the log with the live projector's reducers.

Batches go through the same ``Projector`` the live worker uses (decode -> reduce -> execute,
dead letters with reasons), behind a ``--target`` filter. After each batch is in the stores the
per-partition positions are saved, so an interrupted replay resumes and redoes at most one
batch; every operation is idempotent, so redoing it changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.settings import DEFAULT_MAX_EVENT_SKEW_S
from streams.deadletter import DeadLetter
from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projector import Projector
from streams.redis_ops import RedisExecutor
from streams.replay import checkpoint, live
from streams.replay.endpoints import Endpoints, RegionStores
from streams.replay.log import LogReader
from streams.replay.progress import reporter
from streams.replay.stores import OpenStores, open_stores
from streams.replay.targets import Target, TargetExecutor


@dataclass(frozen=True)
class ReplayOptions:
    region: str
    target: Target = "all"
    since_ms: int | None = None
    batch_size: int = 5000
    pause_live: bool = False
    restart: bool = False
    plain_progress: bool = False
    max_event_skew_s: float = DEFAULT_MAX_EVENT_SKEW_S
    """The same bound on implausible times as the live projectors (AUTHPLANE_MAX_EVENT_SKEW_S)."""


@dataclass
class ReplaySummary:
    region: str
    target: Target
    read: int = 0
    applied: int = 0
    duplicates: int | None = 0
    deadlettered: int = 0
    older_than_since: int = 0
    seconds: float = 0.0
    reading_seconds: float = 0.0
    resumed: bool = False
    letters: list[str] = field(default_factory=list)


class CollectedDeadLetters:
    """Replay reports dead letters to the operator; the live projector already put copies of
    the same events on the dead-letter topic, so nothing is republished there."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            p = letter.event.position
            self.texts.append(f"{p.topic}/{p.partition}/{p.offset}: {letter.text}")


async def replay(endpoints: Endpoints, options: ReplayOptions) -> ReplaySummary:
    stores = endpoints.region(options.region)
    async with open_stores(stores, migrate=True) as opened:
        if options.pause_live:
            async with live.paused_live(opened.redis, stores.name):
                return await _replay(endpoints, stores, opened, options)
        await live.refuse_if_live(opened.redis, stores.name)
        return await _replay(endpoints, stores, opened, options)


async def _replay(
    endpoints: Endpoints, stores: RegionStores, opened: OpenStores, options: ReplayOptions
) -> ReplaySummary:
    started = time.perf_counter()
    if options.restart:
        await checkpoint.clear(opened.engine, options.target)
    start = await checkpoint.load(opened.engine, options.target)
    summary = ReplaySummary(stores.name, options.target, resumed=bool(start))
    letters = CollectedDeadLetters()
    inner = StoreExecutor(PostgresExecutor(opened.engine), RedisExecutor(opened.redis))
    executor = TargetExecutor(inner, opened.engine, options.target)
    projector = Projector(executor, letters, max_skew_s=options.max_event_skew_s)
    reader = LogReader(
        endpoints.kafka_bootstrap,
        options.batch_size,
        options.since_ms,
        exact_end_offsets=endpoints.broker.exact_end_offsets,
    )
    await reader.open(start)
    progress = reporter(f"replay {stores.name}", options.plain_progress)
    progress.update(0, reader.remaining())  # on Kafka the total is known from the end offsets
    reading = time.perf_counter()
    try:
        async for batch in reader.batches():
            result = await projector.apply(batch)
            summary.applied += result.applied
            summary.deadlettered += result.deadlettered
            await checkpoint.save(opened.engine, options.target, reader.positions())
            progress.update(reader.counts.read, reader.remaining())
        await checkpoint.clear(opened.engine, options.target)
    finally:
        progress.close()
        await reader.close()
    summary.read = reader.counts.read
    summary.older_than_since = reader.counts.older_than_since
    summary.duplicates = executor.duplicates if executor.counts_duplicates else None
    summary.applied -= executor.duplicates
    summary.letters = letters.texts
    summary.seconds = time.perf_counter() - started
    summary.reading_seconds = time.perf_counter() - reading
    return summary


def render(summary: ReplaySummary) -> str:
    # Over the read-and-apply loop only: start-up (migrations, connections) is not throughput.
    rate = summary.read / summary.reading_seconds if summary.reading_seconds > 0 else 0.0
    duplicates = "n/a (archive not written)" if summary.duplicates is None else summary.duplicates
    lines = [
        f"replay of region {summary.region} (target {summary.target}) "
        + ("resumed from its checkpoint, " if summary.resumed else "")
        + f"finished in {summary.seconds:.1f} s",
        f"  events read          {summary.read:>10,}",
        f"  applied              {summary.applied:>10,}",
        f"  skipped (duplicate)  {_number(duplicates)}",
        f"  dead-lettered        {summary.deadlettered:>10,}",
    ]
    if summary.older_than_since:
        lines.append(f"  older than --since   {summary.older_than_since:>10,}")
    lines.append(f"  rate                 {rate:>10,.0f} events/s")
    if summary.letters:
        lines.append("dead letters (position: reason):")
        lines.extend(f"  {text}" for text in summary.letters)
    return "\n".join(lines)


def _number(value: int | str) -> str:
    return f"{value:>10,}" if isinstance(value, int) else f"{value:>10}"
