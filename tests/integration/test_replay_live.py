"""Replay never races a region's live projector: it refuses, or pauses a real worker."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from schemas import names, tables
from schemas.identity import user_id_for
from services.devstack.infra import RegionStores
from tests.integration.replay_harness import engine_cli, one_error_line, publish, write_stack_file
from tests.integration.test_projector_support import registration
from tests.integration.test_projector_worker import (
    eventually,
    row_count,
    start_worker,
    worker_settings,
)


async def _user_cached(redis: Redis, username: str) -> bool:
    return bool(await redis.exists(names.redis_user_key(user_id_for(username))))


async def test_replay_refuses_a_live_worker_and_pauses_it_on_request(
    tmp_path: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> None:
    eu = fresh_region_stores["eu"]
    stack_file = write_stack_file(tmp_path / "stack.json", fresh_broker, fresh_region_stores)
    await publish(fresh_broker, [registration("ann")])
    worker = start_worker(
        worker_settings(fresh_broker, eu.redis_url, eu.postgres_dsn), tmp_path / "w.log"
    )
    redis = Redis.from_url(eu.redis_url)
    try:
        await eventually(lambda: _user_cached(redis, "ann"), 30, "the worker to project")
        beat = names.redis_projector_heartbeat_key("eu")
        await eventually(lambda: _exists(redis, beat), 10, "the worker's heartbeat")

        refused = await engine_cli(stack_file, "replay", "--region", "eu")
        paused = await engine_cli(stack_file, "replay", "--region", "eu", "--pause-live")

        assert refused.returncode == 1
        assert "live projector is consuming" in one_error_line(refused.stderr)
        assert paused.returncode == 0, paused.stdout + paused.stderr
        assert not await redis.exists(names.redis_projector_pause_key("eu"))

        # While a pause lease is held the worker acknowledges it and applies nothing...
        await redis.set(names.redis_projector_pause_key("eu"), "lease-1", ex=30)
        ack = names.redis_projector_paused_key("eu")
        await eventually(lambda: _equals(redis, ack, b"lease-1"), 10, "the pause ack")
        await publish(fresh_broker, [registration("ben")])
        await eventually(lambda: _equals(redis, ack, b"lease-1"), 3, "the ack while held")
        assert not await _user_cached(redis, "ben")
        # ...and resumes as soon as it ends.
        await redis.delete(names.redis_projector_pause_key("eu"))
        await eventually(lambda: _user_cached(redis, "ben"), 15, "the worker to resume")
        assert await row_count(eu.postgres_dsn, tables.users) == 2
    finally:
        worker.stop()
        await redis.aclose()


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))


async def _equals(redis: Redis, key: str, value: bytes) -> bool:
    return bool(await redis.get(key) == value)
