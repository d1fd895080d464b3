"""The refresh grant on a real broker, Redis and Postgres, with the region's projector run on
demand: rotation, reuse (theft) revoking the session, the grace window (two tabs, a retry after a
lost answer), a session the region has not seen yet (and one that was never issued), the issuing
region reading its own writes, idle and disabled sessions, and the Postgres fallback.

Unless a test says otherwise the region runs without a grace window, so any second exchange of a
token is reuse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from schemas import names, tables
from schemas.envelope import new_event_id, wrap
from schemas.events import RefreshTokenReused, SessionStarted, TokenRefreshed, UserDisabled
from schemas.identity import user_id_for
from services.devstack.process import ManagedProcess
from services.login.tokens import new_refresh_token, new_session_id, refresh_token_hash
from streams.projection.refresh import REUSE_REASON
from streams.wiring import create_engine
from tests.integration.login_harness import login_settings, running_login
from tests.integration.login_seeding import event, project, seed_user_redis
from tests.integration.refresh_harness import PASSWORD, Region, projected_region

USER = "rita"
NO_GRACE = "refresh_reuse_grace_s"
YOUNG_UNKNOWN_SESSION = "a well-formed token of a session started just now"


@pytest.fixture
async def region(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> AsyncIterator[Region]:
    async with _region(tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn) as r:
        yield r


@pytest.fixture
async def graced_region(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> AsyncIterator[Region]:
    """A region with a 30 s grace window."""
    kw = {NO_GRACE: 30}
    async with _region(tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn, **kw) as r:
        yield r


@asynccontextmanager
async def _region(
    tmp_path: Path, broker: str, redis_url: str, dsn: str, **kw: Any
) -> AsyncIterator[Region]:
    settings = login_settings(tmp_path, broker, redis_url, dsn, **({NO_GRACE: 0} | kw))
    async with running_login(settings) as login:
        await seed_user_redis(settings, USER, PASSWORD)
        async with projected_region(login, redis_url, dsn) as r:
            yield r


def _sid(body: dict[str, Any]) -> str:
    return str(body["refresh_token"].partition(".")[0])


async def _revoked_in_stores(region: Region, sid: str) -> tuple[bool, list[str]]:
    in_redis = bool(await region.stores.redis.exists(names.redis_revoked_session_key(sid)))
    engine = create_engine(region.stores.dsn)
    t = tables.revocations
    try:
        async with engine.connect() as conn:
            query = select(t.c.reason).where(t.c.kind == "session", t.c.subject == sid)
            reasons = sorted(r.reason for r in (await conn.execute(query)).all())
    finally:
        await engine.dispose()
    return in_redis, reasons


async def _started_elsewhere(region: Region, session_id: str) -> str:
    """Log a session.started for ``USER`` as another region would (this one projects it only
    when pumped); returns its refresh token."""
    refresh = new_refresh_token(session_id)
    user_id = user_id_for(USER)
    event = SessionStarted(
        session_id=session_id,
        client_id="",
        access_jti="jti-elsewhere",
        refresh_token_hash=refresh_token_hash(refresh),
        signing_kid="kid-us",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    envelope = wrap(event, user_id=user_id, origin_region="us", correlation_id="elsewhere")
    await region.login.wiring.publisher.publish(envelope)
    return refresh


async def _issued_in_postgres(region: Region, sid: str) -> set[str]:
    """Every refresh hash of the session that refresh_tokens_v1 holds."""
    engine = create_engine(region.stores.dsn)
    t = tables.refresh_tokens
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(t.c.refresh_hash).where(t.c.session_id == sid))).all()
    finally:
        await engine.dispose()
    return {r.refresh_hash for r in rows}


async def test_a_session_started_elsewhere_not_seen_yet_answers_503_not_invalid_grant(
    region: Region,
) -> None:
    token = await _started_elsewhere(region, new_session_id())
    response = await region.refresh(token)  # nothing projected yet
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    revoked = await region.login.client.post("/oauth2/revoke", data={"token": token})
    assert revoked.status_code == 503
    await region.pump()
    assert (await region.refresh(token)).status_code == 200


async def test_a_refresh_straight_after_login_in_the_issuing_region_needs_no_projector(
    region: Region,
) -> None:
    first = await region.password_login(USER)
    second = await region.refresh(first["refresh_token"])  # nothing projected yet
    assert second.status_code == 200, second.text
    third = await region.refresh(second.json()["refresh_token"])
    assert third.status_code == 200, third.text
    # The projector's later writes agree with what was written at once, in log order.
    await region.pump()
    assert await region.active(third.json()["access_token"])
    assert (await region.refresh(third.json()["refresh_token"])).status_code == 200
    assert await _revoked_in_stores(region, _sid(first)) == (False, [])


@pytest.mark.parametrize(
    "session_id",
    [
        "0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33",  # a UUIDv4: no session of ours has such an id
        new_event_id(int(time.time() * 1000) - 3_600_000),  # an hour old, never seen here
        new_event_id(int(time.time() * 1000) + 3_600_000),  # an hour in the future
    ],
)
async def test_a_refresh_token_that_was_never_issued_is_refused_not_retried_forever(
    region: Region, session_id: str
) -> None:
    token = f"{session_id}.{'A' * 43}"
    response = await region.refresh(token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    revoked = await region.login.client.post("/oauth2/revoke", data={"token": token})
    assert revoked.status_code == 200


async def test_rotation_returns_a_new_pair_logged_before_the_answer(region: Region) -> None:
    first = await region.password_login(USER)
    await region.pump()
    response = await region.refresh(first["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _sid(second) == _sid(first)
    claims = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert claims["sid"] == _sid(first)
    assert await region.active(second["access_token"])
    await region.pump()
    refreshed = [e for e in region.seen if e.type == TokenRefreshed.TYPE]
    assert len(refreshed) == 1
    assert refreshed[0].payload.spent_refresh_hash == refresh_token_hash(first["refresh_token"])
    assert refreshed[0].payload.new_refresh_hash == refresh_token_hash(second["refresh_token"])
    assert refreshed[0].payload.access_jti == claims["jti"]
    third = await region.refresh(second["refresh_token"])
    assert third.status_code == 200, third.text


async def test_reusing_a_spent_token_revokes_the_whole_session(region: Region) -> None:
    first = await region.password_login(USER)
    await region.pump()
    second = (await region.refresh(first["refresh_token"])).json()
    await region.pump()
    stolen = await region.refresh(first["refresh_token"])
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    await region.pump()
    reports = [e for e in region.seen if e.type == RefreshTokenReused.TYPE]
    assert [e.payload.session_id for e in reports] == [_sid(first)]
    assert not await region.active(second["access_token"])
    assert not await region.active(first["access_token"])
    legit = await region.refresh(second["refresh_token"])
    assert legit.json()["error"] == "invalid_grant"
    assert await _revoked_in_stores(region, _sid(first)) == (True, [REUSE_REASON])


async def test_two_exchanges_before_projection_revoke_by_log_order(region: Region) -> None:
    """Without a grace window the second exchange of one token in log order is reuse."""
    first = await region.password_login(USER)
    await region.pump()
    a, b = await asyncio.gather(
        region.refresh(first["refresh_token"]), region.refresh(first["refresh_token"])
    )
    # Both pass this region's check (neither is projected yet); the log decides afterwards.
    assert (a.status_code, b.status_code) == (200, 200)
    await region.pump()
    for body in (a.json(), b.json()):
        assert not await region.active(body["access_token"])
        assert (await region.refresh(body["refresh_token"])).json()["error"] == "invalid_grant"
    assert await _revoked_in_stores(region, _sid(first)) == (True, [REUSE_REASON])
    # Redelivering the whole log changes nothing.
    before = await region.stores.redis.hgetall(names.redis_session_key(_sid(first)))
    await region.consumer.seek_to_beginning()
    await region.pump()
    after = await region.stores.redis.hgetall(names.redis_session_key(_sid(first)))
    assert after == before
    assert await _revoked_in_stores(region, _sid(first)) == (True, [REUSE_REASON])


async def test_two_tabs_refreshing_at_once_both_keep_a_working_session(
    graced_region: Region,
) -> None:
    region = graced_region
    first = await region.password_login(USER)
    await region.pump()
    a, b = await asyncio.gather(
        region.refresh(first["refresh_token"]), region.refresh(first["refresh_token"])
    )
    assert (a.status_code, b.status_code) == (200, 200), (a.text, b.text)
    await region.pump()
    for body in (a.json(), b.json()):
        assert await region.active(body["access_token"])
        again = await region.refresh(body["refresh_token"])
        assert again.status_code == 200, again.text
        await region.pump()
        assert await region.active(again.json()["access_token"])
    assert await _revoked_in_stores(region, _sid(first)) == (False, [])
    both = {refresh_token_hash(body["refresh_token"]) for body in (a.json(), b.json())}
    assert both <= await _issued_in_postgres(region, _sid(first))
    # Redelivering the whole log changes nothing.
    before = await region.stores.redis.hgetall(names.redis_session_key(_sid(first)))
    await region.consumer.seek_to_beginning()
    await region.pump()
    assert await region.stores.redis.hgetall(names.redis_session_key(_sid(first))) == before
    assert await _revoked_in_stores(region, _sid(first)) == (False, [])


async def test_grace_window_lets_a_lost_response_be_retried(graced_region: Region) -> None:
    region = graced_region
    first = await region.password_login(USER)
    await region.pump()
    lost = await region.refresh(first["refresh_token"])  # the client never sees this answer
    assert lost.status_code == 200
    await region.pump()
    retried = await region.refresh(first["refresh_token"])
    assert retried.status_code == 200, retried.text
    await region.pump()
    # The session lives on, and the retried pair keeps working.
    assert await region.active(retried.json()["access_token"])
    assert (await region.refresh(retried.json()["refresh_token"])).status_code == 200
    spent = [e.payload.spent_refresh_hash for e in region.seen if e.type == "token.refreshed"]
    assert spent[:2] == [refresh_token_hash(first["refresh_token"])] * 2


async def test_reuse_after_the_grace_window_revokes_the_session(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    async with _region(
        tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn, **{NO_GRACE: 0.5}
    ) as region:
        first = await region.password_login(USER)
        await region.pump()
        second = (await region.refresh(first["refresh_token"])).json()
        await region.pump()
        await asyncio.sleep(0.6)  # past the grace window of the first exchange
        again = await region.refresh(first["refresh_token"])
        assert again.json()["error"] == "invalid_grant"
        await region.pump()
        assert not await region.active(second["access_token"])
        assert (await region.refresh(second["refresh_token"])).json()["error"] == "invalid_grant"
        assert await _revoked_in_stores(region, _sid(first)) == (True, [REUSE_REASON])


async def test_an_idle_session_cannot_be_refreshed(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    async with _region(
        tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn, session_idle_ttl_s=1
    ) as region:
        first = await region.password_login(USER)
        await region.pump()
        await asyncio.sleep(1.1)
        response = await region.refresh(first["refresh_token"])
        assert response.json()["error"] == "invalid_grant"


async def test_a_disabled_user_cannot_refresh(region: Region) -> None:
    first = await region.password_login(USER)
    await region.pump()
    user_id = jwt.decode(first["access_token"], options={"verify_signature": False})["sub"]
    disabled = UserDisabled(reason="test", changed_by="operator:test")
    await project([event(disabled, user_id)], redis_url=region.login.settings.redis_url)
    assert (await region.refresh(first["refresh_token"])).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"refresh_token": "garbage"}, "invalid_grant"),
        ({"refresh_token": YOUNG_UNKNOWN_SESSION}, None),
        ({}, "invalid_request"),  # RFC 6749 §5.2: a required parameter is missing
        ({"refresh_token": "x", "scope": "admin"}, "invalid_scope"),
    ],
)
async def test_bad_refresh_requests_are_4xx(
    region: Region, form: dict[str, str], error: str | None
) -> None:
    if form.get("refresh_token") == YOUNG_UNKNOWN_SESSION:
        # Made now, not at collection: "young" is measured from the session id's time, and the
        # suite can reach this test long after collecting it.
        form = {"refresh_token": new_session_id() + "." + "A" * 43}
    response = await region.login.client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", **form}
    )
    if error is None:  # well-formed, a young unknown session: the region may not know it yet
        assert response.status_code == 503
    else:
        assert response.status_code == 400
        assert response.json()["error"] == error


async def test_a_wrong_client_is_refused_and_an_unseen_secret_asks_to_retry(region: Region) -> None:
    first = await region.password_login(USER)
    await region.pump()
    sid = _sid(first)
    # A secret the region never saw may come from a rotation elsewhere not projected yet.
    forged = await region.refresh(f"{sid}.{'B' * 43}")
    assert forged.status_code == 503
    assert forged.json()["error"] == "temporarily_unavailable"
    other_client = await region.refresh(first["refresh_token"], client_id="someone-else")
    assert other_client.json()["error"] == "invalid_grant"
    assert (await region.refresh(first["refresh_token"])).status_code == 200


async def test_broker_down_with_the_emergency_channel_off_answers_503_and_issues_nothing(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    # With the channel on (the default) the refresh is answered from the outbox:
    # tests/integration/test_emergency_channel.py.
    kw = {"emergency_channel": False}
    async with _region(tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn, **kw) as r:
        first = await r.password_login(USER)
        await r.pump()
        await r.consumer.stop()  # before the broker goes, so it does not retry in the background
        broker.stop(timeout=0.2)
        response = await r.refresh(first["refresh_token"])
    assert response.status_code == 503
    assert "refresh_token" not in response.text


async def test_with_redis_down_the_grant_reads_postgres(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    async with _region(tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn) as region:
        first = await region.password_login(USER)
        await region.pump()
        second = (await region.refresh(first["refresh_token"])).json()
        await region.pump()
    dead_redis = "redis://127.0.0.1:1/0"
    settings = login_settings(
        tmp_path, broker.address, dead_redis, fresh_postgres_dsn, **{NO_GRACE: 0}
    )
    async with running_login(settings) as login:
        region_pg = Region(login, region.stores, region.consumer, [])
        third = await region_pg.refresh(second["refresh_token"])
        assert third.status_code == 200, third.text
        stolen = await region_pg.refresh(first["refresh_token"])
        assert stolen.json()["error"] == "invalid_grant"


async def test_revoking_a_rotated_refresh_token_with_redis_down_revokes_the_session(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    """RFC 7009 on the Postgres fallback must know the session's *current* refresh token (the
    unspent row), not only the first one the session started with."""
    async with _region(tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn) as region:
        first = await region.password_login(USER)
        await region.pump()
        rotated = (await region.refresh(first["refresh_token"])).json()
        await region.pump()
        dead_redis = "redis://127.0.0.1:1/0"
        settings = login_settings(tmp_path, broker.address, dead_redis, fresh_postgres_dsn)
        async with running_login(settings) as login:
            answer = await login.client.post(
                "/oauth2/revoke", data={"token": rotated["refresh_token"]}
            )
            assert answer.status_code == 200, answer.text
        await region.pump()
        in_redis, reasons = await _revoked_in_stores(region, _sid(first))
        assert in_redis
        assert reasons == ["revoked by client"]
