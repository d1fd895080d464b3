"""One token's revocation state read from a real Redis: the one-command script and the
pipeline answer alike for every combination of entries, and an account that may not run
scripts still gets right answers (through the pipeline), never a fallback to "unknown"."""

from __future__ import annotations

import itertools

import pytest
from redis.asyncio import Redis

from schemas import names
from services.core.readmodel import make_redis
from services.devstack.process import ManagedProcess
from services.verifier.rule import RevocationState
from services.verifier.store import USER_FIELDS, RedisStateReader, redis_state

pytestmark = pytest.mark.integration

LATEST = "018f0000-0000-7000-8000-000000000001"


async def _write(redis: Redis, *, session: bool, jti: bool, user: int, key: bool) -> None:
    await redis.flushdb()
    if session:
        await redis.hset(names.redis_revoked_session_key("s1"), "event_id", "e1")
    if jti:
        await redis.hset(names.redis_revoked_token_key("j1"), "event_id", "e2")
    if user == 1:
        await redis.hset(names.redis_user_not_before_key("u1"), USER_FIELDS[0], "1700000000000")
    if user == 2:
        user_key = names.redis_user_not_before_key("u1")
        await redis.hset(user_key, USER_FIELDS[0], "1700000000000")
        await redis.hset(user_key, USER_FIELDS[1], LATEST)
    if key:
        await redis.hset(names.redis_revoked_signing_key_key("k1"), "event_id", "e3")


async def test_the_script_answers_as_the_pipeline_for_every_combination(
    own_redis: ManagedProcess,
) -> None:
    redis = make_redis(own_redis.address)
    reader = RedisStateReader(redis)
    try:
        for session, jti, user, key in itertools.product((0, 1), (0, 1), (0, 1, 2), (0, 1)):
            await _write(redis, session=bool(session), jti=bool(jti), user=user, key=bool(key))
            for kid in ("", "k1", "other"):
                expected = await redis_state(redis, "u1", "s1", "j1", kid)
                assert await reader.state("u1", "s1", "j1", kid) == expected
            assert expected.session_revoked == bool(session)
            assert expected.user_revocation_id == (LATEST if user == 2 else None)
        await redis.script_flush()  # a restarted Redis forgets scripts: loaded again
        assert await reader.state("u1", "s1", "j1", "k1") == RevocationState(
            True, True, 1700000000000, True, LATEST
        )
    finally:
        await redis.aclose()


async def test_an_account_without_scripting_reads_through_the_pipeline(
    own_redis: ManagedProcess,
) -> None:
    admin = make_redis(own_redis.address)
    await admin.acl_setuser(
        "reader", enabled=True, passwords=["+reader-pw"], keys=["*"], categories=["+@read"]
    )
    host = own_redis.address.removeprefix("redis://")
    redis = make_redis(f"redis://reader:reader-pw@{host}")
    reader = RedisStateReader(redis)
    try:
        await _write(admin, session=True, jti=False, user=2, key=False)
        for _ in range(2):  # the first answer after the refusal, and every one after it
            assert await reader.state("u1", "s1", "j1", "k1") == RevocationState(
                True, False, 1700000000000, False, LATEST
            )
        await admin.delete(names.redis_revoked_session_key("s1"))
        assert not (await reader.state("u1", "s1", "j1")).session_revoked
    finally:
        await redis.aclose()
        await admin.aclose()
