"""The password grant against a real broker, Redis and Postgres."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt

from schemas import names, tables
from schemas.envelope import new_event_id
from schemas.events import SessionStarted, SigningKeyPublished
from services.core.keys import SigningKey, load_or_create
from services.core.readmodel import make_engine
from services.devstack.process import ManagedProcess, free_port
from tests.integration.login_harness import (
    Login,
    events_on_topic,
    login_fixture,
    login_settings,
    running_login,
    running_login_channel_off,
)
from tests.integration.login_seeding import seed_user_postgres, seed_user_redis

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


login = login_fixture(scope="function", broker="own")


async def _password_login(login: Login, username: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password}
    return await login.client.post("/oauth2/token", data=form)


async def test_login_returns_a_verifiable_token_and_logs_the_session(login: Login) -> None:
    user_id = await seed_user_redis(login.settings, "Alice", "correct horse")
    response = await _password_login(login, "  ALICE ", "correct horse")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == login.settings.access_token_ttl_s

    jwks = (await login.client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(body["access_token"], key, algorithms=["RS256"])
    assert claims["sub"] == user_id
    assert claims["iss"] == login.settings.token_issuer

    events = await events_on_topic(
        login.settings.kafka_bootstrap, lambda e: e.type == SessionStarted.TYPE
    )
    assert [e.user_id for e in events] == [user_id]
    started: SessionStarted = events[0].payload
    assert started.session_id == claims["sid"] == body["refresh_token"].split(".")[0]
    assert started.access_jti == claims["jti"]
    assert started.refresh_token_hash == hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    assert started.signing_kid == kid


async def test_startup_publishes_the_public_signing_key(login: Login) -> None:
    events = await events_on_topic(
        login.settings.kafka_bootstrap, lambda e: e.type == SigningKeyPublished.TYPE
    )
    assert len(events) == 1
    published: SigningKeyPublished = events[0].payload
    assert events[0].user_id == names.SYSTEM_PARTITION_KEY
    assert published.kid == login.wiring.signer.key.kid
    assert "d" not in published.public_jwk
    # Tied to this region's issuer: every region then accepts only that iss from this key.
    assert published.region == login.settings.region
    assert published.issuer == login.settings.token_issuer
    # RFC 7517: only string-valued key parameters (no key_ops stringified into "['verify']").
    assert set(published.public_jwk) <= {"kty", "n", "e", "crv", "x", "y"}


async def test_wrong_password_unknown_user_and_bad_username_look_the_same(login: Login) -> None:
    await seed_user_redis(login.settings, "bob", "right password")
    argon2 = login.wiring.metrics.argon2_seconds
    answers = []
    for username, password in [("bob", "wrong"), ("nobody", "wrong"), ("b\u00f6b!!", "x")]:
        before = argon2._sum.get()
        response = await _password_login(login, username, password)
        answers.append((response.status_code, response.content))
        # Every failure paid for a full argon2id verification (the dummy hash for unknowns).
        assert argon2._sum.get() - before > 0.002
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 400
    assert b"invalid_grant" in answers[0][1]


async def test_broker_down_with_the_emergency_channel_off_means_503_and_no_token(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    stores = (fresh_redis_url, fresh_postgres_dsn)
    async with running_login_channel_off(tmp_path, broker.address, *stores) as login:
        await seed_user_redis(login.settings, "carol", "pw-carol")
        broker.stop(timeout=0.2)  # Tansu is slow to honour SIGTERM; it holds nothing we need
        response = await _password_login(login, "carol", "pw-carol")
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "access_token" not in response.text
    assert "refresh_token" not in response.text


async def test_users_are_read_from_postgres_when_redis_is_down(
    tmp_path: Path, broker: ManagedProcess, fresh_postgres_dsn: str
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    settings = login_settings(tmp_path, broker.address, dead_redis, fresh_postgres_dsn)
    await seed_user_postgres(settings, fresh_postgres_dsn, "dave", "pw-dave")
    us_key = load_or_create(tmp_path / "us-keys", "us", "ES256")
    await _insert_signing_key(fresh_postgres_dsn, us_key, "us")
    async with running_login(settings) as login:
        assert (await _password_login(login, "dave", "pw-dave")).status_code == 200
        assert (await _password_login(login, "dave", "nope")).status_code == 400
        jwks = (await login.client.get("/.well-known/jwks.json")).json()
        assert {k["kid"] for k in jwks["keys"]} == {us_key.kid, login.wiring.signer.key.kid}


async def _insert_signing_key(dsn: str, key: SigningKey, region: str) -> None:
    row = {
        "kid": key.kid,
        "region": region,
        "alg": key.alg,
        "public_jwk": key.public_jwk,
        "published_at": datetime.now(UTC),
        "event_id": new_event_id(),
    }
    engine = make_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(tables.signing_keys.insert().values(**row))
    finally:
        await engine.dispose()


async def test_both_stores_down_is_503(tmp_path: Path, broker: ManagedProcess) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    dead_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/authplane"
    settings = login_settings(tmp_path, broker.address, dead_redis, dead_pg)
    async with running_login(settings) as login:
        response = await _password_login(login, "erin", "pw")
        assert response.status_code == 503
        assert response.json()["error"] == "temporarily_unavailable"


async def test_request_id_is_echoed_or_generated(login: Login) -> None:
    echoed = await login.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    hostile = "bad id\u00e9\\n".encode("latin-1")
    generated = await login.client.get("/healthz", headers={b"X-Request-ID": hostile})
    assert len(generated.headers["x-request-id"]) == 32  # a fresh uuid4 hex


async def test_metrics_count_outcomes(login: Login) -> None:
    await seed_user_redis(login.settings, "frank", "pw-frank")
    await _password_login(login, "frank", "pw-frank")
    await _password_login(login, "frank", "wrong")
    text = (await login.client.get("/metrics")).text
    assert 'authplane_logins_total{outcome="success"} 1.0' in text
    assert 'authplane_logins_total{outcome="invalid_grant"} 1.0' in text
    assert 'authplane_events_produced_total{type="session.started"} 1.0' in text
    assert "authplane_argon2_seconds_count 2.0" in text
    assert "authplane_http_request_seconds_bucket" in text
