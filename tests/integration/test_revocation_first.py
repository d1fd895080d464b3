"""The revocation topic's projector makes a revocation visible where checks read it (Redis)
without waiting for Postgres: a slow or busy Postgres must not delay a revocation in Redis."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
from redis.asyncio import Redis

from schemas import names
from schemas.envelope import utc_now
from schemas.events import SessionRevoked
from streams.wiring import build_projectors, create_engine, create_redis
from tests.integration.test_projector_support import RecordingDeadLetters, as_log, event

WITHIN_S = 20.0
"""How long the revocation may take to appear in Redis while Postgres is held (s): far more
than it needs, so only a revocation that waits for Postgres fails the test."""


async def _appears(redis: Redis, key: str) -> bool:
    deadline = asyncio.get_running_loop().time() + WITHIN_S
    while asyncio.get_running_loop().time() < deadline:
        if await redis.exists(key):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_revocation_reaches_redis_while_postgres_is_held(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    engine, redis = create_engine(fresh_postgres_dsn), create_redis(fresh_redis_url)
    letters = RecordingDeadLetters()
    _, revocations = build_projectors(engine, redis, letters, max_skew_s=300)
    revoked = event(SessionRevoked("s-held", "r", "op", utc_now() + timedelta(hours=1)), "alice")
    holder = await asyncpg.connect(fresh_postgres_dsn)
    try:
        holding = holder.transaction()
        await holding.start()
        # Every write of the batch's Postgres transaction waits until this lock is released.
        await holder.execute(f"LOCK TABLE {names.TABLE_REVOCATIONS} IN ACCESS EXCLUSIVE MODE")
        applying = asyncio.create_task(revocations.apply(as_log([revoked])))
        try:
            seen = await _appears(redis, names.redis_revoked_session_key("s-held"))
            assert not applying.done(), "Postgres was held: the batch cannot have finished"
        finally:
            await holding.rollback()
        result = await asyncio.wait_for(applying, WITHIN_S)
        assert seen, "the revocation waited for Postgres before reaching Redis"
        assert (result.applied, letters.letters) == (1, [])
        rows = await holder.fetchval(
            f"SELECT count(*) FROM {names.TABLE_REVOCATIONS} WHERE subject = 's-held'"  # noqa: S608
        )
        assert rows == 1, "Postgres holds the revocation once it is released"
    finally:
        await holder.close()
        await redis.aclose()
        await engine.dispose()
