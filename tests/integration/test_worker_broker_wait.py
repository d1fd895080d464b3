"""A projector started while its broker is unreachable waits (with backoff) instead of dying,
and projects as soon as the broker appears."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from schemas import names
from schemas.identity import user_id_for
from services.devstack.broker import start_broker
from services.devstack.process import free_port
from tests.integration.test_projector_support import registration
from tests.integration.test_projector_worker import (
    eventually,
    producer,
    send,
    start_worker,
    worker_settings,
)


async def test_a_worker_started_before_its_broker_waits_for_it_then_projects(
    fresh_redis_url: str, fresh_postgres_dsn: str, tmp_path: Path
) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    settings = worker_settings(bootstrap, fresh_redis_url, fresh_postgres_dsn)
    worker = start_worker(settings, tmp_path / "worker.log")
    redis = Redis.from_url(fresh_redis_url)
    broker = None
    try:
        log = tmp_path / "worker.log"
        await eventually(
            lambda: _retried_twice(log), 30, "two logged retries (or the worker's exit)"
        )
        assert worker.alive(), f"the worker died without a broker:\n{worker.log_tail()}"

        broker = await asyncio.to_thread(
            start_broker, tmp_path / "broker", die_with_parent=True, fixed_port=port
        )
        async with producer(bootstrap) as client:
            await eventually(lambda: _topic_exists(client), 30, "topics made by the worker")
            await send(client, registration("late-broker"))
        user_key = names.redis_user_key(user_id_for("late-broker"))
        await eventually(lambda: _exists(redis, user_key), 40, "the registration projected")
    finally:
        await redis.aclose()
        worker.stop()
        if broker is not None:
            broker.stop(timeout=0.2)


async def _retried_twice(log: Path) -> bool:
    text = await asyncio.to_thread(lambda: log.read_text() if log.exists() else "")
    return text.count("retrying") >= 2 or "Traceback" in text


async def _topic_exists(client: object) -> bool:
    topics = await client.client.fetch_all_metadata()  # type: ignore[attr-defined]
    return names.TOPIC_EVENTS in topics.topics()


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))
