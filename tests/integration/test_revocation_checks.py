"""Revocation checks on real stores: introspection and the in-process verifier answer by the
contract's rule from Redis, from Postgres when Redis is gone, and fail closed (or open, when so
configured) when neither answers. The rev:* keys and rows are written in the contract's layout
directly; the projector that writes them is tested on its own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from redis.asyncio import Redis

from schemas import names, tables
from schemas.envelope import new_event_id
from schemas.epoch import epoch_ms
from schemas.settings import CLOCK_SKEW_S
from services.core.keys import load_or_create
from services.core.readmodel import make_engine, make_redis
from services.devstack.process import ManagedProcess, free_port
from services.devstack.redis import start_redis
from services.login.tokens import TokenContext, issue_access_token
from services.verifier import InvalidToken, Verifier
from services.verifier.checks import RevocationChecker
from services.verifier.keyring import Keyring, jwks_loader
from services.verifier.mirror import RevocationMirror
from tests.integration.login_harness import Login, login_fixture, login_settings, running_login
from tests.integration.login_seeding import project_signing_key
from tests.integration.test_login_introspect import BASIC

login = login_fixture(scope="function")


def _token(
    login: Login,
    *,
    user: str = "u1",
    sid: str | None = None,
    at: datetime | None = None,
    seen: str = "",
) -> str:
    s = login.settings
    sid = sid or str(uuid.uuid4())
    ctx = TokenContext(s.token_issuer, s.region, user, sid, "app", "", seen)
    return issue_access_token(login.wiring.signer.key, ctx, ttl_s=600, now=at).token


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def _active(login: Login, token: str) -> bool:
    response = await login.client.post(
        "/oauth2/introspect", data={"token": token}, headers={"Authorization": BASIC}
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


async def _rev_hash(redis_url: str, key: str, **extra: str) -> None:
    fields = {
        "event_id": new_event_id(),
        "reason": "test",
        "revoked_by": "operator:test",
        "origin_region": "us",
        "revoked_at_ms": str(epoch_ms(datetime.now(UTC))),
        **extra,
    }
    redis = Redis.from_url(redis_url)
    try:
        await redis.hset(key, mapping=fields)  # type: ignore[arg-type]
        await redis.expire(key, 3600)
    finally:
        await redis.aclose()


def _count(login: Login, outcome: str) -> float:
    value = login.wiring.metrics.registry.get_sample_value(
        "authplane_revocation_checks_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_revoked_session_and_jti_make_tokens_inactive(login: Login) -> None:
    by_session, by_jti, untouched = _token(login), _token(login), _token(login)
    assert [await _active(login, t) for t in (by_session, by_jti, untouched)] == [True] * 3
    redis_url = login.settings.redis_url
    await _rev_hash(redis_url, names.redis_revoked_session_key(_claims(by_session)["sid"]))
    await _rev_hash(redis_url, names.redis_revoked_token_key(_claims(by_jti)["jti"]))
    assert [await _active(login, t) for t in (by_session, by_jti, untouched)] == [
        False,
        False,
        True,
    ]
    assert _count(login, "redis") >= 6


async def test_user_revocation_without_evidence_kills_tokens_up_to_the_skew_bound_after_it(
    login: Login,
) -> None:
    """Tokens issued before ``rev_seen`` existed: the clock rule, the skew bound on the safe side
    (a region whose clock ran ahead must not mint a token that outlives the revocation)."""
    # In the past: a token with iat in the future is invalid anyway, whatever its revocation.
    revoked_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)
    before = _token(login, user="u-nb", at=revoked_at - timedelta(seconds=5))
    same_second = _token(login, user="u-nb", at=revoked_at)
    fast_clock = _token(login, user="u-nb", at=revoked_at + timedelta(seconds=8))
    after_skew = _token(login, user="u-nb", at=revoked_at + timedelta(seconds=CLOCK_SKEW_S + 1))
    other_user = _token(login, user="u-other", at=revoked_at - timedelta(seconds=5))
    not_before_ms = epoch_ms(revoked_at) + 300
    await _rev_hash(
        login.settings.redis_url,
        names.redis_user_not_before_key("u-nb"),
        **{names.REVOCATION_NOT_BEFORE_FIELD: str(not_before_ms)},
    )
    tokens = (before, same_second, fast_clock, after_skew, other_user)
    answers = [await _active(login, t) for t in tokens]
    assert answers == [False, False, False, True, True]


async def test_user_revocation_kills_exactly_the_tokens_whose_region_had_not_seen_it(
    login: Login,
) -> None:
    """With ``rev_seen`` the log decides: neither the same second nor a skewed clock matters."""
    revoked_at = datetime.now(UTC) - timedelta(seconds=2)
    earlier, revocation = new_event_id(1_000), new_event_id()
    knew = _token(login, user="u-ev", at=revoked_at, seen=revocation)
    knew_slow_clock = _token(
        login, user="u-ev", at=revoked_at - timedelta(seconds=8), seen=revocation
    )
    missed_fast_clock = _token(
        login, user="u-ev", at=revoked_at + timedelta(seconds=1), seen=earlier
    )
    saw_none = _token(login, user="u-ev", at=revoked_at, seen=names.NO_USER_REVOCATION)
    await _rev_hash(
        login.settings.redis_url,
        names.redis_user_not_before_key("u-ev"),
        **{
            names.REVOCATION_NOT_BEFORE_FIELD: str(epoch_ms(revoked_at)),
            names.USER_REVOCATION_LATEST_FIELD: revocation,
        },
    )
    tokens = (knew, knew_slow_clock, missed_fast_clock, saw_none)
    assert [await _active(login, t) for t in tokens] == [True, True, False, False]


async def _insert_revocation(dsn: str, kind: str, subject: str, user_id: str, **kw: Any) -> str:
    now = datetime.now(UTC)
    row = {
        "event_id": new_event_id(),
        "kind": kind,
        "subject": subject,
        "user_id": user_id,
        "session_id": kw.get("session_id"),
        "not_before": kw.get("not_before"),
        "reason": "test",
        "revoked_by": "operator:test",
        "origin_region": "us",
        "revoked_at": now,
        "affects_until": now + timedelta(hours=1),
    }
    engine = make_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(tables.revocations.insert().values(**row))
    finally:
        await engine.dispose()
    return str(row["event_id"])


async def test_answers_come_from_postgres_when_redis_is_gone(
    tmp_path: Path,
    shared_broker: ManagedProcess,
    own_redis: ManagedProcess,
    fresh_postgres_dsn: str,
) -> None:
    settings = login_settings(
        tmp_path, shared_broker.address, own_redis.address, fresh_postgres_dsn
    )
    async with running_login(settings) as login:
        now = datetime.now(UTC)
        revoked, fine = _token(login), _token(login, user="u2")
        old = _token(login, user="u3", at=now - timedelta(seconds=10))
        missed = _token(login, user="u3", seen=names.NO_USER_REVOCATION)
        await _insert_revocation(fresh_postgres_dsn, "session", _claims(revoked)["sid"], "u1")
        seen = await _insert_revocation(fresh_postgres_dsn, "user", "u3", "u3", not_before=now)
        knew = _token(login, user="u3", at=now - timedelta(seconds=1), seen=seen)
        own_redis.stop(timeout=2.0)
        tokens = (revoked, fine, old, missed, knew)
        assert [await _active(login, t) for t in tokens] == [False, True, False, False, True]
        assert _count(login, "postgres_fallback") == 5
        assert _count(login, "failed_closed") == 0


async def test_neither_store_answering_fails_closed(
    tmp_path: Path, shared_broker: ManagedProcess, own_redis: ManagedProcess
) -> None:
    dead_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/authplane"
    settings = login_settings(tmp_path, shared_broker.address, own_redis.address, dead_pg)
    async with running_login(settings) as login:
        token = _token(login)
        assert await _active(login, token) is True
        own_redis.stop(timeout=2.0)
        assert await _active(login, token) is False
        assert _count(login, "failed_closed") == 1
        metrics = (await login.client.get("/metrics")).text
        assert 'authplane_revocation_checks_total{outcome="failed_closed"} 1.0' in metrics


async def test_fail_open_setting_keeps_tokens_active_and_counts_it(
    tmp_path: Path, shared_broker: ManagedProcess, own_redis: ManagedProcess
) -> None:
    dead_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/authplane"
    settings = login_settings(
        tmp_path, shared_broker.address, own_redis.address, dead_pg, fail_open=True
    )
    async with running_login(settings) as login:
        token = _token(login)
        # The resource server was authenticated before the outage (its registration is then
        # reused, services.login.client_cache); the token check itself meets the outage.
        assert await _active(login, token) is True
        own_redis.stop(timeout=2.0)
        assert await _active(login, token) is True
        assert _count(login, "failed_open") == 1
        assert _count(login, "failed_closed") == 0


async def _eventually(check: Any, within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.01)
    return False


@asynccontextmanager
async def _mirrored_verifier(login: Login, own_redis: ManagedProcess) -> AsyncIterator[Verifier]:
    """A resource server's verifier: keys from the login endpoint's JWKS, revocations from a
    mirror of ``own_redis`` proven fresh."""
    redis, mirror_redis = make_redis(own_redis.address), make_redis(own_redis.address)
    mirror = RevocationMirror(mirror_redis)
    keys = Keyring(None, jwks_loader(login.client, "http://login/.well-known/jwks.json"))
    verifier = Verifier(keys, RevocationChecker(redis, None, mirror=mirror), region="eu")
    verifier.own(mirror, mirror_redis, redis)
    mirror.start()
    try:
        assert await mirror.wait_fresh(5.0)
        yield verifier
    finally:
        await verifier.close()


async def test_in_process_verifier_against_the_login_endpoints_jwks(
    login: Login, own_redis: ManagedProcess
) -> None:
    """A resource server: keys from the login endpoint's JWKS, revocations mirrored from Redis."""
    async with _mirrored_verifier(login, own_redis) as verifier:
        token, other = _token(login), _token(login)
        assert (await verifier.verify(token))["sub"] == "u1"
        await _rev_hash(own_redis.address, names.redis_revoked_session_key(_claims(token)["sid"]))

        async def rejected() -> bool:
            return (await verifier.check(token)).reason == "revoked"

        assert await _eventually(rejected)
        with pytest.raises(InvalidToken, match="revoked"):
            await verifier.verify(token)
        assert (await verifier.check(other)).active
        forged = token.rsplit(".", 1)[0] + ".AAAA"
        assert (await verifier.check(forged)).reason == "invalid"
        assert (await verifier.check("not-a-token")).reason == "malformed"
        registry = verifier.revocations.metrics.registry
        assert registry.get_sample_value("authplane_revocation_checks_total", {"outcome": "mirror"})


async def test_in_process_verifier_mirror_decides_user_revocations_by_evidence(
    login: Login, own_redis: ManagedProcess
) -> None:
    """The mirror carries the greatest revocation id too, so the verifier's answer matches
    introspection's: a token issued knowing the revocation lives, one that missed it dies."""
    async with _mirrored_verifier(login, own_redis) as verifier:
        revocation = new_event_id()
        at = datetime.now(UTC) - timedelta(seconds=1)
        knew = _token(login, user="u-m", at=at, seen=revocation)
        missed = _token(login, user="u-m", at=at, seen=new_event_id(1_000))
        await _rev_hash(
            own_redis.address,
            names.redis_user_not_before_key("u-m"),
            not_before_ms=str(int(datetime.now(UTC).timestamp() * 1000)),
            **{names.USER_REVOCATION_LATEST_FIELD: revocation},
        )

        async def rejected() -> bool:
            return (await verifier.check(missed)).reason == "revoked"

        assert await _eventually(rejected)
        assert (await verifier.check(knew)).active
        registry = verifier.revocations.metrics.registry
        assert registry.get_sample_value("authplane_revocation_checks_total", {"outcome": "mirror"})


async def test_mirror_resyncs_after_redis_restarts(tmp_path: Path) -> None:
    """Revocations written while the mirror was cut off are seen after it reconnects."""
    first = start_redis(tmp_path / "r", die_with_parent=True)
    port = int(first.details["port"])
    mirror_redis = make_redis(first.address)
    mirror = RevocationMirror(mirror_redis, max_staleness_s=0.5)
    mirror.start()
    try:
        assert await mirror.wait_fresh(5.0)
        first.stop(timeout=2.0)
        await asyncio.sleep(0.6)
        assert mirror.state("u", "s-gone", "j") is None  # not proven fresh: callers go direct
        second = start_redis(tmp_path / "r2", die_with_parent=True, fixed_port=port)
        try:
            await _rev_hash(second.address, names.redis_revoked_session_key("s-gone"))

            async def seen() -> bool:
                state = mirror.state("u", "s-gone", "j")
                return state is not None and state.session_revoked

            assert await _eventually(seen, within_s=10.0)
        finally:
            second.stop(timeout=2.0)
    finally:
        await mirror.close()
        await mirror_redis.aclose()


async def test_verifier_connect_reads_keys_from_the_stores(login: Login, tmp_path: Path) -> None:
    verifier = await Verifier.connect(
        region="eu",
        redis_url=login.settings.redis_url,
        postgres_dsn=login.settings.postgres_dsn,
        mirror=False,
    )
    try:
        # The endpoint's key reaches the stores through the projector: project its event.
        await project_signing_key(login.settings.redis_url, login.wiring.signer.key, "eu")
        assert (await verifier.verify(_token(login)))["region"] == "eu"
        stranger = load_or_create(tmp_path / "stranger", "eu", "RS256")
        ctx = TokenContext(login.settings.token_issuer, "eu", "u1", "s1", "app", "")
        with pytest.raises(InvalidToken, match="unknown_kid"):
            await verifier.verify(issue_access_token(stranger, ctx, ttl_s=600).token)
    finally:
        await verifier.close()


async def test_introspection_mirror_setting_answers_from_the_mirror_and_still_revokes(
    tmp_path: Path,
    shared_broker: ManagedProcess,
    own_redis: ManagedProcess,
    fresh_postgres_dsn: str,
) -> None:
    """AUTHPLANE_INTROSPECTION_MIRROR: no Redis read per introspection once the mirror is
    proven fresh, and a revocation written to Redis still makes the token inactive."""
    settings = login_settings(
        tmp_path, shared_broker.address, own_redis.address, fresh_postgres_dsn
    )
    settings = settings.replace(introspection_mirror=True)
    async with running_login(settings) as mirrored:
        token, untouched = _token(mirrored), _token(mirrored)

        async def from_mirror() -> bool:
            return await _active(mirrored, token) and _count(mirrored, "mirror") > 0

        assert await _eventually(from_mirror)
        reads = _count(mirrored, "redis")
        await _rev_hash(own_redis.address, names.redis_revoked_session_key(_claims(token)["sid"]))

        async def revoked() -> bool:
            return not await _active(mirrored, token)

        assert await _eventually(revoked)
        assert await _active(mirrored, untouched)
        assert _count(mirrored, "redis") == reads
