"""Introspection (RFC 7662), JWKS and readiness against real stores: only genuine tokens of a
known region are active, and only an authenticated resource server may ask."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from services.core.keys import SigningKey, b64url, load_or_create
from services.login.tokens import TokenContext, issue_access_token
from tests.integration.login_harness import (
    APP,
    INTROSPECTION_ID,
    INTROSPECTION_SECRET,
    Login,
    login_fixture,
    seeded,
    set_heartbeat,
)
from tests.integration.login_seeding import project_signing_key

BASIC = "Basic " + base64.b64encode(f"{INTROSPECTION_ID}:{INTROSPECTION_SECRET}".encode()).decode()


login = login_fixture("introspect", seeded(("heidi", "pw-heidi")), signing_alg="EdDSA")


@pytest.fixture(scope="module")
def us_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return load_or_create(tmp_path_factory.mktemp("us-keys"), "us", "ES256")


async def _issue(login: Login) -> str:
    form = {"grant_type": "password", **APP, "username": "heidi", "password": "pw-heidi"}
    response = await login.client.post("/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _introspect(login: Login, token: str, auth: str | None = BASIC) -> httpx.Response:
    headers = {"Authorization": auth} if auth else {}
    return await login.client.post("/oauth2/introspect", data={"token": token}, headers=headers)


def _us_token(key: SigningKey, *, expired: bool = False) -> str:
    ctx = TokenContext("https://us.authplane.local", "us", "u-us", "s-us", "app", "")
    when = datetime.now(UTC) - timedelta(hours=2) if expired else None
    return issue_access_token(key, ctx, ttl_s=600, now=when).token


async def test_own_token_is_active_with_its_claims(login: Login) -> None:
    token = await _issue(login)
    response = await _introspect(login, token)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["active"] is True
    assert body["token_type"] == "Bearer"  # RFC 7662 §2.2: an RFC 6749 §7.1 token type
    assert body["iss"] == login.settings.token_issuer
    assert {"sub", "sid", "jti", "exp", "iat", "client_id"} <= body.keys()


async def test_other_regions_token_is_active_once_its_key_is_projected(
    login: Login, us_key: SigningKey
) -> None:
    token = _us_token(us_key)
    assert (await _introspect(login, token)).json() == {"active": False}
    await project_signing_key(login.settings.redis_url, us_key, "us")
    await asyncio.sleep(1.1)  # an unknown kid refreshes the key cache at most once a second
    body = (await _introspect(login, token)).json()
    assert body["active"] is True
    assert body["sub"] == "u-us"
    jwks = (await login.client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {us_key.kid, login.wiring.signer.key.kid}
    assert all("d" not in k for k in jwks["keys"])


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "admin"
    return ".".join([head, b64url(json.dumps(claims).encode()), sig])


def _alg_none(token: str) -> str:
    head, body, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "==")) | {"alg": "none"}
    return f"{b64url(json.dumps(header).encode())}.{body}."


def _unknown_kid(token: str) -> str:
    head, body, sig = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "==")) | {"kid": "nope"}
    return f"{b64url(json.dumps(header).encode())}.{body}.{sig}"


@pytest.mark.parametrize(
    "forge",
    [_tamper, _alg_none, _unknown_kid, lambda t: t[:-4], lambda _t: "x.y.z", lambda _t: "\u2603"],
    ids=["tampered", "alg-none", "unknown-kid", "cut-signature", "garbage", "non-ascii"],
)
async def test_forged_tokens_are_inactive(login: Login, forge: object) -> None:
    assert callable(forge)
    response = await _introspect(login, forge(await _issue(login)))
    assert response.status_code == 200
    assert response.json() == {"active": False}


async def test_hs256_signed_with_the_public_key_is_inactive(login: Login) -> None:
    head, body, _ = (await _issue(login)).split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "==")) | {"alg": "HS256"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{body}"
    public_pem = login.wiring.signer.key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url(mac)}"
    assert (await _introspect(login, forged)).json() == {"active": False}


async def test_expired_token_of_a_known_key_is_inactive(login: Login, us_key: SigningKey) -> None:
    await project_signing_key(login.settings.redis_url, us_key, "us")
    assert (await _introspect(login, _us_token(us_key, expired=True))).json() == {"active": False}


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Basic " + base64.b64encode(f"{INTROSPECTION_ID}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(f"stranger:{INTROSPECTION_SECRET}".encode()).decode(),
        "Basic %%%not-base64",
        "Bearer wrong",
        "Bearer ",
        "Digest abc",
        # Not an RFC 6749 §2.3 client authentication method: a secret as a Bearer token.
        f"Bearer {INTROSPECTION_SECRET}",
    ],
)
async def test_introspection_needs_a_resource_server_credential(
    login: Login, auth: str | None
) -> None:
    response = await _introspect(login, await _issue(login), auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.json()["error"] == "invalid_client"


async def test_missing_token_parameter_is_invalid_request(login: Login) -> None:
    response = await login.client.post(
        "/oauth2/introspect",
        data={"token_type_hint": "access_token"},
        headers={"Authorization": BASIC},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_readiness_follows_the_projector_heartbeat(login: Login) -> None:
    await set_heartbeat(login.settings.redis_url, "eu", at=time.time() - 3600)
    stale = await login.client.get("/readyz")
    assert stale.status_code == 503
    checks = stale.json()["checks"]
    assert checks["projector"]["ok"] is False
    assert [checks[name]["ok"] for name in ("broker", "redis", "postgres")] == [True] * 3
    await set_heartbeat(login.settings.redis_url, "eu")
    ready = await login.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert (await login.client.get("/healthz")).json() == {"status": "ok"}


async def test_access_lines_quiet_for_answered_introspections_loud_for_refusals(
    login: Login, caplog: pytest.LogCaptureFixture
) -> None:
    token = await _issue(login)
    caplog.set_level(logging.DEBUG, logger="authplane.login")
    ok = await _introspect(login, token, auth=BASIC)
    refused = await _introspect(login, token, auth="Basic bm9ib2R5Onh4eA==")
    assert (ok.status_code, refused.status_code) == (200, 401)
    lines = [r for r in caplog.records if r.name == "authplane.login" and r.msg == "request"]
    by_status = {r.__dict__["status"]: r.levelno for r in lines}
    # A resource server's poll is DEBUG; a refused credential stays in the INFO log.
    assert by_status == {200: logging.DEBUG, 401: logging.INFO}
    assert all(r.__dict__["route"] == "/oauth2/introspect" for r in lines)
