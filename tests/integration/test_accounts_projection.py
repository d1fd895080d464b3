"""Account, key-status and login-failure projections against real Redis and Postgres: the real
executors implement the latest-wins, NULL-group and sliding-window operations."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from schemas import names, tables
from schemas.envelope import Envelope
from schemas.events import (
    LockoutLifted,
    LoginFailed,
    PasswordChanged,
    SigningKeyRetired,
    SigningKeyRevoked,
    UserDisabled,
    UserEnabled,
)
from schemas.identity import user_id_for
from streams.wiring import create_engine
from tests.integration.test_projector_support import (
    as_log,
    event,
    postgres_state,
    projector_on,
    redis_state,
)

ALICE = user_id_for("alice")


async def account_row(dsn: str) -> dict[str, Any]:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            (row,) = (await conn.execute(select(tables.user_accounts))).mappings().all()
    finally:
        await engine.dispose()
    return dict(row)


def account_log() -> list[Envelope]:
    return [
        event(PasswordChanged(password_hash="h-old", changed_by="user"), "alice", ms_ago=5000),
        event(UserDisabled(reason="left", changed_by="op"), "alice", ms_ago=4000),
        event(LockoutLifted(unlocked_by="op"), "alice", ms_ago=3500),
        event(PasswordChanged(password_hash="h-new", changed_by="op"), "alice", ms_ago=3000),
        event(UserEnabled(changed_by="op"), "alice", ms_ago=2000),
        event(LockoutLifted(unlocked_by="op"), "alice", ms_ago=1000),
    ]


async def test_the_latest_account_changes_win_in_any_order_and_on_replay(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    envelopes = account_log()
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        shuffled = envelopes * 2
        random.Random(4).shuffle(shuffled)
        await stores.projector.apply(as_log(shuffled))
        account = await stores.redis.hgetall(names.redis_account_key(ALICE))
        redis_once = await redis_state(stores.redis)
        pg_once = await postgres_state(fresh_postgres_dsn)
        await stores.projector.apply(as_log(envelopes))  # in order, again
        assert await redis_state(stores.redis) == redis_once
        assert await postgres_state(fresh_postgres_dsn) == pg_once
    assert account[b"password_hash"] == b"h-new"
    assert account[b"disabled"] == b"0"
    latest_unlock = envelopes[-1].occurred_at
    assert int(account[b"unlocked_at_ms"]) == int(latest_unlock.timestamp() * 1000)
    row = await account_row(fresh_postgres_dsn)
    assert row["password_hash"] == "h-new"
    assert row["disabled"] is False
    assert row["unlocked_at"] == latest_unlock
    # Both password changes and the disable revoked what was issued before them.
    assert len(pg_once[names.TABLE_REVOCATIONS]) == 3


async def test_an_unlock_projected_before_the_disable_leaves_each_group_to_its_own_event(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    unlock = event(LockoutLifted(unlocked_by="op"), "alice", ms_ago=10)
    disable = event(UserDisabled(reason="x", changed_by="op"), "alice", ms_ago=500)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([unlock]))
        await stores.projector.apply(as_log([disable], first_offset=1))
        account = await stores.redis.hgetall(names.redis_account_key(ALICE))
    assert account[b"disabled"] == b"1"
    assert b"unlocked_at_ms" in account
    row = await account_row(fresh_postgres_dsn)
    assert row["disabled"] is True  # the disable reached the row an unlock had created
    assert row["unlock_event_id"] == unlock.event_id


async def test_failures_count_once_per_event_and_expire_with_their_window(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    failures = [
        event(LoginFailed(client_ip="198.51.100.7"), "alice", region=r, ms_ago=i * 100)
        for i, r in enumerate(["eu", "us", "us"])
    ]
    ancient = event(LoginFailed(client_ip="198.51.100.7"), "alice", ms_ago=3 * 24 * 3600 * 1000)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([*failures, ancient, *failures]))
        redis: Redis = stores.redis
        user_key = names.redis_login_failures_user_key(ALICE)
        assert await redis.zcard(user_key) == 3
        assert await redis.zcard(names.redis_login_failures_ip_key("198.51.100.7")) == 3
        ttl = await redis.ttl(user_key)
        assert timedelta(hours=23) < timedelta(seconds=ttl) <= timedelta(hours=24, seconds=2)
    pg = await postgres_state(fresh_postgres_dsn)
    assert len(pg[names.TABLE_LOGIN_FAILURES]) == 4  # the durable record keeps even the old one


async def test_a_revoked_key_is_recorded_for_good_and_a_retired_one_listed(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    revoked = event(SigningKeyRevoked(kid="k-eu", reason="leaked", revoked_by="op"), None)
    retired = event(SigningKeyRetired(kid="k-old", region="eu"), None)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([revoked, retired, revoked]))
        redis: Redis = stores.redis
        assert await redis.hget(names.redis_revoked_signing_key_key("k-eu"), "reason") == b"leaked"
        assert await redis.ttl(names.redis_revoked_signing_key_key("k-eu")) == -1
        assert await redis.hkeys(names.redis_revoked_signing_keys_key()) == [b"k-eu"]
        assert await redis.hkeys(names.redis_retired_signing_keys_key()) == [b"k-old"]
    pg = await postgres_state(fresh_postgres_dsn)
    assert len(pg[names.TABLE_SIGNING_KEY_STATUS]) == 2
