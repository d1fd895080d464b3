"""``python -m streams.worker`` on a real Tansu broker, Redis and Postgres: it projects what is
produced, dead-letters garbage, and a SIGKILL mid-stream loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from redis.asyncio import Redis
from sqlalchemy import Table, func, select

from schemas import names, tables
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.devstack.process import ManagedProcess, free_port, spawn
from streams.wiring import create_engine
from tests.integration.test_projector_support import registration, session_start

REPO = Path(__file__).resolve().parents[2]


def worker_settings(broker: str, redis_url: str, dsn: str, metrics_port: int = 0) -> Settings:
    return Settings(
        region="eu",
        kafka_bootstrap=broker,
        redis_url=redis_url,
        postgres_dsn=dsn,
        topic_partitions=4,
        projector_metrics_port=metrics_port,
        broker_session_timeout_s=3.0,
        broker_heartbeat_interval_s=0.5,
    )


def start_worker(settings: Settings, log_path: Path) -> ManagedProcess:
    env = {**os.environ, **settings.to_env(), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "streams.worker"]
    return spawn("projector", argv, log_path=log_path, env=env, cwd=REPO, die_with_parent=True)


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float, what: str, every: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


@asynccontextmanager
async def producer(broker: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=0)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def send(client: AIOKafkaProducer, envelope: Envelope) -> None:
    await client.send_and_wait(names.TOPIC_EVENTS, encode(envelope), key=envelope.partition_key)


async def row_count(dsn: str, table: Table) -> int:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
    finally:
        await engine.dispose()


async def test_worker_projects_events_dead_letters_garbage_and_serves_metrics(
    fresh_broker: str, fresh_redis_url: str, fresh_postgres_dsn: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = worker_settings(fresh_broker, fresh_redis_url, fresh_postgres_dsn, port)
    await ensure_topics(fresh_broker, settings.topic_partitions, 1)
    worker = start_worker(settings, tmp_path / "worker.log")
    redis = Redis.from_url(fresh_redis_url)
    try:
        heartbeat = names.redis_projector_heartbeat_key("eu")
        await eventually(lambda: _exists(redis, heartbeat), 30, "the projector heartbeat")
        async with producer(fresh_broker) as client:
            latencies = [await _projected_after(client, redis, i) for i in range(20)]
            await client.send_and_wait(names.TOPIC_EVENTS, b"not an event", key=b"k")
        await eventually(lambda: _deadletter_rows(fresh_postgres_dsn, 1), 10, "a dead letter")
        assert 0 < await redis.ttl(heartbeat) <= 10
        letter = await _first_deadletter(fresh_broker)
        async with httpx.AsyncClient() as http:
            exposition = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        await redis.aclose()
        worker.stop()
    print(f"produce->projected latency p50 {statistics.median(latencies) * 1000:.1f} ms")
    # faust's own fetch_max_wait (1500 ms) would put the median near 370 ms on Tansu.
    assert statistics.median(latencies) < 0.2
    assert letter.value == b"not an event"
    headers = dict(letter.headers)
    assert headers[names.HEADER_DEADLETTER_REASON].startswith(b"decode:")
    assert headers[names.HEADER_DEADLETTER_REGION] == b"eu"
    assert 'authplane_projector_events_applied_total{type="user.registered"} 20.0' in exposition
    assert 'authplane_projector_deadlettered_total{reason="decode"} 1.0' in exposition
    assert worker.popen.returncode == 0, worker.log_tail()


async def test_a_worker_killed_mid_stream_archives_every_event_exactly_once(
    fresh_broker: str, fresh_redis_url: str, fresh_postgres_dsn: str, tmp_path: Path
) -> None:
    total = 2000
    settings = worker_settings(fresh_broker, fresh_redis_url, fresh_postgres_dsn)
    await ensure_topics(fresh_broker, settings.topic_partitions, 1)
    envelopes = [registration(f"user{i}") for i in range(total // 2)]
    envelopes += [session_start(f"user{i}", f"s-{i}") for i in range(total // 2)]
    workers = [start_worker(settings, tmp_path / "worker-1.log")]
    redis = Redis.from_url(fresh_redis_url)
    try:
        heartbeat = names.redis_projector_heartbeat_key("eu")
        await eventually(lambda: _exists(redis, heartbeat), 30, "the projector heartbeat")
        async with producer(fresh_broker) as client:
            writing = asyncio.create_task(_produce_slowly(client, envelopes))
            try:
                await eventually(lambda: _archived_at_least(fresh_postgres_dsn, 200), 40, "a start")
                assert not writing.done(), "the kill must land while events are still produced"
                workers[0].popen.send_signal(signal.SIGKILL)
                workers[0].popen.wait(5)
                workers.append(start_worker(settings, tmp_path / "worker-2.log"))
            finally:
                await writing
        await eventually(lambda: _archived_at_least(fresh_postgres_dsn, total), 60, "all events")
        await asyncio.sleep(1.0)  # anything still arriving would be a duplicate
        assert await row_count(fresh_postgres_dsn, tables.event_archive) == total
        users = [k async for k in redis.scan_iter(match="user:v1:*", count=1000)]
        sessions = [k async for k in redis.scan_iter(match="sess:v1:*", count=1000)]
    finally:
        await redis.aclose()
        for worker in workers:
            worker.stop()
    assert (len(users), len(sessions)) == (total // 2, total // 2)
    assert await row_count(fresh_postgres_dsn, tables.users) == total // 2
    assert await row_count(fresh_postgres_dsn, tables.sessions) == total // 2


async def _produce_slowly(client: AIOKafkaProducer, envelopes: list[Envelope]) -> None:
    # Spread over a few seconds so the kill lands while events are still being written.
    for start in range(0, len(envelopes), 20):
        chunk = envelopes[start : start + 20]
        futures = [
            await client.send(names.TOPIC_EVENTS, encode(e), key=e.partition_key) for e in chunk
        ]
        await asyncio.gather(*futures)
        await asyncio.sleep(0.05)


async def _projected_after(client: AIOKafkaProducer, redis: Redis, i: int) -> float:
    envelope = registration(f"latency{i}")
    key = names.redis_user_key(envelope.user_id)
    started = time.perf_counter()
    await send(client, envelope)
    await eventually(lambda: _exists(redis, key), 10, "the projected user", every=0.001)
    return time.perf_counter() - started


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))


async def _archived_at_least(dsn: str, n: int) -> bool:
    return await row_count(dsn, tables.event_archive) >= n


async def _deadletter_rows(dsn: str, n: int) -> bool:
    return await row_count(dsn, tables.deadletters) == n


async def _first_deadletter(broker: str) -> ConsumerRecord[bytes, bytes]:
    consumer = AIOKafkaConsumer(
        names.TOPIC_DEADLETTER, bootstrap_servers=broker, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        return await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
