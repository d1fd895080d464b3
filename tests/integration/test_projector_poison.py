"""No single record stops a partition, on real Redis and Postgres: every kind of event the stores
refuse is dead-lettered with its reason and the events around it are applied; an outage is still
waited out; and `user unlock` lifts a lockout whatever the failure counts hold."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from schemas import names, tables
from schemas.envelope import Envelope, utc_now
from schemas.events import (
    LockoutLifted,
    LoginFailed,
    RefreshTokenReused,
    SessionRevoked,
    SessionStarted,
    TokenRefreshed,
    UserDisabled,
)
from schemas.identity import user_id_for
from schemas.settings import Settings
from services.devstack.process import free_port
from services.login.lockout import LockedOut, Lockout
from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projector import Projector
from streams.redis_ops import RedisExecutor
from streams.wiring import create_engine, create_redis
from tests.integration.test_projector_support import (
    RecordingDeadLetters,
    as_log,
    event,
    projector_on,
    registration,
    session_start,
)

T = TypeVar("T")
WITHIN_S = 30.0
"""Far more than a dead-letter takes; a partition that is stuck fails the test instead."""


async def _within(step: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(step, WITHIN_S)
    except TimeoutError:
        pytest.fail("the projector is stuck on one record: the partition does not move on")


def started(username: str, **changes: Any) -> Envelope:
    payload = SessionStarted(
        session_id=changes.pop("session_id", f"s-{secrets.token_hex(4)}"),
        client_id=changes.pop("client_id", "web"),
        access_jti="jti-1",
        refresh_token_hash="rth-1",
        signing_kid="kid-eu",
        expires_at=utc_now() + timedelta(hours=1),
    )
    return event(dataclasses.replace(payload, **changes), username)


async def _deadletter_reasons(dsn: str) -> dict[int, str]:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            t = tables.deadletters
            rows = (await conn.execute(select(t.c.log_offset, t.c.reason))).all()
    finally:
        await engine.dispose()
    return {int(offset): str(reason) for offset, reason in rows}


async def _session_ids(dsn: str) -> set[str]:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(tables.sessions.c.session_id))).all()
    finally:
        await engine.dispose()
    return {str(row[0]) for row in rows}


async def test_an_oversized_value_in_an_indexed_column_is_dead_lettered_alone(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    """Postgres refuses an index row over ~2.7 kB with a generic driver error; random text does
    not compress below that, and the event contract has no length limit to refuse it earlier."""
    huge = secrets.token_hex(4000)
    log = as_log(
        [
            registration("gina"),
            started("gina", session_id=huge),
            registration(huge),
            session_start("gina", "s-after"),
        ]
    )
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        result = await _within(stores.projector.apply(log))
        assert await stores.redis.exists(names.redis_session_key("s-after")) == 1
    assert (result.applied, result.deadlettered) == (2, 2)
    reasons = await _deadletter_reasons(fresh_postgres_dsn)
    assert set(reasons) == {1, 2}
    assert all(r.startswith("rejected: postgres") and "index row" in r for r in reasons.values())
    assert await _session_ids(fresh_postgres_dsn) == {"s-after"}


async def test_text_with_nul_in_any_event_is_dead_lettered_and_the_rest_applied(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    uid = user_id_for("hana")
    poisons = [
        started("hana", client_id="we\x00b"),
        event(UserDisabled(reason="bad\x00", changed_by="op"), "hana"),
        dataclasses.replace(registration("hana"), correlation_id="c\x00"),
    ]
    log = as_log([*poisons, registration("hana"), session_start("hana", "s-ok")])
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        result = await _within(stores.projector.apply(log))
        assert await stores.redis.hget(names.redis_user_key(uid), "username") == b"hana"
        assert await stores.redis.exists(names.redis_session_key("s-ok")) == 1
        published = [letter.event.position.offset for letter in stores.deadletters.letters]
    assert (result.applied, result.deadlettered) == (2, 3)
    assert published == [0, 1, 2]
    reasons = await _deadletter_reasons(fresh_postgres_dsn)
    assert set(reasons) == {0, 1, 2}
    assert all("U+0000" in reason for reason in reasons.values())


async def test_a_redis_script_refusal_costs_only_its_event(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    """A key of another type (left by an older version, or written by hand) makes the Lua script
    fail inside Redis; Redis answers everything else, so only that event is dead-lettered."""
    log = as_log([started("ivan", session_id="s-clash"), session_start("ivan", "s-fine")])
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.redis.set(names.redis_session_key("s-clash"), b"not a hash")
        result = await _within(stores.projector.apply(log))
        assert await stores.redis.exists(names.redis_session_key("s-fine")) == 1
        [letter] = stores.deadletters.letters
    assert (result.applied, result.deadlettered) == (1, 1)
    assert letter.event.position.offset == 0
    assert letter.reason_class == "rejected"
    assert "redis" in letter.text


async def test_a_duplicate_event_id_with_a_different_body_is_dead_lettered_first_wins(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    first = started("jack", session_id="s-first")
    clash = dataclasses.replace(started("jack", session_id="s-clash"), event_id=first.event_id)
    later = dataclasses.replace(started("jack", session_id="s-later"), event_id=first.event_id)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        same_batch = await _within(stores.projector.apply(as_log([first, clash, first])))
        next_batch = await _within(stores.projector.apply(as_log([later], first_offset=3)))
        assert await stores.redis.exists(names.redis_session_key("s-clash")) == 0
        assert await stores.redis.exists(names.redis_session_key("s-later")) == 0
    assert (same_batch.applied, same_batch.deadlettered) == (2, 1)  # the identical copy applies
    assert (next_batch.applied, next_batch.deadlettered) == (0, 1)
    assert await _session_ids(fresh_postgres_dsn) == {"s-first"}
    reasons = await _deadletter_reasons(fresh_postgres_dsn)
    assert set(reasons) == {1, 3}
    assert all("different body" in reason for reason in reasons.values())


async def test_events_about_unknown_sessions_and_users_do_not_stop_the_partition(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    until = utc_now() + timedelta(hours=1)
    strangers = [
        event(TokenRefreshed("s-none", "old", "new", "jti-2", "kid-eu"), "nobody"),
        event(RefreshTokenReused("s-none", "old", until), "nobody"),
        event(SessionRevoked("s-none", "r", "op", until), "nobody"),
        event(UserDisabled(reason="r", changed_by="op"), "nobody"),
        event(LockoutLifted(unlocked_by="op"), "nobody"),
    ]
    log = as_log([*strangers, registration("kate"), session_start("kate", "s-kate")])
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        result = await _within(stores.projector.apply(log))
        assert await stores.redis.exists(names.redis_session_key("s-kate")) == 1
    assert (result.applied, result.deadlettered) == (len(log), 0)


async def test_an_unreachable_postgres_is_waited_out_never_dead_lettered(
    fresh_redis_url: str,
) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/authplane"
    async with projector_on(fresh_redis_url, dsn) as stores:
        applying = asyncio.create_task(stores.projector.apply(as_log([registration("liam")])))
        done, _ = await asyncio.wait({applying}, timeout=2.0)
        applying.cancel()
        assert not done, "an outage must hold the batch, not drop or dead-letter it"
        assert not stores.deadletters.letters
        assert stores.projector.failing_since is not None


# -- lockouts and implausible times ---------------------------------------------------------------


def _lockout(redis: Redis, dsn: str) -> tuple[Lockout, Any]:
    engine = create_engine(dsn)
    settings = Settings(login_max_failures=5, login_ip_max_failures=10_000)
    return Lockout(redis, engine, settings, publisher=None), engine  # type: ignore[arg-type]


async def _locked(redis_url: str, dsn: str, user_id: str) -> bool:
    redis = create_redis(redis_url)
    lockout, engine = _lockout(redis, dsn)
    try:
        await lockout.refuse_if_locked(user_id, "")
    except LockedOut:
        return True
    finally:
        await redis.aclose()
        await engine.dispose()
    return False


def _failure(username: str, at: datetime) -> Envelope:
    return dataclasses.replace(event(LoginFailed(client_ip="192.0.2.7"), username), occurred_at=at)


async def test_login_failures_dated_in_the_future_are_dead_lettered_and_lock_nobody(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    uid = user_id_for("mona")
    future = [_failure("mona", utc_now() + timedelta(days=400)) for _ in range(6)]
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        result = await _within(stores.projector.apply(as_log([*future, registration("mona")])))
        assert {letter.reason_class for letter in stores.deadletters.letters} == {"implausible"}
    assert (result.applied, result.deadlettered) == (1, 6)
    assert not await _locked(fresh_redis_url, fresh_postgres_dsn, uid)
    reasons = await _deadletter_reasons(fresh_postgres_dsn)
    assert all(r.startswith("implausible: occurred_at") for r in reasons.values())


async def _count_failures(redis_url: str, dsn: str, failures: list[Envelope]) -> None:
    """Project ``failures`` as a projector that takes any time at face value would (the one
    before this fix, or one whose skew bound lets these times through)."""
    engine, redis = create_engine(dsn), create_redis(redis_url)
    executor = StoreExecutor(PostgresExecutor(engine), RedisExecutor(redis))
    lenient = Projector(executor, RecordingDeadLetters(), max_skew_s=1e10)
    try:
        result = await _within(lenient.apply(as_log(failures)))
        assert result.deadlettered == 0
    finally:
        await redis.aclose()
        await engine.dispose()


@pytest.mark.parametrize(
    "dated",
    [timedelta(days=365 * 70), timedelta(minutes=2)],
    ids=["decades-ahead", "within-the-skew"],
)
async def test_unlock_lifts_a_lockout_by_failures_dated_after_it_in_redis_and_postgres(
    fresh_redis_url: str, fresh_postgres_dsn: str, dated: timedelta
) -> None:
    """Failures dated after the unlock (poison, or a region whose clock runs ahead of the
    operator's) but logged before it stop counting: the log orders them, not their dates."""
    uid = user_id_for("nora")
    failures = [_failure("nora", utc_now() + dated) for _ in range(6)]
    await _count_failures(fresh_redis_url, fresh_postgres_dsn, failures)
    assert await _locked(fresh_redis_url, fresh_postgres_dsn, uid)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        unlock = event(LockoutLifted(unlocked_by="op"), "nora")
        log = as_log([registration("nora"), unlock], first_offset=len(failures))
        await _within(stores.projector.apply(log))
    assert not await _locked(fresh_redis_url, fresh_postgres_dsn, uid)
    # With Redis unreachable the endpoint counts in Postgres: lifted there too.
    assert not await _locked(f"redis://127.0.0.1:{free_port()}/0", fresh_postgres_dsn, uid)


async def test_failures_logged_after_an_unlock_still_count(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    uid = user_id_for("olga")
    unlock = event(LockoutLifted(unlocked_by="op"), "olga", ms_ago=50)
    after = [_failure("olga", utc_now()) for _ in range(6)]
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await _within(stores.projector.apply(as_log([unlock, *after])))
    assert await _locked(fresh_redis_url, fresh_postgres_dsn, uid)
    assert await _locked(f"redis://127.0.0.1:{free_port()}/0", fresh_postgres_dsn, uid)
