"""The revocation projection against real Redis and Postgres: revocation wins in any order,
replays change nothing, and the Redis entries expire with what they revoke."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from schemas import names, tables
from schemas.envelope import Envelope, utc_now
from schemas.events import SessionRevoked, TokenRevoked, UserRevoked
from services.core.readmodel import list_sessions, make_engine
from services.devstack.infra import RegionStores
from streams.wiring import create_engine
from tests.integration.test_projector_support import (
    as_log,
    event,
    postgres_state,
    projector_on,
    redis_state,
    session_start,
)

ALICE = "alice"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def revoke_session(sid: str, lives_s: float, ms_ago: int = 0) -> Envelope:
    until = utc_now() + timedelta(seconds=lives_s)
    payload = SessionRevoked(session_id=sid, reason="stolen", revoked_by="ops", affects_until=until)
    return event(payload, ALICE, ms_ago=ms_ago)


def revoke_token(jti: str, lives_s: float) -> Envelope:
    until = utc_now() + timedelta(seconds=lives_s)
    payload = TokenRevoked(
        jti=jti, session_id="s-1", reason="", revoked_by="app", affects_until=until
    )
    return event(payload, ALICE, region="us")


def revoke_user(not_before: datetime, lives_s: float, ms_ago: int = 0) -> Envelope:
    until = utc_now() + timedelta(seconds=lives_s)
    payload = UserRevoked(
        not_before=not_before, reason="pwned", revoked_by="ops", affects_until=until
    )
    return event(payload, ALICE, ms_ago=ms_ago)


async def _ttl(redis: Redis, key: str) -> float:
    return float(await redis.pttl(key)) / 1000


async def _revocation_rows(dsn: str) -> list[tuple[str, str, str]]:
    engine = create_engine(dsn)
    t = tables.revocations
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(t.c.event_id, t.c.kind, t.c.subject))).all()
    finally:
        await engine.dispose()
    return sorted((str(r.event_id), r.kind, r.subject) for r in rows)


async def test_a_revocation_applied_before_its_session_still_revokes_it(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    revocation = revoke_session("s-early", 3600)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([revocation]))
        await stores.projector.apply(as_log([session_start(ALICE, "s-early")], first_offset=1))
        entry = await stores.redis.hgetall(names.redis_revoked_session_key("s-early"))
        assert entry[b"event_id"] == revocation.event_id.encode()
        assert entry[b"reason"] == b"stolen"
        assert entry[b"origin_region"] == b"eu"
        # The session itself was projected too: the revocation did not block or replace it.
        assert await stores.redis.exists(names.redis_session_key("s-early"))
    assert await _revocation_rows(fresh_postgres_dsn) == [
        (revocation.event_id, "session", "s-early")
    ]


async def test_order_and_duplicates_do_not_change_the_outcome(
    fresh_region_stores: dict[str, RegionStores],
) -> None:
    now = utc_now()
    envelopes = [
        revoke_session("s-1", 600, ms_ago=5),
        revoke_session("s-1", 3600),  # later event, longer-lived: its expiry must be kept
        revoke_token("jti-1", 900),
        revoke_user(now - timedelta(seconds=10), 1800, ms_ago=3),
        revoke_user(now, 1200, ms_ago=9),  # logged earlier, but the greatest not_before
        session_start(ALICE, "s-1"),
    ]
    forward, backward = fresh_region_stores["eu"], fresh_region_stores["us"]
    async with projector_on(forward.redis_url, forward.postgres_dsn) as a:
        await a.projector.apply(as_log(envelopes))
        state_a = await redis_state(a.redis)
        user_entry = await a.redis.hgetall(names.redis_user_not_before_key(envelopes[0].user_id))
        session_ttl = await _ttl(a.redis, names.redis_revoked_session_key("s-1"))
    async with projector_on(backward.redis_url, backward.postgres_dsn) as b:
        for item in reversed(as_log(envelopes + envelopes[:3])):
            await b.projector.apply([item])
        state_b = await redis_state(b.redis)
        backward_ttl = await _ttl(b.redis, names.redis_revoked_session_key("s-1"))
    assert state_a == state_b
    assert user_entry[b"event_id"] == envelopes[4].event_id.encode()
    assert user_entry[b"not_before_ms"] == str((now - EPOCH) // timedelta(milliseconds=1)).encode()
    assert state_a[names.redis_revoked_session_key("s-1").encode()][0][b"event_id"] == (
        envelopes[0].event_id.encode()
    )
    assert 3590 < session_ttl <= 3601
    assert 3590 < backward_ttl <= 3601
    pg_a = await postgres_state(forward.postgres_dsn)
    pg_b = await postgres_state(backward.postgres_dsn)
    assert pg_a[names.TABLE_REVOCATIONS] == pg_b[names.TABLE_REVOCATIONS]
    assert len(pg_a[names.TABLE_REVOCATIONS]) == 5


async def test_not_before_is_compared_as_a_number(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    # "999" sorts after "1000" as a string; the greater number must win.
    older = revoke_user(EPOCH + timedelta(milliseconds=999), 600)
    newer = revoke_user(EPOCH + timedelta(milliseconds=1000), 600)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([newer, older]))
        entry = await stores.redis.hgetall(names.redis_user_not_before_key(newer.user_id))
    assert entry[b"not_before_ms"] == b"1000"
    assert entry[b"event_id"] == newer.event_id.encode()


async def test_entries_expire_with_what_they_revoke(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    lasting = revoke_token("jti-long", 900)
    shorter = revoke_token("jti-long", 60)  # a later, shorter revocation: expiry must not shrink
    expired = revoke_session("s-gone", -5)  # its session is already over
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([lasting, shorter, expired]))
        ttl = await _ttl(stores.redis, names.redis_revoked_token_key("jti-long"))
        assert not await stores.redis.exists(names.redis_revoked_session_key("s-gone"))
    expected = lasting.payload.affects_until.timestamp() - time.time()
    assert expected - 2 < ttl <= expected + 1
    # Postgres keeps the durable record of all of them, the expired one included.
    kinds = [(kind, subject) for _, kind, subject in await _revocation_rows(fresh_postgres_dsn)]
    assert sorted(kinds) == [("session", "s-gone"), ("token", "jti-long"), ("token", "jti-long")]


async def test_sessions_list_shows_only_sessions_a_revocation_covers(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    cutoff = utc_now() - timedelta(seconds=30)
    before = session_start(ALICE, "s-before", ms_ago=60_000)
    after = session_start(ALICE, "s-after")  # started after the user-wide not_before
    own = revoke_session("s-after", 600, ms_ago=1)
    user_wide = revoke_user(cutoff, 600)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([user_wide, before, after]))
        engine = make_engine(fresh_postgres_dsn)
        try:
            first = {row.session_id: row for row in await list_sessions(engine, user_wide.user_id)}
            await stores.projector.apply(as_log([own], first_offset=3))
            second = {row.session_id: row for row in await list_sessions(engine, own.user_id)}
        finally:
            await engine.dispose()
    assert first["s-before"].revoked
    assert (first["s-before"].revoke_reason, first["s-before"].revoked_by) == ("pwned", "ops")
    assert not first["s-after"].revoked
    assert second["s-after"].revoked
    assert second["s-after"].revoke_reason == "stolen"
