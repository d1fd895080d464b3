"""A session started before issue 13 keeps the four fields no reader reads until it expires; the
replay's snapshot (``authplane verify`` and ``checksum``) must not call that drift."""

from __future__ import annotations

from redis.asyncio import Redis

from schemas import names, session_hash
from streams.replay.state import redis_state


async def test_a_session_hash_from_before_the_upgrade_verifies_equal(fresh_redis_url: str) -> None:
    key = names.redis_session_key("0190f5c2-6a4e-7c3d-9b1a-2f4e6d8c0a1b")
    current = {"user_id": "u-1", "started_at": "1700000000", "start_event_id": "e-1"}
    legacy = {field: "written before the upgrade" for field in session_hash.RETIRED_FIELDS}
    redis = Redis.from_url(fresh_redis_url)
    try:
        for field, value in current.items():
            await redis.hset(key, field, value)
        rebuilt = await redis_state(redis)
        for field, value in legacy.items():
            await redis.hset(key, field, value)
        upgraded = await redis_state(redis)
        await redis.hset(key, "refresh_token_hash", "a field a reader reads")
        drifted = await redis_state(redis)
    finally:
        await redis.aclose()
    assert upgraded == rebuilt
    assert drifted != rebuilt  # only the retired fields are left out
