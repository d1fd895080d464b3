"""The refresh grant's one Redis read: the session's state and its user's disabled flag."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from schemas import names
from services.login.refresh_state import RefreshState, RefreshStates
from streams.wiring import create_engine

SESSION = "0190f1e2-0000-7000-8000-000000000001"
USER = "u-1"
PRESENTED = "a" * 64


async def _state(redis_url: str, dsn: str, account: dict[str, str] | None) -> RefreshState | None:
    redis = Redis.from_url(redis_url)
    engine = create_engine(dsn)
    try:
        await redis.hset(
            names.redis_session_key(SESSION),
            mapping={
                "user_id": USER,
                "client_id": "web",
                "started_at": "1700000000",
                names.SESSION_EXPIRES_FIELD: "4000000000",
                names.SESSION_REFRESH_HASH_FIELD: PRESENTED,
            },
        )
        if account is not None:
            await redis.hset(names.redis_account_key(USER), mapping=dict(account.items()))
        return await RefreshStates(redis, engine).load(SESSION, PRESENTED)
    finally:
        await redis.aclose()
        await engine.dispose()


@pytest.mark.parametrize(
    ("account", "disabled"),
    [
        (None, False),
        ({names.ACCOUNT_DISABLED_FIELD: "0"}, False),
        ({names.ACCOUNT_DISABLED_FIELD: "1"}, True),
    ],
    ids=["never-disabled", "enabled-again", "disabled"],
)
async def test_the_state_carries_whether_its_user_is_disabled(
    fresh_redis_url: str, fresh_postgres_dsn: str, account: dict[str, str] | None, disabled: bool
) -> None:
    state = await _state(fresh_redis_url, fresh_postgres_dsn, account)
    assert state is not None
    assert state.user_disabled is disabled
    assert state.presented_live
