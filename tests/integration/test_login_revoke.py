"""POST /oauth2/revoke (RFC 7009) and POST /v1/logout against a real broker, Redis and Postgres:
a genuine credential becomes one session.revoked event on the revocation topic, acknowledged
before the answer; anything else answers without revealing whether it exists."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from schemas import names
from schemas.envelope import Envelope
from schemas.events import SessionRevoked
from services.core.keys import generate_private_key, signing_key
from services.devstack.process import ManagedProcess
from services.login.tokens import new_refresh_token, new_session_id
from tests.integration.login_harness import (
    Login,
    login_fixture,
    read_topic,
    running_login_channel_off,
    seeded,
)
from tests.integration.login_seeding import project_session, project_signing_key
from tests.unit.forged_claims import genuine_claims, sign

PASSWORD = "pw-rita"


login = login_fixture(scope="function", broker="own", prepare=seeded(("rita", PASSWORD)))


async def _tokens(login: Login, client_id: str = "shop") -> dict[str, Any]:
    form = {"grant_type": "password", "username": "rita", "password": PASSWORD}
    response = await login.client.post("/oauth2/token", data=form | {"client_id": client_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _revocations(bootstrap: str, until_sid: str, timeout_s: float = 10.0) -> list[Envelope]:
    """Events on the revocation topic up to the one revoking ``until_sid``. All events of these
    tests share one user id, hence one partition: anything produced earlier comes first."""

    def revoked(found: list[Envelope]) -> bool:
        return any(e.payload.session_id == until_sid for e in found)

    return await read_topic(bootstrap, names.TOPIC_REVOCATIONS, lambda _: True, revoked, timeout_s)


async def _revoke(login: Login, token: str, **extra: str) -> httpx.Response:
    return await login.client.post("/oauth2/revoke", data={"token": token, **extra})


def _claims_of(access_token: str) -> dict[str, Any]:
    return dict(jwt.decode(access_token, options={"verify_signature": False}))


async def test_revoking_an_access_token_revokes_its_session(login: Login) -> None:
    issued = await _tokens(login)
    claims = _claims_of(issued["access_token"])
    response = await _revoke(login, issued["access_token"], token_type_hint="access_token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    [event] = await _revocations(login.settings.kafka_bootstrap, claims["sid"])
    assert isinstance(event.payload, SessionRevoked)
    assert event.user_id == claims["sub"]
    assert event.origin_region == "eu"
    assert event.payload.session_id == claims["sid"]
    assert event.payload.revoked_by == "client:shop"
    assert event.payload.reason == "revoked by client"
    # The session is not projected here: its expiry is unknown, so the bound is the session TTL.
    expected = time.time() + login.settings.session_ttl_s
    assert abs(event.payload.affects_until.timestamp() - expected) < 60


async def test_revoking_a_refresh_token_checks_possession(login: Login) -> None:
    issued = await _tokens(login)
    user_id = _claims_of(issued["access_token"])["sub"]
    session_id = await project_session(login.settings, issued["refresh_token"], user_id)
    forged = f"{session_id}.{new_refresh_token(session_id).partition('.')[2]}"
    assert (await _revoke(login, forged)).status_code == 200  # wrong secret: nothing revoked
    response = await _revoke(login, issued["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    events = await _revocations(login.settings.kafka_bootstrap, session_id)
    assert [e.payload.session_id for e in events] == [session_id]
    assert events[0].payload.revoked_by == "client:shop"
    assert events[0].user_id == user_id


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b", "x.y.z", "\u2603", "a" * 4000, f"{uuid.uuid4()}.short"],
    ids=["word", "two-parts", "fake-jwt", "non-ascii", "long", "short-secret"],
)
async def test_unknown_tokens_answer_200_and_revoke_nothing(login: Login, token: str) -> None:
    assert (await _revoke(login, token)).status_code == 200
    issued = await _tokens(login)
    assert (await _revoke(login, issued["access_token"])).status_code == 200
    sid = _claims_of(issued["access_token"])["sid"]
    events = await _revocations(login.settings.kafka_bootstrap, sid)
    assert [e.payload.session_id for e in events] == [sid]


async def test_refresh_token_of_a_session_not_yet_projected_is_503(login: Login) -> None:
    response = await _revoke(login, new_refresh_token(new_session_id()))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "temporarily_unavailable"


async def test_access_token_of_a_key_not_known_here_yet_is_503_until_it_is(login: Login) -> None:
    """A region restarted on rebuilt stores (or one that has not received another region's new
    key) must not answer 200 for a revocation it did not write."""
    alg = login.settings.signing_alg
    us_key = signing_key(generate_private_key(alg), alg)
    issuer = "https://us.authplane.local"
    claims = genuine_claims("us", issuer)
    token = sign(us_key, claims)
    response = await _revoke(login, token)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "temporarily_unavailable"
    # Issued longer ago than a key can take to arrive: never issued by a key of ours, so 200.
    stale = claims | {"iat": int(time.time() - 2 * login.settings.session_propagation_max_s)}
    assert (await _revoke(login, sign(us_key, stale))).status_code == 200
    await project_signing_key(login.settings.redis_url, us_key, "us", issuer)
    await asyncio.sleep(1.1)  # the keyring re-reads the stores at most once a second on a miss
    assert (await _revoke(login, token)).status_code == 200
    events = await _revocations(login.settings.kafka_bootstrap, claims["sid"])
    assert [e.payload.session_id for e in events][-1:] == [claims["sid"]]
    assert events[-1].user_id == claims["sub"]


async def test_broker_down_with_the_emergency_channel_off_means_503(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    stores = (fresh_redis_url, fresh_postgres_dsn)
    async with running_login_channel_off(tmp_path, broker.address, *stores) as login:
        await seeded(("rita", PASSWORD))(login)
        issued = await _tokens(login)
        broker.stop(timeout=0.2)
        response = await _revoke(login, issued["access_token"])
        assert response.status_code == 503
        assert response.json()["error"] == "temporarily_unavailable"
        logout = await login.client.post(
            "/v1/logout", headers={"Authorization": f"Bearer {issued['access_token']}"}
        )
        assert logout.status_code == 503


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "application/x-www-form-urlencoded", 400),
        (b"token_type_hint=access_token", "application/x-www-form-urlencoded", 400),
        (b'{"token": "x"}', "application/json", 400),
        (b"token=a&token=b", "application/x-www-form-urlencoded", 400),
        (b"token=%ff", "application/x-www-form-urlencoded", 400),
        (b"token=" + b"a" * 9000, "application/x-www-form-urlencoded", 413),
    ],
    ids=["empty", "no-token", "json", "repeated", "bad-utf8", "too-large"],
)
async def test_malformed_revocation_requests_are_4xx(
    login: Login, body: bytes, content_type: str, status: int
) -> None:
    response = await login.client.post(
        "/oauth2/revoke", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


async def test_logout_revokes_the_session_of_the_bearer_token(login: Login) -> None:
    issued = await _tokens(login)
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    response = await login.client.post("/v1/logout", headers=headers)
    assert response.status_code == 204
    sid = _claims_of(issued["access_token"])["sid"]
    [event] = await _revocations(login.settings.kafka_bootstrap, sid)
    assert event.payload.session_id == sid
    assert (event.payload.revoked_by, event.payload.reason) == ("user", "logout")
    metrics = (await login.client.get("/metrics")).text
    assert 'authplane_revocation_requests_total{endpoint="logout",outcome="revoked"} 1.0' in metrics


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer x.y.z", "Basic cml0YTpwdw==", "Bearer garbage"],
    ids=["missing", "empty", "forged", "basic", "garbage"],
)
async def test_logout_needs_a_valid_bearer_token(login: Login, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await login.client.post("/v1/logout", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="authplane"')
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"
