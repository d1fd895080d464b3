"""Rebuild rate: events/s replayed from the log into Redis + Postgres, against the raw batched
write floor measured in the same run, and how the time grows with the size of the log.

Each count is replayed by the real tool (``streams.replay``: consumer, projector, checkpoints)
into a fresh migrated database and Redis db; the log grows on one broker between counts (the
first N events, then more up to the next count), so each replay reads exactly ``count`` events.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from bench.projector import make_events, run_floor
from bench.report import figure, heading, ratio
from schemas import names
from schemas.topics import ensure_topics
from services.devstack.infra import RegionInfra
from streams.record import RawEvent
from streams.replay.endpoints import Endpoints, RegionStores
from streams.replay.replay import ReplayOptions, replay

PARTITIONS = 8


async def _publish(bootstrap: str, events: Sequence[RawEvent]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        for event in events:
            await producer.send(names.TOPIC_EVENTS, event.value, key=event.key)
        await producer.flush()
    finally:
        await producer.stop()


async def _replay_once(infra: RegionInfra, bootstrap: str, count: int) -> float:
    stores = RegionStores("bench", infra.fresh_redis_url(), infra.fresh_postgres_dsn("replay"))
    endpoints = Endpoints(bootstrap, {"bench": stores})
    started = time.perf_counter()
    summary = await replay(endpoints, ReplayOptions(region="bench", plain_progress=True))
    took = time.perf_counter() - started
    if summary.read != count or summary.deadlettered:
        sys.exit(f"replay read {summary.read} of {count}, dead-lettered {summary.deadlettered}")
    return took


async def bench_replay(
    infra: RegionInfra, bootstrap: str, counts: Sequence[int] = (50_000, 200_000)
) -> None:
    heading(
        "replay: events/s rebuilt from the log into Redis + Postgres",
        f"{', '.join(f'{c:,}' for c in counts)} session.started events on a {PARTITIONS}-partition "
        "topic, each replayed by streams.replay (batches of 5,000, checkpoint per batch, "
        "wall time incl. migrate + consumer start) into a fresh database and Redis db; floor = "
        f"bench.projector.run_floor on the same {max(counts):,} events",
    )
    await ensure_topics(bootstrap, PARTITIONS, 1)
    events = make_events(max(counts), users=max(counts) // 4)
    timings: dict[int, float] = {}
    published = 0
    for count in sorted(counts):
        await _publish(bootstrap, events[published:count])
        published = count
        timings[count] = await _replay_once(infra, bootstrap, count)
    floor = await run_floor(events, infra.fresh_redis_url(), infra.fresh_postgres_dsn("rfloor"))
    figure("raw batched write floor", floor, "events/s")
    for count, took in timings.items():
        figure(f"replay of {count:,} events", count / took, "events/s")
        figure(f"  time for {count:,}", took, "s")
    largest, smallest = max(counts), min(counts)
    ratio("replay / floor (largest)", largest / timings[largest], floor, ">= 0.5")
    growth = timings[largest] / timings[smallest]
    figure(
        f"time growth {smallest:,} -> {largest:,}", growth, f"x (linear: {largest / smallest:.1f})"
    )
