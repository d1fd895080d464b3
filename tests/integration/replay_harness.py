"""Support for the replay tests (no tests here): a stack file over fixture stores, the engine
run as an operator runs it, and events put straight onto a broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from schemas import names
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.identity import user_id_for
from schemas.topics import ensure_topics
from services.devstack.infra import RegionStores

PARTITIONS = 4


def write_stack_file(path: Path, bootstrap: str, stores: dict[str, RegionStores]) -> Path:
    regions = {
        name: {"redis_url": s.redis_url, "postgres_dsn": s.postgres_dsn, "login_url": ""}
        for name, s in stores.items()
    }
    path.write_bytes(orjson.dumps({"kafka_bootstrap": bootstrap, "regions": regions}))
    return path


async def engine_cli(stack_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m streams.replay`` (what every ``authplane`` recovery command runs)."""
    env = {**os.environ, "AUTHPLANE_TOPIC_PARTITIONS": str(PARTITIONS)}
    argv = [sys.executable, "-m", "streams.replay", "--stack-file", str(stack_file), *args]
    return await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def publish(
    bootstrap: str, items: Sequence[Envelope | bytes], topic: str = names.TOPIC_EVENTS
) -> None:
    """Envelopes keyed by user; raw bytes (bad input) keyed ``bad``."""
    await ensure_topics(bootstrap, PARTITIONS, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        for item in items:
            if isinstance(item, bytes):
                await producer.send(topic, item, key=b"bad")
            else:
                await producer.send(topic, encode(item), key=item.partition_key)
        await producer.flush()
    finally:
        await producer.stop()


def number(output: str, label: str) -> str:
    for line in output.splitlines():
        if line.strip().startswith(label):
            return line.split()[-1]
    raise AssertionError(f"no {label!r} line in:\n{output}")


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


async def damage(
    stack_file: Path, region: str, *, missing_user: str, changed_user: str, extra_session: str
) -> None:
    """Drift a region by hand: lose a Postgres user row, alter a cached user, add a session."""
    doc = orjson.loads(await asyncio.to_thread(stack_file.read_bytes))["regions"][region]
    conn = await asyncpg.connect(doc["postgres_dsn"])
    try:
        table = names.TABLE_USERS
        await conn.execute(f"DELETE FROM {table} WHERE username = $1", missing_user)  # noqa: S608
    finally:
        await conn.close()
    redis = Redis.from_url(doc["redis_url"])
    try:
        await redis.hset(names.redis_user_key(user_id_for(changed_user)), "username", "mallory")
        await redis.hset(names.redis_session_key(extra_session), "session_id", extra_session)
    finally:
        await redis.aclose()
