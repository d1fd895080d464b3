"""Session writes travel as one script call per run of operations: the outcome must be the one
the operations give applied one by one, in order (also around operations outside the run), and
a refusal inside a run must fail the batch rather than vanish."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from streams.errors import StoreUnavailable
from streams.operations import RedisHashSetIfLower, RedisSortedSetAdd, RedisWindowReset
from streams.redis_ops import RedisExecutor


def _later(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


async def test_an_operation_between_two_runs_keeps_its_place_in_the_order(
    fresh_redis_url: str,
) -> None:
    redis = Redis.from_url(fresh_redis_url)
    try:
        index = "usess:v1:u-order"
        await RedisExecutor(redis).apply(
            [
                RedisSortedSetAdd(index, member="before", score=1, expire_at=_later()),
                RedisWindowReset(index),  # not batchable: deletes what the first run wrote
                RedisSortedSetAdd(index, member="after", score=2, expire_at=_later()),
            ]
        )
        assert await redis.zrange(index, 0, -1) == [b"after"]
    finally:
        await redis.aclose()


async def test_a_run_gives_the_earliest_wins_outcome_in_either_order(fresh_redis_url: str) -> None:
    redis = Redis.from_url(fresh_redis_url)
    try:
        early = {"start_event_id": "01-early", "client_id": "a"}
        late = {"start_event_id": "02-late", "client_id": "b"}
        for key, order in (("sess:v1:x", (late, early)), ("sess:v1:y", (early, late))):
            await RedisExecutor(redis).apply(
                [
                    RedisHashSetIfLower(key, fields, "start_event_id", expire_at=_later())
                    for fields in order
                ]
            )
            assert await redis.hget(key, "client_id") == b"a"
            assert await redis.ttl(key) > 0
    finally:
        await redis.aclose()


async def test_an_expired_operation_in_a_run_is_skipped_and_the_rest_applied(
    fresh_redis_url: str,
) -> None:
    redis = Redis.from_url(fresh_redis_url)
    try:
        await RedisExecutor(redis).apply(
            [
                RedisHashSetIfLower("sess:v1:gone", {"e": "1"}, "e", expire_at=_later(-10)),
                RedisSortedSetAdd("usess:v1:kept", member="s", score=5, expire_at=_later()),
            ]
        )
        assert await redis.exists("sess:v1:gone") == 0
        assert await redis.zscore("usess:v1:kept", "s") == 5
    finally:
        await redis.aclose()


async def test_a_wrong_type_key_inside_a_run_fails_the_batch(fresh_redis_url: str) -> None:
    redis = Redis.from_url(fresh_redis_url)
    try:
        await redis.set("usess:v1:string", "not a sorted set")
        with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
            await RedisExecutor(redis).apply(
                [
                    RedisSortedSetAdd("usess:v1:fine", member="s", score=1, expire_at=_later()),
                    RedisSortedSetAdd("usess:v1:string", member="s", score=1, expire_at=_later()),
                ]
            )
        assert await redis.zscore("usess:v1:fine", "s") == 1  # idempotent: kept for the retry
    finally:
        await redis.aclose()
